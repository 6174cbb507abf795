-- qtforge.core: the Lua half of the plugin manager.
-- Rust (the `core` userdata) reads manifests, resolves dependencies, checks every
-- lifecycle step and keeps the books; this file holds what is made of Lua values
-- (environments, plugin tables, hooks, handles) and runs the paths that must not
-- cross into Rust: update_all_plugins, call, and the method sugar of handles.
local native = ...

local error, getmetatable, ipairs, load, pairs, pcall, rawget, rawset, setmetatable, type, xpcall =
  error, getmetatable, ipairs, load, pairs, pcall, rawget, rawset, setmetatable, type, xpcall
-- a host may run without the debug library; tracebacks are then left out
local debug_traceback = debug and debug.traceback or function()
  return ""
end
local io_stderr = io.stderr
local string_format, string_match = string.format, string.match

local support = native.support
local describe, method_check, safe_tostring = support.describe, support.method_check, support.safe_tostring
local check_options, class, listen = support.check_options, support.class, support.listen
local Error = native.Error
local communication = native.communication
local plugin_bus, release_bus = communication.plugin_bus, communication.release
local count_messages = communication.count_messages
local bus_flush = communication._Bus.flush
local resources_classes = native.managers.resources
local plugin_resources, release_resources = resources_classes.plugin_resources, resources_classes.release_all
local LoggingManagerMeta = native.managers.logging._LoggingManager
local config_classes = native.managers.config
local set_plugin_config, plugin_scope = config_classes.set_plugin_config, config_classes.plugin_scope
local config_watching = config_classes.watching
local ConfigurationManagerMeta = config_classes._Meta
local Version = native.Version
local security_classes = native.security
local sandbox = security_classes.sandbox
local sandbox_call, sandbox_guard = sandbox.call, sandbox.guard
local SecurityManagerMeta = security_classes._Meta
local record_grant, recorded_grant = security_classes.record, security_classes.recorded
local new_core = native.new_core
local is_library = native.is_library
local monotonic = native.monotonic
local read_module = native.read_module

-- The clock metered calls and updates read twice each. Under LuaJIT on Linux it
-- is clock_gettime through the FFI, which compiles into the trace; a call into
-- Rust (monotonic) would end the trace on every metered call.
local clock = monotonic
if jit and jit.os == "Linux" then
  local ok, ffi = pcall(require, "ffi")
  if ok then
    -- declared under names of our own, so that a host's declarations of the
    -- same C functions cannot clash with these
    ok = pcall(ffi.cdef, [[
      struct qtforge_timespec { long tv_sec; long tv_nsec; };
      int qtforge_clock_gettime(int clock_id, struct qtforge_timespec *now) __asm__("clock_gettime");
    ]])
    local now = ok and ffi.new("struct qtforge_timespec")
    local C, tonumber = ffi.C, tonumber
    local CLOCK_MONOTONIC = 1
    if now and pcall(C.qtforge_clock_gettime, CLOCK_MONOTONIC, now) then
      clock = function()
        C.qtforge_clock_gettime(CLOCK_MONOTONIC, now)
        return tonumber(now.tv_sec) + tonumber(now.tv_nsec) * 1e-9
      end
    end
  end
end

-- what ctx.require("qtforge") gives a plugin: the parts with no authority
local SAFE_API = sandbox.safe_api({
  Version = Version,
  Error = Error,
  Message = communication.Message,
  ServiceContract = communication.ServiceContract,
  STOP = communication.STOP,
})

-- the hooks a plugin table may define; each must be a function when present
local HOOKS = { "on_load", "on_start", "on_stop", "on_unload", "update", "on_configure", "on_reload", "health",
  "on_dependency_reloaded" }
local MANAGER_OPTIONS = {
  autostart = "boolean",
  log = "function",
  bus = "table",
  resources = "table",
  logging = "table",
  config = "table",
  security = "table",
}
-- how often (manager time, seconds) update_all_plugins hands the log lines of
-- qtforge's own threads to the logging callbacks and applies the changes of
-- watched configuration files: asking Rust every frame would cost a call into
-- Rust per frame
local POLL_INTERVAL = 0.25
local LOAD_OPTIONS = { start = "boolean" }
local LOG_LEVELS = { trace = true, debug = true, info = true, warn = true, error = true }
-- transitions kept per plugin for PluginLifecycleManager:history()
local MAX_HISTORY = 32




-- "path/init.lua:12: boom" -> "boom", "path/init.lua:12". An error from a native
-- plugin's own copy of mlua reads "runtime error: boom\nstack traceback:\n...":
-- the traceback is not the message.
local function split_error(value)
  local text = safe_tostring(value)
  text = text:match("^(.-)\nstack traceback:") or text
  text = text:match("^runtime error: (.*)$") or text
  local location, message = string_match(text, "^(.-:%d+): (.*)$")
  if location then
    return message, location
  end
  return text, ""
end

local function capture(value)
  return { value = value, traceback = debug_traceback("", 2) }
end

-- Runs plugin code; returns true, result or false, captured error.
local function protect(fn, ...)
  local ok, result = xpcall(fn, capture, ...)
  if ok then
    return true, result
  end
  if type(result) ~= "table" or result.traceback == nil then
    result = { value = result, traceback = "" }
  end
  return false, result
end


local function check_id(fname, id, level)
  if type(id) ~= "string" then
    error(string_format("%s: argument 'id' must be a plugin id string, got %s", fname, describe(id)), level + 1)
  end
end

local function failure(err, extra)
  local result = { success = false, error = err }
  if extra then
    for k, v in pairs(extra) do
      result[k] = v
    end
  end
  return result
end

local function success(id, extra)
  local result = { success = true, plugin_id = id }
  if extra then
    for k, v in pairs(extra) do
      result[k] = v
    end
  end
  return result
end

local function default_log(level, plugin_id, message)
  if level == "warn" or level == "error" then
    io_stderr:write(string_format("qtforge [%s] %s: %s\n", level, plugin_id, message))
  end
end

local gc_sentinel = support.gc_sentinel

---------------------------------------------------------------------------
-- PluginManager
---------------------------------------------------------------------------

-- Shut down when collected: plugins get on_stop and on_unload (a table __gc is
-- 5.4 only, hence a proxy). At lua_close, finalizers run newest first, and a
-- native plugin's own copy of mlua keeps its state in a finalized userdata made
-- when the plugin opened: the shutdown must run before that is gone, so the
-- sentinel is made anew (and the old one disarmed) after every native open.
local function arm_sentinel(self)
  local previous = self._sentinel_guard
  if previous then
    previous.armed = false
  end
  local guard = { armed = true }
  self._sentinel_guard = guard
  self._sentinel = gc_sentinel(function()
    if guard.armed then
      guard.armed = false
      pcall(self.shutdown, self)
    end
  end)
end

local Manager = { __name = "qtforge.core.PluginManager" }
Manager.__index = Manager

local function emit(self, event_type, id, err, fields)
  local tx = self._tx
  if tx ~= nil then
    -- inside a transaction: heard after it commits, never if it rolls back
    local held = tx.events
    held[#held + 1] = { self, event_type, id, err, fields }
    return
  end
  local listeners = self._listeners
  if #listeners == 0 then
    return
  end
  local event = { type = event_type, plugin_id = id, error = err }
  if fields ~= nil then
    for key, value in pairs(fields) do
      event[key] = value
    end
  end
  for i = 1, #listeners do
    local ok, problem = pcall(listeners[i], event)
    if not ok then
      self._log("error", "qtforge", "event listener failed: " .. safe_tostring(problem))
    end
  end
end

local function instance_of(self, id)
  local slot = self._slots[id]
  return slot and slot.instance
end

---------------------------------------------------------------------------
-- Transactions. While one is open (self._tx, from qtforge.transactions), each
-- operation that changes the manager records how to undo itself, and what an
-- unload or a reload would revoke waits for the end: a rollback brings those
-- instances back as they were.
---------------------------------------------------------------------------

local function record(self, name, id, undo)
  local tx = self._tx
  if tx ~= nil and not tx.undoing then
    tx.record(self, name, id, undo)
  end
end

local function in_transaction(self)
  local tx = self._tx
  return tx ~= nil and not tx.undoing
end

---------------------------------------------------------------------------
-- Metrics. While a PluginMetricsCollector is attached, self._meter holds a
-- record per plugin id, and calls through the manager and handles, update
-- ticks and each plugin's bus count into it. Without one, those paths test
-- one field and go on; direct calls of `exports` are never counted.
---------------------------------------------------------------------------

local function new_record()
  return {
    calls = 0,
    errors = 0,
    call_time = 0,
    exports = {},
    updates = 0,
    update_errors = 0,
    update_time = 0,
    sent = 0,
    received = 0,
    last_error = nil,
  }
end

local function record_of(meter, id)
  local rec = meter[id]
  if rec == nil then
    rec = new_record()
    meter[id] = rec
  end
  return rec
end

-- the end of a metered call: count it (and time it, when `started`), then
-- return its results or raise its error again, unchanged (level 0: the
-- message keeps its own location)
local function settle(rec, export, started, ok, ...)
  rec.calls = rec.calls + 1
  export.calls = export.calls + 1
  if started then
    local elapsed = clock() - started
    rec.call_time = rec.call_time + elapsed
    export.time = export.time + elapsed
  end
  if ok then
    return ...
  end
  rec.errors = rec.errors + 1
  export.errors = export.errors + 1
  local problem = ...
  rec.last_error = { value = problem, export = export.name, at = monotonic() }
  error(problem, 0)
end

local function metered_call(self, meter, id, name, fn, ...)
  local rec = meter[id] or record_of(meter, id)
  local export = rec.exports[name]
  if export == nil then
    export = { name = name, calls = 0, errors = 0, time = 0 }
    rec.exports[name] = export
  end
  -- reading the clock twice is most of what metering a call costs
  return settle(rec, export, self._meter_timed and clock(), pcall(fn, ...))
end

-- A collector attaches (on) or detaches, timing calls and updates or only
-- counting them; metering runs while any is attached, timing while any that
-- times is.
local function set_metering(self, on, timed)
  local step = on and 1 or -1
  local users = math.max(0, self._meter_users + step)
  self._meter_users = users
  if timed then
    self._meter_timing_users = math.max(0, self._meter_timing_users + step)
  end
  self._meter_timed = self._meter_timing_users > 0
  local meter = users > 0 and self._meter_records or nil
  if meter == self._meter then
    return
  end
  self._meter = meter
  for _, slot in ipairs(self._order) do
    local inst = slot.instance
    if inst ~= nil then
      count_messages(inst.ctx.bus, meter and record_of(meter, slot.id))
    end
  end
end

-- Every manager alive in this Lua state, with its number (creation order), for
-- a collector made without a manager; `everywhere` counts such collectors,
-- so that managers made later are metered too.
local live_managers = setmetatable({}, { __mode = "k" })
-- work every manager's update_all_plugins does every POLL_INTERVAL (a hot
-- reloader made without a manager)
-- (listen replaces the list on each change, so that a tick under way keeps its own)
-- generation: bumped whenever a plugin's state changes or an instance goes
-- or is replaced, so that what was found callable can be trusted until then
local global = { pollers = {}, tickers = {}, generation = 0 }
local managers_made = 0
local everywhere, everywhere_timed = 0, 0

local function all_managers()
  local list = {}
  for manager in pairs(live_managers) do
    -- one being finalized stays a weak key until the next collection; its
    -- core is gone by then
    if manager._sentinel_guard.armed then
      list[#list + 1] = manager
    end
  end
  table.sort(list, function(a, b)
    return live_managers[a] < live_managers[b]
  end)
  return list
end

local function set_metering_everywhere(on, timed)
  local step = on and 1 or -1
  everywhere = math.max(0, everywhere + step)
  if timed then
    everywhere_timed = math.max(0, everywhere_timed + step)
  end
  for _, manager in ipairs(all_managers()) do
    set_metering(manager, on, timed)
  end
end

-- Kept for the metrics whether or not a collector is attached: an error that
-- failed the plugin or refused its reload, and when.
local function note_error(self, id, err)
  local slot = self._slots[id]
  if slot ~= nil then
    slot.last_error, slot.last_error_at = err, monotonic()
  end
end

-- The plugins update_all_plugins ticks: running, with an update hook, in load
-- order. A new array each time, so a tick under way keeps the one it started with.
local function rebuild_ticking(self)
  local list = {}
  local order = self._order
  for i = 1, #order do
    local inst = order[i].instance
    if inst and inst.state == "running" and inst.plugin_update then
      list[#list + 1] = inst
    end
  end
  self._ticking = list
end

local function set_state(self, inst, state)
  inst.state = state
  global.generation = global.generation + 1
  local history = inst.history
  history[#history + 1] = { state = state, at = monotonic() }
  if #history > MAX_HISTORY then
    table.remove(history, 1)
  end
  -- only a plugin with an update hook is ever in the ticking list
  if inst.plugin_update then
    rebuild_ticking(self)
  end
end

local function call_hook(inst, name, ...)
  local hook = inst.plugin[name]
  if hook == nil then
    return true, nil
  end
  local g = inst.guard
  if g ~= nil then
    local ok, result = sandbox_call(g, hook, ...)
    if ok then
      return true, result
    end
    return false, { value = result, traceback = g.traceback or "" }
  end
  return protect(hook, ...)
end

local function quota_error(captured)
  local value = captured.value
  if Error.is(value) and value.code == "quota_exceeded" then
    return value
  end
  return nil
end

-- plugin code failed while loaded: the plugin becomes `failed`, the error is kept
local function fail_plugin(self, inst, stage, captured)
  local message, location = captured.message, captured.location
  if message == nil then
    message, location = split_error(captured.value)
  end
  local err = self._core:fail(inst.id, stage, message, location)
  -- a call stopped by a quota fails with the quota's own Error
  err = quota_error(captured) or err
  err.traceback = captured.traceback
  inst.state = "failed"
  set_state(self, inst, "failed")
  if instance_of(self, inst.id) == inst then
    note_error(self, inst.id, err)
  end
  self._log("error", inst.id, err.message)
  emit(self, "failed", inst.id, err)
  return err
end

-- ctx.log: log.info(message, fields) and the other levels, each function made
-- on first use (most plugins use one or two levels). The metatable is the
-- plugin's own: a weak-keyed table from log to manager would keep every manager
-- alive under LuaJIT, whose weak tables are not ephemerons.
local function logger_for(self, id)
  local logging = self._logging
  if logging ~= nil then
    return logging:logger(id)
  end
  return setmetatable({}, {
    __index = function(log, level)
      if not LOG_LEVELS[level] then
        return nil
      end
      local fn = function(message, fields)
        self._log(level, id, safe_tostring(message), fields)
      end
      rawset(log, level, fn)
      return fn
    end,
  })
end

-- the modules a plugin loads with ctx.require, from its own folder, in its environment
local function require_for(inst)
  local loading = {}
  return function(name)
    if type(name) ~= "string" then
      error("ctx.require: argument 'name' must be a module name string, got " .. describe(name), 2)
    end
    local cached = inst.modules[name]
    if cached ~= nil then
      return cached
    end
    if name == "qtforge" then
      return SAFE_API
    end
    if loading[name] then
      error(string_format("ctx.require: module %q requires itself while loading", name), 2)
    end
    local root = inst.info.root
    if root == nil then
      error(string_format("ctx.require: plugin %q has no folder to load %q from", inst.id, name), 2)
    end
    local source, path = read_module(root, name)
    if source == nil then
      error("ctx.require: " .. path.message .. (path.details ~= "" and (" (" .. path.details .. ")") or ""), 2)
    end
    local chunk, syntax = load(source, "@" .. path, "t", inst.env)
    if not chunk then
      error(syntax, 0)
    end
    local g = inst.guard
    if g ~= nil then
      g.sources["@" .. path] = true
      sandbox.compiled(g, chunk)
    end
    loading[name] = true
    local ok, result = pcall(chunk, name)
    loading[name] = nil
    if not ok then
      error(result, 0)
    end
    if result == nil then
      result = true
    end
    inst.modules[name] = result
    return result
  end
end

-- a view of the plugin's declared dependencies' exports, resolved on each access so
-- that a reloaded dependency is seen at once
local NO_DEPS = setmetatable({}, {
  __newindex = function()
    error("ctx.deps is read-only", 2)
  end,
})

local function deps_for(self, info)
  if info.dependencies == nil then
    return NO_DEPS
  end
  local declared = {}
  for _, name in ipairs(info.dependencies or {}) do
    declared[name] = true
  end
  return setmetatable({}, {
    __index = function(_, name)
      if declared[name] then
        local inst = instance_of(self, name)
        return inst and inst.exports
      end
    end,
    __newindex = function()
      error("ctx.deps is read-only", 2)
    end,
  })
end

-- A trusted plugin's environment: globals it sets stay its own; reads fall
-- through to the host's globals. A sandboxed plugin's comes from the sandbox.
local function new_env(host_globals)
  local env = setmetatable({}, { __index = host_globals })
  env._G = env
  return env
end

-- What the entry returned must be a plugin table: hooks are functions, declared exports exist.
local function plugin_problem(plugin, info)
  if type(plugin) ~= "table" then
    return "the entry returned " .. type(plugin) .. ", expected the plugin table"
  end
  for _, hook in ipairs(HOOKS) do
    local value = rawget(plugin, hook)
    if value ~= nil and type(value) ~= "function" then
      return string_format("hook %s is a %s, expected a function", hook, type(value))
    end
  end
  local exports = rawget(plugin, "exports")
  if exports ~= nil and type(exports) ~= "table" then
    return "exports is a " .. type(exports) .. ", expected a table of functions"
  end
  for _, name in ipairs(info.exports or {}) do
    if exports == nil or type(exports[name]) ~= "function" then
      return string_format("the manifest exports %q, but exports.%s is not a function", name, name)
    end
  end
  return nil
end

-- A copy of a plan's manifest fields, for a sandboxed plugin's ctx.manifest:
-- the plan itself is the manager's (its root decides where ctx.require reads).
local function manifest_copy(value)
  if type(value) ~= "table" then
    return value
  end
  local t = {}
  for k, v in pairs(value) do
    if k ~= "source" and type(v) ~= "function" then
      t[k] = manifest_copy(v)
    end
  end
  return t
end

-- The sandbox of a plan a sandboxed plugin is loading from: its guard and environment.
local function sandbox_for(self, plan, grant, log)
  local g = sandbox.new_guard(grant, plan.id, plan.root)
  g.sources["@" .. plan.entry] = true
  local env = sandbox.env(g, { print_log = log.info, host_globals = self._security.host_globals })
  return g, env
end

-- Runs a plugin's entry (unless given its table) and checks the result.
-- Returns the plugin table, env and guard (sandboxed plugins), or three nils
-- and (stage, message, location).
local function evaluate(self, plan, plugin, grant, log)
  local env, g
  if plugin == nil and plan.open then
    -- a native plugin: its library's open function makes the table
    local ok, result = protect(plan.open)
    arm_sentinel(self)
    if not ok then
      local message, location = split_error(result.value)
      return nil, nil, nil, "open", message, location ~= "" and location or plan.path
    end
    plugin = result
  elseif plugin == nil then
    if grant.trust == "sandboxed" then
      g, env = sandbox_for(self, plan, grant, log)
    else
      env = new_env(self._globals)
    end
    local chunk, syntax = load(plan.source, "@" .. plan.entry, "t", env)
    if not chunk then
      local message, location = split_error(syntax)
      return nil, nil, nil, "entry", message, location
    end
    local ok, result
    if g ~= nil then
      ok, result = sandbox_call(g, sandbox.compiled(g, chunk))
    else
      ok, result = protect(chunk)
      result = ok and result or result.value
    end
    if not ok then
      local message, location = split_error(result)
      return nil, nil, nil, "entry", message, location
    end
    plugin = result
  end
  local problem = plugin_problem(plugin, plan)
  if problem then
    return nil, nil, nil, plan.open and "open" or "entry", problem, plan.entry or plan.path or ""
  end
  return plugin, env, g
end

-- A limited plugin's exports as others call them: each under its quotas.
local function guarded_exports(g, exports)
  return setmetatable({}, {
    __index = function(_, key)
      return sandbox_guard(g, exports[key])
    end,
    __newindex = exports,
    __pairs = function()
      return function(_, key)
        local k, v = next(exports, key)
        return k, sandbox_guard(g, v)
      end, exports, nil
    end,
  })
end

local function new_instance(self, plan, plugin, env, g, log)
  local inst = {
    id = plan.id,
    info = plan,
    plugin = plugin,
    env = env,
    guard = g,
    exports = rawget(plugin, "exports") or {},
    version = Version.parse(plan.version),
    state = "loaded",
    history = {},
    modules = {},
    init_time = self._time,
    first_update = nil,
    last_update = nil,
    update_info = { time_since_init = 0, time_since_first_update = 0, time_since_last_update = 0 },
  }
  inst.plugin_update = plugin.update
  if g ~= nil and g.limited then
    inst.plugin_update = sandbox_guard(g, plugin.update)
    inst.exports = guarded_exports(g, inst.exports)
  end
  inst.ctx = {
    id = plan.id,
    name = plan.id,
    version = inst.version,
    manifest = plan,
    config = plugin_scope(self._config, plan.id),
    deps = deps_for(self, plan),
    log = log or logger_for(self, plan.id),
    require = require_for(inst),
    bus = plugin_bus(self._bus, plan.id, plan.retain_contracts_on_unload),
    resources = plugin_resources(self._resources, plan.id),
  }
  local meter = self._meter
  if meter ~= nil then
    count_messages(inst.ctx.bus, record_of(meter, plan.id))
  end
  inst.history[1] = { state = "loaded", at = monotonic() }
  inst.view = inst.ctx
  if g ~= nil then
    inst.view = sandbox.ctx(g, inst.ctx, { manifest = manifest_copy(plan), version = Version.parse(plan.version),
      manager = self, is_library = is_library })
    g.on_quota = function(_, err)
      -- enough quota failures and the plugin is failed; the host goes on
      if g.quota_failures >= self._security.max_quota_failures and inst.state ~= "failed"
        and instance_of(self, inst.id) == inst then
        fail_plugin(self, inst, "quota", { value = err, traceback = "" })
      end
    end
  end
  return inst
end

local start, stop

-- start and stop: check the operation is allowed, run its hook, record the new state.
-- A hook that raises makes the plugin failed.
local function transition(self, id, operation, hook, state, event)
  local core = self._core
  local target, err = core:check(id, operation)
  if not target then
    return failure(err)
  end
  local inst = instance_of(self, id)
  local was = inst.state
  local ok, captured = call_hook(inst, hook, inst.view)
  if not ok then
    return failure(fail_plugin(self, inst, hook, captured), { plugin_id = id })
  end
  core:set_state(id, state)
  set_state(self, inst, state)
  emit(self, event, id)
  if in_transaction(self) then
    record(self, operation .. "_plugin", id, function()
      local result = (operation == "start" and stop or start)(self, id)
      if result.success and was == "loaded" then
        -- started from loaded: stopped, it is loaded again, as it was
        core:set_state(id, was)
        set_state(self, instance_of(self, id), was)
      end
      return result.success, result.error
    end)
  end
  return success(id)
end

function start(self, id)
  return transition(self, id, "start", "on_start", "running", "started")
end

function stop(self, id)
  return transition(self, id, "stop", "on_stop", "stopped", "stopped")
end

-- Where a plan's code comes from, as the policy tells them apart.
local function origin_of(plan, plugin)
  if plugin ~= nil then
    return "inline"
  elseif plan.open ~= nil then
    return "native"
  end
  return "file"
end

-- What the plugin was given stops working.
local function revoke(inst)
  if inst.guard ~= nil then
    sandbox.revoke(inst.guard)
  end
end

-- ... at once, or, inside a transaction, when it ends and the instance has
-- not been brought back
local function revoke_later(self, inst)
  local tx = self._tx
  if tx ~= nil then
    tx.revocations[#tx.revocations + 1] = { manager = self, instance = inst }
  else
    revoke(inst)
  end
end

-- An instance whose bus and resources were released (an unload, a reload)
-- gets new ones and comes up again in `state`: on_load, and on_start when
-- running. The old version after a failed reload, or after a rollback.
local function bring_back(self, inst, state)
  local id = inst.id
  inst.ctx.bus = plugin_bus(self._bus, id, inst.info.retain_contracts_on_unload)
  local meter = self._meter
  if meter ~= nil then
    count_messages(inst.ctx.bus, record_of(meter, id))
  end
  if inst.guard ~= nil then
    -- the facades it had held the bus view just closed
    inst.view = sandbox.ctx(inst.guard, inst.ctx, { manifest = manifest_copy(inst.info),
      version = Version.parse(inst.info.version), manager = self, is_library = is_library })
  end
  local ok, captured = call_hook(inst, "on_load", inst.view)
  if ok and state == "running" then
    ok, captured = call_hook(inst, "on_start", inst.view)
  end
  return ok, captured
end

local unload_with_dependents

-- Runs an approved plan to a loaded (and, if asked, running) plugin.
local function load_approved(self, plan, plugin, should_start)
  local core = self._core
  local id = plan.id
  local started = monotonic()
  -- the policy decides first: nothing of a refused plugin runs
  local grant, refused = self._security:admit(plan, origin_of(plan, plugin))
  if grant == nil then
    core:refuse_load(id)
    emit(self, "failed", id, refused)
    return failure(refused, { plugin_id = id })
  end
  local log = logger_for(self, id)
  local env, g, stage, message, location
  plugin, env, g, stage, message, location = evaluate(self, plan, plugin, grant, log)
  if plugin == nil then
    local err = core:abort_load(id, stage, message, location)
    emit(self, "failed", id, err)
    return failure(err, { plugin_id = id })
  end
  set_plugin_config(self._config, id, plan.config or {})
  local inst = new_instance(self, plan, plugin, env, g, log)
  stage = "on_load"
  local ok, captured = call_hook(inst, "on_load", inst.view)
  -- a plugin asked to start that cannot start does not load: nothing of it stays
  if ok and should_start then
    stage = "on_start"
    ok, captured = call_hook(inst, "on_start", inst.view)
    if not ok then
      call_hook(inst, "on_unload", inst.view)
    end
  end
  if not ok then
    release_bus(inst.ctx.bus)
    release_resources(self._resources, id)
    revoke(inst)
    set_plugin_config(self._config, id, nil)
    message, location = split_error(captured.value)
    local err = core:abort_load(id, stage, message, location)
    err = quota_error(captured) or err
    err.traceback = captured.traceback
    emit(self, "failed", id, err)
    return failure(err, { plugin_id = id })
  end
  core:finish_load(id)
  record_grant(self._security, id, grant)
  -- load_time: from admission to loaded (and started, if asked), for the metrics
  local slot = { id = id, instance = inst, load_time = monotonic() - started, reloads = 0, reload_failures = 0 }
  self._slots[id] = slot
  -- a load always comes last in the order Rust keeps, so appending matches it;
  -- loops over the order read its length once, so they do not see the new slot
  local order = self._order
  order[#order + 1] = slot
  emit(self, "loaded", id)
  if should_start then
    core:set_state(id, "running")
    set_state(self, inst, "running")
    emit(self, "started", id)
  end
  record(self, "load_plugin", id, function()
    return unload_with_dependents(self, id)
  end)
  return success(id)
end

-- Guards against a fault in this file leaving a load half-registered.
local function load_guarded(self, plan, plugin, should_start)
  local ok, result = pcall(load_approved, self, plan, plugin, should_start)
  if ok then
    return result
  end
  if self._slots[plan.id] == nil and self._core:state(plan.id) == nil then
    local err = self._core:abort_load(plan.id, "internal", safe_tostring(result), "")
    return failure(err, { plugin_id = plan.id })
  end
  error(result, 0)
end

local check_manager = method_check(Manager, "a PluginManager")

--- PluginManager(opts): opts.autostart (default true) starts plugins as they load;
--- opts.log(level, plugin_id, message, fields) receives plugin and manager logs.
local function new_manager(level, opts)
  opts = check_options("PluginManager", opts, MANAGER_OPTIONS, level + 1)
  if opts.bus ~= nil and getmetatable(opts.bus) ~= communication._Bus then
    error("PluginManager: option 'bus' must be a qtforge.communication.MessageBus, got " .. describe(opts.bus),
      level + 1)
  end
  if opts.resources ~= nil and getmetatable(opts.resources) ~= resources_classes._ResourceManager then
    error("PluginManager: option 'resources' must be a qtforge.managers.ResourceManager, got "
      .. describe(opts.resources), level + 1)
  end
  local logging = opts.logging
  if logging ~= nil and getmetatable(logging) ~= LoggingManagerMeta then
    error("PluginManager: option 'logging' must be a qtforge.managers.LoggingManager, got " .. describe(logging),
      level + 1)
  end
  if opts.config ~= nil and getmetatable(opts.config) ~= ConfigurationManagerMeta then
    error("PluginManager: option 'config' must be a qtforge.managers.ConfigurationManager, got "
      .. describe(opts.config), level + 1)
  end
  if opts.security ~= nil and getmetatable(opts.security) ~= SecurityManagerMeta then
    error("PluginManager: option 'security' must be a qtforge.security.SecurityManager, got "
      .. describe(opts.security), level + 1)
  end
  if logging ~= nil and opts.log ~= nil then
    error("PluginManager: give option 'log' or option 'logging', not both", level + 1)
  end
  local log = opts.log or default_log
  if logging ~= nil then
    -- qtforge's Rust-side events on this thread go to its sinks too
    logging:capture(true)
    -- the manager's own lines, and the bus's, go to the logger of their source
    log = function(level_name, source, message, fields)
      logging:logger(source or "qtforge")[level_name](message, fields)
    end
  end
  local self = setmetatable({
    _core = new_core(),
    _slots = {},
    _order = {},
    _ticking = {},
    _listeners = {},
    _pollers = {},
    _tickers = {},
    _handles = setmetatable({}, { __mode = "v" }),
    _autostart = opts.autostart ~= false,
    _log = log,
    _logging = logging,
    _config = opts.config or config_classes.ConfigurationManager({ log = log }),
    _polled = 0,
    _bus = opts.bus or communication.MessageBus({ log = log }),
    _resources = opts.resources or resources_classes.ResourceManager(),
    _globals = _G,
    _security = opts.security or security_classes.SecurityManager(),
    _time = 0,
    _clock = nil,
    _updates = 0,
    _update_errors = 0,
    _meter = nil,
    _meter_records = {},
    _meter_users = 0,
    _meter_timing_users = 0,
    _meter_timed = false,
  }, Manager)
  arm_sentinel(self)
  managers_made = managers_made + 1
  live_managers[self] = managers_made
  if everywhere > 0 then
    self._meter_users, self._meter_timing_users = everywhere, everywhere_timed
    self._meter_timed = everywhere_timed > 0
    self._meter = self._meter_records
  end
  return self
end

-- Loads the plugins of a plan from core:plan_directory or core:plan_native, in
-- its order; one result per plugin, then one per plugin that could not be planned.
local function load_planned(self, plan, should_start)
  local results = {}
  for _, id in ipairs(plan.order) do
    local approved, refused = self._core:begin_planned(id)
    local result
    if approved then
      result = load_guarded(self, approved, nil, should_start)
      result.path = approved.path
    else
      emit(self, "failed", id, refused)
      result = failure(refused, { plugin_id = id })
    end
    results[#results + 1] = result
  end
  for _, failed in ipairs(plan.failures) do
    emit(self, "failed", failed.plugin_id, failed.error)
    results[#results + 1] = failure(failed.error, { path = failed.path, plugin_id = failed.plugin_id })
  end
  return results
end

-- A library holds one plugin or several: they load in dependency order, and
-- the result speaks for all of them.
local function load_library(self, path, should_start)
  local plan, err = self._core:plan_native(path)
  if not plan then
    emit(self, "failed", nil, err)
    return failure(err, { path = path })
  end
  local results = load_planned(self, plan, should_start)
  local ids = {}
  local first_error
  for _, result in ipairs(results) do
    if result.success then
      ids[#ids + 1] = result.plugin_id
    elseif first_error == nil then
      first_error = result.error
    end
  end
  return {
    success = first_error == nil,
    plugin_id = ids[1] or (results[1] and results[1].plugin_id),
    plugin_ids = ids,
    results = results,
    error = first_error,
    path = path,
  }
end

--- Loads the plugin at `path`: a folder with plugin.toml/plugin.json, a path to
--- such a manifest, or a single .lua file. Returns { success, plugin_id, error }.
function Manager:load_plugin(path, opts)
  check_manager("PluginManager:load_plugin", self)
  if type(path) ~= "string" then
    error("PluginManager:load_plugin: argument 'path' must be a string, got " .. describe(path), 2)
  end
  opts = check_options("PluginManager:load_plugin", opts, LOAD_OPTIONS, 2)
  if is_library(path) then
    local should_start = opts.start
    if should_start == nil then
      should_start = self._autostart
    end
    return load_library(self, path, should_start)
  end
  local plan, err, refused_id = self._core:begin_load(path)
  if not plan then
    emit(self, "failed", refused_id, err)
    return failure(err, { path = path, plugin_id = refused_id })
  end
  local should_start = opts.start
  if should_start == nil then
    should_start = self._autostart
  end
  local result = load_guarded(self, plan, nil, should_start)
  result.path = path
  return result
end

--- Registers a plugin given as a table holding its `manifest` (inline plugin).
function Manager:register_plugin(plugin, opts)
  check_manager("PluginManager:register_plugin", self)
  if type(plugin) ~= "table" then
    error("PluginManager:register_plugin: argument 'plugin' must be a plugin table, got " .. describe(plugin), 2)
  end
  if type(plugin.manifest) ~= "table" then
    error("PluginManager:register_plugin: the plugin table needs a 'manifest' table, got "
      .. describe(plugin.manifest), 2)
  end
  opts = check_options("PluginManager:register_plugin", opts, LOAD_OPTIONS, 2)
  local plan, err, refused_id = self._core:begin_inline(plugin.manifest)
  if not plan then
    emit(self, "failed", refused_id, err)
    return failure(err, { plugin_id = refused_id })
  end
  local should_start = opts.start
  if should_start == nil then
    should_start = self._autostart
  end
  return load_guarded(self, plan, plugin, should_start)
end

--- Loads every plugin in `dir` in dependency order; one result per plugin.
function Manager:load_directory(dir, opts)
  check_manager("PluginManager:load_directory", self)
  if type(dir) ~= "string" then
    error("PluginManager:load_directory: argument 'dir' must be a string, got " .. describe(dir), 2)
  end
  opts = check_options("PluginManager:load_directory", opts, LOAD_OPTIONS, 2)
  local plan, err = self._core:plan_directory(dir)
  if not plan then
    return { failure(err, { path = dir }) }
  end
  local should_start = opts.start
  if should_start == nil then
    should_start = self._autostart
  end
  return load_planned(self, plan, should_start)
end

function Manager:start_plugin(id)
  check_manager("PluginManager:start_plugin", self)
  check_id("PluginManager:start_plugin", id, 2)
  return start(self, id)
end

function Manager:stop_plugin(id)
  check_manager("PluginManager:stop_plugin", self)
  check_id("PluginManager:stop_plugin", id, 2)
  return stop(self, id)
end

--- Marks plugin `id` failed because the host found it broken (an export raised
--- where the host called it): no hook runs, it gets no more updates, its error
--- is kept as a hook's would be, and start or reload brings it back.
function Manager:fail_plugin(id, reason, stage)
  check_manager("PluginManager:fail_plugin", self)
  check_id("PluginManager:fail_plugin", id, 2)
  if reason == nil then
    error("PluginManager:fail_plugin: argument 'reason' must be an error message or an Error, got nil", 2)
  end
  if stage ~= nil and (type(stage) ~= "string" or stage == "") then
    error("PluginManager:fail_plugin: argument 'stage' must be a non-empty string or nil, got " .. describe(stage), 2)
  end
  local target, err = self._core:check(id, "fail")
  if not target then
    return failure(err, { plugin_id = id })
  end
  local captured = { value = reason, traceback = "" }
  if Error.is(reason) then
    -- its own words, not "code: message" twice over
    captured.message, captured.location = reason.message, reason.details
    captured.traceback = reason.traceback or ""
  end
  return success(id, { error = fail_plugin(self, instance_of(self, id), stage or "host", captured) })
end

-- A rollback puts `inst` back in its slot as it was before an unload or a
-- reload: its record, configuration and grant, then on_load (and on_start).
local function restore_instance(self, slot, inst, state, snapshot, config, grant)
  self._core:restore_record(snapshot)
  slot.instance = inst
  set_plugin_config(self._config, inst.id, config)
  record_grant(self._security, inst.id, grant)
  inst.state = state
  local ok, captured = bring_back(self, inst, state)
  set_state(self, inst, state)
  if not ok then
    return nil, fail_plugin(self, inst, "on_load", captured)
  end
  return true
end

-- How to put back a plugin about to be unloaded inside a transaction: the
-- same instance, its record, place in load order, configuration, grant and
-- state; it comes up again through on_load (and on_start).
local function undo_unload(self, id, inst)
  local core = self._core
  local snapshot = core:snapshot_record(id)
  local state, config = inst.state, core:config(id)
  local grant = recorded_grant(self._security, id)
  local slot = self._slots[id]
  local position
  for i, existing in ipairs(self._order) do
    if existing == slot then
      position = i
    end
  end
  return function()
    if self._slots[id] ~= nil then
      return nil, Error("already_loaded", string_format("plugin %q is loaded again; it cannot come back", id))
    end
    self._slots[id] = slot
    -- a new array: a loop over the order under way keeps the one it has
    local order = {}
    for i, existing in ipairs(self._order) do
      order[i] = existing
    end
    table.insert(order, math.min(position, #order + 1), slot)
    self._order = order
    return restore_instance(self, slot, inst, state, snapshot, config, grant)
  end
end

-- Takes one plugin out: on_stop if running, on_unload, forget it. Hook errors
-- are reported and do not stop the unload.
local function unload_one(self, id)
  local inst = instance_of(self, id)
  local problems = {}
  local undo = in_transaction(self) and inst and undo_unload(self, id, inst)
  if inst then
    if inst.state == "running" then
      local ok, captured = call_hook(inst, "on_stop", inst.view)
      if not ok then
        problems[#problems + 1] = fail_plugin(self, inst, "on_stop", captured)
      end
    end
    local ok, captured = call_hook(inst, "on_unload", inst.view)
    if not ok then
      problems[#problems + 1] = fail_plugin(self, inst, "on_unload", captured)
    end
    -- what the plugin subscribed, answered, provided and holds goes with it,
    -- its configuration leaves the manager's, and its capabilities are revoked
    release_bus(inst.ctx.bus)
    set_plugin_config(self._config, id, nil)
    for _, problem in ipairs(release_resources(self._resources, id).errors) do
      problems[#problems + 1] = problem
    end
    revoke_later(self, inst)
    record_grant(self._security, id, nil)
    inst.state = "unloaded"
    global.generation = global.generation + 1
  end
  local slot = self._slots[id]
  if slot and slot.handle then
    slot.last_info = self._core:info(id)
  end
  self._core:remove(id)
  self._meter_records[id] = nil
  if slot then
    slot.last_version = inst and inst.version
    slot.instance = nil
    self._slots[id] = nil
    local order = {}
    for _, existing in ipairs(self._order) do
      if existing ~= slot then
        order[#order + 1] = existing
      end
    end
    self._order = order
  end
  rebuild_ticking(self)
  emit(self, "unloaded", id)
  if undo then
    record(self, "unload_plugin", id, undo)
  end
  return problems
end

function unload_with_dependents(self, id)
  local order, err = self._core:unload_plan(id, true)
  if not order then
    return nil, err
  end
  for _, victim in ipairs(order) do
    unload_one(self, victim)
  end
  return true
end

--- Unloads a plugin; refused with has_dependents while others depend on it,
--- unless opts.cascade, which unloads them first (latest loaded first).
function Manager:unload_plugin(id, opts)
  check_manager("PluginManager:unload_plugin", self)
  check_id("PluginManager:unload_plugin", id, 2)
  opts = check_options("PluginManager:unload_plugin", opts, { cascade = "boolean" }, 2)
  local order, err = self._core:unload_plan(id, opts.cascade == true)
  if not order then
    return failure(err, { plugin_id = id })
  end
  local problems = {}
  for _, victim in ipairs(order) do
    for _, problem in ipairs(unload_one(self, victim)) do
      problems[#problems + 1] = problem
    end
  end
  return success(id, { unloaded = order, errors = problems })
end

-- A rollback of a reload: the new version steps down, the old one comes
-- back with its record, configuration and grant, in the state it was.
local function undo_reload(self, id, old, was, snapshot, config, grant)
  local slot = self._slots[id]
  local new = slot and slot.instance
  if new == nil then
    return nil, Error("not_found", string_format("plugin %q is no longer loaded; its reload cannot be undone", id))
  end
  if new.state == "running" then
    call_hook(new, "on_stop", new.view)
  end
  call_hook(new, "on_unload", new.view)
  release_bus(new.ctx.bus)
  release_resources(self._resources, id)
  revoke(new)
  new.state = "unloaded"
  return restore_instance(self, slot, old, was, snapshot, config, grant)
end

-- A reload was refused: the old version runs on; the metrics count it.
local function reload_refused(self, id, err)
  local slot = self._slots[id]
  slot.reload_failures = slot.reload_failures + 1
  note_error(self, id, err)
  emit(self, "reload_failed", id, err)
end

-- How a reload changed a plugin's exports: names added, removed, or now of
-- another type; nil when they kept their shape (new functions for old ones
-- are the same shape).
local function exports_changes(old, new)
  local added, removed, changed = {}, {}, {}
  for name, value in pairs(new) do
    local before = rawget(old, name)
    if before == nil then
      added[#added + 1] = name
    elseif type(before) ~= type(value) then
      changed[#changed + 1] = name
    end
  end
  for name in pairs(old) do
    if rawget(new, name) == nil then
      removed[#removed + 1] = name
    end
  end
  if #added + #removed + #changed == 0 then
    return nil
  end
  local function by_name(a, b)
    return tostring(a) < tostring(b)
  end
  table.sort(added, by_name)
  table.sort(removed, by_name)
  table.sort(changed, by_name)
  return { added = added, removed = removed, changed = changed }
end

-- After a reload: each loaded plugin that declares `id` as a dependency gets
-- a dependency_reloaded event and its on_dependency_reloaded(id, changes)
-- hook (changes: nil, or how the exports changed shape; ctx.deps already
-- gives the new exports). A hook that raises fails its plugin, as update does.
local function tell_dependents(self, id, changes)
  if changes ~= nil then
    emit(self, "exports_changed", id, nil, { changes = changes })
  end
  local order = self._order
  for i = 1, #order do
    local inst = order[i].instance
    local deps = inst and inst.info.dependencies
    if deps ~= nil and inst.state ~= "failed" then
      for _, name in ipairs(deps) do
        if name == id then
          emit(self, "dependency_reloaded", inst.id, nil, { dependency = id, changes = changes })
          local ok, captured = call_hook(inst, "on_dependency_reloaded", id, changes)
          if not ok then
            fail_plugin(self, inst, "on_dependency_reloaded", captured)
          end
          break
        end
      end
    end
  end
end

--- Reloads a plugin from its files. The new version is loaded and checked first;
--- if it fails at any step, the old one is brought back and keeps running.
function Manager:reload_plugin(id)
  check_manager("PluginManager:reload_plugin", self)
  check_id("PluginManager:reload_plugin", id, 2)
  local core = self._core
  -- inside a transaction, what a rollback puts back
  local snapshot = in_transaction(self) and self._slots[id] ~= nil and core:snapshot_record(id)
  local plan, err = core:begin_reload(id)
  if not plan then
    if self._slots[id] then
      reload_refused(self, id, err)
    end
    return failure(err, { plugin_id = id })
  end
  local old = instance_of(self, id)
  -- admitted as its load was: a library is native code, not a file to sandbox
  local grant, refused = self._security:admit(plan, origin_of(plan, nil))
  if grant == nil then
    core:refuse_reload(id)
    reload_refused(self, id, refused)
    return failure(refused, { plugin_id = id })
  end
  local log = logger_for(self, id)
  local plugin, env, g, stage, message, location = evaluate(self, plan, nil, grant, log)
  if plugin == nil then
    err = core:abort_reload(id, stage, message, location)
    -- not "failed": the old version is still there, in the state it was
    reload_refused(self, id, err)
    return failure(err, { plugin_id = id })
  end
  local was = old.state
  local resume = was == "running" or was == "failed"
  -- the old version steps down; what its on_unload returns goes to the new on_reload
  if was == "running" then
    call_hook(old, "on_stop", old.view)
  end
  local unloaded, old_state = call_hook(old, "on_unload", old.view)
  if not unloaded then
    old_state = nil -- on_unload failed: nothing to hand over
  end
  release_bus(old.ctx.bus)
  release_resources(self._resources, id)
  local new = new_instance(self, plan, plugin, env, g, log)
  set_plugin_config(self._config, id, plan.current_config or {})
  new.init_time, new.first_update, new.last_update = old.init_time, old.first_update, old.last_update
  stage = "on_load"
  local ok, captured = call_hook(new, "on_load", new.view)
  if ok then
    stage = "on_reload"
    ok, captured = call_hook(new, "on_reload", old_state)
  end
  if ok and resume then
    stage = "on_start"
    ok, captured = call_hook(new, "on_start", new.view)
  end
  if not ok then
    -- give the old version back what it released, and keep it
    call_hook(new, "on_unload", new.view)
    release_bus(new.ctx.bus)
    release_resources(self._resources, id)
    revoke(new)
    message, location = split_error(captured.value)
    err = core:abort_reload(id, stage, message, location)
    err = quota_error(captured) or err
    err.traceback = captured.traceback
    set_plugin_config(self._config, id, core:config(id) or {})
    bring_back(self, old, was)
    reload_refused(self, id, err)
    return failure(err, { plugin_id = id })
  end
  local old_config, old_grant = core:config(id), recorded_grant(self._security, id)
  core:finish_reload(id)
  -- closures and objects the old version handed out lose what they could do
  revoke_later(self, old)
  record_grant(self._security, id, grant)
  self._slots[id].instance = new
  old.state = "unloaded"
  global.generation = global.generation + 1
  local state = was
  if resume then
    state = "running"
  end
  core:set_state(id, state)
  new.history = old.history
  set_state(self, new, state)
  local slot = self._slots[id]
  slot.reloads = slot.reloads + 1
  emit(self, "reloaded", id)
  tell_dependents(self, id, exports_changes(old.exports, new.exports))
  if snapshot then
    record(self, "reload_plugin", id, function()
      return undo_reload(self, id, old, was, snapshot, old_config, old_grant)
    end)
  end
  return success(id)
end

--- Stops and unloads every plugin, latest loaded first.
function Manager:shutdown()
  check_manager("PluginManager:shutdown", self)
  local order = self._order
  for i = #order, 1, -1 do
    unload_one(self, order[i].id)
  end
  return true
end

local function run_tickers(self, tickers)
  for i = 1, #tickers do
    local ok, problem = pcall(tickers[i])
    if not ok then
      self._log("error", "qtforge", "a ticker failed: " .. safe_tostring(problem))
    end
  end
end

--- Calls `update(dt, info)` on every running plugin that has one. Without `dt`,
--- a monotonic clock measures it. A plugin whose update errors becomes `failed`;
--- the others still run.
function Manager:update_all_plugins(dt)
  if getmetatable(self) ~= Manager then
    check_manager("PluginManager:update_all_plugins", self)
  end
  if dt == nil then
    local now = monotonic()
    dt = now - (self._clock or now)
    self._clock = now
  elseif type(dt) ~= "number" or dt ~= dt or dt < 0 or dt == math.huge then
    error("PluginManager:update_all_plugins: argument 'dt' must be a non-negative number of seconds, got "
      .. describe(dt), 2)
  end
  local time = self._time + dt
  self._time = time
  self._updates = self._updates + 1
  local list = self._ticking
  local meter = self._meter
  for i = 1, #list do
    local inst = list[i]
    if inst.state == "running" then
      local info = inst.update_info
      local first = inst.first_update
      if first == nil then
        first = time
        inst.first_update = time
      end
      info.time_since_init = time - inst.init_time
      info.time_since_first_update = time - first
      info.time_since_last_update = time - (inst.last_update or inst.init_time)
      inst.last_update = time
      local ok, problem
      if meter == nil then
        ok, problem = pcall(inst.plugin_update, dt, info)
      else
        local started = self._meter_timed and clock()
        ok, problem = pcall(inst.plugin_update, dt, info)
        local rec = meter[inst.id] or record_of(meter, inst.id)
        rec.updates = rec.updates + 1
        if started then
          rec.update_time = rec.update_time + (clock() - started)
        end
        if not ok then
          rec.update_errors = rec.update_errors + 1
        end
      end
      if not ok then
        self._update_errors = self._update_errors + 1
        -- a plugin its quota failed during this update is failed once
        if inst.state ~= "failed" then
          fail_plugin(self, inst, "update", { value = problem, traceback = "" })
        end
      end
    end
  end
  local logging = self._logging
  if time - self._polled >= POLL_INTERVAL then
    self._polled = time
    if logging ~= nil then
      logging:poll()
    end
    if config_watching(self._config) then
      self._config:poll()
    end
    for _, pollers in ipairs({ self._pollers, global.pollers }) do
      for i = 1, #pollers do
        local ok, problem = pcall(pollers[i])
        if not ok then
          self._log("error", "qtforge", "a poller failed: " .. safe_tostring(problem))
        end
      end
    end
  end
  -- work other submodules do on every tick while they have some (workflows
  -- under way); without any, two field reads
  if self._tickers[1] ~= nil then
    run_tickers(self, self._tickers)
  end
  if global.tickers[1] ~= nil then
    run_tickers(self, global.tickers)
  end
  -- messages posted and requests answered since the last tick are delivered now
  local bus = self._bus
  if bus._queue[1] ~= nil or bus._rr ~= nil then
    bus_flush(bus)
  end
  return #list
end

--- Validates `changes` against the manifest's [config], merges them, then calls
--- on_configure(config); the plugin may refuse by raising an error.
function Manager:configure_plugin(id, changes)
  check_manager("PluginManager:configure_plugin", self)
  check_id("PluginManager:configure_plugin", id, 2)
  if type(changes) ~= "table" then
    error("PluginManager:configure_plugin: argument 'config' must be a table, got " .. describe(changes), 2)
  end
  local core = self._core
  local before = in_transaction(self) and core:config(id)
  local merged, err = core:check_config(id, changes)
  if merged == nil then
    return failure(err, { plugin_id = id })
  end
  local inst = instance_of(self, id)
  local ok, captured = call_hook(inst, "on_configure", merged)
  if not ok then
    core:commit_config(id, false)
    local message, location = split_error(captured.value)
    err = Error("invalid_config", string_format("plugin %q refused the configuration: %s", id, message), location)
    return failure(err, { plugin_id = id })
  end
  core:commit_config(id, true)
  set_plugin_config(self._config, id, merged)
  emit(self, "configured", id)
  if before then
    record(self, "configure_plugin", id, function()
      local result = Manager.configure_plugin(self, id, before)
      return result.success, result.error
    end)
  end
  return success(id, { config = merged })
end

--- The manager's ConfigurationManager: each plugin's ctx.config is its scope
--- plugins.<id>, defaulted from the manifest's [config].
function Manager:config()
  check_manager("PluginManager:config", self)
  return self._config
end

--- The manager's LoggingManager (nil when it was made with a `log` function instead).
function Manager:logging()
  check_manager("PluginManager:logging", self)
  return self._logging
end

--- The manager's ResourceManager: each plugin's ctx.resources registers with it,
--- and what a plugin holds is released when it unloads.
function Manager:resources()
  check_manager("PluginManager:resources", self)
  return self._resources
end

--- The manager's SecurityManager: the policy every load is admitted by.
function Manager:security()
  check_manager("PluginManager:security", self)
  return self._security
end

--- The manager's MessageBus: each plugin's ctx.bus publishes and subscribes on it.
function Manager:bus()
  check_manager("PluginManager:bus", self)
  return self._bus
end

--- Registers fn(event) for lifecycle events; returns a function that removes it.
function Manager:on_event(fn)
  check_manager("PluginManager:on_event", self)
  if type(fn) ~= "function" then
    error("PluginManager:on_event: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  return listen(self, "_listeners", fn)
end

local function callable_instance(self, fname, id, level)
  local inst = instance_of(self, id)
  if inst == nil then
    error(string_format("%s: no plugin %s is loaded", fname, describe(id)), level + 1)
  end
  local state = inst.state
  if state ~= "running" and state ~= "loaded" then
    error(string_format("%s: plugin %q is %s", fname, id, state), level + 1)
  end
  return inst
end

--- Calls export `name` of plugin `id` with the remaining arguments.
function Manager:call(id, name, ...)
  if getmetatable(self) ~= Manager then
    check_manager("PluginManager:call", self)
  end
  -- a per-call path: the id is checked only when it finds no callable plugin
  local slot = self._slots[id]
  local inst = slot and slot.instance
  local state = inst and inst.state
  if state ~= "running" and state ~= "loaded" then
    check_id("PluginManager:call", id, 2)
    callable_instance(self, "PluginManager:call", id, 2)
  end
  local fn = inst.exports[name]
  if type(fn) ~= "function" then
    error(string_format("PluginManager:call: plugin %q has no export %s", id, describe(name)), 2)
  end
  local meter = self._meter
  if meter ~= nil then
    return metered_call(self, meter, id, name, fn, ...)
  end
  return fn(...)
end

--- Calls export `name` on every running plugin that has it; returns the results
--- and the errors, each by plugin id.
function Manager:broadcast(name, ...)
  check_manager("PluginManager:broadcast", self)
  if type(name) ~= "string" then
    error("PluginManager:broadcast: argument 'name' must be an export name, got " .. describe(name), 2)
  end
  local results, errors = {}, {}
  local order = self._order
  for i = 1, #order do
    local inst = order[i].instance
    local id = order[i].id
    local fn = inst and inst.state == "running" and inst.exports[name]
    if type(fn) == "function" then
      local ok, value = pcall(fn, ...)
      if ok then
        results[id] = value
      else
        local message, location = split_error(value)
        errors[id] = Error("call_error", string_format("plugin %q failed in %s: %s", id, name, message), location)
      end
    end
  end
  return results, errors
end

--- Puts each plugin's exports table under tbl[plugin id] (Cygnixy style).
function Manager:register_all_plugins(tbl)
  check_manager("PluginManager:register_all_plugins", self)
  if type(tbl) ~= "table" then
    error("PluginManager:register_all_plugins: argument 'tbl' must be a table, got " .. describe(tbl), 2)
  end
  for _, slot in ipairs(self._order) do
    if slot.instance then
      tbl[slot.id] = slot.instance.exports
    end
  end
  return tbl
end

---------------------------------------------------------------------------
-- Plugin handles: they resolve against the manager on every use, so a
-- handle never keeps an unloaded plugin alive and follows a reload.
---------------------------------------------------------------------------

local Handle = {}
local HandleMeta = { __name = "qtforge.core.Plugin" }

local function handle_instance(h, fname)
  local slot = rawget(h, "_slot")
  local inst = slot.instance
  if inst == nil then
    error(string_format("%s: plugin %q is unloaded", fname, slot.id), 3)
  end
  return inst
end

local check_handle = method_check(HandleMeta, "a plugin handle")

-- The method `plugin:f(...)` (or `plugin.f(...)`) that calls export f of
-- whatever version of the plugin is loaded when it runs.
local function make_export_method(h, slot, key)
  local manager = rawget(h, "_manager")
  return function(self, ...)
    local inst = slot.instance
    if inst == nil then
      error(string_format("plugin %q is unloaded (calling %s)", slot.id, key), 2)
    end
    local fn = inst.exports[key]
    if type(fn) ~= "function" then
      error(string_format("plugin %q has no export %q", slot.id, key), 2)
    end
    local meter = manager._meter
    if self == h then
      if meter ~= nil then
        return metered_call(manager, meter, slot.id, key, fn, ...)
      end
      return fn(...)
    end
    if meter ~= nil then
      return metered_call(manager, meter, slot.id, key, fn, self, ...)
    end
    return fn(self, ...)
  end
end

-- Stored on the handle itself, so the next `plugin:f` is a plain field read.
local function export_method(h, key)
  local method = make_export_method(h, rawget(h, "_slot"), key)
  rawset(h, key, method)
  return method
end

HandleMeta.__index = function(h, key)
  local method = Handle[key]
  if method ~= nil then
    return method
  end
  local slot = rawget(h, "_slot")
  local inst = slot.instance
  if key == "exports" then
    if inst == nil then
      error(string_format("plugin %q is unloaded", slot.id), 2)
    end
    return inst.exports
  end
  if type(key) ~= "string" then
    return nil
  end
  -- an unloaded handle answers every call with a clear error, not "attempt to call nil"
  if inst == nil or type(inst.exports[key]) == "function" then
    return export_method(h, key)
  end
  return nil
end

HandleMeta.__newindex = function(_, key)
  error(string_format("plugin handles are read-only (setting %s)", describe(key)), 2)
end

HandleMeta.__tostring = function(h)
  local slot = rawget(h, "_slot")
  local inst = slot.instance
  if inst == nil then
    return string_format("qtforge plugin %s (unloaded)", slot.id)
  end
  return string_format("qtforge plugin %s %s (%s)", slot.id, inst.version:to_string(), inst.state)
end

local function handle_for(self, id)
  local slot = self._slots[id]
  if slot == nil then
    return nil
  end
  local h = slot.handle
  if h == nil then
    h = setmetatable({ _slot = slot, _manager = self }, HandleMeta)
    slot.handle = h
  end
  return h
end

function Handle.id(h)
  check_handle("plugin:id", h)
  return rawget(h, "_slot").id
end

function Handle.name(h)
  check_handle("plugin:name", h)
  local slot = rawget(h, "_slot")
  return slot.id
end

function Handle.version(h)
  check_handle("plugin:version", h)
  local slot = rawget(h, "_slot")
  return slot.instance and slot.instance.version or slot.last_version
end

function Handle.state(h)
  check_handle("plugin:state", h)
  local inst = rawget(h, "_slot").instance
  return inst and inst.state or "unloaded"
end

function Handle.is_loaded(h)
  check_handle("plugin:is_loaded", h)
  return rawget(h, "_slot").instance ~= nil
end

function Handle.description(h)
  check_handle("plugin:description", h)
  local slot = rawget(h, "_slot")
  local info = slot.instance and rawget(h, "_manager")._core:info(slot.id) or slot.last_info
  return info and info.description or ""
end

--- Everything the manifest says, with the current state; the last known info once unloaded.
function Handle.metadata(h)
  check_handle("plugin:metadata", h)
  local slot = rawget(h, "_slot")
  if slot.instance then
    return rawget(h, "_manager")._core:info(slot.id)
  end
  local info = {}
  for k, v in pairs(slot.last_info or {}) do
    info[k] = v
  end
  info.state = "unloaded"
  info.source = nil
  return info
end

function Handle.dependencies(h)
  check_handle("plugin:dependencies", h)
  return Handle.metadata(h).dependencies or {}
end

function Handle.capabilities(h)
  check_handle("plugin:capabilities", h)
  return Handle.metadata(h).capabilities or {}
end

function Handle.path(h)
  check_handle("plugin:path", h)
  return Handle.metadata(h).path
end

function Handle.config(h)
  check_handle("plugin:config", h)
  local slot = rawget(h, "_slot")
  if slot.instance == nil then
    return nil
  end
  -- the plugin's scope of the manager's configuration: what ctx.config reads
  return slot.instance.ctx.config:to_table()
end

function Handle.last_error(h)
  check_handle("plugin:last_error", h)
  local slot = rawget(h, "_slot")
  if slot.instance == nil then
    return nil
  end
  return rawget(h, "_manager")._core:last_error(slot.id)
end

function Handle.call(h, name, ...)
  check_handle("plugin:call", h)
  local inst = handle_instance(h, "plugin:call")
  local fn = inst.exports[name]
  if type(fn) ~= "function" then
    error(string_format("plugin:call: plugin %q has no export %s", inst.id, describe(name)), 2)
  end
  local manager = rawget(h, "_manager")
  local meter = manager._meter
  if meter ~= nil then
    return metered_call(manager, meter, inst.id, name, fn, ...)
  end
  return fn(...)
end

--- The plugin with this id, or nil when none is loaded. A nil id answers nil, so
--- that `get_plugin(result.plugin_id)` after a failed load reads as "no plugin".
function Manager:get_plugin(id)
  check_manager("PluginManager:get_plugin", self)
  if id == nil then
    return nil
  end
  check_id("PluginManager:get_plugin", id, 2)
  return handle_for(self, id)
end

--- Handles of every loaded plugin, in load order.
function Manager:plugins()
  check_manager("PluginManager:plugins", self)
  local list = {}
  for _, slot in ipairs(self._order) do
    list[#list + 1] = handle_for(self, slot.id)
  end
  return list
end

function Manager:load_order()
  check_manager("PluginManager:load_order", self)
  local ids = {}
  for i, slot in ipairs(self._order) do
    ids[i] = slot.id
  end
  return ids
end

function Manager:stats()
  check_manager("PluginManager:stats", self)
  local stats = self._core:stats()
  stats.updates = self._updates
  stats.update_errors = self._update_errors
  stats.ticking = #self._ticking
  return stats
end

-- What a health() hook said, read without running the plugin's code again:
-- a boolean, or a table whose `ok` (or `healthy`) is not false; its plain
-- fields are the details.
local function health_of(result)
  if type(result) == "boolean" then
    return result, nil
  elseif type(result) ~= "table" then
    return false, nil
  end
  local details = {}
  local key, value = next(result)
  while key ~= nil do
    local kind = type(value)
    if type(key) == "string" and (kind == "string" or kind == "number" or kind == "boolean") then
      details[key] = value
    end
    key, value = next(result, key)
  end
  return rawget(result, "ok") ~= false and rawget(result, "healthy") ~= false, details
end

--- health(): runs each loaded plugin's health() hook. { healthy, plugins =
--- { [id] = { healthy, state, details?, error? } } }: a failed plugin is
--- unhealthy; one without the hook is healthy unless failed; a hook that
--- raises or answers false makes its plugin unhealthy.
function Manager:health()
  check_manager("PluginManager:health", self)
  local report = { healthy = true, plugins = {} }
  for _, slot in ipairs(self._order) do
    local inst = slot.instance
    local entry = { state = inst.state, healthy = inst.state ~= "failed" }
    if inst.state == "failed" then
      entry.error = self._core:last_error(inst.id)
    elseif inst.plugin.health ~= nil then
      local ok, result = call_hook(inst, "health")
      if ok then
        entry.healthy, entry.details = health_of(result)
      else
        local message, location = split_error(result.value)
        entry.healthy = false
        entry.error = Error("unhealthy", string_format("plugin %q failed its health check: %s", inst.id, message),
          location)
      end
    end
    report.plugins[inst.id] = entry
    report.healthy = report.healthy and entry.healthy
  end
  return report
end

---------------------------------------------------------------------------
-- PluginRegistry: queries over a manager's plugins
---------------------------------------------------------------------------

local Registry = { __name = "qtforge.core.PluginRegistry" }
Registry.__index = Registry

Registry.__tostring = function(self)
  return string_format("qtforge.core.PluginRegistry (%d plugins)", #self._manager._order)
end

local check_registry = method_check(Registry, "a PluginRegistry")

local function handles(manager, ids)
  local list = {}
  for _, id in ipairs(ids) do
    list[#list + 1] = handle_for(manager, id)
  end
  return list
end

local function query(fname, field)
  return function(self, value)
    check_registry(fname, self)
    if type(value) ~= "string" then
      error(string_format("%s: argument '%s' must be a string, got %s", fname, field, describe(value)), 2)
    end
    return handles(self._manager, self._manager._core:query(field, value))
  end
end

Registry.find_by_tag = query("PluginRegistry:find_by_tag", "tag")
Registry.find_by_capability = query("PluginRegistry:find_by_capability", "capability")
Registry.find_by_kind = query("PluginRegistry:find_by_kind", "kind")

local STATES = { loaded = true, running = true, stopped = true, failed = true }

function Registry:find_by_state(state)
  check_registry("PluginRegistry:find_by_state", self)
  if not STATES[state] then
    error("PluginRegistry:find_by_state: argument 'state' must be loaded, running, stopped or failed, got "
      .. describe(state), 2)
  end
  return handles(self._manager, self._manager._core:query("state", state))
end

function Registry:get(id)
  check_registry("PluginRegistry:get", self)
  check_id("PluginRegistry:get", id, 2)
  return handle_for(self._manager, id)
end

function Registry:list()
  check_registry("PluginRegistry:list", self)
  return self._manager:plugins()
end

function Registry:count()
  check_registry("PluginRegistry:count", self)
  return #self._manager._order
end

function Registry:running()
  check_registry("PluginRegistry:running", self)
  return self:find_by_state("running")
end

function Manager:registry()
  check_manager("PluginManager:registry", self)
  return setmetatable({ _manager = self }, Registry)
end

---------------------------------------------------------------------------
-- PluginLifecycleManager: lifecycle operations over a manager, in dependency order
---------------------------------------------------------------------------

local Lifecycle = { __name = "qtforge.core.PluginLifecycleManager" }
Lifecycle.__index = Lifecycle

Lifecycle.__tostring = function(self)
  return string_format("qtforge.core.PluginLifecycleManager (%d plugins)", #self._manager._order)
end

local check_lifecycle = method_check(Lifecycle, "a PluginLifecycleManager")

local function new_lifecycle(level, manager)
  if getmetatable(manager) ~= Manager then
    error("PluginLifecycleManager: argument 'manager' must be a PluginManager, got " .. describe(manager), level + 1)
  end
  return setmetatable({ _manager = manager }, Lifecycle)
end

function Lifecycle:start(id)
  check_lifecycle("PluginLifecycleManager:start", self)
  check_id("PluginLifecycleManager:start", id, 2)
  return start(self._manager, id)
end

function Lifecycle:stop(id)
  check_lifecycle("PluginLifecycleManager:stop", self)
  check_id("PluginLifecycleManager:stop", id, 2)
  return stop(self._manager, id)
end

--- Stops (when running) and starts again.
function Lifecycle:restart(id)
  check_lifecycle("PluginLifecycleManager:restart", self)
  check_id("PluginLifecycleManager:restart", id, 2)
  local manager = self._manager
  local inst = instance_of(manager, id)
  if inst and inst.state == "running" then
    local stopped = stop(manager, id)
    if not stopped.success then
      return stopped
    end
  end
  return start(manager, id)
end

--- Starts every loaded or stopped plugin in load order; one result per plugin started.
function Lifecycle:start_all()
  check_lifecycle("PluginLifecycleManager:start_all", self)
  local manager, results = self._manager, {}
  for _, slot in ipairs(manager._order) do
    local inst = slot.instance
    if inst and (inst.state == "loaded" or inst.state == "stopped") then
      results[#results + 1] = start(manager, slot.id)
    end
  end
  return results
end

--- Stops every running plugin, latest loaded first.
function Lifecycle:stop_all()
  check_lifecycle("PluginLifecycleManager:stop_all", self)
  local manager, results = self._manager, {}
  local order = manager._order
  for i = #order, 1, -1 do
    local inst = order[i].instance
    if inst and inst.state == "running" then
      results[#results + 1] = stop(manager, order[i].id)
    end
  end
  return results
end

function Lifecycle:state(id)
  check_lifecycle("PluginLifecycleManager:state", self)
  check_id("PluginLifecycleManager:state", id, 2)
  local inst = instance_of(self._manager, id)
  return inst and inst.state or "unloaded"
end

--- Whether `operation` ("start", "stop", "unload", "reload", "configure") is allowed now.
function Lifecycle:can(id, operation)
  check_lifecycle("PluginLifecycleManager:can", self)
  check_id("PluginLifecycleManager:can", id, 2)
  if operation ~= "start" and operation ~= "stop" and operation ~= "unload" and operation ~= "reload"
    and operation ~= "configure" then
    error("PluginLifecycleManager:can: argument 'operation' must be start, stop, unload, reload or configure, got "
      .. describe(operation), 2)
  end
  local target, err = self._manager._core:check(id, operation)
  return target ~= nil, err
end

--- The plugin's last state changes, oldest first: { state =, at = seconds }.
function Lifecycle:history(id)
  check_lifecycle("PluginLifecycleManager:history", self)
  check_id("PluginLifecycleManager:history", id, 2)
  local inst = instance_of(self._manager, id)
  if inst == nil then
    return {}
  end
  local copy = {}
  for i, entry in ipairs(inst.history) do
    copy[i] = { state = entry.state, at = entry.at }
  end
  return copy
end

function Manager:lifecycle()
  check_manager("PluginManager:lifecycle", self)
  return new_lifecycle(2, self)
end

---------------------------------------------------------------------------
-- PluginLoader: plugin info without running plugin code
---------------------------------------------------------------------------

local Loader = {}

--- Info about the plugin at `path` (manifest, files), or nil and an Error.
function Loader.inspect(path)
  if type(path) ~= "string" then
    error("PluginLoader.inspect: argument 'path' must be a string, got " .. describe(path), 2)
  end
  return native.inspect(path)
end

--- Info about every plugin in `dir`, and the ones that cannot be read: { path =, error = }.
function Loader.discover(dir)
  if type(dir) ~= "string" then
    error("PluginLoader.discover: argument 'dir' must be a string, got " .. describe(dir), 2)
  end
  return native.discover(dir)
end

function Manager:discover(dir)
  check_manager("PluginManager:discover", self)
  if type(dir) ~= "string" then
    error("PluginManager:discover: argument 'dir' must be a string, got " .. describe(dir), 2)
  end
  return native.discover(dir)
end

---------------------------------------------------------------------------
-- PluginDependencyResolver: the manager's resolver on its own
---------------------------------------------------------------------------

local Resolver = { __name = "qtforge.core.PluginDependencyResolver" }
Resolver.__index = Resolver

local check_resolver = method_check(Resolver, "a PluginDependencyResolver")

--- Adds a plugin: an info table from PluginLoader.inspect, or { id, version,
--- dependencies = { { name, version, optional } }, before, after, priority }.
--- Returns true, or nil and an already_loaded Error for a second plugin with the same id.
function Resolver:add(info)
  check_resolver("PluginDependencyResolver:add", self)
  if type(info) ~= "table" then
    error("PluginDependencyResolver:add: argument 'info' must be a plugin info table, got " .. describe(info), 2)
  end
  local ok, err = self._native:add(info)
  if ok == nil and type(err) == "string" then
    error("PluginDependencyResolver:add: " .. err, 2)
  end
  return ok, err
end

--- Declares a plugin that is already loaded, which requirements may use.
function Resolver:add_available(id, version)
  check_resolver("PluginDependencyResolver:add_available", self)
  check_id("PluginDependencyResolver:add_available", id, 2)
  if Version.is(version) then
    version = version:to_string()
  elseif type(version) ~= "string" then
    error("PluginDependencyResolver:add_available: argument 'version' must be a version, got " .. describe(version), 2)
  end
  local ok, message = self._native:add_available(id, version)
  if not ok then
    error("PluginDependencyResolver:add_available: " .. message, 2)
  end
  return true
end

function Resolver:remove(id)
  check_resolver("PluginDependencyResolver:remove", self)
  check_id("PluginDependencyResolver:remove", id, 2)
  return self._native:remove(id)
end

function Resolver:count()
  check_resolver("PluginDependencyResolver:count", self)
  return self._native:count()
end

--- Every plugin that can load, in load order, and an Error for each that cannot:
--- { order = { id, ... }, failures = { [id] = Error } }.
function Resolver:resolve()
  check_resolver("PluginDependencyResolver:resolve", self)
  return self._native:resolve()
end

--- The load order, or nil and the first failure (a cycle, a missing dependency).
function Resolver:order()
  check_resolver("PluginDependencyResolver:order", self)
  return self._native:order()
end

Resolver.__tostring = function(self)
  return string_format("qtforge.core.PluginDependencyResolver (%d plugins)", self._native:count())
end


return {
  PluginManager = class("qtforge.core.PluginManager", new_manager),
  PluginLifecycleManager = class("qtforge.core.PluginLifecycleManager", new_lifecycle),
  PluginDependencyResolver = class("qtforge.core.PluginDependencyResolver", function()
    return setmetatable({ _native = native.new_resolver() }, Resolver)
  end),
  PluginLoader = Loader,
  -- for other submodules: work update_all_plugins does every POLL_INTERVAL
  add_poller = function(manager, fn)
    return listen(manager, "_pollers", fn)
  end,
  add_global_poller = function(fn)
    return listen(global, "pollers", fn)
  end,
  -- for other submodules: work update_all_plugins does on every tick
  add_ticker = function(manager, fn)
    return listen(manager, "_tickers", fn)
  end,
  add_global_ticker = function(fn)
    return listen(global, "tickers", fn)
  end,
  -- the export `name` of plugin `id` if it can be called now; otherwise nil
  -- and why, as the end of a sentence ("is not loaded", "is stopped", "has no
  -- export \"x\"")
  callable_export = function(manager, id, name)
    local inst = instance_of(manager, id)
    if inst == nil then
      return nil, "is not loaded"
    end
    local state = inst.state
    if state ~= "running" and state ~= "loaded" then
      return nil, "is " .. state
    end
    local fn = inst.exports[name]
    if type(fn) ~= "function" then
      return nil, "has no export " .. describe(name)
    end
    return fn
  end,
  -- changes whenever what callable_export found may have stopped being so
  generation = function()
    return global.generation
  end,
  -- the clock metered calls read (clock_gettime through the FFI under LuaJIT)
  clock = clock,
  -- "file:12: boom" -> "boom", "file:12"
  split_error = split_error,
  -- for the metrics collector: attach (true) or detach (false) a collector
  set_metering = set_metering,
  set_metering_everywhere = set_metering_everywhere,
  -- every live manager, oldest first
  managers = all_managers,
  -- for qtforge.transactions: the journal an open transaction keeps
  -- ({ record = fn(manager, name, id, undo), events = {}, revocations = {},
  -- undoing = bool }) or nil; the events it held, delivered at commit; what
  -- its unloads and reloads would have revoked, revoked at its end unless
  -- brought back; and what breaks the invariant at commit
  set_transaction = function(manager, tx)
    manager._tx = tx
  end,
  deliver = function(held)
    emit(held[1], held[2], held[3], held[4], held[5])
  end,
  settle_revocations = function(revocations)
    for _, entry in ipairs(revocations) do
      local inst = entry.instance
      if instance_of(entry.manager, inst.id) ~= inst then
        revoke(inst)
      end
    end
  end,
  violations = function(manager)
    return manager._core:violations()
  end,
  -- metatables, for specs that check every public method has a type stub
  _Manager = Manager,
  _Handle = HandleMeta,
  _HandleMethods = Handle,
  _Registry = Registry,
  _Lifecycle = Lifecycle,
  _Resolver = Resolver,
}
