-- monitoring: what metrics cost on the paths they count. Each case runs the
-- same work on a manager a PluginMetricsCollector meters and, as the
-- baseline, on one without a collector (whose paths are those of core_bench).
local qtforge = require("qtforge")
local harness = require("harness")
local loop = harness.loop

local function manager_with(metered)
  local manager = qtforge.core.PluginManager()
  local received = 0
  local bus
  assert(manager:register_plugin({
    manifest = { name = "counter", version = "1.0.0" },
    on_load = function(ctx)
      bus = ctx.bus
      ctx.bus:subscribe("tick", function()
        received = received + 1
      end)
    end,
    update = function() end,
    exports = {
      value = function()
        return 1
      end,
    },
  }).success)
  local collector = metered and qtforge.monitoring.PluginMetricsCollector(manager, { timing = metered == "timed" })
    or nil
  return { manager = manager, plugin = manager:get_plugin("counter"), bus = bus, collector = collector }
end

local on, counting, off = manager_with("timed"), manager_with("counted"), manager_with(false)

local function calls(setup, how)
  local plugin, manager = setup.plugin, setup.manager
  if how == "sugar" then
    return loop(function()
      return plugin:value()
    end)
  elseif how == "call" then
    return loop(function()
      return plugin:call("value")
    end)
  end
  return loop(function()
    return manager:call("counter", "value")
  end)
end

local function publishes(setup)
  local bus = setup.bus
  return function(n)
    for _ = 1, n do
      bus:publish("tick", 1)
    end
  end
end

local function ticks(setup)
  local manager = setup.manager
  return function(n)
    for _ = 1, n do
      manager:update_all_plugins(0.001)
    end
  end
end

return {
  title = "metrics (on / off)",
  cases = {
    { name = "plugin:call(f)", run = calls(on, "call"), baseline = calls(off, "call") },
    { name = "plugin:f()", run = calls(on, "sugar"), baseline = calls(off, "sugar") },
    { name = "plugin:f(), counted without timing", run = calls(counting, "sugar"), baseline = calls(off, "sugar") },
    { name = "manager:call(id, f)", run = calls(on, "manager"), baseline = calls(off, "manager") },
    { name = "ctx.bus:publish to the plugin's handler", run = publishes(on), baseline = publishes(off) },
    { name = "update_all_plugins, one plugin", run = ticks(on), baseline = ticks(off) },
  },
}
