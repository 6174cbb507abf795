--- qtforge.openresty: qtforge inside nginx with lua-nginx-module (OpenResty).
---
--- One PluginManager per worker, made by init_worker() from init_worker_by_lua;
--- a timer drives it (bus flush, plugin updates, hot reload); plugin logs go to
--- ngx.log; plugins that declare `host` see `ngx`; plugin exports named after
--- nginx phases run from run_phase(); and messages whose headers say
--- `broadcast = true` reach every worker's bus through a lua_shared_dict
--- (the bus hands them to MessageBus:on_broadcast, the bridge sends them).
--- docs/openresty.md says what each part guarantees.
-- luacheck: read globals ngx

local qtforge = require("qtforge")

local error, ipairs, load, pairs, pcall, rawget, setmetatable, tostring, type = error, ipairs, load, pairs, pcall,
  rawget, setmetatable, tostring, type
local math_floor, math_huge, math_type = math.floor, math.huge, math.type -- math.type: nil under LuaJIT
local string_format = string.format
local table_concat, table_sort = table.concat, table.sort

local Message = qtforge.communication.Message

local M = {}

-- phase exports run in this order of names; the first three may end the request
local PHASES = { "rewrite", "access", "content", "header_filter", "body_filter", "log" }
local IS_PHASE, ENDS_REQUEST = {}, { rewrite = true, access = true, content = true }
for _, phase in ipairs(PHASES) do
  IS_PHASE[phase] = true
end

-- qtforge's capability defaults (docs/security.md), plus host
local DEFAULT_GRANT = { "log", "bus:publish", "bus:subscribe", "config:read", "config:write", "native", "host" }

local OPTIONS = {
  plugins = true, -- a string or a list of strings
  shared_dict = "string",
  interval = "number",
  ring = "number",
  hot_reload = "boolean",
  reload = "table",
  security = "table",
  grant = "table",
  host_globals = "table",
  log_level = "string",
  autostart = "boolean",
  bus = "table",
  config = "table",
  resources = "table",
  logging = "table",
}

local LEVEL_RANK = { trace = 1, debug = 2, info = 3, warn = 4, error = 5 }

-- the bridge's keys in its lua_shared_dict: the last sequence number, and the ring's slots
local SEQ_KEY = "seq"
local SLOT_PREFIX = "m"
-- a slot whose sequence number was taken but never written (its writer died
-- between incr and set, or the dict was full) is skipped after this long
local STALL_SECONDS = 1
local MAX_DEPTH = 32

-- this worker's adapter: nil until init_worker
local worker = nil

-- qtforge's levels as ngx.log's, made on first use: ngx may be missing when
-- this module is loaded outside nginx
local NGX_LEVELS = nil

local function ngx_level(level)
  if NGX_LEVELS == nil then
    NGX_LEVELS = { trace = ngx.DEBUG, debug = ngx.DEBUG, info = ngx.INFO, warn = ngx.WARN, error = ngx.ERR }
  end
  return NGX_LEVELS[level] or ngx.ERR
end

-- " k=v" pairs, sorted, for a log line
local function format_fields(fields)
  if type(fields) ~= "table" then
    return ""
  end
  local parts = {}
  for key, value in pairs(fields) do
    parts[#parts + 1] = " " .. tostring(key) .. "=" .. tostring(value)
  end
  table_sort(parts)
  return table_concat(parts)
end

-- the manager's `log` option: plugin and manager lines to ngx.log
local function ngx_logger(min_rank)
  return function(level, source, message, fields)
    if (LEVEL_RANK[level] or 5) < min_rank then
      return
    end
    ngx.log(ngx_level(level), "qtforge [", tostring(source or "qtforge"), "] ", tostring(message),
      format_fields(fields))
  end
end

local function log(level, ...)
  ngx.log(level, "qtforge.openresty: ", ...)
end

-- an error raised for this module's line, reworded for its caller
local function without_position(message)
  return (tostring(message):gsub("^[^\n]-:%d+: ", "", 1))
end

---------------------------------------------------------------------------
-- Serialization of bridged messages: a Lua table constructor, read back with
-- load() in an empty environment. Exact for strings (any bytes), numbers
-- (integers, %.17g floats, inf, nan), booleans and tables of them with such
-- keys, where JSON would turn number keys into strings and round floats.
---------------------------------------------------------------------------

local function encode_number(value)
  if value ~= value then
    return "0/0"
  elseif value == math_huge then
    return "1/0"
  elseif value == -math_huge then
    return "-1/0"
  elseif math_type ~= nil then
    -- Lua 5.4: integers exact, and a float stays a float ("3.0", "-0.0")
    if math_type(value) == "integer" then
      -- "-9223372036854775808" would read back as a float: its digits overflow first
      return value == math.mininteger and "0x8000000000000000" or string_format("%d", value)
    end
    local text = string_format("%.17g", value)
    return text:find("[%.eEn]") and text or text .. ".0"
  elseif value == 0 and 1 / value < 0 then
    return "-0.0"
  elseif value == math_floor(value) and value > -2 ^ 53 and value < 2 ^ 53 then
    return string_format("%d", value)
  end
  return string_format("%.17g", value)
end

local function encode_into(out, value, depth, path)
  local kind = type(value)
  if kind == "string" then
    out[#out + 1] = string_format("%q", value)
  elseif kind == "number" then
    out[#out + 1] = encode_number(value)
  elseif kind == "boolean" then
    out[#out + 1] = value and "true" or "false"
  elseif kind == "nil" then
    out[#out + 1] = "nil"
  elseif kind == "table" then
    if depth >= MAX_DEPTH then
      error("the value nests more than " .. MAX_DEPTH .. " tables (a cycle?)", 0)
    end
    out[#out + 1] = "{"
    for key, item in pairs(value) do
      local key_kind = type(key)
      if (key_kind ~= "string" and key_kind ~= "number" and key_kind ~= "boolean") or key ~= key then
        error(path .. " has a key of type " .. key_kind, 0)
      end
      out[#out + 1] = "["
      encode_into(out, key, depth + 1, path)
      out[#out + 1] = "]="
      encode_into(out, item, depth + 1, path .. "." .. tostring(key))
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error(path .. " is a " .. kind .. ", which cannot cross to another worker", 0)
  end
end

--- encode(value, name): its text, or nil and what is wrong (a function,
--- userdata, a cycle, a key of another type), naming the place in `name`
--- (default "value"). decode(text) reads it back.
function M.encode(value, name)
  local out = {}
  local ok, problem = pcall(encode_into, out, value, 0, name or "value")
  if not ok then
    return nil, problem
  end
  return table_concat(out)
end

local EMPTY_ENV = setmetatable({}, { __newindex = function() error("read-only", 2) end })

-- Whether the text between two strings holds only literals: no name but
-- true/false/nil, field names (`name =`) and hex integers (and e/E in
-- numbers), no parenthesis or ':' to call with, no comment or long bracket
-- that could hide a quote.
local function literal_stretch(stretch)
  if stretch:find("--", 1, true) or stretch:find("%[[%[=]") then
    return false
  end
  stretch = stretch:gsub("%f[%w_][%a_][%w_]*%s*=", "="):gsub("%f[%w]0[xX]%x+", "")
  stretch = stretch:gsub("%f[%a]true%f[%A]", ""):gsub("%f[%a]false%f[%A]", ""):gsub("%f[%a]nil%f[%A]", "")
  return stretch:find("[^%s%d%.%+%-eE{}%[%]=,/]") == nil
end

-- Whether `text` is only what encode() writes: double-quoted strings and, between
-- them, literals. Nothing in such text can call a function, so decoding it
-- cannot loop or reach string methods.
local function literal_only(text)
  local at, length = 1, #text
  while at <= length do
    local quote = text:find('"', at, true)
    if not literal_stretch(text:sub(at, (quote or length + 1) - 1)) then
      return false
    end
    if quote == nil then
      return true
    end
    -- to the closing quote, over escapes
    at = quote + 1
    while true do
      local stop = text:find('["\\]', at)
      if stop == nil then
        return false
      elseif text:sub(stop, stop) == '"' then
        at = stop + 1
        break
      end
      at = stop + 2
    end
  end
  return true
end

function M.decode(text)
  if type(text) ~= "string" then
    error("qtforge.openresty.decode: argument 'text' must be a string, got " .. type(text), 2)
  end
  if not literal_only(text) then
    return nil, "not a value encode() wrote: only literals may appear"
  end
  local chunk, problem = load("return " .. text, "=qtforge.openresty", "t", EMPTY_ENV)
  if chunk == nil then
    return nil, problem
  end
  local ok, value = pcall(chunk)
  if not ok then
    return nil, value
  end
  return value
end

-- a message's body on the wire (everything but the bridge's own fields)
local function encode_body(message)
  local data, problem = M.encode(message.data, "data")
  if data == nil then
    return nil, problem
  end
  local headers
  headers, problem = M.encode(rawget(message, "headers") or {}, "headers")
  if headers == nil then
    return nil, problem
  end
  local sender, timestamp = message.sender, message.timestamp
  return string_format("{t=%q,f=%s,ts=%s,d=%s,h=%s}", message.type,
    type(sender) == "string" and string_format("%q", sender) or "nil",
    type(timestamp) == "number" and string_format("%.17g", timestamp) or "nil", data, headers)
end

---------------------------------------------------------------------------
-- The bus bridge: a sequence counter and a ring of slots in a lua_shared_dict.
---------------------------------------------------------------------------

local function slot_key(bridge, seq)
  return SLOT_PREFIX .. (seq % bridge.ring)
end

-- Sends a message this worker's bus carried to the other workers.
local function bridge_send(bridge, message, body)
  local problem
  if body == nil then
    body, problem = encode_body(message)
    if body == nil then
      bridge.stats.errors = bridge.stats.errors + 1
      log(ngx.ERR, "broadcast ", tostring(message.type), " stays in this worker: ", problem)
      return
    end
  end
  local dict = bridge.dict
  local seq, err = dict:incr(SEQ_KEY, 1, 0)
  if seq == nil then
    bridge.stats.errors = bridge.stats.errors + 1
    log(ngx.ERR, "broadcast ", tostring(message.type), " stays in this worker: shared dict: ", tostring(err))
    return
  end
  -- stamped on a copy: the headers may be a table the sender reuses
  local headers = {}
  for key, value in pairs(message.headers) do
    headers[key] = value
  end
  headers.broadcast_seq, headers.broadcast_worker = seq, bridge.worker_id
  message.headers = headers
  -- safe_set never evicts another key (the counter above all) to make room
  local ok
  ok, err = dict:safe_set(slot_key(bridge, seq), string_format("{s=%d,p=%d,w=%d,m=%s}", seq, bridge.pid,
    bridge.worker_id, body))
  if not ok then
    bridge.stats.errors = bridge.stats.errors + 1
    log(ngx.ERR, "broadcast ", seq, " (", tostring(message.type), ") stays in this worker: shared dict: ",
      tostring(err), "; make lua_shared_dict ", bridge.name, " larger or the ring smaller")
    return
  end
  bridge.stats.sent = bridge.stats.sent + 1
end

-- The bus's on_broadcast listener: a broadcast not yet sequenced (so neither
-- one that came from another worker nor one already sent) goes out.
local function bridge_observer(bridge)
  return function(message)
    if message.headers.broadcast_seq == nil then
      bridge_send(bridge, message, bridge.bodies[message])
    end
  end
end

local function deliver(bridge, bus, wire)
  local body = wire.m
  local message = Message({ type = body.t, data = body.d, sender = body.f, headers = body.h })
  message.timestamp = body.ts
  message.headers.broadcast_seq, message.headers.broadcast_worker = wire.s, wire.w
  bridge.stats.received = bridge.stats.received + 1
  local ok, problem = pcall(bus.publish, bus, message)
  if not ok then
    log(ngx.ERR, "broadcast ", wire.s, " from worker ", wire.w, " not delivered: ", tostring(problem))
  end
end

-- Delivers, in sequence order, what other workers broadcast since the last call.
local function bridge_poll(bridge, bus)
  local dict, stats = bridge.dict, bridge.stats
  local last = dict:get(SEQ_KEY) or 0
  if last < bridge.seen then
    -- what was broadcast since the flush is in slots 1..last: read it all
    log(ngx.WARN, "the bus bridge's counter went back from ", bridge.seen, " to ", last,
      " (shared dict flushed?); reading from its start again")
    bridge.seen = 0
  end
  if last - bridge.seen > bridge.ring then
    local lost = last - bridge.ring - bridge.seen
    stats.lost = stats.lost + lost
    log(ngx.WARN, lost, " broadcast(s) were overwritten before this worker read them (ring of ", bridge.ring,
      " slots); raise `ring` or lower `interval`")
    bridge.seen = last - bridge.ring
  end
  while bridge.seen < last do
    local seq = bridge.seen + 1
    local text = dict:get(slot_key(bridge, seq))
    local wire, problem
    if text ~= nil then
      wire, problem = M.decode(text)
      if type(wire) ~= "table" or type(wire.s) ~= "number" or type(wire.m) ~= "table" then
        stats.errors = stats.errors + 1
        log(ngx.ERR, "broadcast ", seq, " does not read (", tostring(problem or "not a message"), "); skipped")
        wire = { s = seq }
      end
    end
    if wire == nil or wire.s < seq then
      -- its number is taken, its slot not written yet: wait, a while
      local now = ngx.now()
      if bridge.stalled_since == nil then
        bridge.stalled_since = now
        return
      elseif now - bridge.stalled_since < STALL_SECONDS then
        return
      end
      stats.lost = stats.lost + 1
      log(ngx.WARN, "broadcast ", seq, " was never written to the shared dict; skipped")
    elseif wire.s > seq then
      stats.lost = stats.lost + 1
      log(ngx.WARN, "broadcast ", seq, " was overwritten before this worker read it; raise `ring`")
    elseif wire.p ~= bridge.pid and wire.m ~= nil then
      deliver(bridge, bus, wire)
    end
    bridge.stalled_since = nil
    bridge.seen = seq
  end
end

---------------------------------------------------------------------------
-- Phases
---------------------------------------------------------------------------

-- The ids of the running plugins exporting `phase`, in load order. Rebuilt
-- after any plugin event (a reload included).
local function chain_of(state, phase)
  local chain = state.chains[phase]
  if chain ~= nil then
    return chain
  end
  chain = { ids = {} }
  for _, handle in ipairs(state.manager:plugins()) do
    if handle:state() == "running" and type(handle.exports[phase]) == "function" then
      local id = handle:id()
      chain[#chain + 1] = id
      chain.ids[id] = true
    end
  end
  state.chains[phase] = chain
  return chain
end

--- run_phase(phase, required): calls the `phase` export of every running
--- plugin, in load order, with ngx.ctx. In rewrite, access and content a
--- number returned ends the chain and the phase with ngx.exit(number), and an
--- error ends the request with 500; in the filter and log phases every plugin
--- runs, and an error is logged and skipped. `required`, a list of plugin ids,
--- ends the request with 503 when one of them is not running with this export.
function M.run_phase(phase, required)
  if not IS_PHASE[phase] then
    error("qtforge.openresty.run_phase: unknown phase " .. tostring(phase) .. " (known: "
      .. table_concat(PHASES, ", ") .. ")", 2)
  end
  if required ~= nil and type(required) ~= "table" then
    error("qtforge.openresty.run_phase: argument 'required' must be nil or a list of plugin ids, got "
      .. type(required), 2)
  end
  local state = worker
  local ends = ENDS_REQUEST[phase]
  if state == nil or state.closed then
    -- fail closed: an access phase without its plugins must not let requests through
    log(ngx.ERR, "run_phase(\"", phase, "\") in a worker without a manager (init_worker() failed, or exit_worker())")
    if ends then
      return ngx.exit(state and ngx.HTTP_SERVICE_UNAVAILABLE or ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    return
  end
  local chain = chain_of(state, phase)
  if required ~= nil then
    for i = 1, #required do
      if not chain.ids[required[i]] then
        log(ngx.ERR, "run_phase(\"", phase, "\"): required plugin \"", tostring(required[i]),
          "\" is not running or exports no ", phase)
        if ends then
          return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
        end
      end
    end
  end
  if chain[1] == nil then
    return
  end
  local request, manager = ngx.ctx, state.manager
  for i = 1, #chain do
    -- through manager:call, so a metrics collector counts phase calls too
    local id = chain[i]
    local ok, result = pcall(manager.call, manager, id, phase, request)
    if not ok then
      log(ngx.ERR, "plugin \"", id, "\" failed in ", phase, ": ", tostring(result))
      if ends then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
      end
    elseif ends and type(result) == "number" then
      return ngx.exit(result)
    end
  end
end

---------------------------------------------------------------------------
-- The worker's manager and its timer
---------------------------------------------------------------------------

local function tick(premature)
  local state = worker
  if premature or state == nil or state.closed then
    return
  end
  state.ticks = state.ticks + 1
  local now = ngx.now()
  local dt = now - state.last_tick
  state.last_tick = now
  if state.bridge ~= nil then
    local ok, problem = pcall(bridge_poll, state.bridge, state.manager:bus())
    if not ok then
      log(ngx.ERR, "bus bridge: ", tostring(problem))
    end
  end
  if state.reloader ~= nil then
    local ok, problem = pcall(state.reloader.poll, state.reloader)
    if not ok then
      log(ngx.ERR, "hot reload: ", tostring(problem))
    end
  end
  local ok, problem = pcall(state.manager.update_all_plugins, state.manager, dt > 0 and dt or 0)
  if not ok then
    log(ngx.ERR, "update_all_plugins: ", tostring(problem))
  end
end

local function check_options(opts)
  if type(opts) ~= "table" then
    error("qtforge.openresty.init_worker: argument 'opts' must be a table, got " .. type(opts), 3)
  end
  for key, value in pairs(opts) do
    local expected = OPTIONS[key]
    if expected == nil then
      local known = {}
      for name in pairs(OPTIONS) do
        known[#known + 1] = name
      end
      table_sort(known)
      error("qtforge.openresty.init_worker: unknown option " .. tostring(key) .. " (known: "
        .. table_concat(known, ", ") .. ")", 3)
    end
    if expected ~= true and type(value) ~= expected then
      error(string_format("qtforge.openresty.init_worker: option '%s' must be a %s, got %s", key, expected,
        type(value)), 3)
    end
  end
  local dirs = opts.plugins
  if type(dirs) == "string" then
    dirs = { dirs }
  elseif dirs == nil then
    dirs = {}
  elseif type(dirs) ~= "table" then
    error("qtforge.openresty.init_worker: option 'plugins' must be a folder or a list of folders", 3)
  end
  for i, dir in ipairs(dirs) do
    if type(dir) ~= "string" then
      error("qtforge.openresty.init_worker: option 'plugins'[" .. i .. "] must be a string", 3)
    end
  end
  if opts.interval ~= nil and not (opts.interval > 0 and opts.interval < math_huge) then
    error("qtforge.openresty.init_worker: option 'interval' must be a positive number of seconds", 3)
  end
  if opts.ring ~= nil and not (opts.ring >= 1 and opts.ring < 2 ^ 31 and opts.ring == math_floor(opts.ring)) then
    error("qtforge.openresty.init_worker: option 'ring' must be a positive integer", 3)
  end
  if opts.log_level ~= nil and LEVEL_RANK[opts.log_level] == nil then
    error("qtforge.openresty.init_worker: option 'log_level' must be trace, debug, info, warn or error", 3)
  end
  if opts.security ~= nil and (opts.grant ~= nil or opts.host_globals ~= nil) then
    error("qtforge.openresty.init_worker: give option 'security', or 'grant'/'host_globals', not both", 3)
  end
  return dirs
end

local function default_security(opts)
  local grant, seen = {}, {}
  for _, list in ipairs({ DEFAULT_GRANT, opts.grant or {} }) do
    for _, name in ipairs(list) do
      if not seen[name] then
        seen[name] = true
        grant[#grant + 1] = name
      end
    end
  end
  return qtforge.security.SecurityManager({ grant = grant, host_globals = opts.host_globals or { "ngx" } })
end

--- init_worker(opts): this worker's PluginManager, from init_worker_by_lua.
--- opts: plugins (a folder or a list: each loaded with load_directory and
--- watched), shared_dict (the bus bridge's lua_shared_dict; none: no
--- bridge), interval (the timer's period, default 0.1 s), ring (the bridge's
--- slots, default 1024), hot_reload (default true), reload (options of
--- PluginHotReloadManager), security, or grant and host_globals for the
--- default policy, log_level (default "info"), and autostart, bus, config,
--- resources, logging as PluginManager takes them. Returns the manager and
--- the load results.
function M.init_worker(opts)
  if ngx == nil or ngx.timer == nil then
    error("qtforge.openresty.init_worker: runs inside nginx with lua-nginx-module (init_worker_by_lua)", 2)
  end
  if ngx.get_phase() == "init" then
    -- a manager made in the master would be shared by the forks, its watcher thread by none
    error("qtforge.openresty.init_worker: call it from init_worker_by_lua, not init_by_lua", 2)
  end
  opts = opts or {}
  local dirs = check_options(opts)
  if worker ~= nil then
    error("qtforge.openresty.init_worker: this worker already has its manager", 2)
  end
  local worker_id = ngx.worker.id() or -1
  local manager_opts = {
    autostart = opts.autostart,
    bus = opts.bus,
    config = opts.config,
    resources = opts.resources,
    security = opts.security or default_security(opts),
  }
  local dict = nil
  if opts.shared_dict ~= nil then
    dict = ngx.shared[opts.shared_dict]
    if dict == nil then
      error("qtforge.openresty.init_worker: no lua_shared_dict " .. opts.shared_dict .. " in nginx.conf", 2)
    end
  end
  local logger = ngx_logger(LEVEL_RANK[opts.log_level or "info"])
  manager_opts.logging = opts.logging
  if opts.logging == nil then
    manager_opts.log = logger
  end
  -- the objects given for the manager (bus, config...) are checked by it
  local made, manager = pcall(qtforge.core.PluginManager, manager_opts)
  if not made then
    error("qtforge.openresty.init_worker: " .. without_position(manager), 2)
  end
  if opts.logging ~= nil then
    opts.logging:add_sink({
      type = "callback",
      fn = function(record)
        logger(record.level, record.logger, record.message, record.fields)
      end,
    })
  end
  local state = {
    manager = manager,
    chains = {},
    ticks = 0,
    last_tick = ngx.now(),
    interval = opts.interval or 0.1,
    worker_id = worker_id,
  }

  -- any plugin event may change who exports which phase
  manager:on_event(function()
    state.chains = {}
  end)

  if dict ~= nil then
    local bridge = {
      name = opts.shared_dict,
      dict = dict,
      ring = opts.ring or 1024,
      pid = ngx.worker.pid(),
      worker_id = worker_id,
      -- a worker hears what is broadcast after it started
      seen = dict:get(SEQ_KEY) or 0,
      stalled_since = nil,
      bodies = setmetatable({}, { __mode = "k" }),
      stats = { sent = 0, received = 0, lost = 0, errors = 0 },
    }
    state.bridge = bridge
    manager:bus():on_broadcast(bridge_observer(bridge))
  end

  -- made before any plugin loads: options it refuses leave nothing running
  local reloader = nil
  if opts.hot_reload ~= false and dirs[1] ~= nil then
    local ok
    ok, reloader = pcall(qtforge.monitoring.PluginHotReloadManager, manager, opts.reload)
    if not ok then
      manager:shutdown()
      error("qtforge.openresty.init_worker: " .. without_position(reloader), 2)
    end
  end

  local results = {}
  for _, dir in ipairs(dirs) do
    for _, result in ipairs(manager:load_directory(dir)) do
      results[#results + 1] = result
      if not result.success then
        log(ngx.ERR, "plugin ", tostring(result.plugin_id or result.path), " did not load: ", tostring(result.error))
      end
    end
  end

  if reloader ~= nil then
    for _, dir in ipairs(dirs) do
      local ok, err = reloader:watch_directory(dir)
      if not ok then
        log(ngx.ERR, "cannot watch ", dir, " for changes: ", tostring(err))
      end
    end
    reloader:on_plugin_reloaded(function(id)
      log(ngx.NOTICE, "plugin \"", id, "\" reloaded in worker ", worker_id)
    end)
    reloader:on_reload_failed(function(id, err)
      log(ngx.ERR, "plugin \"", tostring(id), "\" did not reload in worker ", worker_id,
        "; the running version stays: ", tostring(err))
    end)
    reloader:on_watch_error(function(message)
      log(ngx.WARN, "plugin watcher: ", tostring(message))
    end)
    state.reloader = reloader
  end

  local ok, err = ngx.timer.every(state.interval, tick)
  if not ok then
    -- no timer, no worker: the plugins that started stop again
    if reloader ~= nil then
      reloader:close()
    end
    manager:shutdown()
    error("qtforge.openresty.init_worker: ngx.timer.every failed: " .. tostring(err), 2)
  end
  worker = state
  log(ngx.NOTICE, "worker ", worker_id, " ready: ", table_concat(manager:load_order(), " "))
  return manager, results
end

--- manager(): this worker's PluginManager (nil before init_worker).
function M.manager()
  return worker and worker.manager
end

--- reloader(): this worker's PluginHotReloadManager, if hot reload is on.
function M.reloader()
  return worker and worker.reloader
end

--- publish(topic, data, opts): publishes on this worker's bus now; with
--- opts.broadcast the other workers' buses get it too, within one interval.
--- opts.headers adds headers. Returns how many handlers ran here.
function M.publish(topic, data, opts)
  local state = worker
  if state == nil then
    error("qtforge.openresty.publish: call init_worker() first", 2)
  end
  if type(topic) ~= "string" then
    error("qtforge.openresty.publish: argument 'topic' must be a string, got " .. type(topic), 2)
  end
  local headers = {}
  if opts ~= nil then
    if type(opts) ~= "table" or (opts.headers ~= nil and type(opts.headers) ~= "table") then
      error("qtforge.openresty.publish: argument 'opts' must be nil or a table { broadcast, headers }", 2)
    end
    for key, value in pairs(opts.headers or {}) do
      headers[key] = value
    end
  end
  local message = Message({ type = topic, data = data, headers = headers })
  if opts ~= nil and opts.broadcast then
    if state.bridge == nil then
      error("qtforge.openresty.publish: broadcast needs init_worker's shared_dict", 2)
    end
    headers.broadcast = true
    -- refuse here, before anything is delivered, what cannot cross
    local body, problem = encode_body(message)
    if body == nil then
      error("qtforge.openresty.publish: " .. problem, 2)
    end
    state.bridge.bodies[message] = body
  end
  return state.manager:bus():publish(message)
end

--- poll(): what the timer does, now: delivers other workers' broadcasts,
--- applies plugin changes on disk, updates the plugins and flushes the bus.
function M.poll()
  tick(false)
end

--- stats(): { ticks, interval, worker, bridge = { sent, received, lost, errors, seq } }.
function M.stats()
  local state = worker
  if state == nil then
    return nil
  end
  local result = { ticks = state.ticks, interval = state.interval, worker = state.worker_id }
  local bridge = state.bridge
  if bridge ~= nil then
    result.bridge = {
      sent = bridge.stats.sent,
      received = bridge.stats.received,
      lost = bridge.stats.lost,
      errors = bridge.stats.errors,
      seq = bridge.seen,
    }
  end
  return result
end

--- exit_worker(): from exit_worker_by_lua: stops watching, then stops and
--- unloads the plugins (on_stop, on_unload), latest loaded first.
function M.exit_worker()
  local state = worker
  if state == nil or state.closed then
    return
  end
  state.closed = true
  if state.reloader ~= nil then
    state.reloader:close()
  end
  state.manager:shutdown()
  log(ngx.NOTICE, "worker ", state.worker_id, " stopped: plugins unloaded")
end

M.PHASES = PHASES

return M
