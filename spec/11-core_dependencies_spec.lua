-- qtforge.core: dependencies between plugins: load_directory's order, cycles,
-- optional dependencies, version ranges, and unloading what others depend on.
local fs = require("support.fs")
local plugins = require("support.plugins")

-- the plugin ids of `results`, in order, each marked "+" (loaded) or "-" (failed)
local function outcome(results)
  local list = {}
  for _, result in ipairs(results) do
    local id = result.plugin_id or result.path:match("([^/]+)$")
    list[#list + 1] = id .. (result.success and "+" or "-")
  end
  return list
end

local function result_for(results, id)
  for _, result in ipairs(results) do
    if result.plugin_id == id or (result.path and result.path:match("([^/]+)$") == id) then
      return result
    end
  end
  return nil
end

describe("PluginManager:load_directory", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("loads every plugin, dependencies first, with one result per plugin", function()
    plugins.folder(root, "alpha", { deps = { { "beta" } } })
    plugins.folder(root, "beta", { deps = { { "gamma" } } })
    plugins.folder(root, "gamma")
    local results = manager:load_directory(root)
    assert.are.same({ "gamma+", "beta+", "alpha+" }, outcome(results))
    assert.are.same({ "gamma", "beta", "alpha" }, manager:load_order())
    for _, result in ipairs(results) do
      assert.are.equal(root .. "/" .. result.plugin_id, result.path)
    end
  end)

  it("orders a diamond so the shared dependency comes first and the top last", function()
    plugins.folder(root, "top", { deps = { { "left" }, { "right" } } })
    plugins.folder(root, "left", { deps = { { "base" } } })
    plugins.folder(root, "right", { deps = { { "base" } } })
    plugins.folder(root, "base")
    assert.are.same({ "base+", "left+", "right+", "top+" }, outcome(manager:load_directory(root)))
  end)

  it("follows before and after lists between plugins that are loaded together", function()
    plugins.folder(root, "a", { lines = 'after = ["c"]\n' })
    plugins.folder(root, "b")
    plugins.folder(root, "c", { lines = 'before = ["b"]\n' })
    plugins.folder(root, "d", { lines = 'before = ["absent"]\nafter = ["missing"]\n' })
    assert.are.same({ "c+", "a+", "b+", "d+" }, outcome(manager:load_directory(root)))
  end)

  it("breaks ties by priority, highest first, then by id", function()
    plugins.folder(root, "low", { lines = "priority = -1\n" })
    plugins.folder(root, "plain")
    plugins.folder(root, "also_plain")
    plugins.folder(root, "urgent", { lines = "priority = 10\n" })
    assert.are.same({ "urgent+", "also_plain+", "plain+", "low+" }, outcome(manager:load_directory(root)))
  end)

  it("never lets priority put a plugin before its dependency", function()
    plugins.folder(root, "eager", { lines = "priority = 100\n", deps = { { "slow" } } })
    plugins.folder(root, "slow", { lines = "priority = -100\n" })
    plugins.folder(root, "other")
    assert.are.same({ "other+", "slow+", "eager+" }, outcome(manager:load_directory(root)))
  end)

  it("reports a cycle with its path, and still loads the plugins outside it", function()
    plugins.folder(root, "a", { deps = { { "b" } } })
    plugins.folder(root, "b", { deps = { { "a" } } })
    plugins.folder(root, "c", { deps = { { "a" } } })
    plugins.folder(root, "free")
    local results = manager:load_directory(root)
    assert.are.equal(4, #results)
    assert.is_true(result_for(results, "free").success)
    for _, id in ipairs({ "a", "b" }) do
      local err = plugins.failed(result_for(results, id), "dependency_cycle")
      assert.are.equal("a -> b -> a", err.details)
      assert.are.equal('plugin "a" depends on itself through a cycle', err.message)
    end
    local err = plugins.failed(result_for(results, "c"), "dependency_missing")
    assert.are.equal('"a" cannot load: dependency_cycle', err.details)
    assert.are.same({ "free" }, manager:load_order())
  end)

  it("reports a longer cycle with every step", function()
    plugins.folder(root, "x", { deps = { { "y" } } })
    plugins.folder(root, "y", { deps = { { "z" } } })
    plugins.folder(root, "z", { deps = { { "x" } } })
    local err = plugins.failed(manager:load_directory(root)[1], "dependency_cycle")
    assert.are.equal("x -> y -> z -> x", err.details)
  end)

  it("loads an optional dependency that is present before the plugin that uses it", function()
    plugins.folder(root, "app", { deps = { { "zcache", "*", true } }, source = [[
      local ctx
      return {
        on_load = function(c) ctx = c end,
        exports = { cache = function() return ctx.deps.zcache and ctx.deps.zcache.name() end },
      }
    ]] })
    plugins.folder(root, "zcache", { source = "return { exports = { name = function() return 'zcache' end } }" })
    assert.are.same({ "zcache+", "app+" }, outcome(manager:load_directory(root)))
    assert.are.equal("zcache", manager:call("app", "cache"))
  end)

  it("loads a plugin whose optional dependency is absent", function()
    plugins.folder(root, "app", { deps = { { "zcache", "*", true } }, source = [[
      local ctx
      return { on_load = function(c) ctx = c end, exports = { cache = function() return ctx.deps.zcache end } }
    ]] })
    assert.are.same({ "app+" }, outcome(manager:load_directory(root)))
    assert.is_nil(manager:call("app", "cache"))
  end)

  it("still checks the range of an optional dependency that is present", function()
    plugins.folder(root, "app", { deps = { { "lib", "^2", true } } })
    plugins.folder(root, "lib", { version = "1.0.0" })
    local results = manager:load_directory(root)
    assert.is_true(result_for(results, "lib").success)
    plugins.failed(result_for(results, "app"), "dependency_version")
  end)

  it("matches version ranges: ^, ~, and >=, <", function()
    plugins.folder(root, "lib", { version = "1.4.2" })
    local ranges = {
      caret = "^1.2", caret_major = "^2", tilde = "~1.4", tilde_old = "~1.3",
      window = ">=1.0, <2.0", closed = ">=1.5, <2.0", exact = "=1.4.2",
    }
    for name, range in pairs(ranges) do
      plugins.folder(root, name, { deps = { { "lib", range } } })
    end
    local results = manager:load_directory(root)
    for _, ok in ipairs({ "lib", "caret", "tilde", "window", "exact" }) do
      assert.is_true(result_for(results, ok).success, ok)
    end
    for _, refused in ipairs({ "caret_major", "tilde_old", "closed" }) do
      local err = plugins.failed(result_for(results, refused), "dependency_version")
      assert.are.equal(string.format('plugin "%s" needs "lib" %s, but 1.4.2 is loaded', refused, ranges[refused]),
        err.message)
    end
  end)

  it("resolves against plugins that are already loaded", function()
    local base = fs.temp_dir()
    plugins.folder(base, "base", { version = "1.1.0" })
    assert.is_true(manager:load_plugin(base .. "/base").success)
    plugins.folder(root, "user", { deps = { { "base", "^1.1" } } })
    plugins.folder(root, "base")
    local results = manager:load_directory(root)
    assert.is_true(result_for(results, "user").success)
    plugins.failed(result_for(results, "base"), "already_loaded")
    assert.are.same({ "base", "user" }, manager:load_order())
    manager:shutdown()
    fs.remove(base)
  end)

  it("fails the dependents of a plugin whose code fails, and loads the rest", function()
    plugins.folder(root, "core", { source = "error('core is broken')" })
    plugins.folder(root, "ui", { deps = { { "core" } } })
    plugins.folder(root, "tools")
    local results = manager:load_directory(root)
    assert.are.equal(3, #results)
    plugins.failed(result_for(results, "core"), "load_error")
    plugins.failed(result_for(results, "ui"), "dependency_missing")
    assert.is_true(result_for(results, "tools").success)
    assert.are.same({ "tools" }, manager:load_order())
  end)

  it("gives a result for a plugin whose manifest cannot be read", function()
    plugins.folder(root, "good")
    fs.write(root .. "/bad/plugin.toml", "name = \n")
    local results = manager:load_directory(root)
    assert.are.equal(2, #results)
    assert.is_true(result_for(results, "good").success)
    local bad = result_for(results, "bad")
    plugins.failed(bad, "invalid_manifest")
    assert.are.equal(root .. "/bad", bad.path)
  end)

  it("emits loaded and started for each plugin in load order", function()
    plugins.folder(root, "two", { deps = { { "one" } } })
    plugins.folder(root, "one")
    local seen = plugins.record(manager)
    manager:load_directory(root)
    assert.are.same({ "loaded:one", "started:one", "loaded:two", "started:two" }, seen)
  end)

  it("answers a folder that does not exist with one not_found result", function()
    local results = manager:load_directory(root .. "/nope")
    assert.are.equal(1, #results)
    plugins.failed(results[1], "not_found")
  end)

  it("answers an empty folder with no results", function()
    assert.are.same({}, manager:load_directory(root))
  end)
end)

describe("unloading a plugin others depend on", function()
  local root, manager, logs

  -- the plugins whose on_unload ran, in order: each logs "on_unload"
  local function unloads()
    local ids = {}
    for _, line in ipairs(logs) do
      if line.message == "on_unload" then
        ids[#ids + 1] = line.plugin_id
      end
    end
    return ids
  end

  before_each(function()
    root = fs.temp_dir()
    manager, logs = plugins.manager()
    local RECORDER = 'return { on_unload = function(ctx) ctx.log.info("on_unload") end }'
    local function recorder(name, deps)
      plugins.folder(root, name, { deps = deps, capabilities = { "log" }, source = RECORDER })
    end
    recorder("base")
    recorder("mid", { { "base" } })
    recorder("top", { { "mid" }, { "base" } })
    recorder("side", { { "base" } })
    recorder("alone")
    manager:load_directory(root)
    assert.are.same({ "alone", "base", "mid", "side", "top" }, manager:load_order())
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  it("is refused with has_dependents, naming them, and unloads nothing", function()
    local before = plugins.snapshot(manager)
    local result = manager:unload_plugin("base")
    local err = plugins.failed(result, "has_dependents")
    assert.are.equal("base", result.plugin_id)
    assert.are.equal("mid, side, top", err.details)
    assert.are.equal('plugin "base" has 3 dependent plugin(s) loaded; unload them first or pass cascade = true',
      err.message)
    assert.are.same(before.order, manager:load_order())
    assert.are.same({}, unloads())
    assert.are.equal("running", manager:get_plugin("base"):state())
  end)

  it("with cascade = true unloads the dependents first, latest loaded first", function()
    local seen = plugins.record(manager)
    local result = manager:unload_plugin("base", { cascade = true })
    assert.is_true(result.success)
    assert.are.same({ "top", "side", "mid", "base" }, result.unloaded)
    assert.are.same({ "top", "side", "mid", "base" }, unloads())
    assert.are.same({ "unloaded:top", "unloaded:side", "unloaded:mid", "unloaded:base" }, seen)
    assert.are.same({ "alone" }, manager:load_order())
    assert.are.same({}, result.errors)
  end)

  it("with cascade = true on a plugin without dependents unloads just that one", function()
    local result = manager:unload_plugin("top", { cascade = true })
    assert.are.same({ "top" }, result.unloaded)
    assert.are.same({ "alone", "base", "mid", "side" }, manager:load_order())
  end)

  it("is allowed once the dependents are gone", function()
    assert.is_true(manager:unload_plugin("top").success)
    assert.is_true(manager:unload_plugin("side").success)
    assert.is_true(manager:unload_plugin("mid").success)
    assert.is_true(manager:unload_plugin("base").success)
    assert.are.same({ "top", "side", "mid", "base" }, unloads())
  end)
end)
