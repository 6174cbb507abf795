-- qtforge.monitoring.PluginHotReloadManager with real files in temp dirs:
-- edits in place, saves by rename, a syntax error then its fix, a runtime
-- error in the new on_load, state handed over, plugin folders added and
-- removed, a dependency reloaded under its dependent, bursts of saves
-- coalesced into one reload, single-file plugins, the polling mode, watcher
-- errors, and misuse.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local reloading = require("support.reloading")

local PluginHotReloadManager = qtforge.monitoring.PluginHotReloadManager
local monotonic = qtforge.utils.monotonic
local contains = plugins.contains
local sleep, poll_until = reloading.sleep, reloading.poll_until



local misuse = require("support.misuse")
local raised = misuse.raised

-- an entry whose export `value` returns `value`
local function source(value, extra)
  return string.format("return { exports = { value = function() return %q end }%s }\n", value, extra or "")
end

-- a single-file plugin `name` whose export `value` returns `value`
local function single_source(name, value)
  return string.format("return { manifest = { name = %q, version = \"1.0.0\" },"
    .. " exports = { value = function() return %q end } }\n", name, value)
end

describe("PluginHotReloadManager", function()
  local root, manager, reloader, reloaded, failures

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    reloader, reloaded, failures = reloading.recorded(manager)
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

  it("tells dependents of a reload, and says how the exports changed shape", function()
    local base = plugin("base", "v1", { source = "return { exports = { value = function() return 1 end,"
      .. " limit = 10, old = function() end } }\n" })
    plugin("user", nil, {
      deps = { { "base" } },
      source = "heard = {}\nreturn { on_dependency_reloaded = function(id, changes)"
        .. " heard[#heard + 1] = { id = id, changes = changes } end,"
        .. " exports = { heard = function() return heard end } }\n",
    })
    plugin("bystander", "b")
    local events = {}
    manager:on_event(function(event)
      if event.type == "exports_changed" or event.type == "dependency_reloaded" then
        events[#events + 1] = event
      end
    end)
    -- the same shape: new functions for old ones
    fs.write(base .. "/init.lua", "return { exports = { value = function() return 2 end, limit = 11,"
      .. " old = function() end } }\n")
    assert.is_true(reloader:reload_now("base").success)
    assert.are.equal(1, #events)
    assert.are.same({ "dependency_reloaded", "user", "base" }, { events[1].type, events[1].plugin_id,
      events[1].dependency })
    assert.is_nil(events[1].changes)
    -- another shape: one export gone, one new, one now a function
    fs.write(base .. "/init.lua", "return { exports = { value = function() return 3 end,"
      .. " limit = function() return 12 end, fresh = true } }\n")
    assert.is_true(reloader:reload_now("base").success)
    local changes = { added = { "fresh" }, removed = { "old" }, changed = { "limit" } }
    assert.are.same({ "exports_changed", "base" }, { events[2].type, events[2].plugin_id })
    assert.are.same(changes, events[2].changes)
    assert.are.same({ "dependency_reloaded", "user", "base" }, { events[3].type, events[3].plugin_id,
      events[3].dependency })
    assert.are.same(changes, events[3].changes)
    assert.are.equal(3, #events)
    local heard = manager:call("user", "heard")
    assert.are.equal(2, #heard)
    assert.are.same({ "base", "base" }, { heard[1].id, heard[2].id })
    assert.is_nil(heard[1].changes)
    assert.are.same(changes, heard[2].changes)
    assert.are.equal("running", manager:get_plugin("user"):state())
  end)

  it("fails a dependent whose on_dependency_reloaded raises, and only it", function()
    local base = plugin("base", "v1")
    plugin("user", nil, { deps = { { "base" } },
      source = "return { on_dependency_reloaded = function() error('cannot follow') end }\n" })
    fs.write(base .. "/init.lua", source("v2"))
    assert.is_true(reloader:reload_now("base").success)
    assert.are.equal("failed", manager:get_plugin("user"):state())
    contains(tostring(manager:get_plugin("user"):last_error()), "cannot follow")
    assert.are.equal("v2", value_of("base"))
  end)

  it("serves every manager of the Lua state when made without one, as the seed writes it", function()
    local other = plugins.manager()
    local a = plugin("alpha", "a1")
    local b = plugins.folder(root, "beta", { source = source("b1") })
    assert.is_true(other:load_plugin(b).success)
    local heard = {}
    -- the seed's example, word for word but for the folder
    local hot_reload = qtforge.monitoring.PluginHotReloadManager()
    hot_reload:enable_auto_reload(true)
    hot_reload:watch_directory(root)
    hot_reload:on_plugin_reloaded(function(plugin_id)
      heard[#heard + 1] = "Plugin reloaded: " .. plugin_id
    end)
    fs.write(a .. "/init.lua", source("a2"))
    fs.write(b .. "/init.lua", source("b2"))
    local deadline = monotonic() + 5
    while #heard < 2 and monotonic() < deadline do
      -- either manager's update polls it
      other:update_all_plugins(0.3)
      sleep(0.02)
    end
    table.sort(heard)
    assert.are.same({ "Plugin reloaded: alpha", "Plugin reloaded: beta" }, heard)
    assert.are.equal("a2", value_of("alpha"))
    assert.are.equal("b2", other:call("beta", "value"))
    assert.is_nil(other:get_plugin("alpha"))
    -- a new folder beside them loads into each manager that holds plugins from there
    plugins.folder(root, "gamma", { source = source("g") })
    poll_until(hot_reload, function()
      return manager:get_plugin("gamma") ~= nil and other:get_plugin("gamma") ~= nil
    end)
    assert.are.equal(0, #failures)
    local missing = hot_reload:reload_now("nobody")
    assert.is_false(missing.success)
    assert.are.equal("not_found", missing.error.code)
    hot_reload:close()
    other:shutdown()
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

  it("reloads a single-file plugin when its file changes, not when something beside it does", function()
    local file = fs.write(root .. "/single.lua", single_source("single", "one"))
    assert.is_true(manager:load_plugin(file).success)
    reloader:watch_directory(root)
    fs.write(root .. "/notes.txt", "beside it")
    plugins.folder(root, "newcomer", { source = source("new") })
    poll_until(reloader, function()
      return manager:get_plugin("newcomer") ~= nil
    end)
    sleep(0.2)
    reloader:poll()
    -- (a slow machine may see the newcomer's files written after it loaded, and reload it)
    local function reloads_of_single()
      local count = 0
      for _, id in ipairs(reloaded) do
        count = count + (id == "single" and 1 or 0)
      end
      return count
    end
    assert.are.equal(0, reloads_of_single())
    fs.write(file, single_source("single", "two"))
    poll_until(reloader, function()
      return value_of("single") == "two"
    end)
    assert.are.equal(1, reloads_of_single())
    assert(os.remove(file))
    poll_until(reloader, function()
      return manager:get_plugin("single") == nil
    end)
    assert.are.equal("new", value_of("newcomer"))
    assert.are.same({}, failures)
  end)

  it("answers nil and an io_error for a folder that does not exist", function()
    local ok, err = reloader:watch_directory(root .. "/nowhere")
    assert.is_nil(ok)
    assert.are.equal("io_error", err.code)
    assert.is_false(reloader:unwatch_directory(root .. "/nowhere"))
  end)

  describe("watcher errors", function()
    it("start at none", function()
      assert.are.equal(0, reloader:stats().watch_errors)
      reloader:watch_directory(root)
      assert.are.equal(0, reloader:poll())
      assert.are.equal(0, reloader:stats().watch_errors)
    end)

    it("are counted and handed to on_watch_error: a polled folder that goes away", function()
      reloader:close()
      reloader = PluginHotReloadManager(manager, { mode = "poll", interval = 0.05, debounce = 0.02 })
      local dir = root .. "/watched"
      fs.mkdir(dir)
      local messages = {}
      local remove = reloader:on_watch_error(function(message)
        messages[#messages + 1] = message
      end)
      -- a listener that raises does not keep the others from hearing
      reloader:on_watch_error(function()
        error("listener trouble")
      end)
      assert.is_true(reloader:watch_directory(dir))
      fs.remove(dir)
      poll_until(reloader, function()
        return #messages > 0
      end)
      assert.are.equal(#messages, reloader:stats().watch_errors)
      assert.is_string(messages[1])
      contains(messages[1], "watched", "No such file or directory")
      -- each scan fails until the folder is unwatched; a removed listener hears none of it
      remove()
      local heard = #messages
      poll_until(reloader, function()
        return reloader:stats().watch_errors > heard
      end)
      assert.are.equal(heard, #messages)
      assert.is_true(reloader:unwatch_directory(dir))
    end)

    it("reach listeners even while auto reload is off", function()
      reloader:close()
      reloader = PluginHotReloadManager(manager, { mode = "poll", interval = 0.05 })
      local dir = root .. "/watched"
      fs.mkdir(dir)
      local count = 0
      reloader:on_watch_error(function()
        count = count + 1
      end)
      reloader:enable_auto_reload(false)
      reloader:watch_directory(dir)
      fs.remove(dir)
      poll_until(reloader, function()
        return count > 0
      end)
      assert.are.equal(count, reloader:stats().watch_errors)
    end)
  end)

  it("raises on misuse, naming the method and argument", function()
    contains(raised(function() PluginHotReloadManager(42) end),
      "argument 'manager' must be a qtforge.core.PluginManager or nil, got number")
    contains(raised(function() PluginHotReloadManager({ colour = 1 }) end), "unknown option")
    contains(raised(function() PluginHotReloadManager(manager, { mode = "psychic" }) end), "option 'mode'")
    contains(raised(function() PluginHotReloadManager(manager, { debounce = -1 }) end), "option 'debounce'")
    contains(raised(function() PluginHotReloadManager(manager, { speed = 1 }) end), "unknown option")
    contains(raised(function() reloader:watch_directory(5) end), "watch_directory", "argument 'dir'")
    contains(raised(function() reloader:enable_auto_reload("yes") end), "enable_auto_reload")
    contains(raised(function() reloader:on_plugin_reloaded(1) end), "on_plugin_reloaded", "argument 'fn'")
    contains(raised(function() reloader:reload_now(1) end), "reload_now", "argument 'plugin_id'")
    contains(raised(function() reloader.poll(nil) end), "PluginHotReloadManager:poll")
    assert.are.equal("PluginHotReloadManager:on_watch_error: argument 'fn' must be a function, got number",
      misuse.strip_location(raised(function() reloader:on_watch_error(5) end)))
    assert.are.equal("PluginHotReloadManager:on_watch_error: argument 'fn' must be a function, got nil",
      misuse.strip_location(raised(function() reloader:on_watch_error() end)))
    contains(raised(function() reloader.on_watch_error({}, print) end), "PluginHotReloadManager:on_watch_error",
      "call it with ':'")
    contains(raised(function() reloader.stats(nil) end), "PluginHotReloadManager:stats")
    assert.are.equal(0, reloader:stats().watch_errors)
  end)
end)
