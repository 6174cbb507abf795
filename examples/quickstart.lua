-- qtforge quickstart: what `make demo` runs against the fresh build.
-- Run it yourself with the module on package.cpath:
--   LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/quickstart.lua
local qtforge = require("qtforge")

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
print(string.format("qtforge %s (%s) under %s\n", qtforge.version, qtforge.lua_flavor, jit and jit.version or _VERSION))

local manager = qtforge.core.PluginManager()
manager:on_event(function(event)
  print(string.format("  event: %-10s %s%s", event.type, event.plugin_id or "-",
    event.error and ("  " .. event.error) or ""))
end)

-- 1. a directory of plugins loads in dependency order: logbook before greeter
print("load_directory:")
for _, result in ipairs(manager:load_directory(here .. "/plugins")) do
  print(string.format("  %-8s %s", result.success and "ok" or "failed", result.plugin_id or result.path))
end

-- 2. handles: info, exports as methods; the greeter publishes each greeting on the bus
manager:bus():subscribe("greeter.*", function(message)
  print(string.format("  message %s from %s: %s", message.type, message.sender, message.data.line))
end)
local greeter = manager:get_plugin("greeter")
print(string.format("\n%s %s is %s; depends on %s", greeter:name(), greeter:version():to_string(),
  greeter:state(), greeter:dependencies()[1].name))
print(greeter:greet("world"))
-- a plugin loaded from a file is sandboxed: it gets what its manifest declares and the policy grants
local security = manager:security()
print(string.format("greeter is %s, granted %s", security:trust_level("greeter"),
  table.concat(security:permissions():grants("greeter"), ", ")))

-- 3. configuration is checked against the manifest's [config]
manager:configure_plugin("greeter", { greeting = "Hi" })
print(greeter:greet("again"))
print("refused: " .. manager:configure_plugin("greeter", { greeting = 42 }).error)

-- 4. frames: update_all_plugins runs in Lua, once per frame
for _ = 1, 60 do
  manager:update_all_plugins(1 / 60)
end
print("frames seen by greeter: " .. greeter:frames())

-- 5. misuse raises; expected failures are results
print("\nmissing plugin: " .. manager:load_plugin(here .. "/plugins/nope").error)
print("bad version:    " .. select(2, pcall(qtforge.utils.Version.parse, "x.y")))

-- 6. unloading the dependency first is refused, cascade unloads both
print("\nunload logbook: " .. manager:unload_plugin("logbook").error.code)
local unloaded = manager:unload_plugin("logbook", { cascade = true }).unloaded
print("cascade unloaded: " .. table.concat(unloaded, ", ") .. "; greeter is now " .. greeter:state())
