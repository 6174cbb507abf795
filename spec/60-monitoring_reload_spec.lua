-- qtforge.monitoring.PluginHotReloadManager with real files in temp dirs:
-- edits in place, saves by rename, a syntax error then its fix, a runtime
-- error in the new on_load, state handed over, plugin folders added and
-- removed, a dependency reloaded under its dependent, bursts of saves
-- coalesced into one reload, the polling mode, and misuse.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local PluginHotReloadManager = qtforge.monitoring.PluginHotReloadManager
local monotonic = qtforge.utils.monotonic
local contains = plugins.contains

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- polls until `done()` or 5 s; returns how many plugins the polls applied
local function poll_until(reloader, done)
  local applied = 0
  local deadline = monotonic() + 5
  while monotonic() < deadline do
    applied = applied + reloader:poll()
    if done() then
      return applied
    end
    sleep(0.02)
  end
  error("timed out waiting for the reload", 2)
end

local raised = require("support.misuse").raised

-- an entry whose export `value` returns `value`
local function source(value, extra)
  return string.format("return { exports = { value = function() return %q end }%s }\n", value, extra or "")
end

describe("PluginHotReloadManager", function()
  local root, manager, reloader, reloaded, failures

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    reloader = PluginHotReloadManager(manager, { debounce = 0.05 })
    reloaded, failures = {}, {}
    reloader:on_plugin_reloaded(function(id)
      reloaded[#reloaded + 1] = id
    end)
    reloader:on_reload_failed(function(id, err)
      failures[#failures + 1] = { id = id, err = err }
    end)
  end)

  after_each(function()
    reloader:close()
    manager:shutdown()
    fs.remove(root)
  end)

  local function plugin(name, value, spec)
    spec = spec or {}
    spec.source = spec.source or source(value)
    local dir = plugins.folder(root, name, spec)
    assert.is_true(manager:load_plugin(dir).success)
    return dir
  end

  local function value_of(id)
    return manager:call(id, "value")
  end

  it("reloads a plugin edited in place", function()
    local dir = plugin("greeter", "one")
    assert.is_true(reloader:watch_directory(root))
    fs.write(dir .. "/init.lua", source("two"))
    poll_until(reloader, function()
      return value_of("greeter") == "two"
    end)
    assert.are.same({ "greeter" }, reloaded)
  end)

  it("reloads a plugin saved by writing a temporary file and renaming it over the entry", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    fs.write(dir .. "/init.lua.tmp", source("renamed"))
    assert.is_true(os.rename(dir .. "/init.lua.tmp", dir .. "/init.lua"))
    poll_until(reloader, function()
      return value_of("greeter") == "renamed"
    end)
  end)

  it("keeps the old version through a syntax error, reports it with file and line, then takes the fix", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    fs.write(dir .. "/init.lua", "return {\n  exports = { value = function() return 'x' end\n")
    poll_until(reloader, function()
      return #failures > 0
    end)
    assert.are.equal("greeter", failures[1].id)
    assert.are.equal("load_error", failures[1].err.code)
    contains(tostring(failures[1].err.details), "init.lua:")
    assert.are.equal("one", value_of("greeter"))
    assert.are.equal("running", manager:get_plugin("greeter"):state())
    fs.write(dir .. "/init.lua", source("fixed"))
    poll_until(reloader, function()
      return value_of("greeter") == "fixed"
    end)
  end)

  it("keeps the old version when the new on_load raises", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    fs.write(dir .. "/init.lua", source("two", ", on_load = function() error('not today') end"))
    poll_until(reloader, function()
      return #failures > 0
    end)
    contains(failures[1].err.message, "not today")
    assert.are.equal("one", value_of("greeter"))
  end)

  it("hands the old version's state to the new one", function()
    local dir = plugin("counter", nil, {
      source = "local n = 0\nreturn { on_unload = function() return n end,"
        .. " exports = { bump = function() n = n + 1 end, value = function() return n end } }\n",
    })
    reloader:watch_directory(root)
    manager:call("counter", "bump")
    manager:call("counter", "bump")
    assert.are.equal(2, value_of("counter"))
    fs.write(dir .. "/init.lua", "local n = 0\nreturn { on_reload = function(old) n = old * 100 end,"
      .. " exports = { value = function() return n end } }\n")
    poll_until(reloader, function()
      return value_of("counter") == 200
    end)
  end)

  it("loads a plugin folder that appears, and unloads one that goes", function()
    plugin("old", "here")
    reloader:watch_directory(root)
    plugins.folder(root, "newcomer", { source = source("new") })
    poll_until(reloader, function()
      return manager:get_plugin("newcomer") ~= nil
    end)
    assert.are.equal("new", value_of("newcomer"))
    fs.remove(root .. "/old")
    poll_until(reloader, function()
      return manager:get_plugin("old") == nil
    end)
    local stats = reloader:stats()
    assert.are.equal(1, stats.loads)
    assert.are.equal(1, stats.unloads)
  end)

  it("leaves new and removed folders alone when told to", function()
    reloader:close()
    reloader = PluginHotReloadManager(manager, { load_new = false, unload_removed = false, debounce = 0.02 })
    plugin("old", "here")
    reloader:watch_directory(root)
    plugins.folder(root, "newcomer", { source = source("new") })
    fs.remove(root .. "/old")
    sleep(0.3)
    reloader:poll()
    assert.is_nil(manager:get_plugin("newcomer"))
    assert.is_not_nil(manager:get_plugin("old"))
  end)

  it("reloads a dependency under its dependent, which sees the new version and is not reloaded", function()
    local base = plugin("base", "v1")
    plugin("user", nil, {
      deps = { { "base" } },
      source = "local ctx\nreturn { on_load = function(c) ctx = c end,"
        .. " exports = { value = function() return 'user+' .. ctx.deps.base.value() end } }\n",
    })
    reloader:watch_directory(root)
    fs.write(base .. "/init.lua", source("v2"))
    poll_until(reloader, function()
      return value_of("user") == "user+v2"
    end)
    assert.are.same({ "base" }, reloaded)
  end)

  it("coalesces a burst of saves into one reload", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    for i = 1, 10 do
      fs.write(dir .. "/init.lua", source("burst" .. i))
    end
    poll_until(reloader, function()
      return value_of("greeter") == "burst10"
    end)
    sleep(0.2)
    reloader:poll()
    assert.are.same({ "greeter" }, reloaded)
  end)

  it("reloads only the plugin that changed", function()
    local a = plugin("a", "a1")
    plugin("b", "b1")
    reloader:watch_directory(root)
    fs.write(a .. "/init.lua", source("a2"))
    poll_until(reloader, function()
      return value_of("a") == "a2"
    end)
    assert.are.same({ "a" }, reloaded)
  end)

  it("reloads when a module of the plugin changes", function()
    local dir = plugin("modular", nil, {
      source = "local ctx\nreturn { on_load = function(c) ctx = c end,"
        .. " exports = { value = function() return ctx.require('lib.word') end } }\n",
      files = { ["lib/word.lua"] = "return 'first'\n" },
    })
    reloader:watch_directory(root)
    assert.are.equal("first", value_of("modular"))
    fs.write(dir .. "/lib/word.lua", "return 'second'\n")
    poll_until(reloader, function()
      return value_of("modular") == "second"
    end)
  end)

  it("drops changes while auto reload is off", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    reloader:enable_auto_reload(false)
    fs.write(dir .. "/init.lua", source("two"))
    sleep(0.3)
    assert.are.equal(0, reloader:poll())
    assert.are.equal("one", value_of("greeter"))
    reloader:enable_auto_reload(true)
    assert.is_true(reloader:reload_now("greeter").success)
    assert.are.equal("two", value_of("greeter"))
  end)

  it("is polled by update_all_plugins", function()
    local dir = plugin("greeter", "one")
    reloader:watch_directory(root)
    fs.write(dir .. "/init.lua", source("two"))
    local deadline = monotonic() + 5
    while value_of("greeter") ~= "two" and monotonic() < deadline do
      manager:update_all_plugins(0.3)
      sleep(0.02)
    end
    assert.are.equal("two", value_of("greeter"))
  end)

  it("works in polling mode", function()
    reloader:close()
    reloader = PluginHotReloadManager(manager, { mode = "poll", interval = 0.05, debounce = 0.02 })
    local dir = plugin("greeter", "one")
    assert.is_true(reloader:watch_directory(root))
    sleep(0.1)
    fs.write(dir .. "/init.lua", source("polled"))
    poll_until(reloader, function()
      return value_of("greeter") == "polled"
    end)
  end)

  it("answers nil and an io_error for a folder that does not exist", function()
    local ok, err = reloader:watch_directory(root .. "/nowhere")
    assert.is_nil(ok)
    assert.are.equal("io_error", err.code)
    assert.is_false(reloader:unwatch_directory(root .. "/nowhere"))
  end)

  it("raises on misuse, naming the method and argument", function()
    contains(raised(function() PluginHotReloadManager({}) end), "argument 'manager'")
    contains(raised(function() PluginHotReloadManager(manager, { mode = "psychic" }) end), "option 'mode'")
    contains(raised(function() PluginHotReloadManager(manager, { debounce = -1 }) end), "option 'debounce'")
    contains(raised(function() PluginHotReloadManager(manager, { speed = 1 }) end), "unknown option")
    contains(raised(function() reloader:watch_directory(5) end), "watch_directory", "argument 'dir'")
    contains(raised(function() reloader:enable_auto_reload("yes") end), "enable_auto_reload")
    contains(raised(function() reloader:on_plugin_reloaded(1) end), "on_plugin_reloaded", "argument 'fn'")
    contains(raised(function() reloader:reload_now(1) end), "reload_now", "argument 'plugin_id'")
    contains(raised(function() reloader.poll(nil) end), "PluginHotReloadManager:poll")
  end)
end)
