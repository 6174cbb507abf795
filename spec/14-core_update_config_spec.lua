-- qtforge.core: update ticks (update_all_plugins) and per-plugin configuration
-- (configure_plugin, validated against the manifest's [config]).
local fs = require("support.fs")
local plugins = require("support.plugins")

local FIXTURES = plugins.FIXTURES

-- An inline plugin whose update(dt, info) appends { dt, init, first, last } to `ticks`.
local function ticker(id, ticks, extra)
  local plugin = {
    manifest = { name = id, version = "1.0.0" },
    update = function(dt, info)
      ticks[#ticks + 1] = { dt, info.time_since_init, info.time_since_first_update, info.time_since_last_update }
    end,
  }
  for k, v in pairs(extra or {}) do
    plugin[k] = v
  end
  return plugin
end

describe("update_all_plugins", function()
  local manager

  before_each(function()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("calls update(dt, info) with exact times for a known sequence of dt", function()
    local ticks = {}
    manager:register_plugin(ticker("t", ticks))
    manager:update_all_plugins(0.25)
    manager:update_all_plugins(0.5)
    manager:update_all_plugins(0.125)
    manager:update_all_plugins(0)
    assert.are.same({
      { 0.25, 0.25, 0, 0.25 },
      { 0.5, 0.75, 0.5, 0.5 },
      { 0.125, 0.875, 0.625, 0.125 },
      { 0, 0.875, 0.625, 0 },
    }, ticks)
  end)

  it("measures from when each plugin loaded and first ticked", function()
    local early, late = {}, {}
    manager:register_plugin(ticker("early", early))
    manager:update_all_plugins(1)
    manager:register_plugin(ticker("late", late), { start = false })
    manager:update_all_plugins(0.5)
    manager:start_plugin("late")
    manager:update_all_plugins(0.25)
    assert.are.same({ 0.25, 1.75, 0.75, 0.25 }, early[3])
    assert.are.same({ { 0.25, 0.75, 0, 0.75 } }, late)
  end)

  it("ticks running plugins only, in load order, and answers how many it ticked", function()
    local order = {}
    local function tick(id)
      return function()
        order[#order + 1] = id
      end
    end
    manager:register_plugin({ manifest = { name = "b", version = "1.0.0" }, update = tick("b") })
    manager:register_plugin({ manifest = { name = "a", version = "1.0.0" }, update = tick("a") })
    manager:register_plugin({ manifest = { name = "idle", version = "1.0.0" }, update = tick("idle") },
      { start = false })
    manager:register_plugin({ manifest = { name = "stopped", version = "1.0.0" }, update = tick("stopped") })
    manager:register_plugin({ manifest = { name = "quiet", version = "1.0.0" } })
    manager:stop_plugin("stopped")
    assert.are.equal(2, manager:update_all_plugins(0.1))
    assert.are.same({ "b", "a" }, order)
    manager:start_plugin("idle")
    manager:update_all_plugins(0.1)
    assert.are.same({ "b", "a", "b", "a", "idle" }, order)
  end)

  it("uses a monotonic clock when no dt is given", function()
    local ticks = {}
    manager:register_plugin(ticker("t", ticks))
    manager:update_all_plugins()
    manager:update_all_plugins()
    manager:update_all_plugins()
    assert.are.equal(3, #ticks)
    assert.are.equal(0, ticks[1][1])
    for i, tick in ipairs(ticks) do
      for _, value in ipairs(tick) do
        assert.is_true(value >= 0)
      end
      if i > 1 then
        assert.is_true(tick[2] >= ticks[i - 1][2])
      end
    end
  end)

  it("reports an update that raises: the plugin fails, the others still tick", function()
    local before, after = {}, {}
    manager:register_plugin(ticker("before", before))
    manager:register_plugin({ manifest = { name = "broken", version = "1.0.0" }, update = function()
      error("update failed")
    end })
    manager:register_plugin(ticker("after", after))
    local seen, events = plugins.record(manager)
    assert.are.equal(3, manager:update_all_plugins(0.1))
    assert.are.equal(1, #before)
    assert.are.equal(1, #after)
    local broken = manager:get_plugin("broken")
    assert.are.equal("failed", broken:state())
    assert.are.same({ "failed:broken" }, seen)
    assert.are.equal("load_error", events[1].error.code)
    assert.are.equal('plugin "broken" failed in update: update failed', events[1].error.message)
    assert.are.equal(events[1].error.message, broken:last_error().message)
    assert.are.equal(2, manager:update_all_plugins(0.1))
    assert.are.equal(2, #after)
    local stats = manager:stats()
    assert.are.equal(2, stats.updates)
    assert.are.equal(1, stats.update_errors)
  end)

  it("starts ticking a failed plugin again once it is started", function()
    local fail = true
    local ticks = 0
    manager:register_plugin({ manifest = { name = "flaky", version = "1.0.0" }, update = function()
      ticks = ticks + 1
      if fail then
        error("not now")
      end
    end })
    manager:update_all_plugins(0.1)
    fail = false
    manager:update_all_plugins(0.1)
    assert.are.equal(1, ticks)
    assert.is_true(manager:start_plugin("flaky").success)
    manager:update_all_plugins(0.1)
    assert.are.equal(2, ticks)
  end)

  it("does not tick a plugin that an earlier update in the same tick unloaded", function()
    local ticked = {}
    manager:register_plugin({ manifest = { name = "first", version = "1.0.0" }, update = function()
      ticked[#ticked + 1] = "first"
      manager:unload_plugin("second")
    end })
    manager:register_plugin({ manifest = { name = "second", version = "1.0.0" }, update = function()
      ticked[#ticked + 1] = "second"
    end })
    manager:update_all_plugins(0.1)
    assert.are.same({ "first" }, ticked)
    assert.are.same({ "first" }, manager:load_order())
  end)
end)

describe("configure_plugin", function()
  local root, manager, path, received

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    path = plugins.folder(root, "server", {
      capabilities = { "config:read" },
      config = 'name = "srv"\nverbose = false\nports = [80, 443]\n[config.limits]\nconnections = 10\ntimeout = 2.5\n',
      source = [[
        local ctx
        local seen = {}
        return {
          on_load = function(c) ctx = c end,
          on_configure = function(cfg)
            if cfg.name == "refuse" then error("name refused") end
            seen[#seen + 1] = cfg
          end,
          exports = {
            config = function() return ctx.config:to_table() end,
            received = function() return seen end,
          },
        }
      ]],
    })
    assert.is_true(manager:load_plugin(path).success)
    -- what on_configure was handed, in order
    received = function()
      return manager:call("server", "received")
    end
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  local DEFAULTS = { name = "srv", verbose = false, ports = { 80, 443 }, limits = { connections = 10, timeout = 2.5 } }

  it("starts from the manifest's [config] defaults, in ctx.config and plugin:config()", function()
    assert.are.same(DEFAULTS, manager:get_plugin("server"):config())
    assert.are.same(DEFAULTS, manager:call("server", "config"))
  end)

  it("merges the changes (nested tables key by key) and hands the result to on_configure", function()
    local result = manager:configure_plugin("server", { verbose = true, limits = { connections = 50 } })
    assert.is_true(result.success)
    assert.are.equal("server", result.plugin_id)
    local expected = { name = "srv", verbose = true, ports = { 80, 443 }, limits = { connections = 50, timeout = 2.5 } }
    assert.are.same(expected, result.config)
    assert.are.same({ expected }, received())
    assert.are.same(expected, manager:get_plugin("server"):config())
    assert.are.same(expected, manager:call("server", "config"))
  end)

  it("keeps earlier changes when later ones touch other keys", function()
    manager:configure_plugin("server", { name = "one" })
    manager:configure_plugin("server", { limits = { timeout = 9 } })
    local config = manager:get_plugin("server"):config()
    assert.are.equal("one", config.name)
    assert.are.same({ connections = 10, timeout = 9 }, config.limits)
  end)

  it("replaces lists whole", function()
    manager:configure_plugin("server", { ports = { 8080 } })
    assert.are.same({ 8080 }, manager:get_plugin("server"):config().ports)
  end)

  local REFUSED = {
    { "an unknown key", { colour = "red" }, "colour", "unknown key (known: limits, name, ports, verbose)" },
    { "an unknown nested key", { limits = { memory = 1 } }, "limits.memory",
      "unknown key (known: connections, timeout)" },
    { "a value of the wrong type", { verbose = "yes" }, "verbose", "expected a boolean, got a string" },
    { "a table where a value was", { name = { first = "x" } }, "name", "expected a string, got a table" },
    { "a list of the wrong items", { ports = { "http" } }, "ports",
      "expected a list of numbers, got a list of strings" },
  }

  for _, case in ipairs(REFUSED) do
    local what, changes, key, details = case[1], case[2], case[3], case[4]
    it("refuses " .. what .. " with invalid_config, keeping the old config", function()
      local seen = plugins.record(manager)
      local result = manager:configure_plugin("server", changes)
      local err = plugins.failed(result, "invalid_config")
      assert.are.equal(string.format('invalid configuration for plugin "server" at "%s"', key), err.message)
      assert.are.equal(details, err.details)
      assert.are.same(DEFAULTS, manager:get_plugin("server"):config())
      assert.are.same({}, received())
      assert.are.same({}, seen)
    end)
  end

  it("refuses a value JSON cannot hold (nan, inf) with invalid_config, keeping the old config", function()
    for _, bad in ipairs({ 0 / 0, math.huge }) do
      local err = plugins.failed(manager:configure_plugin("server", { limits = { timeout = bad } }), "invalid_config")
      plugins.contains(err.details, "is not a value JSON can hold")
    end
    assert.are.same(DEFAULTS, manager:get_plugin("server"):config())
    assert.are.same({}, received())
  end)

  it("lets the plugin refuse by raising in on_configure, keeping the old config", function()
    manager:configure_plugin("server", { verbose = true })
    local result = manager:configure_plugin("server", { name = "refuse" })
    local err = plugins.failed(result, "invalid_config")
    assert.are.equal('plugin "server" refused the configuration: name refused', err.message)
    plugins.contains(err.details, path .. "/init.lua:")
    local config = manager:get_plugin("server"):config()
    assert.are.equal("srv", config.name)
    assert.is_true(config.verbose)
    assert.are.equal("srv", manager:call("server", "config").name)
    assert.are.equal("running", manager:get_plugin("server"):state())
  end)

  it("configures a stopped plugin, and refuses a failed one with invalid_state", function()
    manager:stop_plugin("server")
    assert.is_true(manager:configure_plugin("server", { name = "b" }).success)
    manager:register_plugin({ manifest = { name = "sick", version = "1.0.0", config = { x = 1 } },
      on_start = function() error("no") end }, { start = false })
    manager:start_plugin("sick")
    local err = plugins.failed(manager:configure_plugin("sick", { x = 2 }), "invalid_state")
    assert.are.equal('cannot configure plugin "sick" while it is failed', err.message)
  end)

  it("answers not_found for a plugin that is not loaded", function()
    plugins.failed(manager:configure_plugin("ghost", {}), "not_found")
  end)

  it("refuses every key of a plugin without [config]", function()
    assert.is_true(manager:load_plugin(FIXTURES .. "/solo.lua").success)
    assert.are.same({}, manager:get_plugin("solo"):config())
    local err = plugins.failed(manager:configure_plugin("solo", { anything = 1 }), "invalid_config")
    plugins.contains(err.details, "unknown key")
  end)

  it("keeps the configuration across a reload, in plugin:config() and the new ctx.config", function()
    manager:configure_plugin("server", { name = "kept" })
    fs.write(path .. "/init.lua", "local ctx\nreturn { on_load = function(c) ctx = c end,"
      .. " exports = { config = function() return ctx.config:to_table() end } }")
    assert.is_true(manager:reload_plugin("server").success)
    assert.are.equal("kept", manager:get_plugin("server"):config().name)
    assert.are.equal("kept", manager:call("server", "config").name)
  end)

  it("keeps each configured value the new version still declares, and drops the others", function()
    manager:configure_plugin("server", { name = "kept", verbose = true, limits = { connections = 99 } })
    -- the new version drops `verbose` and turns `limits.connections` into a string
    fs.write(path .. "/plugin.toml", fs.manifest("server", "1.1.0", plugins.capabilities({ "config:read" }))
      .. '[config]\nname = "srv"\nports = [80]\n[config.limits]\nconnections = "ten"\ntimeout = 2.5\n')
    assert.is_true(manager:reload_plugin("server").success)
    local config = manager:get_plugin("server"):config()
    assert.are.equal("kept", config.name)
    assert.is_nil(config.verbose)
    assert.are.equal("ten", config.limits.connections)
    assert.are.equal(2.5, config.limits.timeout)
  end)

  it("emits configured on success", function()
    local seen = plugins.record(manager)
    manager:configure_plugin("server", { verbose = true })
    assert.are.same({ "configured:server" }, seen)
  end)
end)
