-- qtforge.core: the classes beside PluginManager: PluginRegistry (queries),
-- stats, PluginLifecycleManager, PluginDependencyResolver and PluginLoader.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local core = qtforge.core
local FIXTURES = plugins.FIXTURES

local function ids(handles)
  local list = {}
  for i, handle in ipairs(handles) do
    list[i] = handle:id()
  end
  return list
end

describe("qtforge.core", function()
  it("offers the classes of the seed's core module", function()
    for _, name in ipairs({ "PluginManager", "PluginLifecycleManager", "PluginDependencyResolver" }) do
      assert.are.equal("qtforge.core." .. name, tostring(core[name]))
      assert.is_function(core[name].new)
    end
    assert.is_function(core.PluginLoader.inspect)
    assert.is_function(core.PluginLoader.discover)
  end)

  it("builds the same kind of object through Class() and Class.new()", function()
    local a, b = core.PluginManager(), core.PluginManager.new()
    assert.are.equal(getmetatable(a), getmetatable(b))
    assert.are.equal(getmetatable(core.PluginDependencyResolver()), getmetatable(core.PluginDependencyResolver.new()))
  end)
end)

describe("PluginRegistry", function()
  local manager, registry

  before_each(function()
    manager = plugins.manager()
    manager:load_plugin(FIXTURES .. "/greeter")
    manager:load_plugin(FIXTURES .. "/json_plugin", { start = false })
    manager:load_plugin(FIXTURES .. "/solo.lua")
    manager:register_plugin({ manifest = { name = "inline", version = "1.0.0", tags = { "example" },
      capabilities = { "log" } } })
    registry = manager:registry()
  end)

  it("reads as one line through tostring", function()
    assert.are.equal("qtforge.core.PluginRegistry (4 plugins)", tostring(registry))
    assert.are.equal("qtforge.core.PluginLifecycleManager (4 plugins)", tostring(manager:lifecycle()))
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("finds plugins by tag, in load order", function()
    assert.are.same({ "greeter", "inline" }, ids(registry:find_by_tag("example")))
    assert.are.same({ "json_plugin" }, ids(registry:find_by_tag("json")))
    assert.are.same({}, registry:find_by_tag("nothing"))
  end)

  it("finds plugins by capability", function()
    assert.are.same({ "greeter" }, ids(registry:find_by_capability("config:read")))
    assert.are.same({ "inline" }, ids(registry:find_by_capability("log")))
    assert.are.same({}, registry:find_by_capability("os:exec"))
  end)

  it("finds plugins by state", function()
    assert.are.same({ "greeter", "solo", "inline" }, ids(registry:find_by_state("running")))
    assert.are.same({ "json_plugin" }, ids(registry:find_by_state("loaded")))
    manager:stop_plugin("solo")
    assert.are.same({ "solo" }, ids(registry:find_by_state("stopped")))
    assert.are.same({}, registry:find_by_state("failed"))
    assert.are.same({ "greeter", "inline" }, ids(registry:running()))
  end)

  it("finds plugins by kind", function()
    assert.are.same({ "greeter", "json_plugin" }, ids(registry:find_by_kind("folder")))
    assert.are.same({ "solo" }, ids(registry:find_by_kind("file")))
    assert.are.same({ "inline" }, ids(registry:find_by_kind("inline")))
  end)

  it("gets one plugin, lists all and counts them", function()
    assert.are.equal(manager:get_plugin("solo"), registry:get("solo"))
    assert.is_nil(registry:get("ghost"))
    assert.are.same({ "greeter", "json_plugin", "solo", "inline" }, ids(registry:list()))
    assert.are.equal(4, registry:count())
    manager:unload_plugin("solo")
    assert.are.equal(3, registry:count())
    assert.are.same({}, registry:find_by_kind("file"))
  end)
end)

describe("PluginManager:stats", function()
  it("counts plugins, by state, and what happened to them", function()
    local root = fs.temp_dir()
    local manager = plugins.manager()
    local empty = manager:stats()
    assert.are.same({ loaded = 0, running = 0, stopped = 0, failed = 0 }, empty.by_state)
    assert.are.equal(0, empty.plugins)

    manager:load_plugin(FIXTURES .. "/greeter")
    manager:load_plugin(FIXTURES .. "/solo.lua", { start = false })
    manager:load_plugin(plugins.folder(root, "broken", { source = "error('x')" }))
    local live = plugins.folder(root, "live")
    manager:load_plugin(live)
    manager:reload_plugin("live")
    fs.write(live .. "/init.lua", "return {")
    manager:reload_plugin("live")
    manager:unload_plugin("greeter")
    manager:register_plugin({ manifest = { name = "ticker", version = "1.0.0" }, update = function() end })
    manager:update_all_plugins(0.5)

    local stats = manager:stats()
    assert.are.equal(3, stats.plugins)
    assert.are.same({ loaded = 1, running = 2, stopped = 0, failed = 0 }, stats.by_state)
    assert.are.equal(4, stats.loads)
    assert.are.equal(1, stats.load_failures)
    assert.are.equal(1, stats.unloads)
    assert.are.equal(1, stats.reloads)
    assert.are.equal(1, stats.reload_failures)
    assert.are.equal(1, stats.updates)
    assert.are.equal(0, stats.update_errors)
    assert.are.equal(1, stats.ticking)
    assert.is_true(stats.uptime >= 0)
    manager:shutdown()
    fs.remove(root)
  end)
end)

describe("PluginLifecycleManager", function()
  local manager, lifecycle, calls

  local function tracked(id, hooks)
    local plugin = { manifest = { name = id, version = "1.0.0" } }
    for _, hook in ipairs({ "on_start", "on_stop" }) do
      plugin[hook] = function()
        calls[#calls + 1] = id .. "." .. hook
      end
    end
    for k, v in pairs(hooks or {}) do
      plugin[k] = v
    end
    return plugin
  end

  before_each(function()
    calls = {}
    manager = plugins.manager({ autostart = false })
    manager:register_plugin(tracked("a"))
    manager:register_plugin(tracked("b"))
    manager:register_plugin(tracked("c"))
    lifecycle = core.PluginLifecycleManager(manager)
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("is also what manager:lifecycle() gives", function()
    assert.are.equal(getmetatable(lifecycle), getmetatable(manager:lifecycle()))
    assert.are.equal(getmetatable(lifecycle), getmetatable(core.PluginLifecycleManager.new(manager)))
  end)

  it("starts and stops one plugin, and tells its state", function()
    assert.are.equal("loaded", lifecycle:state("a"))
    assert.is_true(lifecycle:start("a").success)
    assert.are.equal("running", lifecycle:state("a"))
    assert.is_true(lifecycle:stop("a").success)
    assert.are.equal("stopped", lifecycle:state("a"))
    assert.are.equal("unloaded", lifecycle:state("ghost"))
    plugins.failed(lifecycle:stop("a"), "invalid_state")
  end)

  it("restarts a running plugin: on_stop, then on_start", function()
    lifecycle:start("b")
    calls = {}
    assert.is_true(lifecycle:restart("b").success)
    assert.are.same({ "b.on_stop", "b.on_start" }, calls)
    assert.are.equal("running", lifecycle:state("b"))
  end)

  it("restarts a plugin that is not running by starting it", function()
    assert.is_true(lifecycle:restart("c").success)
    assert.are.same({ "c.on_start" }, calls)
  end)

  it("starts all in load order and stops all in reverse, one result per plugin", function()
    local started = lifecycle:start_all()
    assert.are.equal(3, #started)
    assert.are.same({ "a", "b", "c" }, { started[1].plugin_id, started[2].plugin_id, started[3].plugin_id })
    assert.are.same({}, lifecycle:start_all())
    local stopped = lifecycle:stop_all()
    assert.are.same({ "c", "b", "a" }, { stopped[1].plugin_id, stopped[2].plugin_id, stopped[3].plugin_id })
    assert.are.same({ "a.on_start", "b.on_start", "c.on_start", "c.on_stop", "b.on_stop", "a.on_stop" }, calls)
  end)

  it("keeps going through start_all when one plugin fails to start", function()
    manager:register_plugin(tracked("d", { on_start = function() error("d cannot start") end }))
    manager:register_plugin(tracked("e"))
    local results = lifecycle:start_all()
    assert.are.equal(5, #results)
    plugins.failed(results[4], "load_error")
    assert.is_true(results[5].success)
    assert.are.equal("failed", lifecycle:state("d"))
    assert.are.equal("running", lifecycle:state("e"))
  end)

  it("tells whether an operation is allowed now, and why not", function()
    assert.is_true(lifecycle:can("a", "start"))
    local allowed, err = lifecycle:can("a", "stop")
    assert.is_false(allowed)
    assert.are.equal("invalid_state", err.code)
    assert.are.equal('cannot stop plugin "a" while it is loaded', err.message)
    assert.is_true(lifecycle:can("a", "configure"))
    assert.is_true(lifecycle:can("a", "unload"))
    assert.is_true(lifecycle:can("a", "reload"))
    allowed, err = lifecycle:can("ghost", "start")
    assert.is_false(allowed)
    assert.are.equal("not_found", err.code)
  end)

  it("keeps each plugin's state history, oldest first", function()
    lifecycle:start("a")
    lifecycle:stop("a")
    lifecycle:start("a")
    local history = lifecycle:history("a")
    local states = {}
    for i, entry in ipairs(history) do
      states[i] = entry.state
      assert.is_number(entry.at)
      if i > 1 then
        assert.is_true(entry.at >= history[i - 1].at)
      end
    end
    assert.are.same({ "loaded", "running", "stopped", "running" }, states)
    assert.are.same({}, lifecycle:history("ghost"))
  end)
end)

describe("PluginDependencyResolver", function()
  local root, resolver

  before_each(function()
    root = fs.temp_dir()
    resolver = core.PluginDependencyResolver()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("orders plain info tables, dependencies first", function()
    assert.is_true(resolver:add({ id = "app", version = "1.0.0", dependencies = { "db", "log" } }))
    assert.is_true(resolver:add({ id = "db", dependencies = { { name = "log", version = "^1" } } }))
    assert.is_true(resolver:add({ id = "log", version = "1.2.0" }))
    assert.are.same({ "log", "db", "app" }, resolver:order())
    assert.are.equal(3, resolver:count())
    assert.are.equal("qtforge.core.PluginDependencyResolver (3 plugins)", tostring(resolver))
  end)

  it("orders the infos PluginLoader.inspect gives", function()
    plugins.folder(root, "ui", { deps = { { "model", "^2" } } })
    plugins.folder(root, "model", { version = "2.1.0", lines = "priority = 5\n" })
    plugins.folder(root, "extra", { lines = 'after = ["ui"]\n' })
    for _, name in ipairs({ "ui", "model", "extra" }) do
      assert.is_true(resolver:add(assert(core.PluginLoader.inspect(root .. "/" .. name))))
    end
    assert.are.same({ "model", "ui", "extra" }, resolver:order())
  end)

  it("orders what discover finds", function()
    plugins.folder(root, "b", { deps = { { "c" } } })
    plugins.folder(root, "c")
    fs.write(root .. "/a.lua", "return { manifest = { name = 'a', version = '1.0.0',"
      .. " dependencies = { { name = 'b' } } } }")
    for _, info in ipairs(core.PluginLoader.discover(root)) do
      resolver:add(info)
    end
    assert.are.same({ "c", "b", "a" }, resolver:order())
  end)

  it("follows before, after and priority", function()
    resolver:add({ id = "late", priority = -1 })
    resolver:add({ id = "first", before = { "second" } })
    resolver:add({ id = "second" })
    resolver:add({ id = "top", priority = 3 })
    resolver:add({ id = "tail", after = { "late" } })
    assert.are.same({ "top", "first", "second", "late", "tail" }, resolver:order())
  end)

  it("answers nil and the cycle from order()", function()
    resolver:add({ id = "a", dependencies = { "b" } })
    resolver:add({ id = "b", dependencies = { "c" } })
    resolver:add({ id = "c", dependencies = { "a" } })
    local order, err = resolver:order()
    assert.is_nil(order)
    assert.are.equal("dependency_cycle", err.code)
    assert.are.equal("a -> b -> c -> a", err.details)
  end)

  it("resolves what it can and gives an Error for each plugin that cannot load", function()
    resolver:add({ id = "a", dependencies = { "b" } })
    resolver:add({ id = "b", dependencies = { "a" } })
    resolver:add({ id = "needs_ghost", dependencies = { "ghost" } })
    resolver:add({ id = "needs_new", dependencies = { { name = "ok", version = "^2" } } })
    resolver:add({ id = "ok", version = "1.0.0" })
    resolver:add({ id = "optional_ok", dependencies = { { name = "ghost", optional = true } } })
    local resolution = resolver:resolve()
    assert.are.same({ "ok", "optional_ok" }, resolution.order)
    assert.are.equal("a -> b -> a", resolution.failures.a.details)
    assert.are.equal("dependency_cycle", resolution.failures.b.code)
    assert.are.equal("dependency_missing", resolution.failures.needs_ghost.code)
    assert.are.equal("dependency_version", resolution.failures.needs_new.code)
    assert.is_nil(resolution.failures.ok)
  end)

  it("answers nil and already_loaded for a second plugin with the same id", function()
    resolver:add({ id = "a" })
    local ok, err = resolver:add({ id = "a" })
    assert.is_nil(ok)
    assert.are.equal("already_loaded", err.code)
    assert.are.equal(1, resolver:count())
  end)

  it("resolves against plugins declared available", function()
    resolver:add_available("base", "1.5.0")
    resolver:add_available("other", qtforge.utils.Version(2, 0, 0))
    resolver:add({ id = "user", dependencies = { { name = "base", version = "^1.4" }, "other" } })
    assert.are.same({ "user" }, resolver:order())
    assert.are.equal(1, resolver:count())
  end)

  it("removes a plugin", function()
    resolver:add({ id = "a", dependencies = { "b" } })
    resolver:add({ id = "b" })
    assert.is_true(resolver:remove("b"))
    assert.is_false(resolver:remove("b"))
    local _, err = resolver:order()
    assert.are.equal("dependency_missing", err.code)
  end)

  it("answers an empty order when it has nothing", function()
    assert.are.same({}, resolver:order())
    assert.are.same({ order = {}, failures = {} }, resolver:resolve())
  end)
end)
