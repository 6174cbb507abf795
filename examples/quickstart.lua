-- qtforge quickstart: what `make demo` runs against the fresh build.
-- Run it yourself with the module on package.cpath:
--   LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/quickstart.lua
local qtforge = require("qtforge")
local Version = qtforge.utils.Version

print(string.format("qtforge %s, built for %s, running under %s", qtforge.version, qtforge.lua_flavor,
  jit and jit.version or _VERSION))

-- Versions: parse, compare, match ranges (what dependency checks are made of)
local installed = Version.parse("1.4.2")
local candidates = { "1.2.0", "1.5.0-rc.1", "1.5.0", "2.0.0" }
print("\nversions newer than " .. installed .. ", and whether they satisfy ^1.4:")
for _, text in ipairs(candidates) do
  local v = Version.parse(text)
  if v > installed then
    print(string.format("  %-12s satisfies ^1.4: %-5s  compatible with 1.4: %s", text, tostring(v:satisfies("^1.4")),
      tostring(v:is_compatible_with(installed))))
  end
end

-- Errors: misuse raises with the function named...
local ok, message = pcall(Version.parse, "x.y")
print("\nmisuse raises: " .. (ok and "nothing?" or message))

-- ...and expected failures come back as results carrying a qtforge.Error
local function find_setting(settings, key)
  if settings[key] == nil then
    return { success = false, error = qtforge.Error("not_found", "no setting " .. key, "known: " .. "log_level") }
  end
  return { success = true, value = settings[key] }
end

local result = find_setting({ log_level = "info" }, "plugin_directory")
if not result.success then
  print("failed result:  " .. result.error)
  print("  code: " .. result.error.code)
end
