-- qtforge.core: plugin handles (what get_plugin returns), and calling plugins
-- through the manager: call, broadcast, register_all_plugins, plugins, load_order.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local Version = qtforge.utils.Version
local FIXTURES = plugins.FIXTURES

local function count(t)
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  return n
end

describe("a plugin handle", function()
  local manager, handle

  before_each(function()
    manager = plugins.manager()
    assert.is_true(manager:load_plugin(FIXTURES .. "/greeter").success)
    handle = manager:get_plugin("greeter")
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("answers id, name, description and state", function()
    assert.are.equal("greeter", handle:id())
    assert.are.equal("greeter", handle:name())
    assert.are.equal("Greets people", handle:description())
    assert.are.equal("running", handle:state())
    assert.is_true(handle:is_loaded())
  end)

  it("answers its version as a Version", function()
    local version = handle:version()
    assert.is_true(Version.is(version))
    assert.are.equal("1.2.0", version:to_string())
    assert.is_true(version:satisfies("^1.2"))
  end)

  it("answers its metadata: what the manifest says, with the current state", function()
    local meta = handle:metadata()
    assert.are.equal("greeter", meta.id)
    assert.are.equal("1.2.0", meta.version)
    assert.are.equal("folder", meta.kind)
    assert.are.equal("running", meta.state)
    assert.are.equal(FIXTURES .. "/greeter", meta.path)
    assert.are.same({ "example", "greeting" }, meta.tags)
    assert.are.same({ "greet" }, meta.exports)
    assert.are.same({ "qtforge specs" }, meta.authors)
    assert.are.equal(1, meta.load_order)
    assert.are.equal(0, meta.reloads)
  end)

  it("answers dependencies, capabilities, path and config", function()
    assert.are.same({}, handle:dependencies())
    assert.are.same({ "bus:publish", "config:read" }, handle:capabilities())
    assert.are.equal(FIXTURES .. "/greeter", handle:path())
    assert.are.same({ greeting = "Hello", punctuation = "!" }, handle:config())
  end)

  it("lists dependencies with their ranges", function()
    local root = fs.temp_dir()
    local path = plugins.folder(root, "fan", { deps = { { "greeter", "^1.2" }, { "absent", "*", true } } })
    assert.is_true(manager:load_plugin(path).success)
    assert.are.same({
      { name = "greeter", version = "^1.2", optional = false },
      { name = "absent", version = "*", optional = true },
    }, manager:get_plugin("fan"):dependencies())
    fs.remove(root)
  end)

  it("answers last_error: nil while healthy, the Error once the plugin failed", function()
    assert.is_nil(handle:last_error())
    manager:register_plugin({ manifest = { name = "sick", version = "1.0.0" }, on_stop = function()
      error("cannot stop")
    end })
    manager:stop_plugin("sick")
    local err = manager:get_plugin("sick"):last_error()
    assert.are.equal("load_error", err.code)
    assert.are.equal('plugin "sick" failed in on_stop: cannot stop', err.message)
  end)

  it("is the same handle every time", function()
    assert.are.equal(handle, manager:get_plugin("greeter"))
    assert.are.equal(handle, manager:plugins()[1])
    assert.are.equal(handle, manager:registry():get("greeter"))
  end)

  it("reads as one line through tostring", function()
    assert.are.equal("qtforge plugin greeter 1.2.0 (running)", tostring(handle))
  end)

  it("is read-only", function()
    assert.has_error(function()
      handle.greet = nil
    end, 'plugin handles are read-only (setting "greet")')
  end)

  describe("exports", function()
    local plugin

    before_each(function()
      plugin = {
        manifest = { name = "calc", version = "1.0.0", exports = { "add" } },
        exports = {},
      }
      function plugin.exports.add(a, b)
        return a + b
      end
      function plugin.exports.pair()
        return 1, 2
      end
      assert.is_true(manager:register_plugin(plugin).success)
    end)

    it("is the plugin's own exports table, holding the plugin's own functions", function()
      local calc = manager:get_plugin("calc")
      assert.are.equal(plugin.exports, calc.exports)
      assert.are.equal(plugin.exports.add, calc.exports.add)
    end)

    it("answers call(name, ...) with every value the export returns", function()
      local calc = manager:get_plugin("calc")
      assert.are.equal(5, calc:call("add", 2, 3))
      assert.are.same({ 1, 2 }, { calc:call("pair") })
    end)

    it("offers each export as a method: plugin:f(x) calls exports.f(x)", function()
      local calc = manager:get_plugin("calc")
      assert.are.equal(7, calc:add(3, 4))
      assert.are.equal(7, calc.add(3, 4))
      assert.are.same({ 1, 2 }, { calc:pair() })
    end)

    it("raises a clear error for an export that does not exist", function()
      local calc = manager:get_plugin("calc")
      assert.has_error(function()
        calc:call("nope")
      end, 'plugin:call: plugin "calc" has no export "nope"')
      assert.is_nil(calc.nope)
    end)

    it("lets an export's error through to the caller", function()
      plugin.exports.boom = function()
        error("boom", 0)
      end
      local calc = manager:get_plugin("calc")
      assert.has_error(function()
        calc:boom()
      end, "boom")
    end)

    it("sees exports added at run time", function()
      plugin.exports.late = function()
        return "late"
      end
      assert.are.equal("late", manager:get_plugin("calc"):late())
    end)
  end)

  describe("once its plugin is unloaded", function()
    before_each(function()
      manager:unload_plugin("greeter")
    end)

    it("answers state() == \"unloaded\" and is_loaded() == false", function()
      assert.are.equal("unloaded", handle:state())
      assert.is_false(handle:is_loaded())
      assert.are.equal("qtforge plugin greeter (unloaded)", tostring(handle))
    end)

    it("still answers what it was: id, name, version, metadata", function()
      assert.are.equal("greeter", handle:id())
      assert.are.equal("greeter", handle:name())
      assert.are.equal("1.2.0", handle:version():to_string())
      assert.are.equal("unloaded", handle:metadata().state)
      assert.is_nil(handle:config())
      assert.is_nil(handle:last_error())
    end)

    it("raises an error naming the plugin on every call", function()
      assert.has_error(function()
        handle:greet("Ada")
      end, 'plugin "greeter" is unloaded (calling greet)')
      assert.has_error(function()
        handle:call("greet", "Ada")
      end, 'plugin:call: plugin "greeter" is unloaded')
      assert.has_error(function()
        return handle.exports
      end, 'plugin "greeter" is unloaded')
    end)

    it("does not come back when the same id loads again: get_plugin gives a new handle", function()
      assert.is_true(manager:load_plugin(FIXTURES .. "/greeter").success)
      local fresh = manager:get_plugin("greeter")
      assert.are_not.equal(handle, fresh)
      assert.are.equal("running", fresh:state())
      assert.are.equal("unloaded", handle:state())
    end)
  end)

  it("follows a reload: the same handle calls the new code", function()
    local root = fs.temp_dir()
    local path = plugins.folder(root, "live", { source = "return { exports = { v = function() return 1 end } }" })
    manager:load_plugin(path)
    local live = manager:get_plugin("live")
    assert.are.equal(1, live:v())
    fs.write(path .. "/init.lua", "return { exports = { v = function() return 2 end } }")
    manager:reload_plugin("live")
    assert.are.equal(2, live:v())
    assert.are.equal(2, live.exports.v())
    fs.remove(root)
  end)
end)

describe("calling plugins through the manager", function()
  local manager

  local function plugin(id, exports, opts)
    return manager:register_plugin({ manifest = { name = id, version = "1.0.0" }, exports = exports }, opts)
  end

  before_each(function()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
  end)

  describe("call", function()
    it("calls export `name` of plugin `id` with the arguments, returning every value", function()
      plugin("math", { divmod = function(a, b)
        return math.floor(a / b), a % b
      end })
      assert.are.same({ 3, 1 }, { manager:call("math", "divmod", 7, 2) })
    end)

    it("calls a plugin that is loaded but not started", function()
      plugin("idle", { hi = function() return "hi" end }, { start = false })
      assert.are.equal("hi", manager:call("idle", "hi"))
    end)

    it("raises for a plugin that is not loaded, stopped, or lacks the export", function()
      plugin("p", { f = function() end })
      assert.has_error(function()
        manager:call("ghost", "f")
      end, 'PluginManager:call: no plugin "ghost" is loaded')
      assert.has_error(function()
        manager:call("p", "g")
      end, 'PluginManager:call: plugin "p" has no export "g"')
      manager:stop_plugin("p")
      assert.has_error(function()
        manager:call("p", "f")
      end, 'PluginManager:call: plugin "p" is stopped')
    end)
  end)

  describe("broadcast", function()
    it("calls the export on every running plugin that has it; results and errors by plugin id", function()
      plugin("a", { ping = function(x) return "a" .. x end })
      plugin("b", { ping = function() error("b is down") end })
      plugin("c", { other = function() end })
      plugin("d", { ping = function(x) return "d" .. x end }, { start = false })
      local results, errors = manager:broadcast("ping", "!")
      assert.are.same({ a = "a!" }, results)
      assert.are.equal("call_error", errors.b.code)
      assert.are.equal(1, count(errors))
      plugins.contains(errors.b.message, 'plugin "b" failed in ping: b is down')
      assert.are.equal("running", manager:get_plugin("b"):state())
    end)

    it("answers two empty tables when no plugin has the export", function()
      local results, errors = manager:broadcast("nothing")
      assert.are.same({}, results)
      assert.are.same({}, errors)
    end)
  end)

  describe("register_all_plugins", function()
    it("puts each plugin's exports table under its id, and returns the table", function()
      local a_exports = { f = function() return "a" end }
      plugin("a", a_exports)
      plugin("b", {})
      local target = { kept = true }
      assert.are.equal(target, manager:register_all_plugins(target))
      assert.are.equal(a_exports, target.a)
      assert.are.same({}, target.b)
      assert.is_true(target.kept)
    end)
  end)

  describe("plugins and load_order", function()
    it("list every loaded plugin in load order", function()
      plugin("z", {})
      plugin("a", {})
      plugin("m", {})
      manager:unload_plugin("a")
      assert.are.same({ "z", "m" }, manager:load_order())
      local ids = {}
      for _, handle in ipairs(manager:plugins()) do
        ids[#ids + 1] = handle:id()
      end
      assert.are.same({ "z", "m" }, ids)
    end)

    it("give copies: changing them changes nothing", function()
      plugin("a", {})
      table.insert(manager:load_order(), "x")
      table.insert(manager:plugins(), "x")
      assert.are.same({ "a" }, manager:load_order())
      assert.are.equal(1, #manager:plugins())
    end)

    it("answer nil from get_plugin for an id that is not loaded, and for a nil id", function()
      assert.is_nil(manager:get_plugin("ghost"))
      assert.is_nil(manager:get_plugin(nil))
    end)
  end)
end)
