-- qtforge quickstart: what `make demo` runs against the fresh build. Plugins
-- from a folder in dependency order, bus messages, a checked configuration, a
-- hot reload, metrics and a workflow, in one screen of output.
-- Run it yourself with the module on package.cpath:
--   LUA_CPATH="build/lua5.4/?.so;;" lua5.4 examples/quickstart.lua
local qtforge = require("qtforge")

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
print(string.format("qtforge %s (%s) under %s", qtforge.version, qtforge.lua_flavor, jit and jit.version or _VERSION))

-- the example plugins, copied to a temp folder so that the reload below can edit one
local dir = os.tmpname()
os.remove(dir)
assert(os.execute(string.format("mkdir -p '%s' && cp -R '%s/plugins/.' '%s'", dir, here, dir)))

local manager = qtforge.core.PluginManager()
manager:on_event(function(event)
  print(string.format("  event: %-10s %s%s", event.type, event.plugin_id or "-",
    event.error and ("  " .. event.error) or ""))
end)
local metrics = qtforge.monitoring.PluginMetricsCollector(manager)

-- 1. a directory of plugins loads in dependency order: logbook before greeter
print("\n1. load_directory")
for _, result in ipairs(manager:load_directory(dir)) do
  print(string.format("  %-8s %s", result.success and "ok" or "failed", result.plugin_id or result.path))
end

-- 2. exports as methods; the greeter publishes each greeting on the bus
print("\n2. calls and messages")
manager:bus():subscribe("greeter.*", function(message)
  print(string.format("  message %s from %s: %s", message.type, message.sender, message.data.line))
end)
local greeter = manager:get_plugin("greeter")
print("  " .. greeter:greet("world"))
-- a plugin loaded from a file is sandboxed: it gets what its manifest declares and the policy grants
print(string.format("  greeter %s is %s, granted %s", greeter:version():to_string(),
  manager:security():trust_level("greeter"), table.concat(manager:security():permissions():grants("greeter"), ", ")))

-- 3. configuration is checked against the manifest's [config]
print("\n3. configuration")
manager:configure_plugin("greeter", { greeting = "Hi" })
print("  refused: " .. manager:configure_plugin("greeter", { greeting = 42 }).error)

-- 4. an edited file reloads its plugin, polled by update_all_plugins (once a frame)
print("\n4. hot reload")
local reloader = qtforge.monitoring.PluginHotReloadManager(manager)
reloader:watch_directory(dir)
local punctuation = assert(io.open(dir .. "/greeter/punctuation.lua", "w"))
punctuation:write('return { mark = "?!" }\n')
punctuation:close()
local started = qtforge.utils.monotonic()
while reloader:stats().reloads == 0 and qtforge.utils.monotonic() - started < 5 do
  manager:update_all_plugins(1 / 60)
  qtforge.utils.sleep(1 / 60)
end
print("  " .. greeter:greet("again"))
reloader:close()

-- 5. what each plugin did, and the same as Prometheus text
print("\n5. metrics")
local counted = metrics:get_plugin_metrics("greeter")
print(string.format("  greeter: %d calls, %d messages sent, %d reload", counted.calls, counted.messages_sent,
  counted.reloads))
local prometheus = metrics:to_prometheus()
print("  " .. prometheus:match('(qtforge_plugin_calls_total{plugin="greeter"}[^\n]*)'))

-- 6. exports as workflow steps: each gets the previous step's result
print("\n6. workflow")
local workflow = qtforge.orchestration.Workflow("greetings")
  :add_step("greet", "greeter", { method = "greet" })
  :add_step("recent", "logbook", { method = "lines", retries = 2 })
local run = qtforge.orchestration.PluginOrchestrator(manager):execute_workflow(workflow, "workflow")
print(string.format("  %s: logbook keeps %d lines, the last %q", run.status, #run.results.recent,
  run.results.recent[#run.results.recent]))

-- 7. expected failures are results; unloading a dependency takes its dependents along
print("\n7. failures and unload")
print("  missing plugin: " .. manager:load_plugin(dir .. "/nope").error.code)
print("  unload logbook: " .. manager:unload_plugin("logbook").error.code)
manager:unload_plugin("logbook", { cascade = true })
os.execute(string.format("rm -rf '%s'", dir))
