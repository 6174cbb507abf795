-- qtforge.utils.Version: semantic versions whose comparisons stay in Lua.
-- Rust (the semver crate) parses, orders prerelease tags and matches ranges;
-- `<`, `<=` and `==` on two versions without prerelease tags never leave Lua,
-- so they cost what a hand-written Lua comparison costs, JIT-compiled included.
local native = ...

local error, getmetatable, setmetatable, tostring, type = error, getmetatable, setmetatable, tostring, type
local string_format = string.format
-- Lua 5.4 keeps 1.0 a float (printed "1.0"); versions hold integers. LuaJIT has one number type.
local to_integer = math.tointeger or function(value)
  return value
end
local native_parse = native.parse
local native_check_tag = native.check_tag
local native_compare_prerelease = native.compare_prerelease
local native_satisfies = native.satisfies

-- Lua numbers are doubles: past 2^53 - 1 a component would silently change.
local MAX_COMPONENT = 2 ^ 53 - 1

local Version = { __name = "qtforge.Version" }
local methods = {}
Version.__index = methods

local function describe(value)
  if type(value) == "string" then
    return string_format("%q", value)
  end
  return tostring(value)
end

local function is_component(value)
  -- NaN and the infinities fail the range test
  return type(value) == "number" and value >= 0 and value <= MAX_COMPONENT and value % 1 == 0
end

local function make(major, minor, patch, pre, build)
  return setmetatable({ _major = major, _minor = minor, _patch = patch, _pre = pre, _build = build }, Version)
end

local function parse(fname, text, level)
  if type(text) ~= "string" then
    error(fname .. ": expected a version string, got " .. type(text), level + 1)
  end
  local major, minor, patch, pre, build = native_parse(text)
  if not major then
    error(fname .. ": " .. minor, level + 1)
  end
  -- absent tags come back as nil: pushing a string from Rust costs an allocation
  return make(major, minor, patch, pre or "", build or "")
end

-- A Version, or a string parsed into one; anything else is misuse.
local function coerce(fname, value, level)
  if getmetatable(value) == Version then
    return value
  end
  if type(value) == "string" then
    local parsed = parse(fname, value, level + 1) -- not a tail call: it would shift the level
    return parsed
  end
  error(fname .. ": expected a Version or a version string, got " .. describe(value), level + 1)
end

local function check_component(position, name, value, level)
  if not is_component(value) then
    error(
      string_format(
        "Version: argument #%d (%s) must be an integer from 0 to 2^53 - 1, got %s",
        position,
        name,
        describe(value)
      ),
      level + 1
    )
  end
end

local function check_tag(fname, kind, tag, level)
  if tag == nil or tag == "" then
    return ""
  end
  if type(tag) ~= "string" then
    error(fname .. ": " .. kind .. " tag must be a string, got " .. type(tag), level + 1)
  end
  local ok, message = native_check_tag(kind, tag)
  if not ok then
    error(fname .. ": " .. message, level + 1)
  end
  return tag
end

-- Semver precedence: -1, 0 or 1. Build metadata does not take part.
local function compare(a, b)
  if a._major ~= b._major then
    return a._major < b._major and -1 or 1
  end
  if a._minor ~= b._minor then
    return a._minor < b._minor and -1 or 1
  end
  if a._patch ~= b._patch then
    return a._patch < b._patch and -1 or 1
  end
  local pa, pb = a._pre, b._pre
  if pa == pb then
    return 0
  end
  -- a release ranks above its prereleases: 1.0.0-rc.1 < 1.0.0
  if pa == "" then
    return 1
  end
  if pb == "" then
    return -1
  end
  return native_compare_prerelease(pa, pb)
end

local function to_string(v)
  local text = v._text
  if text == nil then
    text = string_format("%d.%d.%d", v._major, v._minor, v._patch)
    if v._pre ~= "" then
      text = text .. "-" .. v._pre
    end
    if v._build ~= "" then
      text = text .. "+" .. v._build
    end
    v._text = text
  end
  return text
end

local function self_check(fname, v)
  if getmetatable(v) ~= Version then
    error(fname .. ": call it with ':' on a Version, got " .. describe(v), 3)
  end
end

function methods.major(v)
  self_check("Version:major", v)
  return v._major
end

function methods.minor(v)
  self_check("Version:minor", v)
  return v._minor
end

function methods.patch(v)
  self_check("Version:patch", v)
  return v._patch
end

--- The prerelease tag ("rc.1"), or nil for a release.
function methods.prerelease(v)
  self_check("Version:prerelease", v)
  if v._pre == "" then
    return nil
  end
  return v._pre
end

--- The build metadata ("build.5"), or nil when there is none.
function methods.build(v)
  self_check("Version:build", v)
  if v._build == "" then
    return nil
  end
  return v._build
end

function methods.is_prerelease(v)
  self_check("Version:is_prerelease", v)
  return v._pre ~= ""
end

function methods.to_string(v)
  self_check("Version:to_string", v)
  return to_string(v)
end

--- -1, 0 or 1 by semver precedence; `other` may be a version string.
function methods.compare(v, other)
  self_check("Version:compare", v)
  return compare(v, coerce("Version:compare", other, 2))
end

--- Whether the version lies in a range such as "^1.2", "~1.4", ">=1.0, <2.0".
function methods.satisfies(v, range)
  self_check("Version:satisfies", v)
  if type(range) ~= "string" then
    error("Version:satisfies: expected a range string such as \"^1.2\", got " .. describe(range), 2)
  end
  local ok, message = native_satisfies(to_string(v), range)
  if ok == nil then
    error("Version:satisfies: " .. message, 2)
  end
  return ok
end

--- Whether code written for `other` works with this version: same major, minor not lower.
function methods.is_compatible_with(v, other)
  self_check("Version:is_compatible_with", v)
  other = coerce("Version:is_compatible_with", other, 2)
  return v._major == other._major and v._minor >= other._minor
end

Version.__tostring = to_string

-- `==` compares every part, build metadata included; `<` and `<=` follow semver
-- precedence, which ignores build metadata.
function Version.__eq(a, b)
  return a._major == b._major
    and a._minor == b._minor
    and a._patch == b._patch
    and a._pre == b._pre
    and a._build == b._build
end

-- Lua 5.4 also calls these with a string on one side; LuaJIT compares two versions only.
function Version.__lt(a, b)
  if getmetatable(a) ~= Version or getmetatable(b) ~= Version then
    a, b = coerce("Version __lt", a, 2), coerce("Version __lt", b, 2)
  end
  return compare(a, b) < 0
end

function Version.__le(a, b)
  if getmetatable(a) ~= Version or getmetatable(b) ~= Version then
    a, b = coerce("Version __le", a, 2), coerce("Version __le", b, 2)
  end
  return compare(a, b) <= 0
end

function Version.__concat(a, b)
  if getmetatable(a) == Version then
    a = to_string(a)
  end
  if getmetatable(b) == Version then
    b = to_string(b)
  end
  return a .. b
end

local class = {}

-- `level` is where the caller sits, seen from the function that called `new`.
local function new(level, major, minor, patch, pre, build)
  if type(major) == "string" and minor == nil then
    local parsed = parse("Version", major, level + 1)
    return parsed
  end
  minor = minor or 0
  patch = patch or 0
  check_component(1, "major", major, level + 1)
  check_component(2, "minor", minor, level + 1)
  check_component(3, "patch", patch, level + 1)
  major, minor, patch = to_integer(major), to_integer(minor), to_integer(patch)
  pre = check_tag("Version", "prerelease", pre, level + 1)
  build = check_tag("Version", "build", build, level + 1)
  return make(major, minor, patch, pre, build)
end

--- Version(major, minor, patch, prerelease, build); Version("1.2.3") parses.
function class.new(...)
  local v = new(2, ...)
  return v
end

--- Parses "1.2.3", "1.2.3-rc.1" or "1.2.3-rc.1+build.5".
function class.parse(text)
  local v = parse("Version.parse", text, 2)
  return v
end

--- Whether `value` is a Version.
function class.is(value)
  return getmetatable(value) == Version
end

--- Semver precedence of two versions or version strings: -1, 0 or 1.
function class.compare(a, b)
  return compare(coerce("Version.compare", a, 2), coerce("Version.compare", b, 2))
end

setmetatable(class, {
  __call = function(_, ...)
    local v = new(2, ...)
    return v
  end,
  __tostring = function()
    return "qtforge.utils.Version"
  end,
})

return class
