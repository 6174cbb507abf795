-- The sandbox of a plugin: the environment its code runs in, the capability
-- objects its ctx holds, and the quotas its calls run under.
--
-- A sandboxed plugin never holds a host table: it gets read-only views of the
-- standard libraries, facades (tables of closures over the real objects, which
-- stop working when the plugin is unloaded) and its own values. Rust checked
-- the policy and decided the grant; this file builds what the grant says, and
-- runs per call only when the plugin has quotas.
local native = ...

local error, getmetatable, ipairs, load, next, pairs, pcall, rawequal, rawget, rawlen, rawset, select, setmetatable,
  tostring, type, xpcall =
  error, getmetatable, ipairs, load, next, pairs, pcall, rawequal, rawget, rawlen, rawset, select, setmetatable,
  tostring, type, xpcall
local string_format, string_sub, string_find, string_match = string.format, string.sub, string.find, string.match
local math_floor, math_min = math.floor, math.min
local table_concat = table.concat
local unpack = table.unpack or unpack -- luacheck: ignore 113
local coroutine_create, coroutine_resume, coroutine_running, coroutine_yield = coroutine.create, coroutine.resume,
  coroutine.running, coroutine.yield

local support = native.support
local describe, copy = support.describe, support.copy
local Error = native.Error
local monotonic = native.monotonic
local resolve_path = native.resolve_path
-- quotas need hooks; a host without the debug library cannot have them
local debug_sethook = debug and debug.sethook
local debug_gethook = debug and debug.gethook
local debug_getinfo = debug and debug.getinfo
local jit_off = jit and jit.off -- luacheck: ignore 113
local host_require = require
local host_G = _G

local sandbox = {}

-- where errors raised in this file point: "qtforge/security/sandbox.lua:"
local HERE
do
  local function probe()
    error("", 2)
  end
  local _, where = pcall(function()
    probe()
  end)
  HERE = string_match(where, "^(.-:)%d+: $") or "\0"
end

-- The standard names a sandbox never shows through the `host` capability.
local STANDARD = {}
for _, name in ipairs({ "_G", "_VERSION", "_ENV", "assert", "collectgarbage", "coroutine", "debug", "dofile", "error",
  "gcinfo", "getfenv", "getmetatable", "io", "ipairs", "jit", "ffi", "load", "loadfile", "loadstring", "math",
  "module", "newproxy", "next", "os", "package", "pairs", "pcall", "print", "rawequal", "rawget", "rawlen", "rawset",
  "require", "select", "setfenv", "setmetatable", "string", "table", "tonumber", "tostring", "type", "unpack", "utf8",
  "xpcall", "bit", "bit32" }) do
  STANDARD[name] = true
end

---------------------------------------------------------------------------
-- Read-only views
---------------------------------------------------------------------------

-- A view: an empty table whose reads go to `source` and whose writes raise.
-- Its metatable is hidden (getmetatable gives false), so neither setmetatable
-- nor the sandbox's rawset can get at it. A view of a callable class table
-- (`callable`) still builds objects: Name(...).
local function view(source, name, callable)
  local meta = {
    __index = source,
    __newindex = function(_, key)
      error(string_format("%s is read-only (assigning %s)", name, describe(key)), 2)
    end,
    -- pairs(view) lists the source without handing the source table out
    __pairs = function(self)
      return function(_, key)
        return next(source, key)
      end, self, nil
    end,
    __len = function()
      return #source
    end,
    __metatable = false,
  }
  if callable then
    meta.__call = function(_, ...)
      return source(...)
    end
  end
  return setmetatable({}, meta)
end


-- The pristine libraries, copied once: what a host or a trusted plugin later
-- does to `string` or `math` does not reach a sandbox. string.dump is left
-- out: bytecode is how a chunk escapes a text-only load.
local LIBRARIES = {
  string = copy(string, { dump = true }),
  table = copy(table),
  coroutine = copy(coroutine),
  math = copy(math),
  utf8 = utf8 and copy(utf8),
}
-- the base functions, as they were when qtforge loaded
local BASE = { pairs = pairs, ipairs = ipairs, next = next, select = select, type = type, tostring = tostring,
  tonumber = tonumber, error = error, assert = assert, rawequal = rawequal, rawlen = rawlen, unpack = unpack,
  _VERSION = _VERSION }
local OS_BASE = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
local host_getenv, host_execute, host_remove, host_rename = os.getenv, os.execute, os.remove, os.rename
local io_open, io_lines, io_popen, io_type = io.open, io.lines, io.popen, io.type

---------------------------------------------------------------------------
-- Quotas
---------------------------------------------------------------------------

-- The guard being charged: the plugin whose call is running. Calls nest (a
-- plugin calls another's export), so each call keeps the one it replaced.
local current = nil
-- hook granularity: instructions between two checks
local STEP = 1000

local function quota_error(g, what)
  return Error("quota_exceeded", string_format("plugin %q exceeded its %s", g.id, what),
    string_format("limits: %s", g.limits_text))
end

-- Whether the running function is the plugin's own code: a quota is enforced
-- there, never in the middle of host code the plugin called into.
local function in_plugin_code(g)
  local info = debug_getinfo(3, "S")
  if info == nil then
    return false
  end
  local source = info.source
  return g.sources[source] == true or string_sub(source, 1, #g.load_prefix) == g.load_prefix
end

local function hook()
  local g = current
  if g == nil then
    return
  end
  local exceeded = g.exceeded
  if exceeded == nil then
    g.used = g.used + g.step
    local limits = g.limits
    if limits.instructions and g.used > limits.instructions then
      exceeded = quota_error(g, string_format("instruction quota (%d per call)", limits.instructions))
    elseif g.deadline and monotonic() > g.deadline then
      exceeded = quota_error(g, string_format("time quota (%d ms per call)", limits.time_ms))
    elseif g.depth_level and debug_getinfo(g.depth_level, "l") ~= nil then
      exceeded = quota_error(g, string_format("call depth quota (%d)", limits.depth))
    end
    if exceeded == nil then
      return
    end
    g.exceeded = exceeded
    -- from now on, every instruction checks
    debug_sethook(hook, "", 1)
  end
  if in_plugin_code(g) then
    error(exceeded, 0)
  end
end

-- How many frames lie below the caller of this function (a binary search on
-- debug.getinfo, which answers nil past the bottom of the stack).
local function stack_depth()
  local low, high = 1, 2
  while debug_getinfo(high, "l") ~= nil do
    low, high = high, high * 2
  end
  while high - low > 1 do
    local mid = math_floor((low + high) / 2)
    if debug_getinfo(mid, "l") ~= nil then
      low = mid
    else
      high = mid
    end
  end
  return low
end

-- An error value the host can read without running plugin code: a string, an
-- Error, or a description made with raw reads (a plugin's error object could
-- have a __tostring that loops or throws).
local function plain_error(value)
  if type(value) == "string" or Error.is(value) then
    return value
  end
  if type(value) == "table" then
    local message = rawget(value, "message")
    if type(message) == "string" then
      return message
    end
  end
  return "(an error value of type " .. type(value) .. ")"
end

local function settle(g, outer, hook_fn, hook_mask, hook_count, used, deadline, depth_level, exceeded, thread, ok, ...)
  current = outer
  g.used, g.deadline, g.depth_level, g.thread = used, deadline, depth_level, thread
  local this_exceeded = g.exceeded
  g.exceeded = exceeded
  if outer ~= nil then
    debug_sethook(hook, "", outer.exceeded and 1 or outer.step)
  elseif hook_fn ~= nil then
    debug_sethook(hook_fn, hook_mask, hook_count)
  else
    debug_sethook()
  end
  if ok and this_exceeded == nil then
    return true, ...
  end
  local err = ...
  if this_exceeded ~= nil then
    g.quota_failures = g.quota_failures + 1
    err = this_exceeded
    if g.on_quota then
      g.on_quota(g, err)
    end
  end
  return false, plain_error(err)
end

-- Runs fn(...) as one call of the plugin under its quotas: true and the
-- results, or false and a plain error value.
local function run_limited(g, fn, ...)
  local outer = current
  local hook_fn, hook_mask, hook_count
  if outer == nil then
    hook_fn, hook_mask, hook_count = debug_gethook()
  end
  local used, deadline, depth_level, exceeded, thread = g.used, g.deadline, g.depth_level, g.exceeded, g.thread
  g.used, g.exceeded = 0, nil
  -- the thread the call runs on: a yield out of it would leave the quotas on
  g.thread = coroutine_running()
  local limits = g.limits
  g.deadline = limits.time_ms and monotonic() + limits.time_ms / 1000 or nil
  -- levels seen from the hook: the hook, the plugin's frames, then this one's
  g.depth_level = limits.depth and (stack_depth() + limits.depth + 2) or nil
  current = g
  debug_sethook(hook, "", g.step)
  return settle(g, outer, hook_fn, hook_mask, hook_count, used, deadline, depth_level, exceeded, thread,
    xpcall(fn, plain_error, ...))
end

-- The results of a protected call the plugin made, unless its quota ran
-- out: a quota error is not the plugin's to catch.
local function rethrow(g, ok, ...)
  if not ok and g.exceeded ~= nil then
    error(g.exceeded, 0)
  end
  return ok, ...
end

-- the results of a call, or its error raised again
local function raise_or_return(ok, ...)
  if not ok then
    error((...), 0)
  end
  return ...
end

-- Runs plugin code without quotas: only its error value is made plain.
local function run_plain(fn, ...)
  return xpcall(fn, plain_error, ...)
end

--- call(g, fn, ...): runs one call into the plugin; true and results, or false
--- and an error the host can read safely.
function sandbox.call(g, fn, ...)
  if g.limited then
    return run_limited(g, fn, ...)
  end
  return run_plain(fn, ...)
end

--- guard(g, fn): fn as the host may call it: under the plugin's quotas (a
--- quota error is raised to the caller), or fn itself when it has none.
function sandbox.guard(g, fn)
  if not g.limited or type(fn) ~= "function" then
    return fn
  end
  local cache = g.guarded
  local guarded = cache[fn]
  if guarded == nil then
    guarded = function(...)
      return raise_or_return(run_limited(g, fn, ...))
    end
    cache[fn] = guarded
  end
  return guarded
end

--- compiled(g, chunk): a chunk the plugin's code was compiled to; under
--- LuaJIT, a plugin with quotas runs interpreted, where hooks fire.
function sandbox.compiled(g, chunk)
  if g.limited and jit_off then
    jit_off(chunk, true)
  end
  return chunk
end

---------------------------------------------------------------------------
-- C work under quotas: no hook fires inside a C function, so the string
-- functions that can run long (a backtracking pattern, a huge rep) are
-- priced before they run, and charged to the call's instruction count.
---------------------------------------------------------------------------

local pattern_cost = native.pattern_cost
local string_rep = string.rep
local string_gmatch, string_gsub = string.gmatch, string.gsub
-- a step of the pattern matcher costs about a VM instruction; a second of
-- time quota buys this many steps
local STEPS_PER_SECOND = 1e8
-- bytes string.rep writes per instruction of quota, and the most it may build
local BYTES_PER_STEP = 64
local MAX_STRING = 64 * 1024 * 1024

-- the steps the running call can still afford, or nil when no limit applies
local function affordable(g)
  local limit
  local instructions = g.limits.instructions
  if instructions then
    limit = instructions - g.used
  end
  if g.deadline then
    local by_time = (g.deadline - monotonic()) * STEPS_PER_SECOND
    if limit == nil or by_time < limit then
      limit = by_time
    end
  end
  return limit
end

local function over_quota(g, what)
  local err = quota_error(g, what)
  g.exceeded = err
  debug_sethook(hook, "", 1)
  error(err, 0)
end

local function priced_search(fn, each)
  return function(s, p, a, b)
    local g = current
    -- plain find is a linear scan; numbers are short
    if g == nil or type(s) ~= "string" or type(p) ~= "string" or (fn == string_find and b) then
      return fn(s, p, a, b)
    end
    local limit = affordable(g)
    if limit ~= nil then
      local arg
      if each then
        arg = fn == string_gsub and tonumber(b) or #s + 1
      else
        arg = tonumber(a) or 1
      end
      local steps = pattern_cost(s, p, each, arg, limit)
      if steps == nil then
        over_quota(g, string_format("quota in a pattern search (%d bytes, pattern %q)", #s, string_sub(p, 1, 40)))
      elseif steps then
        g.used = g.used + steps
      end
    end
    return fn(s, p, a, b)
  end
end

local function priced_rep(s, n, sep)
  local g = current
  if g ~= nil and type(n) == "number" and n > 1 then
    local size = (type(s) == "string" and #s or 24) * n + (type(sep) == "string" and #sep * (n - 1) or 0)
    local limit = affordable(g)
    if size > MAX_STRING or (limit ~= nil and size / BYTES_PER_STEP > limit) then
      over_quota(g, string_format("quota building a %.0f-byte string (at most %d bytes)", size, MAX_STRING))
    end
    g.used = g.used + size / BYTES_PER_STEP
  end
  return string_rep(s, n, sep)
end

-- the string functions a call under quotas sees priced
local PRICED = {
  find = priced_search(string_find, false),
  match = priced_search(string_match, false),
  gmatch = priced_search(string_gmatch, true),
  gsub = priced_search(string_gsub, true),
  rep = priced_rep,
}
LIBRARIES.priced_string = copy(LIBRARIES.string)
for name, fn in pairs(PRICED) do
  LIBRARIES.priced_string[name] = fn
end

-- `("x"):rep(n)` finds rep through the strings' metatable, which all code
-- shares: once a plugin with quotas loads, its __index puts the priced
-- functions first (they cost host code one Lua call, and price nothing
-- outside a call under quotas)
local strings_priced = false
local function price_string_methods()
  local meta = getmetatable("")
  if strings_priced or type(meta) ~= "table" or type(rawget(meta, "__index")) ~= "table" then
    return
  end
  meta.__index = setmetatable(copy(PRICED), { __index = meta.__index })
  strings_priced = true
end

---------------------------------------------------------------------------
-- Revocation and facades
---------------------------------------------------------------------------

local function revoked(g, fname)
  error(string_format("%s: plugin %q was unloaded; its capabilities are revoked", fname, g.id), 3)
end

-- fn, for as long as the plugin holds its capabilities (a tail call: errors
-- fn raises at its caller still name the plugin's line)
local function while_live(g, fname, fn)
  return function(...)
    if not g.live then
      revoked(g, fname)
    end
    return fn(...)
  end
end

-- A sealed table: reads as it is, writes raise, metatable hidden.
local function seal(t, name)
  return setmetatable(t, {
    __newindex = function(_, key)
      error(string_format("%s is read-only (assigning %s)", name, describe(key)), 2)
    end,
    __metatable = false,
  })
end

-- A method of `real` as a facade's method: checks the plugin still holds its
-- capabilities and was called with ':', then calls the real method (a tail
-- call, so that a misuse error names the plugin's line).
local function forward(g, f, real, fname, method)
  return function(self, ...)
    if not g.live then
      revoked(g, fname)
    end
    if self ~= f then
      error(fname .. ": call it with ':', got " .. describe(self), 2)
    end
    return method(real, ...)
  end
end

-- Calls a real method whose results must be wrapped; an error it raised at
-- its caller (this file) is raised again at the plugin's line.
local function relocated(ok, ...)
  if ok then
    return ...
  end
  local problem = ...
  if type(problem) == "string" and string_sub(problem, 1, #HERE) == HERE then
    error((string.gsub(problem, "^[^:]*:%d+: ", "", 1)), 4)
  end
  error(problem, 0)
end

local function call_real(method, real, ...)
  return relocated(pcall(method, real, ...))
end

-- A facade method whose real method returns an object to wrap with `wrap`.
local function forward_wrapped(g, f, real, fname, method, wrap, prepare)
  return function(self, ...)
    if not g.live then
      revoked(g, fname)
    end
    if self ~= f then
      error(fname .. ": call it with ':', got " .. describe(self), 2)
    end
    if prepare then
      return wrap(call_real(method, real, prepare(...)))
    end
    return wrap(call_real(method, real, ...))
  end
end

-- A facade for a record (subscription, responder, provider, pending request,
-- resource): its data fields copied, its methods forwarded.
local function record_facade(g, real, kind, fields, methods)
  if type(real) ~= "table" then
    return real
  end
  local f = {}
  for _, field in ipairs(fields) do
    f[field] = real[field]
  end
  for _, name in ipairs(methods) do
    f[name] = forward(g, f, real, kind .. ":" .. name, real[name])
  end
  return seal(f, kind)
end

---------------------------------------------------------------------------
-- ctx facades
---------------------------------------------------------------------------

local function logger_facade(g, log)
  local f = {}
  for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
    local fn = log[level]
    f[level] = function(a, b, c)
      if not g.live then
        revoked(g, "log." .. level)
      end
      if a == f then
        return fn(b, c)
      end
      return fn(a, b)
    end
  end
  return seal(f, "ctx.log")
end

local SUBSCRIPTION_FIELDS = { "id", "pattern", "priority" }

-- A message as a sandboxed handler receives it: its own copy, so that what
-- it changes (a forged sender) no later handler sees.
-- (timestamp and headers are read raw: a message the bus made fills them in
-- only when asked, and a clock read costs more than the copy)
local message_meta
local function message_copy(message)
  message_meta = message_meta or getmetatable(message)
  return setmetatable({ type = message.type, data = message.data, id = message.id, sender = message.sender,
    timestamp = rawget(message, "timestamp"), headers = rawget(message, "headers") }, message_meta)
end

-- fn as the bus calls it for a sandboxed plugin: under its quotas, with a copy
local function receiver(g, fn)
  if type(fn) ~= "function" then
    return fn
  end
  local guarded = sandbox.guard(g, fn)
  return function(message)
    return guarded(message_copy(message))
  end
end
local REQUEST_FIELDS = { "id", "type", "data", "sender" }

local function bus_facade(g, bus, can_publish, can_subscribe)
  local f = { STOP = bus.STOP }
  local function method(name, fn)
    f[name] = fn
  end
  if can_publish then
    for _, name in ipairs({ "publish", "post", "request", "has_provider", "topics", "subscriber_count", "stats" }) do
      method(name, forward(g, f, bus, "bus:" .. name, bus[name]))
    end
    method("request_async", forward_wrapped(g, f, bus, "bus:request_async", bus.request_async, function(pending)
      return record_facade(g, pending, "PendingRequest", { "id", "type" }, { "cancel", "done" })
    end, function(request_type, data, callback, opts)
      return request_type, data, sandbox.guard(g, callback), opts
    end))
    method("service", forward_wrapped(g, f, bus, "bus:service", bus.service, function(proxy)
      return proxy
    end))
  end
  if can_subscribe then
    method("subscribe", forward_wrapped(g, f, bus, "bus:subscribe", bus.subscribe, function(record)
      return record_facade(g, record, "Subscription", SUBSCRIPTION_FIELDS, { "unsubscribe", "active" })
    end, function(pattern, fn, opts)
      if type(opts) == "table" and type(opts.filter) == "function" then
        opts = copy(opts)
        opts.filter = receiver(g, opts.filter)
      end
      return pattern, receiver(g, fn), opts
    end))
    method("respond", forward_wrapped(g, f, bus, "bus:respond", bus.respond, function(record)
      return record_facade(g, record, "Responder", { "type" }, { "unregister", "active" })
    end, function(request_type, fn)
      if type(fn) ~= "function" then
        return request_type, fn
      end
      -- the responder sees the request through a facade: the real one leads to the bus
      local guarded = sandbox.guard(g, fn)
      return request_type, function(data, request)
        return guarded(data, record_facade(g, request, "Request", REQUEST_FIELDS,
          { "defer", "reply", "fail", "answered" }))
      end
    end))
    method("provide", forward_wrapped(g, f, bus, "bus:provide", bus.provide, function(record)
      return record_facade(g, record, "Provider", {}, { "withdraw", "active" })
    end, function(contract, impl)
      if type(impl) ~= "table" or not g.limited then
        return contract, impl
      end
      local guarded = {}
      for name, fn in pairs(impl) do
        guarded[name] = sandbox.guard(g, fn)
      end
      return contract, guarded
    end))
    method("register_contract", forward(g, f, bus, "bus:register_contract", bus.register_contract))
  end
  return seal(f, "ctx.bus")
end

local CONFIG_READERS = { "get", "get_string", "get_number", "get_int", "get_bool", "get_table", "has", "keys",
  "source", "to_table", "snapshot" }

local function config_facade(g, scope, writable)
  local f = {}
  local methods = {}
  for _, name in ipairs(CONFIG_READERS) do
    methods[name] = forward(g, f, scope, "ConfigScope:" .. name, scope[name])
  end
  methods.on_change = forward(g, f, scope, "ConfigScope:on_change", function(real, prefix, fn)
    return scope.on_change(real, prefix, sandbox.guard(g, fn))
  end)
  methods.scope = forward_wrapped(g, f, scope, "ConfigScope:scope", scope.scope, function(sub)
    return config_facade(g, sub, writable)
  end)
  if writable then
    methods.set = forward(g, f, scope, "ConfigScope:set", scope.set)
    methods.remove = forward(g, f, scope, "ConfigScope:remove", scope.remove)
  end
  local get = scope.get
  -- like a scope, a field that is not a method reads the value at that key
  return setmetatable(f, {
    __index = function(_, key)
      local fn = methods[key]
      if fn ~= nil then
        return fn
      end
      if not g.live then
        revoked(g, "ctx.config")
      end
      if type(key) ~= "string" or key == "" or string_sub(key, 1, 1) == "_" then
        return nil
      end
      return get(scope, key)
    end,
    __newindex = function(_, key)
      error(string_format("ConfigScope:set: set values with :set(%q, value)", tostring(key)), 2)
    end,
    __metatable = false,
  })
end

local function resources_facade(g, resources)
  local f = {}
  f.register = forward_wrapped(g, f, resources, "resources:register", resources.register, function(handle, err)
    if handle == nil then
      return nil, err
    end
    return record_facade(g, handle, "Resource", { "id", "kind", "owner", "label" }, { "release", "held" })
  end, function(kind, release, opts)
    return kind, sandbox.guard(g, release), opts
  end)
  f.release = forward(g, f, resources, "resources:release", function(real, resource)
    -- a facade stands for the real handle by its id
    if type(resource) == "table" and getmetatable(resource) == false then
      resource = rawget(resource, "id")
    end
    return resources.release(real, resource)
  end)
  f.count = forward(g, f, resources, "resources:count", resources.count)
  f.quota = forward(g, f, resources, "resources:quota", resources.quota)
  return seal(f, "ctx.resources")
end

-- what the `plugins` capability shows of the manager: queries and lifecycle
-- operations; never the manager itself, whose fields reach every plugin
local MANAGER_METHODS = { "load_plugin", "load_directory", "start_plugin", "stop_plugin", "unload_plugin",
  "reload_plugin", "configure_plugin", "call", "broadcast", "load_order", "stats", "discover" }

local function plugins_facade(g, manager, can_native, is_library)
  local f = {}
  for _, name in ipairs(MANAGER_METHODS) do
    local fn = manager[name]
    if (name == "load_plugin" or name == "load_directory") and not can_native then
      local real_fn = fn
      fn = function(real, path, opts)
        if type(path) == "string" and is_library(path) then
          error(string_format("plugins:%s: plugin %q may not load native plugins (capability 'native')", name,
            g.id), 3)
        end
        return real_fn(real, path, opts)
      end
    end
    f[name] = forward(g, f, manager, "plugins:" .. name, fn)
  end
  return seal(f, "ctx.plugins")
end

-- A read-only view of another plugin's exports, resolved on each read.
local function deps_facade(g, deps)
  local views = setmetatable({}, { __mode = "k" })
  return setmetatable({}, {
    __index = function(_, name)
      if not g.live then
        revoked(g, "ctx.deps")
      end
      local exports = deps[name]
      if type(exports) ~= "table" then
        return exports
      end
      local v = views[exports]
      if v == nil then
        v = view(exports, "the exports of " .. tostring(name))
        views[exports] = v
      end
      return v
    end,
    __newindex = function()
      error("ctx.deps is read-only", 2)
    end,
    __metatable = false,
  })
end

--- ctx(g, full, pieces): what a sandboxed plugin's hooks receive: ctx with
--- only the parts its capabilities grant, each behind a facade.
function sandbox.ctx(g, full, pieces)
  local caps = g.capabilities
  local ctx = {
    id = full.id,
    name = full.name,
    -- its own Version: the host reads the plugin's through plugin:version()
    version = pieces.version,
    manifest = pieces.manifest,
    deps = deps_facade(g, full.deps),
    require = full.require,
    resources = resources_facade(g, full.resources),
  }
  if caps.log then
    ctx.log = logger_facade(g, full.log)
  end
  if caps["bus:publish"] or caps["bus:subscribe"] then
    ctx.bus = bus_facade(g, full.bus, caps["bus:publish"], caps["bus:subscribe"])
  end
  if caps["config:read"] or caps["config:write"] then
    ctx.config = config_facade(g, full.config, caps["config:write"])
  end
  if caps.plugins then
    ctx.plugins = plugins_facade(g, pieces.manager, caps.native, pieces.is_library)
  end
  return seal(ctx, "ctx")
end

---------------------------------------------------------------------------
-- The environment
---------------------------------------------------------------------------

-- setmetatable and friends: a plugin sees and changes only the metatables it
-- set itself; host objects, read-only views and strings keep theirs hidden.
local function metatable_functions()
  local owned = setmetatable({}, { __mode = "k" })
  local function settable(fname, t)
    local meta = getmetatable(t)
    if meta ~= nil and not owned[t] then
      error(string_format("%s: cannot change the metatable of a table the plugin does not own", fname), 3)
    end
  end
  local function env_setmetatable(t, meta)
    if type(t) ~= "table" then
      error("setmetatable: argument 1 must be a table, got " .. describe(t), 2)
    end
    if meta ~= nil and type(meta) ~= "table" then
      error("setmetatable: argument 2 must be a table or nil, got " .. describe(meta), 2)
    end
    settable("setmetatable", t)
    -- a finalizer would run whenever the collector decides: after an unload,
    -- or in the middle of host code, outside any quota
    if meta ~= nil and rawget(meta, "__gc") ~= nil then
      error("setmetatable: __gc is not available in a sandbox", 2)
    end
    setmetatable(t, meta)
    owned[t] = meta ~= nil or nil
    return t
  end
  local function env_getmetatable(value)
    if type(value) == "table" and owned[value] then
      return getmetatable(value)
    end
    return nil
  end
  local function env_rawset(t, k, v)
    if type(t) ~= "table" then
      error("rawset: argument 1 must be a table, got " .. describe(t), 2)
    end
    settable("rawset", t)
    return rawset(t, k, v)
  end
  local function env_rawget(t, k)
    if type(t) ~= "table" then
      error("rawget: argument 1 must be a table, got " .. describe(t), 2)
    end
    if getmetatable(t) ~= nil and not owned[t] then
      return nil
    end
    return rawget(t, k)
  end
  return env_setmetatable, env_getmetatable, env_rawset, env_rawget
end

-- load in text mode, in the plugin's environment unless it gives its own
-- table, with a chunk name that marks the code as the plugin's
local function load_function(g, env)
  return function(chunk, name, mode, chunk_env)
    if not g.live then
      revoked(g, "load")
    end
    if type(chunk) ~= "string" and type(chunk) ~= "function" then
      error("load: argument 'chunk' must be a string or a function, got " .. describe(chunk), 2)
    end
    if mode ~= nil and mode ~= "t" then
      return nil, "load: only text chunks load in a sandbox (mode 't')"
    end
    if chunk_env ~= nil and type(chunk_env) ~= "table" then
      error("load: argument 'env' must be a table, got " .. describe(chunk_env), 2)
    end
    local label = g.load_prefix .. (type(name) == "string" and name or "load")
    local fn, problem = load(chunk, label, "t", chunk_env or env)
    if fn == nil then
      return nil, problem
    end
    return sandbox.compiled(g, fn)
  end
end

local function print_function(g, log)
  return function(...)
    if not g.live then
      return
    end
    local parts = {}
    for i = 1, select("#", ...) do
      local value = select(i, ...)
      parts[i] = type(value) == "string" and value or tostring(value)
    end
    log(table_concat(parts, "\t"))
  end
end

-- The coroutine library of a plugin with quotas: its coroutines run under
-- the hook too, and a quota error is not the plugin's to catch.
local function coroutine_library(g)
  if not g.limited then
    return LIBRARIES.coroutine
  end
  local lib = copy(coroutine)
  lib.create = function(fn)
    local co = coroutine_create(fn)
    if current ~= nil then
      debug_sethook(co, hook, "", current.step)
    end
    return co
  end
  lib.resume = function(co, ...)
    return rethrow(g, coroutine_resume(co, ...))
  end
  -- a yield that would leave a call made under quotas (to the workflow step
  -- runner, say) is refused: the quotas, kept per call, would stay on while
  -- other code runs
  lib.yield = function(...)
    if current ~= nil and coroutine_running() == current.thread then
      error("coroutine.yield: a plugin with quotas cannot yield out of a call made to it", 2)
    end
    return coroutine_yield(...)
  end
  lib.wrap = function(fn)
    local co = lib.create(fn)
    return function(...)
      return raise_or_return(lib.resume(co, ...))
    end
  end
  return lib
end

local function checked_path(g, fname, path, allowed)
  if type(path) ~= "string" then
    error(fname .. ": argument 'path' must be a string, got " .. describe(path), 3)
  end
  local resolved, problem = resolve_path(allowed, g.root, path)
  if resolved == nil then
    return nil, problem .. " (plugin " .. g.id .. ")"
  end
  return resolved
end

local function io_library(g)
  local can_read, can_write = g.capabilities["fs:read"], g.capabilities["fs:write"]
  local lib = { type = io_type }
  lib.open = while_live(g, "io.open", function(path, mode)
    mode = mode or "r"
    if type(mode) ~= "string" or not string.match(mode, "^[rwa]%+?b?$") then
      error("io.open: argument 'mode' must be a mode such as \"r\", \"w\" or \"a+\", got " .. describe(mode), 2)
    end
    local writes = string_find(mode, "[wa+]") ~= nil
    local reads = string_find(mode, "[r+]") ~= nil
    if writes and not can_write then
      return nil, "io.open: plugin " .. g.id .. " may not write files (capability 'fs:write')"
    end
    if reads and not can_read and not writes then
      return nil, "io.open: plugin " .. g.id .. " may not read files (capability 'fs:read')"
    end
    local resolved, problem = checked_path(g, "io.open", path, writes and g.write or g.read)
    if resolved == nil then
      return nil, problem
    end
    if reads and writes and string_find(mode, "+", 1, true) then
      local readable = checked_path(g, "io.open", path, g.read)
      if readable == nil then
        return nil, problem
      end
    end
    return io_open(resolved, mode)
  end)
  if can_read then
    lib.lines = while_live(g, "io.lines", function(path, ...)
      local resolved, problem = checked_path(g, "io.lines", path, g.read)
      if resolved == nil then
        error(problem, 2)
      end
      return io_lines(resolved, ...)
    end)
  end
  if g.capabilities["os:exec"] then
    lib.popen = while_live(g, "io.popen", io_popen)
  end
  return lib
end

local function os_library(g)
  local lib = copy(OS_BASE)
  local caps = g.capabilities
  if caps["os:env"] then
    lib.getenv = while_live(g, "os.getenv", host_getenv)
  end
  if caps["os:exec"] then
    lib.execute = while_live(g, "os.execute", host_execute)
  end
  if caps["fs:write"] then
    lib.remove = while_live(g, "os.remove", function(path)
      local resolved, problem = checked_path(g, "os.remove", path, g.write)
      if resolved == nil then
        return nil, problem
      end
      return host_remove(resolved)
    end)
    lib.rename = while_live(g, "os.rename", function(from, to)
      local source, problem = checked_path(g, "os.rename", from, g.write)
      if source == nil then
        return nil, problem
      end
      local target
      target, problem = checked_path(g, "os.rename", to, g.write)
      if target == nil then
        return nil, problem
      end
      return host_rename(source, target)
    end)
  end
  return lib
end

-- require with the `require` capability: the modules the policy names, each
-- seen through a read-only view (the module table is shared with the host)
local function require_function(g)
  local views = {}
  return function(name)
    if not g.live then
      revoked(g, "require")
    end
    if type(name) ~= "string" then
      error("require: argument 'name' must be a module name string, got " .. describe(name), 2)
    end
    if not g.modules[name] then
      error(string_format("require: plugin %q may not load module %q (the policy allows: %s)", g.id, name,
        g.modules_text), 2)
    end
    local module = host_require(name)
    if type(module) ~= "table" then
      return module
    end
    local v = views[name]
    if v == nil then
      v = view(module, "module " .. name)
      views[name] = v
    end
    return v
  end
end

--- env(g, pieces): a sandboxed plugin's globals. pieces.print_log(message)
--- takes print's lines; pieces.host_globals lists what `host` shows (nil:
--- every non-standard global of the host).
function sandbox.env(g, pieces)
  local env = copy(BASE)
  env.setmetatable, env.getmetatable, env.rawset, env.rawget = metatable_functions()
  if g.limited then
    env.pcall = function(fn, ...)
      return rethrow(g, pcall(fn, ...))
    end
    env.xpcall = function(fn, handler, ...)
      -- Lua runs the handler of an error raised in a hook with hooks off:
      -- after a quota error, the plugin's handler must not run at all
      return rethrow(g, xpcall(fn, function(problem)
        if g.exceeded ~= nil then
          return problem
        end
        return handler(problem)
      end, ...))
    end
  else
    env.pcall, env.xpcall = pcall, xpcall
  end
  env.string = view(g.limited and LIBRARIES.priced_string or LIBRARIES.string, "string")
  env.table = view(LIBRARIES.table, "table")
  env.math = view(LIBRARIES.math, "math")
  if LIBRARIES.utf8 then
    env.utf8 = view(LIBRARIES.utf8, "utf8")
  end
  env.coroutine = view(coroutine_library(g), "coroutine")
  env.os = view(os_library(g), "os")
  local caps = g.capabilities
  if caps["fs:read"] or caps["fs:write"] or caps["os:exec"] then
    env.io = view(io_library(g), "io")
  end
  if caps.require then
    env.require = require_function(g)
  end
  if caps.debug and debug then
    env.debug = debug
  end
  env.print = print_function(g, pieces.print_log)
  env.load = load_function(g, env)
  env._G = env
  local meta = { __metatable = false }
  if caps.host then
    local shown = nil
    if pieces.host_globals then
      shown = {}
      for _, name in ipairs(pieces.host_globals) do
        shown[name] = true
      end
    end
    meta.__index = function(_, key)
      if STANDARD[key] or (shown and not shown[key]) then
        return nil
      end
      if not g.live then
        revoked(g, "host global " .. tostring(key))
      end
      return host_G[key]
    end
  end
  return setmetatable(env, meta)
end

--- guard_state(grant, id, root, on_quota): the per-plugin record the
--- functions above close over. `grant` is what Rust admitted.
function sandbox.new_guard(grant, id, root)
  local capabilities = {}
  for _, name in ipairs(grant.capabilities) do
    capabilities[name] = true
  end
  local modules, module_names = {}, {}
  for _, name in ipairs(grant.modules) do
    modules[name] = true
    module_names[#module_names + 1] = name
  end
  local limits = grant.limits
  local limited = (limits.instructions or limits.time_ms or limits.depth) ~= nil
  if limited and debug_sethook == nil then
    error("qtforge: quotas need the debug library, which this host does not have", 0)
  end
  if limited then
    price_string_methods()
  end
  local parts = {}
  for _, name in ipairs({ "instructions", "time_ms", "depth" }) do
    if limits[name] then
      parts[#parts + 1] = name .. " = " .. limits[name]
    end
  end
  return {
    id = id,
    root = root,
    live = true,
    trust = grant.trust,
    capabilities = capabilities,
    capability_list = grant.capabilities,
    modules = modules,
    modules_text = #module_names > 0 and table_concat(module_names, ", ") or "none",
    read = grant.read,
    write = grant.write,
    limits = limits,
    limits_text = table_concat(parts, ", "),
    limited = limited,
    step = limits.instructions and math_min(limits.instructions, STEP) or STEP,
    used = 0,
    quota_failures = 0,
    sources = {},
    -- chunks the plugin loads with load() are named with this prefix
    load_prefix = "=(" .. id .. ") ",
    guarded = setmetatable({}, { __mode = "k" }),
  }
end

--- revoke(g): what was handed out stops working.
function sandbox.revoke(g)
  g.live = false
end

--- What a sandboxed plugin gets from ctx.require("qtforge"): the parts of
--- qtforge that carry no authority.
function sandbox.safe_api(pieces)
  local api = {
    utils = view({ Version = view(pieces.Version, "Version", true) }, "qtforge.utils"),
    communication = view({
      Message = view(pieces.Message, "Message", true),
      ServiceContract = view(pieces.ServiceContract, "ServiceContract", true),
      STOP = pieces.STOP,
    }, "qtforge.communication"),
    Error = view(pieces.Error, "Error", true),
  }
  return view(api, "qtforge")
end

return sandbox
