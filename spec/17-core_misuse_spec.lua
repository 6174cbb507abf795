-- qtforge.core under bad input: every public method given wrong types, missing
-- fields and huge values raises a clear error naming the method and argument,
-- at the caller's line, or answers an error result; and the manager is left as it was.
local qtforge = require("qtforge")
local misuse = require("support.misuse")
local plugins = require("support.plugins")

local core = qtforge.core

-- the objects the cases misuse, rebuilt before each case
local m, h, r, lc, res

-- Each case is a one-line function, so the line it is defined on is the line of the bad call.
local CASES = {
  { "PluginManager: argument 'opts' must be a table or nil, got number", function() core.PluginManager(5) end },
  { 'PluginManager: unknown option "colour" (known: autostart, bus, config, log, logging, resources, security)',
    function() core.PluginManager({ colour = 1 }) end },
  { "PluginManager: option 'log' must be a function, got \"x\"", function() core.PluginManager.new({ log = "x" }) end },
  { "PluginManager: option 'autostart' must be a boolean, got number",
    function() core.PluginManager({ autostart = 1 }) end },
  { "PluginManager:load_plugin: argument 'path' must be a string, got nil", function() m:load_plugin() end },
  { "PluginManager:load_plugin: argument 'path' must be a string, got number", function() m:load_plugin(42) end },
  { "PluginManager:load_plugin: argument 'path' must be a string, got table", function() m:load_plugin({}) end },
  { "PluginManager:load_plugin: argument 'opts' must be a table or nil, got number",
    function() m:load_plugin("x", 5) end },
  { "PluginManager:load_plugin: option 'start' must be a boolean, got \"yes\"",
    function() m:load_plugin("x", { start = "yes" }) end },
  { 'PluginManager:load_plugin: unknown option "force" (known: start)',
    function() m:load_plugin("x", { force = true }) end },
  { "PluginManager:register_plugin: argument 'plugin' must be a plugin table, got \"p\"",
    function() m:register_plugin("p") end },
  { "PluginManager:register_plugin: the plugin table needs a 'manifest' table, got nil",
    function() m:register_plugin({}) end },
  { "PluginManager:register_plugin: the plugin table needs a 'manifest' table, got \"p\"",
    function() m:register_plugin({ manifest = "p" }) end },
  { "PluginManager:load_directory: argument 'dir' must be a string, got nil", function() m:load_directory() end },
  { "PluginManager:load_directory: option 'start' must be a boolean, got number",
    function() m:load_directory(".", { start = 0 }) end },
  { "PluginManager:start_plugin: argument 'id' must be a plugin id string, got nil", function() m:start_plugin() end },
  { "PluginManager:stop_plugin: argument 'id' must be a plugin id string, got table",
    function() m:stop_plugin({}) end },
  { "PluginManager:fail_plugin: argument 'id' must be a plugin id string, got nil", function() m:fail_plugin() end },
  { "PluginManager:fail_plugin: argument 'reason' must be an error message or an Error, got nil",
    function() m:fail_plugin("p") end },
  { "PluginManager:fail_plugin: argument 'stage' must be a non-empty string or nil, got number",
    function() m:fail_plugin("p", "boom", 3) end },
  { "PluginManager:fail_plugin: argument 'stage' must be a non-empty string or nil, got \"\"",
    function() m:fail_plugin("p", "boom", "") end },
  { "PluginManager:unload_plugin: argument 'id' must be a plugin id string, got number",
    function() m:unload_plugin(1) end },
  { "PluginManager:unload_plugin: option 'cascade' must be a boolean, got \"yes\"",
    function() m:unload_plugin("p", { cascade = "yes" }) end },
  { "PluginManager:reload_plugin: argument 'id' must be a plugin id string, got nil",
    function() m:reload_plugin() end },
  { "PluginManager:configure_plugin: argument 'id' must be a plugin id string, got nil",
    function() m:configure_plugin(nil, {}) end },
  { "PluginManager:configure_plugin: argument 'config' must be a table, got \"x\"",
    function() m:configure_plugin("p", "x") end },
  { "PluginManager:configure_plugin: argument 'config' must be a table, got nil",
    function() m:configure_plugin("p") end },
  { "PluginManager:update_all_plugins: argument 'dt' must be a non-negative number of seconds, got number",
    function() m:update_all_plugins(-1) end },
  { "PluginManager:update_all_plugins: argument 'dt' must be a non-negative number of seconds, got number",
    function() m:update_all_plugins(0 / 0) end },
  { "PluginManager:update_all_plugins: argument 'dt' must be a non-negative number of seconds, got number",
    function() m:update_all_plugins(math.huge) end },
  { "PluginManager:update_all_plugins: argument 'dt' must be a non-negative number of seconds, got \"1\"",
    function() m:update_all_plugins("1") end },
  { "PluginManager:on_event: argument 'fn' must be a function, got nil", function() m:on_event() end },
  { "PluginManager:call: argument 'id' must be a plugin id string, got nil", function() m:call(nil, "f") end },
  { "PluginManager:call: argument 'id' must be a plugin id string, got number", function() m:call(42, "f") end },
  { 'PluginManager:call: no plugin "ghost" is loaded', function() m:call("ghost", "f") end },
  { 'PluginManager:call: plugin "p" has no export nil', function() m:call("p") end },
  { 'PluginManager:call: plugin "p" has no export "nope"', function() m:call("p", "nope") end },
  { "PluginManager:broadcast: argument 'name' must be an export name, got nil", function() m:broadcast() end },
  { "PluginManager:register_all_plugins: argument 'tbl' must be a table, got nil",
    function() m:register_all_plugins() end },
  { "PluginManager:get_plugin: argument 'id' must be a plugin id string, got number", function() m:get_plugin(42) end },
  { "PluginManager:get_plugin: argument 'id' must be a plugin id string, got table", function() m:get_plugin({}) end },
  { "PluginManager:discover: argument 'dir' must be a string, got boolean", function() m:discover(true) end },
  { "plugin:call: call it with ':' on a plugin handle, got \"f\"", function() h.call("f") end },
  { 'plugin:call: plugin "p" has no export number', function() h:call(42) end },
  { 'plugin:call: plugin "p" has no export "nope"', function() h:call("nope") end },
  { 'plugin handles are read-only (setting "state")', function() h.state = 1 end },
  { "PluginRegistry:find_by_tag: argument 'tag' must be a string, got nil", function() r:find_by_tag() end },
  { "PluginRegistry:find_by_capability: argument 'capability' must be a string, got number",
    function() r:find_by_capability(1) end },
  { "PluginRegistry:find_by_kind: argument 'kind' must be a string, got table", function() r:find_by_kind({}) end },
  { "PluginRegistry:find_by_state: argument 'state' must be loaded, running, stopped or failed, got \"gone\"",
    function() r:find_by_state("gone") end },
  { "PluginRegistry:get: argument 'id' must be a plugin id string, got nil", function() r:get() end },
  { "PluginLifecycleManager: argument 'manager' must be a PluginManager, got nil",
    function() core.PluginLifecycleManager() end },
  { "PluginLifecycleManager: argument 'manager' must be a PluginManager, got table",
    function() core.PluginLifecycleManager.new({}) end },
  { "PluginLifecycleManager:start: argument 'id' must be a plugin id string, got nil", function() lc:start() end },
  { "PluginLifecycleManager:can: argument 'operation' must be start, stop, unload, reload or configure, got \"fly\"",
    function() lc:can("p", "fly") end },
  { "PluginLifecycleManager:history: argument 'id' must be a plugin id string, got number",
    function() lc:history(1) end },
  { "PluginDependencyResolver:add: argument 'info' must be a plugin info table, got nil", function() res:add() end },
  { "PluginDependencyResolver:add: info.id (or info.name) must be a plugin id string", function() res:add({}) end },
  { 'PluginDependencyResolver:add: info.id: "Bad Id" is not a plugin id', function() res:add({ id = "Bad Id" }) end },
  { 'PluginDependencyResolver:add: info.version: "x" is not a semantic version',
    function() res:add({ id = "a", version = "x" }) end },
  { "PluginDependencyResolver:add: info.dependencies[1] must be a plugin id or a table { name, version, optional }",
    function() res:add({ id = "a", dependencies = { 5 } }) end },
  { 'PluginDependencyResolver:add: info.dependencies[1].version: ">>1" is not a version range',
    function() res:add({ id = "a", dependencies = { { name = "b", version = ">>1" } } }) end },
  { "PluginDependencyResolver:add: info.dependencies[1].name must be a plugin id string",
    function() res:add({ id = "a", dependencies = { {} } }) end },
  { "PluginDependencyResolver:add: info.priority must be an integer",
    function() res:add({ id = "a", priority = 1.5 }) end },
  { "PluginDependencyResolver:add: info.before must be a list of plugin ids",
    function() res:add({ id = "a", before = "b" }) end },
  { "PluginDependencyResolver:add_available: argument 'id' must be a plugin id string, got nil",
    function() res:add_available(nil, "1.0.0") end },
  { "PluginDependencyResolver:add_available: argument 'version' must be a version, got number",
    function() res:add_available("a", 1) end },
  { 'PluginDependencyResolver:add_available: "x" is not a semantic version',
    function() res:add_available("a", "x") end },
  { "PluginDependencyResolver:remove: argument 'id' must be a plugin id string, got nil", function() res:remove() end },
  { "PluginLoader.inspect: argument 'path' must be a string, got nil", function() core.PluginLoader.inspect() end },
  { "PluginLoader.discover: argument 'dir' must be a string, got number",
    function() core.PluginLoader.discover(5) end },
}

-- Methods called with '.' instead of ':' say so, naming the method.
local DOT_CALLS = {
  { "PluginManager", function() return m end, {
    "load_plugin", "register_plugin", "load_directory", "start_plugin", "stop_plugin", "fail_plugin", "unload_plugin",
    "reload_plugin", "shutdown", "update_all_plugins", "configure_plugin", "on_event", "call", "broadcast",
    "register_all_plugins", "get_plugin", "plugins", "load_order", "stats", "registry", "lifecycle", "discover",
    "config", "logging", "resources", "bus", "security", "health",
  } },
  { "plugin", function() return h end, {
    "id", "name", "version", "state", "is_loaded", "description", "metadata", "dependencies", "capabilities",
    "path", "config", "last_error", "call",
  } },
  { "PluginRegistry", function() return r end, {
    "find_by_tag", "find_by_capability", "find_by_kind", "find_by_state", "get", "list", "count", "running",
  } },
  { "PluginLifecycleManager", function() return lc end, {
    "start", "stop", "restart", "start_all", "stop_all", "state", "can", "history",
  } },
  { "PluginDependencyResolver", function() return res end, {
    "add", "add_available", "remove", "count", "resolve", "order",
  } },
}

local strip_location = misuse.strip_location

describe("qtforge.core misuse", function()
  local before

  before_each(function()
    m = plugins.manager()
    assert.is_true(m:register_plugin({ manifest = { name = "p", version = "1.0.0" }, exports = { f = function() end } })
      .success)
    h = m:get_plugin("p")
    r = m:registry()
    lc = m:lifecycle()
    res = core.PluginDependencyResolver()
    before = plugins.snapshot(m)
  end)

  after_each(function()
    m:shutdown()
  end)

  for _, case in ipairs(CASES) do
    local expected, fn = case[1], case[2]
    it("raises \"" .. expected .. "\" at the caller's line and changes nothing", function()
      assert.are.equal(expected, misuse.raised_at_caller(fn):sub(1, #expected))
      assert.are.same(before, plugins.snapshot(m))
      assert.are.equal("running", h:state())
      assert.are.equal(0, res:count())
    end)
  end

  for _, group in ipairs(DOT_CALLS) do
    local class, object, methods = group[1], group[2], group[3]
    for _, method in ipairs(methods) do
      local expected = string.format("%s:%s: call it with ':' on a", class, method)
      it("of " .. class .. "." .. method .. "(...) says to call it with ':'", function()
        local target = object()
        local ok, message = pcall(function() return target[method]("p") end)
        assert.is_false(ok)
        assert.are.equal(expected, strip_location(message):sub(1, #expected))
        assert.are.same(before, plugins.snapshot(m))
      end)
    end
  end

  describe("with huge or odd values", function()
    it("answers a failed result for a megabyte-long path", function()
      plugins.failed(m:load_plugin(string.rep("a", 1000000)), "not_found")
      assert.is_nil(m:get_plugin(string.rep("p", 1000000)))
    end)

    it("refuses a manifest whose values are too long, too big or not data", function()
      local err = plugins.failed(m:register_plugin({ manifest = { name = string.rep("a", 65), version = "1.0.0" } }),
        "invalid_manifest")
      plugins.contains(err.details, "is not a plugin id", "at most 64")
      err = plugins.failed(m:register_plugin({ manifest = { name = "z", version = "1.0.0", priority = 1e300 } }),
        "invalid_manifest")
      plugins.contains(err.details, "priority: expected an integer")
      err = plugins.failed(m:register_plugin({ manifest = { name = "z", version = "1.0.0", f = print } }),
        "invalid_manifest")
      plugins.contains(err.details, "not plain data")
      assert.are.same(before, plugins.snapshot(m))
    end)

    it("refuses a manifest or a configuration nested too deep, or with a cycle", function()
      local deep = {}
      local cursor = deep
      for _ = 1, 100000 do
        cursor.x = {}
        cursor = cursor.x
      end
      local cycle = {}
      cycle.self = cycle
      plugins.failed(m:register_plugin({ manifest = { name = "z", version = "1.0.0", config = deep } }),
        "invalid_manifest")
      plugins.failed(m:register_plugin({ manifest = { name = "z", version = "1.0.0", tags = cycle } }),
        "invalid_manifest")
      plugins.failed(m:configure_plugin("p", deep), "invalid_config")
      local err = plugins.failed(m:configure_plugin("p", { x = cycle }), "invalid_config")
      plugins.contains(err.details, "recursive table")
      assert.are.same(before, plugins.snapshot(m))
      assert.are.same({}, h:config())
    end)

    it("refuses configuration keys that are not strings", function()
      local err = plugins.failed(m:configure_plugin("p", { [true] = 1 }), "invalid_config")
      plugins.contains(err.details, "expected a string key")
    end)

    it("takes a huge dt", function()
      local seen
      m:register_plugin({ manifest = { name = "t", version = "1.0.0" }, update = function(dt) seen = dt end })
      assert.are.equal(1, m:update_all_plugins(1e308))
      assert.are.equal(1e308, seen)
    end)

    it("takes a long list in a manifest", function()
      local tags = {}
      for i = 1, 10000 do
        tags[i] = "tag" .. i
      end
      assert.is_true(m:register_plugin({ manifest = { name = "tagged", version = "1.0.0", tags = tags } }).success)
      assert.are.equal(1, #m:registry():find_by_tag("tag9999"))
    end)
  end)
end)
