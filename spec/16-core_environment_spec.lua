-- qtforge.core: what plugin code runs in: an environment of its own, and the
-- ctx its hooks receive (require, config, deps, log).
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

describe("plugin environments", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    _G.QTFORGE_SPEC_HOST = nil
    fs.remove(root)
  end)

  it("keep a plugin's globals out of _G", function()
    manager:load_plugin(plugins.folder(root, "leaky", { source = [[
      LEAKED = "from leaky"
      function leaked_function() end
      return { exports = { read = function() return LEAKED end } }
    ]] }))
    assert.are.equal("from leaky", manager:call("leaky", "read"))
    assert.is_nil(rawget(_G, "LEAKED"))
    assert.is_nil(rawget(_G, "leaked_function"))
  end)

  it("keep one plugin's globals from another", function()
    manager:load_plugin(plugins.folder(root, "one", { source = [[
      SHARED = "one"
      return { exports = { read = function() return SHARED end } }
    ]] }))
    manager:load_plugin(plugins.folder(root, "two", { source = [[
      local before = SHARED
      SHARED = "two"
      return { exports = { read = function() return SHARED end, before = function() return before end } }
    ]] }))
    assert.is_nil(manager:call("two", "before"))
    assert.are.equal("one", manager:call("one", "read"))
    assert.are.equal("two", manager:call("two", "read"))
  end)

  it("give a plugin its own _G: writing through _G stays in the plugin", function()
    manager:load_plugin(plugins.folder(root, "g", { source = [[
      _G.THROUGH_G = 1
      return { exports = {
        same = function() return _G == _ENV, _G._G == _G end,
        through = function() return THROUGH_G end,
      } }
    ]] }))
    local same, self_ref = manager:call("g", "same")
    assert.is_true(self_ref)
    if not jit then
      assert.is_true(same)
    end
    assert.are.equal(1, manager:call("g", "through"))
    assert.is_nil(rawget(_G, "THROUGH_G"))
  end)

  if jit then
    it("runs a plugin's functions with the plugin's environment as their fenv (LuaJIT)", function()
      -- a sandboxed plugin has no getfenv: the host asks for the fenv of its function
      manager:load_plugin(plugins.folder(root, "fenv", { source = [[
        local function probe() end
        return { exports = { probe = probe, env = function() return _G end } }
      ]] }))
      local env = getfenv(manager:get_plugin("fenv").exports.probe)
      assert.are.equal(manager:call("fenv", "env"), env)
      assert.are_not.equal(_G, env)
    end)
  end

  describe("and the host's globals", function()
    local READER = [[
      return { exports = { read = function() return QTFORGE_SPEC_HOST, type(string.format), type(io) end } }
    ]]

    before_each(function()
      _G.QTFORGE_SPEC_HOST = "host value"
    end)

    it("let a trusted plugin read them", function()
      local trusting = plugins.manager({ security = qtforge.security.SecurityManager({ trust = "trusted" }) })
      local result = trusting:load_plugin(plugins.folder(root, "reader", { source = READER }))
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("trusted", trusting:security():trust_level("reader"))
      assert.are.same({ "host value", "function", "table" }, { trusting:call("reader", "read") })
      trusting:shutdown()
    end)

    it("hide them from a sandboxed plugin, which still has the standard libraries", function()
      local result = manager:load_plugin(plugins.folder(root, "reader", { source = READER }))
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("sandboxed", manager:security():trust_level("reader"))
      assert.are.same({ nil, "function", "nil" }, { manager:call("reader", "read") })
    end)

    it("show them to a sandboxed plugin that the policy grants host, but not the libraries it was denied", function()
      local granting = plugins.manager({ security = qtforge.security.SecurityManager({ grant = { "host" } }) })
      local result = granting:load_plugin(plugins.folder(root, "reader", { source = READER,
        capabilities = { "host" } }))
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("sandboxed", granting:security():trust_level("reader"))
      assert.are.same({ "host value", "function", "nil" }, { granting:call("reader", "read") })
      granting:shutdown()
    end)

    it("refuse a plugin that asks for host when the policy does not grant it", function()
      local err = plugins.failed(manager:load_plugin(plugins.folder(root, "reader", { source = READER,
        capabilities = { "host" } })), "capability_denied")
      plugins.contains(err.message, "host")
      assert.is_nil(manager:get_plugin("reader"))
    end)
  end)

  it("are fresh after a reload: the old version's globals are gone", function()
    local path = plugins.folder(root, "r", { source = [[
      COUNTER = (COUNTER or 0) + 1
      return { exports = { count = function() return COUNTER end } }
    ]] })
    manager:load_plugin(path)
    manager:reload_plugin("r")
    assert.are.equal(1, manager:call("r", "count"))
  end)
end)

describe("ctx", function()
  local root, manager, logs

  -- a plugin that keeps its ctx and exports `ctx()` to look at it
  local function keeper(name, spec)
    spec = spec or {}
    spec.source = [[
      local ctx
      local plugin = { exports = {} }
      function plugin.on_load(c) ctx = c end
      function plugin.exports.ctx() return ctx end
      function plugin.exports.require(name) return ctx.require(name) end
      return plugin
    ]]
    return plugins.folder(root, name, spec)
  end

  before_each(function()
    root = fs.temp_dir()
    manager, logs = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("carries the plugin's id and version", function()
    manager:load_plugin(keeper("who", { version = "3.1.4" }))
    local ctx = manager:call("who", "ctx")
    assert.are.equal("who", ctx.id)
    assert.are.equal("3.1.4", ctx.version:to_string())
  end)

  describe("require", function()
    before_each(function()
      keeper("mods", { files = {
        ["util.lua"] = "LOADS = (LOADS or 0) + 1\nreturn { loads = LOADS, env = _G, name = ... }",
        ["a/b.lua"] = "return 'module a.b'",
        ["pkg/init.lua"] = "return 'package pkg'",
        ["nothing.lua"] = "local x = 1",
        ["broken.lua"] = "return {",
        ["raises.lua"] = "error('module raised')",
      } })
      assert.is_true(manager:load_plugin(root .. "/mods").success)
    end)

    it("loads a module file from the plugin's folder, in the plugin's environment", function()
      local util = manager:call("mods", "require", "util")
      assert.are.equal(1, util.loads)
      assert.are.equal("util", util.name)
      assert.are_not.equal(_G, util.env)
      assert.is_nil(rawget(_G, "LOADS"))
    end)

    it("caches a module: the second require gives the same value without running it again", function()
      local first = manager:call("mods", "require", "util")
      local second = manager:call("mods", "require", "util")
      assert.are.equal(first, second)
      assert.are.equal(1, second.loads)
    end)

    it("maps dots to folders, and finds a folder's init.lua", function()
      assert.are.equal("module a.b", manager:call("mods", "require", "a.b"))
      assert.are.equal("package pkg", manager:call("mods", "require", "pkg"))
    end)

    it("gives true for a module that returns nothing", function()
      assert.is_true(manager:call("mods", "require", "nothing"))
    end)

    it("raises a clear error naming a missing module and where it looked", function()
      local ok, message = pcall(manager.call, manager, "mods", "require", "missing")
      assert.is_false(ok)
      plugins.contains(message, 'ctx.require: no module "missing" in the plugin\'s folder',
        root .. "/mods/missing.lua", root .. "/mods/missing/init.lua")
    end)

    it("refuses a name that reaches outside the plugin's folder", function()
      fs.write(root .. "/x.lua", "return 'outside'")
      for _, name in ipairs({ "../x", "/etc/passwd", "a/b", "" }) do
        local ok, message = pcall(manager.call, manager, "mods", "require", name)
        assert.is_false(ok)
        plugins.contains(message, "ctx.require: no module " .. string.format("%q", name),
          "module names are dot-separated words")
      end
    end)

    it("raises the module's own syntax or runtime error", function()
      local ok, message = pcall(manager.call, manager, "mods", "require", "broken")
      assert.is_false(ok)
      plugins.contains(message, root .. "/mods/broken.lua:1:")
      ok, message = pcall(manager.call, manager, "mods", "require", "raises")
      assert.is_false(ok)
      plugins.contains(message, root .. "/mods/raises.lua:1: module raised")
    end)

    it("refuses a name that is not a string", function()
      assert.has_error(function()
        manager:call("mods", "require", 42)
      end, "ctx.require: argument 'name' must be a module name string, got number")
    end)

    it("is per plugin: another plugin does not see this one's modules", function()
      manager:load_plugin(keeper("other"))
      local ok, message = pcall(manager.call, manager, "other", "require", "util")
      assert.is_false(ok)
      plugins.contains(message, 'no module "util"')
    end)
  end)

  describe("config", function()
    it("holds the [config] defaults", function()
      manager:load_plugin(keeper("cfg", { capabilities = { "config:read" },
        config = 'greeting = "Hello"\n[config.nested]\nn = 1\n' }))
      local config = manager:call("cfg", "ctx").config
      assert.are.same({ greeting = "Hello", nested = { n = 1 } }, config:to_table())
      -- a scope of the manager's configuration: fields read values, methods check types
      assert.are.equal("Hello", config.greeting)
      assert.are.equal(1, config:get_int("nested.n"))
      assert.are.equal("file", config:get_string("missing", "file"))
    end)

    it("is an empty table for a plugin without [config]", function()
      manager:load_plugin(keeper("bare", { capabilities = { "config:read" } }))
      assert.are.same({}, manager:call("bare", "ctx").config:to_table())
    end)

    it("follows configure_plugin", function()
      manager:load_plugin(keeper("cfg", { capabilities = { "config:read" }, config = 'greeting = "Hello"\n' }))
      manager:configure_plugin("cfg", { greeting = "Hi" })
      assert.are.equal("Hi", manager:call("cfg", "ctx").config.greeting)
    end)
  end)

  describe("deps", function()
    it("holds each loaded dependency's exports, and nothing else", function()
      local base = plugins.folder(root, "base", { source = "return { exports = { v = function() return 1 end } }" })
      manager:load_plugin(base)
      manager:load_plugin(plugins.folder(root, "stranger"))
      manager:load_plugin(keeper("user", { deps = { { "base" }, { "maybe", "*", true } } }))
      local deps = manager:call("user", "ctx").deps
      -- a sandboxed plugin reads the exports through a read-only view
      local exports = manager:get_plugin("base").exports
      assert.are_not.equal(exports, deps.base)
      assert.are.equal(exports.v, deps.base.v)
      assert.are.equal(1, deps.base.v())
      assert.has_error(function()
        deps.base.v = nil
      end, 'the exports of base is read-only (assigning "v")')
      assert.is_function(exports.v)
      assert.is_nil(deps.maybe)
      assert.is_nil(deps.stranger)
    end)

    it("gives a trusted plugin the exports tables themselves", function()
      local trusting = plugins.manager({ security = qtforge.security.SecurityManager({ trust = "trusted" }) })
      local source = "return { exports = { v = function() return 1 end } }"
      trusting:load_plugin(plugins.folder(root, "base", { source = source }))
      trusting:load_plugin(keeper("user", { deps = { { "base" } } }))
      local deps = trusting:call("user", "ctx").deps
      assert.are.equal(trusting:get_plugin("base").exports, deps.base)
      assert.are.equal(1, deps.base.v())
      trusting:shutdown()
    end)

    it("follows a reload of the dependency", function()
      local base = plugins.folder(root, "base", { source = "return { exports = { v = function() return 1 end } }" })
      manager:load_plugin(base)
      manager:load_plugin(keeper("user", { deps = { { "base" } } }))
      local deps = manager:call("user", "ctx").deps
      fs.write(base .. "/init.lua", "return { exports = { v = function() return 2 end } }")
      assert.is_true(manager:reload_plugin("base").success)
      assert.are.equal(2, deps.base.v())
    end)

    it("is read-only", function()
      manager:load_plugin(keeper("user"))
      local deps = manager:call("user", "ctx").deps
      assert.has_error(function()
        deps.x = {}
      end, "ctx.deps is read-only")
    end)
  end)

  describe("log", function()
    it("hands (level, plugin_id, message) to the manager's log option, at each level", function()
      manager:load_plugin(keeper("talker", { capabilities = { "log" } }))
      local log = manager:call("talker", "ctx").log
      for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
        log[level]("at " .. level)
      end
      log.info(42)
      assert.are.equal(6, #logs)
      for i, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
        assert.are.same({ level = level, plugin_id = "talker", message = "at " .. level }, logs[i])
      end
      assert.are.equal("42", logs[6].message)
      assert.is_nil(log.shout)
    end)

    it("is usable from the plugin's hooks", function()
      manager:load_plugin(plugins.folder(root, "hooked", { capabilities = { "log" }, source = [[
        return { on_load = function(ctx) ctx.log.info("loading " .. ctx.id) end }
      ]] }))
      assert.are.same({ { level = "info", plugin_id = "hooked", message = "loading hooked" } }, logs)
    end)

    it("also carries the manager's own reports, such as a plugin failing", function()
      manager:register_plugin({ manifest = { name = "bad", version = "1.0.0" }, update = function()
        error("tick")
      end })
      manager:update_all_plugins(0.1)
      assert.are.same({ level = "error", plugin_id = "bad", message = 'plugin "bad" failed in update: tick' }, logs[1])
    end)
  end)
end)
