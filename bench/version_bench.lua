-- Version: parsing and comparison against a pure-Lua version library written here.
local Version = require("qtforge").utils.Version

-- The baseline: what a Lua program does without qtforge.
local LuaVersion = {}
LuaVersion.__index = LuaVersion

local function lua_parse(text)
  local major, minor, patch, pre = text:match("^(%d+)%.(%d+)%.(%d+)%-?([%w%.]*)$")
  if not major then
    error("not a version: " .. text)
  end
  return setmetatable({ tonumber(major), tonumber(minor), tonumber(patch), pre }, LuaVersion)
end

-- semver precedence of two prerelease tags, identifier by identifier
local function lua_compare_pre(a, b)
  local ai, bi = a:gmatch("[^%.]+"), b:gmatch("[^%.]+")
  while true do
    local x, y = ai(), bi()
    if x == nil or y == nil then
      return (x == nil and y == nil) and 0 or (x == nil and -1 or 1)
    end
    local nx, ny = tonumber(x), tonumber(y)
    if nx and ny then
      if nx ~= ny then
        return nx < ny and -1 or 1
      end
    elseif nx or ny then
      return nx and -1 or 1
    elseif x ~= y then
      return x < y and -1 or 1
    end
  end
end

function LuaVersion.__lt(a, b)
  for i = 1, 3 do
    if a[i] ~= b[i] then
      return a[i] < b[i]
    end
  end
  local pa, pb = a[4], b[4]
  if pa == pb then
    return false
  elseif pa == "" or pb == "" then
    return pb == ""
  end
  return lua_compare_pre(pa, pb) < 0
end

local function comparing(a, b)
  return function(n)
    local count = 0
    for _ = 1, n do
      if a < b then
        count = count + 1
      end
    end
    return count
  end
end

local function parsing(parse, text)
  return function(n)
    local last
    for _ = 1, n do
      last = parse(text)
    end
    return last
  end
end

return {
  title = "Version",
  cases = {
    {
      name = "v1 < v2, releases",
      run = comparing(Version.parse("1.2.3"), Version.parse("1.2.4")),
      baseline = comparing(lua_parse("1.2.3"), lua_parse("1.2.4")),
    },
    {
      name = "v1 < v2, prereleases of one release",
      run = comparing(Version.parse("1.2.3-rc.1"), Version.parse("1.2.3-rc.2")),
      baseline = comparing(lua_parse("1.2.3-rc.1"), lua_parse("1.2.3-rc.2")),
    },
    {
      name = "Version.parse(\"1.2.3\")",
      run = parsing(Version.parse, "1.2.3"),
      baseline = parsing(lua_parse, "1.2.3"),
    },
    {
      name = "Version.parse(\"1.2.3-rc.1\")",
      run = parsing(Version.parse, "1.2.3-rc.1"),
      baseline = parsing(lua_parse, "1.2.3-rc.1"),
    },
  },
}
