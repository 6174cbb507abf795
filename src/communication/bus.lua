-- qtforge.communication: the Lua half of the message bus, request/response and
-- service contracts.
-- Rust (the router) parses patterns and answers, for a topic, which subscriptions
-- it reaches and in what order; it is asked when a subscription comes or goes and
-- the first time a topic is published on. Everything per message runs here, over
-- plain arrays of subscription records: publish, filter, delivery, requests and
-- service calls never cross into Rust in the steady state.
local native = ...

local error, getmetatable, ipairs, next, pairs, pcall, rawget, rawset, select, setmetatable, tostring, type =
  error, getmetatable, ipairs, next, pairs, pcall, rawget, rawset, select, setmetatable, tostring, type
local io_stderr = io.stderr
local math_floor, math_huge = math.floor, math.huge
local string_format = string.format
local table_sort = table.sort

local support = native.support
local describe, method_check, safe_tostring = support.describe, support.method_check, support.safe_tostring
local check_options, class, is_callable = support.check_options, support.class, support.is_callable
local Error = native.Error
local Version = native.Version
local new_router = native.new_router
local check_contract = native.check_contract
local satisfies = native.satisfies
local now = native.now
local monotonic = native.monotonic

--- Returned by a handler, stops delivery of the message to the handlers after it.
local STOP = setmetatable({}, {
  __name = "qtforge.communication.STOP",
  __tostring = function()
    return "qtforge.communication.STOP"
  end,
  __newindex = function()
    error("qtforge.communication.STOP is a constant", 2)
  end,
})

-- What a topic's route holds, per subscription in delivery order: the function
-- delivery calls (the handler itself, or a wrapper applying filter and once),
-- and in `records` the subscription, for error reports. Delivery is then a
-- loop over plain functions, which LuaJIT compiles well even when every
-- handler is a different function. Removing a subscription puts SKIP in its
-- place in every route holding it, including routes a publish is still walking.
local SKIPPED = setmetatable({}, { __name = "qtforge.communication.SKIPPED" })
local function SKIP()
  return SKIPPED
end
-- record.placed: the routes holding the record, and where; weak, so a route
-- dropped from the cache and no longer walked is collected
local WEAK_KEYS = { __mode = "k" }

-- shared by every topic nobody listens to; never written
local NO_HANDLERS = { records = {} }

-- message and request ids: unique within this Lua state
local last_id = 0

local DEFAULT_REQUEST_TIMEOUT = 30
-- integers every Lua and the router's i64 agree on
local MAX_PRIORITY = 2 ^ 53
local DEFAULT_MAX_QUEUE = 100000

local function failure(err)
  return { success = false, error = err }
end

local function is_integer(value)
  return type(value) == "number" and value == math_floor(value) and value > -math_huge and value < math_huge
end

local function default_log(level, source, message)
  if level == "warn" or level == "error" then
    io_stderr:write(string_format("qtforge [%s] %s: %s\n", level, source, message))
  end
end

---------------------------------------------------------------------------
-- Message
---------------------------------------------------------------------------

local Message = { __name = "qtforge.communication.Message" }

-- A message the bus builds for publish(type, data) reads the clock and makes
-- its headers table only when asked: a clock read on every publish would cost
-- more than the delivery (on some machines it is a system call).
function Message.__index(message, key)
  if key == "timestamp" then
    local stamp = now()
    rawset(message, "timestamp", stamp)
    return stamp
  elseif key == "headers" then
    local headers = {}
    rawset(message, "headers", headers)
    return headers
  end
  return nil
end

function Message.__tostring(message)
  return string_format("qtforge.communication.Message(%s, id %s)", describe(rawget(message, "type")),
    tostring(rawget(message, "id")))
end

local MESSAGE_FIELDS = { type = "string", data = true, sender = "string", headers = "table" }

local function new_message(level, fields)
  local message = {}
  if fields ~= nil then
    if type(fields) ~= "table" then
      error("Message: argument 'fields' must be a table or nil, got " .. describe(fields), level + 1)
    end
    for key, value in pairs(fields) do
      local expected = MESSAGE_FIELDS[key]
      if expected == nil then
        error(string_format("Message: unknown field %s (known: data, headers, sender, type)", describe(key)), level + 1)
      end
      if expected ~= true and type(value) ~= expected then
        error(string_format("Message: field '%s' must be a %s, got %s", key, expected, describe(value)), level + 1)
      end
      message[key] = value
    end
  end
  last_id = last_id + 1
  message.id = last_id
  message.timestamp = now()
  if message.headers == nil then
    message.headers = {}
  end
  return setmetatable(message, Message)
end

---------------------------------------------------------------------------
-- MessageBus
---------------------------------------------------------------------------

local Bus = { __name = "qtforge.communication.MessageBus" }
Bus.__index = Bus
Bus.STOP = STOP

local Subscription = { __name = "qtforge.communication.Subscription" }
local SubscriptionMethods = {}
Subscription.__index = SubscriptionMethods

local check_bus = method_check(Bus, "a MessageBus")
local check_subscription = method_check(Subscription, "a subscription")

local BUS_OPTIONS = { log = "function", on_error = "function", max_queue = "number", route_cache = "number" }
local SUBSCRIBE_OPTIONS = { priority = "number", once = "boolean", filter = "function" }

local function new_bus(level, opts)
  opts = check_options("MessageBus", opts, BUS_OPTIONS, level + 1)
  for _, name in ipairs({ "max_queue", "route_cache" }) do
    local value = opts[name]
    if value ~= nil and (not is_integer(value) or value < 1) then
      error(string_format("MessageBus: option '%s' must be a positive integer, got %s", name, tostring(value)),
        level + 1)
    end
  end
  local self = setmetatable({
    _router = new_router(opts.route_cache),
    _subs = {}, -- subscription id -> record
    _routes = {}, -- topic -> array of records, in delivery order
    _slot_topics = {}, -- router slot -> topic of a route in _routes
    _queue = {},
    _max_queue = opts.max_queue or DEFAULT_MAX_QUEUE,
    _log = opts.log or default_log,
    _error_listeners = {},
    _broadcast_listeners = {},
    _published = 0,
    _delivered = 0,
    _errors = 0,
    _posted = 0,
    _rr = nil, -- the bus's RequestResponseSystem, made on first use
    _batch_state = nil, -- see deliver_batched
  }, Bus)
  if opts.on_error then
    self._error_listeners[1] = opts.on_error
  end
  return self
end

-- the router says which topics' arrays a change made stale: drop them, and the
-- next publish on each asks again. A publish under way keeps the array it has.
local function drop_routes(self, slots)
  local routes, slot_topics = self._routes, self._slot_topics
  for i = 1, #slots do
    local slot = slots[i]
    local topic = slot_topics[slot]
    if topic ~= nil then
      routes[topic] = nil
      slot_topics[slot] = nil
    end
  end
end

-- What a route's array holds for a subscription: its call, or, while its
-- plugin's messages are counted (metrics), a call that counts each delivery.
-- Chosen when the array is made, so a bus without metrics pays nothing.
local function delivered_call(record)
  local owner = record.owner
  local counts = owner and owner._counts
  if counts == nil then
    return record.call
  end
  if record.counted_for ~= counts then
    local call = record.call
    record.counted_call = function(message)
      counts.received = counts.received + 1
      local result = call(message)
      if result == SKIPPED then
        -- its filter turned the message away
        counts.received = counts.received - 1
      end
      return result
    end
    record.counted_for = counts
  end
  return record.counted_call
end

-- While a transaction holds the bus's messages, its routes table keeps
-- nothing, so that every publish takes the slow path, where it is held.
local function unrouted()
  return setmetatable({}, { __newindex = function() end })
end

-- The array of records a publish on `topic` runs, from the router.
-- The route of `topic`, or nil and what is wrong with the topic.
local function find_route(self, topic)
  if type(topic) ~= "string" then
    return nil, "argument 'topic' must be a string, got " .. describe(topic)
  end
  local slot, ids, cleared = self._router:route(topic)
  if slot == nil then
    return nil, ids
  end
  if cleared then
    self._routes, self._slot_topics = self._held and unrouted() or {}, {}
  end
  local list = NO_HANDLERS
  if #ids > 0 then
    local records = {}
    list = { records = records }
    local subs = self._subs
    for i = 1, #ids do
      local record = subs[ids[i]]
      records[i] = record
      list[i] = delivered_call(record)
      record.placed[list] = i
    end
  end
  self._routes[topic] = list
  self._slot_topics[slot] = topic
  return list
end

local function route(self, topic, fname, level)
  local list, problem = find_route(self, topic)
  if list == nil then
    error(fname .. ": " .. problem, level + 1)
  end
  return list
end

local function remove_subscription(record)
  if not record.live then
    return false
  end
  record.live = false
  -- publishes under way skip it from here on
  for list, index in pairs(record.placed) do
    list[index] = SKIP
  end
  local bus = record.bus
  bus._subs[record.id] = nil
  local owner = record.owner
  if owner ~= nil then
    owner._subscriptions[record] = nil
  end
  local stale = bus._router:unsubscribe(record.id)
  if stale then
    drop_routes(bus, stale)
  end
  return true
end

-- A handler or filter failed: count it, tell the error listeners, log it.
local function report(self, record, message, problem, stage)
  self._errors = self._errors + 1
  local text = safe_tostring(problem)
  local err = Error("handler_error", string_format("%s of subscription %d (%q) failed on %q: %s", stage, record.id,
    record.pattern, tostring(message.type), text))
  err.subscription = record
  err.plugin_id = record.owner_id
  local listeners = self._error_listeners
  for i = 1, #listeners do
    local ok, problem_in_listener = pcall(listeners[i], err, message, record)
    if not ok then
      pcall(self._log, "error", "qtforge.bus", "error listener failed: " .. safe_tostring(problem_in_listener))
    end
  end
  pcall(self._log, "error", record.owner_id or "qtforge.bus", err.message)
end

-- Whether a handler with a filter or `once` runs: the filter protected (its
-- error reported as the filter's), and a once removed before it runs.
local function admit(self, record, message)
  local filter = record.filter
  if filter ~= nil then
    local ok, verdict = pcall(filter, message)
    if not ok then
      report(self, record, message, verdict, "filter")
      return false
    end
    if not verdict then
      return false
    end
  end
  if record.once then
    remove_subscription(record)
  end
  return true
end

-- Runs the handlers of one message, each protected: an error is reported and
-- the next handler runs. Returns how many handlers ran.
local function deliver_each(self, list, message)
  local ran = 0
  -- one handler, the common case, without a loop: under LuaJIT a loop of one
  -- iteration makes the trace compiler start (and give up) at it
  if list[2] == nil then
    local handler = list[1]
    if handler == nil then
      return 0
    end
    local ok, result = pcall(handler, message)
    if not ok then
      report(self, list.records[1], message, result, "handler")
      ran = 1
    elseif result ~= SKIPPED then
      ran = 1
    end
    self._delivered = self._delivered + ran
    return ran
  end
  for i = 1, #list do
    local ok, result = pcall(list[i], message)
    if not ok then
      ran = ran + 1
      report(self, list.records[i], message, result, "handler")
    elseif result ~= SKIPPED then
      ran = ran + 1
      if result == STOP then
        break
      end
    end
  end
  self._delivered = self._delivered + ran
  return ran
end

-- PUC Lua: a pcall costs more than the call it protects, so the handlers of a
-- longer list run under one pcall, which resumes after a failing handler. The
-- position is kept in a table of this delivery's own, so a handler that yields
-- or publishes in turn cannot disturb it. (LuaJIT compiles a pcall per handler
-- into the trace: there, deliver_each is the fast one.)
local BATCH_FROM = not jit and 3 or math_huge

-- at = { index of the handler running, handlers skipped }; returns the index
-- delivery stopped at
local function run_batch(list, message, at)
  local count = #list
  for i = at[1], count do
    at[1] = i
    local result = list[i](message)
    if result == SKIPPED then
      at[2] = at[2] + 1
    elseif result == STOP then
      return i
    end
  end
  return count
end

local function deliver_batched(self, list, message)
  -- the bus lends its state table to one delivery at a time; a nested (or
  -- yielded) one finds it lent out and makes its own
  local at = self._batch_state
  if at ~= nil then
    self._batch_state = nil
    at[1], at[2] = 1, 0
  else
    at = { 1, 0 }
  end
  local ok, last = pcall(run_batch, list, message, at)
  while not ok do
    local index = at[1]
    report(self, list.records[index], message, last, "handler")
    at[1] = index + 1
    ok, last = pcall(run_batch, list, message, at)
  end
  local ran = last - at[2]
  self._batch_state = at
  self._delivered = self._delivered + ran
  return ran
end

-- publish(type, data, headers) and post's: headers are a table or nothing
local function check_headers(fname, headers, level)
  if headers ~= nil and type(headers) ~= "table" then
    error(fname .. ": argument 'headers' must be a table or nil, got " .. describe(headers), level + 1)
  end
end

-- A message whose headers say `broadcast = true` goes to the on_broadcast
-- listeners (a host that carries it further) before its handlers run here.
local function broadcast(self, message)
  local headers = rawget(message, "headers")
  if headers == nil or headers.broadcast ~= true then
    return
  end
  local listeners = self._broadcast_listeners
  for i = 1, #listeners do
    local ok, problem = pcall(listeners[i], message)
    if not ok then
      self._errors = self._errors + 1
      pcall(self._log, "error", "qtforge.bus", "an on_broadcast listener failed on message "
        .. tostring(rawget(message, "id")) .. ": " .. safe_tostring(problem))
    end
  end
end

-- publish of a Message object, of a topic not yet routed, or with headers;
-- `sender` set by a plugin's bus
local function publish_slow(self, sender, fname, a, b, level, headers)
  local message, topic
  if type(a) == "string" then
    topic = a
    check_headers(fname, headers, level + 1)
  elseif getmetatable(a) == Message then
    message, topic = a, rawget(a, "type")
    if type(topic) ~= "string" then
      error(fname .. ": the message's 'type' must be a topic string, got " .. describe(topic), level + 1)
    end
    if b ~= nil or headers ~= nil then
      error(fname .. ": a message carries its data and headers: "
        .. "pass publish(message) or publish(type, data, headers)", level + 1)
    end
  else
    error(fname .. ": argument 1 must be a topic string or a qtforge.communication.Message, got " .. describe(a),
      level + 1)
  end
  local list = self._routes[topic] or route(self, topic, fname, level + 1)
  local held = self._held
  if held ~= nil then
    -- a transaction is open: the message goes out when it commits
    held[#held + 1] = { sender = sender, a = a, b = b, headers = headers }
    return 0
  end
  self._published = self._published + 1
  local listeners = self._broadcast_listeners[1] ~= nil
  if message == nil then
    if list[1] == nil and not listeners then
      return 0
    end
    last_id = last_id + 1
    message = setmetatable({ type = topic, data = b, id = last_id, sender = sender, headers = headers }, Message)
  elseif sender ~= nil then
    message.sender = sender
  end
  if listeners then
    broadcast(self, message)
  end
  if list[1] == nil then
    return 0
  elseif list[BATCH_FROM] ~= nil then
    return deliver_batched(self, list, message)
  end
  return deliver_each(self, list, message)
end

--- publish(message) or publish(type, data[, headers]): delivers now, in
--- order; returns how many handlers ran.
function Bus:publish(a, b, headers)
  -- the fast path: a topic already routed (its array is cached under the string);
  -- the type check keeps a call with '.' from indexing a nil or a number
  local routes = type(self) == "table" and self._routes
  local list = routes and routes[a]
  if not list or headers ~= nil then
    check_bus("MessageBus:publish", self)
    local ran = publish_slow(self, nil, "MessageBus:publish", a, b, 2, headers)
    return ran
  end
  self._published = self._published + 1
  if list[1] == nil then
    return 0
  end
  last_id = last_id + 1
  local message = setmetatable({ type = a, data = b, id = last_id }, Message)
  if list[2] == nil then
    -- one handler, the common case, delivered here: a call less on PUC Lua
    local ok, result = pcall(list[1], message)
    if not ok then
      report(self, list.records[1], message, result, "handler")
    elseif result == SKIPPED then
      return 0
    end
    self._delivered = self._delivered + 1
    return 1
  elseif list[BATCH_FROM] ~= nil then
    return deliver_batched(self, list, message)
  end
  return deliver_each(self, list, message)
end

local function subscribe(self, owner, fname, pattern, fn, opts, level)
  if type(pattern) ~= "string" then
    error(fname .. ": argument 'pattern' must be a topic pattern string, got " .. describe(pattern), level + 1)
  end
  if not is_callable(fn) then
    error(fname .. ": argument 'fn' must be a function, got " .. describe(fn), level + 1)
  end
  opts = check_options(fname, opts, SUBSCRIBE_OPTIONS, level + 1)
  local priority = opts.priority or 0
  if not is_integer(priority) or priority < -MAX_PRIORITY or priority > MAX_PRIORITY then
    error(string_format("%s: option 'priority' must be an integer from -2^53 to 2^53, got %s", fname,
      tostring(priority)), level + 1)
  end
  local id, stale = self._router:subscribe(pattern, priority)
  if id == nil then
    error(fname .. ": " .. stale, level + 1)
  end
  local record = setmetatable({
    id = id,
    pattern = pattern,
    priority = priority,
    once = opts.once == true,
    fn = fn,
    filter = opts.filter,
    live = true,
    placed = setmetatable({}, WEAK_KEYS),
    bus = self,
    owner = owner,
    owner_id = owner and owner._id,
  }, Subscription)
  record.call = fn
  if record.filter ~= nil or record.once then
    record.call = function(message)
      if not admit(self, record, message) then
        return SKIPPED
      end
      return fn(message)
    end
  end
  self._subs[id] = record
  if owner ~= nil then
    owner._subscriptions[record] = true
  end
  if stale then
    drop_routes(self, stale)
  end
  return record
end

--- subscribe(pattern, fn, opts): `*` is one segment, `#` zero or more; opts
--- priority (higher first), once, filter(message). Returns a subscription.
function Bus:subscribe(pattern, fn, opts)
  check_bus("MessageBus:subscribe", self)
  local record = subscribe(self, nil, "MessageBus:subscribe", pattern, fn, opts, 2)
  return record
end

function SubscriptionMethods.unsubscribe(record)
  check_subscription("Subscription:unsubscribe", record)
  return remove_subscription(record)
end

function SubscriptionMethods.active(record)
  check_subscription("Subscription:active", record)
  return record.live
end

function Subscription.__tostring(record)
  return string_format("qtforge.communication.Subscription(%d, %q%s)", record.id, record.pattern,
    record.live and "" or ", inactive")
end

local function check_post(fname, a, b, headers, level)
  if type(a) == "string" then
    check_headers(fname, headers, level + 1)
    return a, nil
  elseif getmetatable(a) == Message then
    local topic = rawget(a, "type")
    if type(topic) ~= "string" then
      error(fname .. ": the message's 'type' must be a topic string, got " .. describe(topic), level + 1)
    end
    if b ~= nil or headers ~= nil then
      error(fname .. ": a message carries its data and headers: "
        .. "pass post(message) or post(type, data, headers)", level + 1)
    end
    return topic, a
  end
  error(fname .. ": argument 1 must be a topic string or a qtforge.communication.Message, got " .. describe(a),
    level + 1)
end

local function post(self, sender, fname, a, b, level, headers)
  local topic, message = check_post(fname, a, b, headers, level + 1)
  -- checks the topic now, where the caller can see the mistake
  if self._routes[topic] == nil then
    route(self, topic, fname, level + 1)
  end
  local held = self._held
  if held ~= nil then
    held[#held + 1] = { post = true, sender = sender, a = a, b = b, headers = headers }
    return true
  end
  local queue = self._queue
  if #queue >= self._max_queue then
    return false, Error("queue_full", string_format("the bus queue holds %d messages; call flush()", #queue),
      "message " .. topic .. " was not queued")
  end
  if message == nil then
    last_id = last_id + 1
    -- queued messages are stamped now: their delivery comes later
    message = setmetatable({ type = topic, data = b, id = last_id, sender = sender, timestamp = now(),
      headers = headers }, Message)
  elseif sender ~= nil then
    message.sender = sender
  end
  queue[#queue + 1] = message
  self._posted = self._posted + 1
  return true
end

--- post(message) or post(type, data[, headers]): queues the message for the
--- next flush(). Returns true, or false and a queue_full Error.
function Bus:post(a, b, headers)
  check_bus("MessageBus:post", self)
  local ok, err = post(self, nil, "MessageBus:post", a, b, 2, headers)
  return ok, err
end

local flush_requests -- defined with RequestResponseSystem

--- Delivers the messages queued before this call, in order, and runs the
--- callbacks of answered asynchronous requests. Returns how many messages it delivered.
function Bus:flush()
  check_bus("MessageBus:flush", self)
  local queue = self._queue
  local count = #queue
  if count > 0 then
    -- what handlers post now waits for the next flush
    self._queue = {}
    for i = 1, count do
      local message = queue[i]
      local topic = message.type
      local list, problem = self._routes[topic], nil
      if list == nil then
        list, problem = find_route(self, topic)
      end
      if list == nil then
        -- a posted Message whose type was changed since: dropped, the rest go on
        self._errors = self._errors + 1
        pcall(self._log, "error", message.sender or "qtforge.bus",
          "MessageBus:flush: dropped posted message " .. tostring(message.id) .. ": " .. problem)
      else
        self._published = self._published + 1
        if self._broadcast_listeners[1] ~= nil then
          broadcast(self, message)
        end
        if list[BATCH_FROM] ~= nil then
          deliver_batched(self, list, message)
        else
          deliver_each(self, list, message)
        end
      end
    end
  end
  local rr = self._rr
  if rr ~= nil then
    flush_requests(rr)
  end
  return count
end

--- Registers fn(err, message, subscription), called when a handler or filter
--- fails; returns a function that removes it.
function Bus:on_error(fn)
  check_bus("MessageBus:on_error", self)
  if not is_callable(fn) then
    error("MessageBus:on_error: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  return support.listen(self, "_error_listeners", fn)
end

--- Registers fn(message), called with each message published, or flushed,
--- whose headers say `broadcast = true`, before its handlers run: how a host
--- carries such messages to other processes. Returns a function that removes it.
function Bus:on_broadcast(fn)
  check_bus("MessageBus:on_broadcast", self)
  if not is_callable(fn) then
    error("MessageBus:on_broadcast: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  return support.listen(self, "_broadcast_listeners", fn)
end

--- The patterns that have subscriptions, sorted, each once.
function Bus:topics()
  check_bus("MessageBus:topics", self)
  return self._router:patterns()
end

--- How many subscriptions a message on `topic` reaches (before filters); without
--- a topic, how many subscriptions there are.
function Bus:subscriber_count(topic)
  check_bus("MessageBus:subscriber_count", self)
  if topic == nil then
    local count = 0
    for _ in pairs(self._subs) do
      count = count + 1
    end
    return count
  end
  if type(topic) ~= "string" then
    error("MessageBus:subscriber_count: argument 'topic' must be a string or nil, got " .. describe(topic), 2)
  end
  local count, message = self._router:count(topic)
  if count == nil then
    error("MessageBus:subscriber_count: " .. message, 2)
  end
  return count
end

function Bus:stats()
  check_bus("MessageBus:stats", self)
  local subscriptions = 0
  for _ in pairs(self._subs) do
    subscriptions = subscriptions + 1
  end
  local rr = self._rr
  return {
    published = self._published,
    delivered = self._delivered,
    errors = self._errors,
    posted = self._posted,
    queued = #self._queue,
    subscriptions = subscriptions,
    routes_cached = self._router:cached(),
    pending_requests = rr and rr._pending_count or 0,
  }
end

Bus.__tostring = function(self)
  return string_format("qtforge.communication.MessageBus (%d subscriptions)", self:subscriber_count())
end

---------------------------------------------------------------------------
-- ServiceContract
---------------------------------------------------------------------------

local Contract = { __name = "qtforge.communication.ServiceContract" }
-- methods apart from the metatable: `contract.__index` must not hand a
-- sandboxed plugin the metatable every contract shares
local ContractMethods = {}
Contract.__index = ContractMethods

-- A parameter or result spec as Lua checks it per call.
local function compile_spec(spec)
  local set = {}
  for _, name in ipairs(spec.types) do
    if name ~= "integer" then
      set[name] = true
    end
  end
  local integer = false
  for _, name in ipairs(spec.types) do
    if name == "integer" then
      integer = true
    end
  end
  return { text = spec.text, any = spec.any, optional = spec.optional, set = set, integer = integer }
end

local function compile_specs(list)
  local compiled = {}
  for i, spec in ipairs(list) do
    compiled[i] = compile_spec(spec)
  end
  return compiled
end

local function new_contract(level, definition)
  if type(definition) ~= "table" then
    error("ServiceContract: argument 'definition' must be a table {name, version, methods}, got "
      .. describe(definition), level + 1)
  end
  local checked, message = check_contract(definition)
  if checked == nil then
    error("ServiceContract: " .. message, level + 1)
  end
  local methods = {}
  for name, method in pairs(checked.methods) do
    methods[name] = { params = compile_specs(method.params), returns = compile_specs(method.returns) }
  end
  return setmetatable({
    name = checked.name,
    version = Version.parse(checked.version),
    description = checked.description,
    signature = checked.signature,
    methods = methods,
  }, Contract)
end

local check_contract_object = method_check(Contract, "a ServiceContract")

--- The method names of the contract, sorted.
function ContractMethods:method_names()
  check_contract_object("ServiceContract:method_names", self)
  local names = {}
  for name in pairs(self.methods) do
    names[#names + 1] = name
  end
  table_sort(names)
  return names
end

Contract.__tostring = function(self)
  return string_format("qtforge.communication.ServiceContract(%s@%s)", self.name, self.version:to_string())
end

local function fits(spec, value)
  if value == nil then
    return spec.optional or spec.any
  end
  if spec.any then
    return true
  end
  local kind = type(value)
  if spec.set[kind] then
    return true
  end
  return spec.integer and is_integer(value)
end

local function what_value(value)
  if type(value) == "number" and not is_integer(value) then
    return "number " .. tostring(value)
  end
  return describe(value)
end

local function violation(contract, method, text)
  return Error("contract_violation", string_format("%s@%s %s: %s", contract.name, contract.version:to_string(),
    method, text))
end

-- checks a call's arguments against `params`; nil when they fit, else an Error
local function check_arguments(contract, name, params, count, ...)
  if count > #params then
    return violation(contract, name, string_format("takes %d argument(s), got %d", #params, count))
  end
  for i = 1, #params do
    local value = select(i, ...)
    if not fits(params[i], value) then
      return violation(contract, name, string_format("argument %d must be %s, got %s", i, params[i].text,
        what_value(value)))
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- RequestResponseSystem
---------------------------------------------------------------------------

local RequestResponse = { __name = "qtforge.communication.RequestResponseSystem" }
RequestResponse.__index = RequestResponse

local Request = { __name = "qtforge.communication.Request" }
local RequestMethods = {}
Request.__index = RequestMethods

local Responder = { __name = "qtforge.communication.Responder" }
local ResponderMethods = {}
Responder.__index = ResponderMethods

local Pending = { __name = "qtforge.communication.PendingRequest" }
local PendingMethods = {}
Pending.__index = PendingMethods

local Provider = { __name = "qtforge.communication.Provider" }
local ProviderMethods = {}
Provider.__index = ProviderMethods

local Proxy = { __name = "qtforge.communication.ServiceProxy" }
-- proxy -> its binding state, kept outside the proxy so that any method name is free
local proxy_states = setmetatable({}, WEAK_KEYS)

local check_rr = method_check(RequestResponse, "a RequestResponseSystem")
local check_request = method_check(Request, "a request")
local check_responder = method_check(Responder, "a responder")
local check_pending = method_check(Pending, "a pending request")
local check_provider = method_check(Provider, "a service provider")

local RR_OPTIONS = { log = "function" }
local REQUEST_OPTIONS = { timeout = "number" }

local function new_request_response(level, opts)
  opts = check_options("RequestResponseSystem", opts, RR_OPTIONS, level + 1)
  return setmetatable({
    _responders = {}, -- type -> responder record
    _pending = {}, -- id -> pending asynchronous request
    _pending_count = 0,
    _ready = {}, -- { callback, result, pending } to run on flush
    _contracts = {}, -- name -> { version string -> { contract, owner } }
    _providers = {}, -- name -> array of provider records, in registration order
    _generation = 0, -- bumped when providers change; proxies rebind
    _log = opts.log or default_log,
  }, RequestResponse)
end

local function request_response_of(bus)
  local rr = bus._rr
  if rr == nil then
    rr = new_request_response(2, { log = bus._log })
    bus._rr = rr
  end
  return rr
end

local function check_type(fname, request_type, level)
  if type(request_type) ~= "string" or request_type == "" then
    error(fname .. ": argument 'type' must be a non-empty string, got " .. describe(request_type), level + 1)
  end
end

local function check_timeout(fname, opts, level)
  opts = check_options(fname, opts, REQUEST_OPTIONS, level + 1)
  local timeout = opts.timeout
  if timeout ~= nil and not (timeout >= 0 and timeout < math_huge) then
    error(fname .. ": option 'timeout' must be a non-negative number of seconds, got " .. tostring(timeout), level + 1)
  end
  return timeout
end

local function respond(self, owner, fname, request_type, fn, level)
  check_type(fname, request_type, level + 1)
  if not is_callable(fn) then
    error(fname .. ": argument 'fn' must be a function, got " .. describe(fn), level + 1)
  end
  local existing = self._responders[request_type]
  if existing ~= nil then
    local by = existing.owner_id and (" by plugin " .. existing.owner_id) or ""
    error(string_format("%s: %q already has a responder%s; unregister it first", fname, request_type, by), level + 1)
  end
  local record = setmetatable({
    type = request_type,
    fn = fn,
    live = true,
    rr = self,
    owner = owner,
    owner_id = owner and owner._id,
  }, Responder)
  self._responders[request_type] = record
  if owner ~= nil then
    owner._responders[record] = true
  end
  return record
end

local function remove_responder(record)
  if not record.live then
    return false
  end
  record.live = false
  local rr = record.rr
  if rr._responders[record.type] == record then
    rr._responders[record.type] = nil
  end
  if record.owner ~= nil then
    record.owner._responders[record] = nil
  end
  return true
end

function ResponderMethods.unregister(record)
  check_responder("Responder:unregister", record)
  return remove_responder(record)
end

function ResponderMethods.active(record)
  check_responder("Responder:active", record)
  return record.live
end

-- The answer of a request is settled once: by the responder's return, by
-- reply/fail (possibly later, for a deferred request), or by a timeout or cancel.
local function settle(request, result)
  if request.result ~= nil then
    return false
  end
  request.result = result
  local pending = request.pending
  if pending ~= nil and not pending.finished then
    local rr = pending.rr
    rr._ready[#rr._ready + 1] = pending
  end
  return true
end

function RequestMethods.defer(request)
  check_request("Request:defer", request)
  request.deferred = true
  return request
end

function RequestMethods.reply(request, value)
  check_request("Request:reply", request)
  return settle(request, { success = true, value = value })
end

function RequestMethods.fail(request, problem)
  check_request("Request:fail", request)
  local err = problem
  if not Error.is(problem) then
    err = Error("handler_error", string_format("the responder to %q failed: %s", request.type,
      safe_tostring(problem)))
  end
  return settle(request, failure(err))
end

function RequestMethods.answered(request)
  check_request("Request:answered", request)
  return request.result ~= nil
end

-- Calls the responder; the request is settled unless the responder deferred it.
local function ask(self, request)
  local responder = self._responders[request.type]
  if responder == nil then
    settle(request, failure(Error("no_responder", string_format("nothing responds to %q", request.type))))
    return
  end
  local ok, value = pcall(responder.fn, request.data, request)
  if not ok then
    settle(request, failure(Error("handler_error", string_format("the responder to %q failed: %s", request.type,
      safe_tostring(value)))))
  elseif not request.deferred then
    settle(request, { success = true, value = value })
  end
end

local function new_request(request_type, data, sender)
  last_id = last_id + 1
  return setmetatable({ id = last_id, type = request_type, data = data, sender = sender }, Request)
end

local function request(self, sender, fname, request_type, data, opts, level)
  check_type(fname, request_type, level + 1)
  local timeout = check_timeout(fname, opts, level + 1)
  local req = new_request(request_type, data, sender)
  local started = timeout and monotonic()
  ask(self, req)
  local result = req.result
  if result == nil then
    -- deferred: a synchronous request cannot wait for a later answer
    req.result = failure(Error("timeout", string_format("the responder to %q deferred its answer", request_type),
      "a synchronous request cannot wait: use request_async"))
    return req.result
  end
  if started and result.success and monotonic() - started > timeout then
    return failure(Error("timeout", string_format("the responder to %q answered after the %gs timeout",
      request_type, timeout)))
  end
  return result
end

local function request_async(self, sender, fname, request_type, data, callback, opts, level)
  check_type(fname, request_type, level + 1)
  if not is_callable(callback) then
    error(fname .. ": argument 'callback' must be a function, got " .. describe(callback), level + 1)
  end
  local timeout = check_timeout(fname, opts, level + 1) or DEFAULT_REQUEST_TIMEOUT
  local req = new_request(request_type, data, sender)
  local pending = setmetatable({
    id = req.id,
    type = request_type,
    request = req,
    callback = callback,
    deadline = monotonic() + timeout,
    timeout = timeout,
    rr = self,
    finished = false,
  }, Pending)
  req.pending = pending
  self._pending[pending.id] = pending
  self._pending_count = self._pending_count + 1
  ask(self, req)
  return pending
end

local function finish(rr, pending)
  if rr._pending[pending.id] ~= nil then
    rr._pending[pending.id] = nil
    rr._pending_count = rr._pending_count - 1
  end
  pending.finished = true
end

function PendingMethods.cancel(pending)
  check_pending("PendingRequest:cancel", pending)
  if pending.finished then
    return false
  end
  finish(pending.rr, pending)
  pending.request.result = pending.request.result or failure(Error("cancelled", "the request was cancelled"))
  return true
end

function PendingMethods.done(pending)
  check_pending("PendingRequest:done", pending)
  return pending.finished
end

-- Times out overdue requests, then runs the callbacks of settled ones.
flush_requests = function(self)
  if self._pending_count > 0 then
    local clock = monotonic()
    for _, pending in pairs(self._pending) do
      if clock >= pending.deadline and pending.request.result == nil then
        settle(pending.request, failure(Error("timeout", string_format("no answer to %q within %gs", pending.type,
          pending.timeout))))
      end
    end
  end
  local ready = self._ready
  if ready[1] == nil then
    return 0
  end
  self._ready = {}
  local ran = 0
  for i = 1, #ready do
    local pending = ready[i]
    if not pending.finished then
      finish(self, pending)
      ran = ran + 1
      local ok, problem = pcall(pending.callback, pending.request.result)
      if not ok then
        local source = pending.owner and pending.owner._id or "qtforge.bus"
        pcall(self._log, "error", source, string_format("the callback of request %q failed: %s", pending.type,
          safe_tostring(problem)))
      end
    end
  end
  return ran
end

function RequestResponse:respond(request_type, fn)
  check_rr("RequestResponseSystem:respond", self)
  local record = respond(self, nil, "RequestResponseSystem:respond", request_type, fn, 2)
  return record
end

function RequestResponse:request(request_type, data, opts)
  check_rr("RequestResponseSystem:request", self)
  local result = request(self, nil, "RequestResponseSystem:request", request_type, data, opts, 2)
  return result
end

function RequestResponse:request_async(request_type, data, callback, opts)
  check_rr("RequestResponseSystem:request_async", self)
  local pending = request_async(self, nil, "RequestResponseSystem:request_async", request_type, data, callback, opts, 2)
  return pending
end

--- Runs the callbacks of asynchronous requests answered (or timed out) since the
--- last flush; returns how many ran.
function RequestResponse:flush()
  check_rr("RequestResponseSystem:flush", self)
  return flush_requests(self)
end

--- The request types that have a responder, sorted.
function RequestResponse:responders()
  check_rr("RequestResponseSystem:responders", self)
  local types = {}
  for request_type in pairs(self._responders) do
    types[#types + 1] = request_type
  end
  table_sort(types)
  return types
end

-- Services -------------------------------------------------------------------

local function register_contract(self, owner, fname, contract, level)
  if getmetatable(contract) ~= Contract then
    error(fname .. ": argument 'contract' must be a ServiceContract, got " .. describe(contract), level + 1)
  end
  local versions = self._contracts[contract.name]
  if versions == nil then
    versions = {}
    self._contracts[contract.name] = versions
  end
  local key = contract.version:to_string()
  local entry = versions[key]
  -- the same definition made twice (a reloaded plugin builds its contract anew) is the same contract
  if entry ~= nil and entry.contract.signature ~= contract.signature then
    error(string_format("%s: a different contract %s@%s is already registered%s", fname, contract.name, key,
      entry.owner_id and (" by plugin " .. entry.owner_id) or ""), level + 1)
  end
  if entry == nil then
    entry = { contract = contract, owner = owner, owner_id = owner and owner._id }
    versions[key] = entry
    if owner ~= nil then
      owner._contracts[entry] = true
    end
  end
  return contract
end

local function bump(self)
  self._generation = self._generation + 1
end

local function provide(self, owner, fname, contract, impl, level)
  if getmetatable(contract) ~= Contract then
    error(fname .. ": argument 'contract' must be a ServiceContract, got " .. describe(contract), level + 1)
  end
  if type(impl) ~= "table" then
    error(fname .. ": argument 'implementation' must be a table of methods, got " .. describe(impl), level + 1)
  end
  for _, name in ipairs(contract:method_names()) do
    if not is_callable(impl[name]) then
      error(string_format("%s: the implementation of %s@%s lacks method '%s' (got %s)", fname, contract.name,
        contract.version:to_string(), name, describe(impl[name])), level + 1)
    end
  end
  local list = self._providers[contract.name] or {}
  for _, existing in ipairs(list) do
    if existing.contract.version == contract.version then
      error(string_format("%s: %s@%s is already provided%s; withdraw it first", fname, contract.name,
        contract.version:to_string(), existing.owner_id and (" by plugin " .. existing.owner_id) or ""), level + 1)
    end
  end
  register_contract(self, owner, fname, contract, level + 1)
  local record = setmetatable({
    contract = contract,
    impl = impl,
    live = true,
    rr = self,
    owner = owner,
    owner_id = owner and owner._id,
  }, Provider)
  local copy = {}
  for i, existing in ipairs(list) do
    copy[i] = existing
  end
  copy[#copy + 1] = record
  self._providers[contract.name] = copy
  if owner ~= nil then
    owner._providers[record] = true
  end
  bump(self)
  return record
end

local function withdraw(record)
  if not record.live then
    return false
  end
  record.live = false
  local rr = record.rr
  local name = record.contract.name
  local kept = {}
  for _, existing in ipairs(rr._providers[name] or {}) do
    if existing ~= record then
      kept[#kept + 1] = existing
    end
  end
  rr._providers[name] = kept[1] and kept or nil
  if record.owner ~= nil then
    record.owner._providers[record] = nil
  end
  bump(rr)
  return true
end

function ProviderMethods.withdraw(record)
  check_provider("Provider:withdraw", record)
  return withdraw(record)
end

function ProviderMethods.active(record)
  check_provider("Provider:active", record)
  return record.live
end

-- The provider a proxy calls: the highest version in its range; first provided wins a tie.
local function bind(state)
  local rr = state.rr
  state.generation = rr._generation
  local best
  for _, record in ipairs(rr._providers[state.name] or {}) do
    local version = record.contract.version
    if satisfies(version:to_string(), state.range) and (best == nil or best.contract.version < version) then
      best = record
    end
  end
  state.provider = best
  return best
end

local function raise(err)
  error(err, 3)
end

local function check_results(contract, name, returns, ok, ...)
  if not ok then
    local problem = ...
    if Error.is(problem) then
      raise(problem)
    end
    raise(Error("handler_error", string_format("%s@%s %s failed: %s", contract.name, contract.version:to_string(),
      name, safe_tostring(problem))))
  end
  local count = select("#", ...)
  if count > #returns then
    raise(violation(contract, name, string_format("returns %d result(s), the provider returned %d", #returns, count)))
  end
  for i = 1, #returns do
    local value = select(i, ...)
    if not fits(returns[i], value) then
      raise(violation(contract, name, string_format("result %d must be %s, the provider returned %s", i,
        returns[i].text, what_value(value))))
    end
  end
  return ...
end

local function method_caller(proxy, state, name)
  return function(self, ...)
    if self ~= proxy then
      error(string_format("%s:%s: call it with ':' on the service proxy", state.name, name), 2)
    end
    local provider = state.provider
    if state.generation ~= state.rr._generation then
      provider = bind(state)
    end
    if provider == nil then
      error(Error("service_unavailable", string_format("no provider of %s %s", state.name, state.range),
        "the service may come back when a plugin provides it"), 2)
    end
    local contract = provider.contract
    local method = contract.methods[name]
    if method == nil then
      error(violation(contract, name, "the contract has no such method"), 2)
    end
    local problem = check_arguments(contract, name, method.params, select("#", ...), ...)
    if problem ~= nil then
      error(problem, 2)
    end
    local impl = provider.impl
    return check_results(contract, name, method.returns, pcall(impl[name], impl, ...))
  end
end

function Proxy.__index(proxy, name)
  if type(name) ~= "string" then
    return nil
  end
  local state = proxy_states[proxy]
  local fn = method_caller(proxy, state, name)
  rawset(proxy, name, fn)
  return fn
end

function Proxy.__tostring(proxy)
  local state = proxy_states[proxy]
  return string_format("qtforge.communication.ServiceProxy(%s %s)", state.name, state.range)
end

local function service(self, fname, name, range, level)
  if type(name) ~= "string" or name == "" then
    error(fname .. ": argument 'name' must be a service name string, got " .. describe(name), level + 1)
  end
  range = range or "*"
  if type(range) ~= "string" then
    error(fname .. ": argument 'range' must be a version range string or nil, got " .. describe(range), level + 1)
  end
  local ok, message = satisfies("0.0.0", range)
  if ok == nil then
    error(fname .. ": " .. message, level + 1)
  end
  local state = { rr = self, name = name, range = range, generation = -1 }
  local proxy = setmetatable({}, Proxy)
  proxy_states[proxy] = state
  return proxy
end

--- True when a provider of `name` in `range` is there now.
local function has_provider(self, fname, name, range, level)
  local proxy = service(self, fname, name, range, level + 1)
  return bind(proxy_states[proxy]) ~= nil
end

function RequestResponse:has_provider(name, range)
  check_rr("RequestResponseSystem:has_provider", self)
  local value = has_provider(self, "RequestResponseSystem:has_provider", name, range, 2)
  return value
end

function Bus:has_provider(name, range)
  check_bus("MessageBus:has_provider", self)
  local value = has_provider(request_response_of(self), "MessageBus:has_provider", name, range, 2)
  return value
end

function RequestResponse:register_contract(contract)
  check_rr("RequestResponseSystem:register_contract", self)
  local value = register_contract(self, nil, "RequestResponseSystem:register_contract", contract, 2)
  return value
end

function RequestResponse:provide(contract, impl)
  check_rr("RequestResponseSystem:provide", self)
  local record = provide(self, nil, "RequestResponseSystem:provide", contract, impl, 2)
  return record
end

function RequestResponse:service(name, range)
  check_rr("RequestResponseSystem:service", self)
  local proxy = service(self, "RequestResponseSystem:service", name, range, 2)
  return proxy
end

--- The registered contracts: { { name, version, provided }, ... } sorted by name and version.
function RequestResponse:contracts()
  check_rr("RequestResponseSystem:contracts", self)
  local list = {}
  for name, versions in pairs(self._contracts) do
    for _, entry in pairs(versions) do
      local provided = false
      for _, record in ipairs(self._providers[name] or {}) do
        if record.contract.version == entry.contract.version then
          provided = true
        end
      end
      list[#list + 1] = { name = name, version = entry.contract.version, contract = entry.contract,
        provided = provided, plugin_id = entry.owner_id }
    end
  end
  table_sort(list, function(a, b)
    if a.name ~= b.name then
      return a.name < b.name
    end
    return a.version < b.version
  end)
  return list
end

-- The bus reaches its own RequestResponseSystem
function Bus:request_response()
  check_bus("MessageBus:request_response", self)
  return request_response_of(self)
end

function Bus:respond(request_type, fn)
  check_bus("MessageBus:respond", self)
  local record = respond(request_response_of(self), nil, "MessageBus:respond", request_type, fn, 2)
  return record
end

function Bus:request(request_type, data, opts)
  check_bus("MessageBus:request", self)
  local result = request(request_response_of(self), nil, "MessageBus:request", request_type, data, opts, 2)
  return result
end

function Bus:request_async(request_type, data, callback, opts)
  check_bus("MessageBus:request_async", self)
  local pending = request_async(request_response_of(self), nil, "MessageBus:request_async", request_type, data,
    callback, opts, 2)
  return pending
end

function Bus:register_contract(contract)
  check_bus("MessageBus:register_contract", self)
  local value = register_contract(request_response_of(self), nil, "MessageBus:register_contract", contract, 2)
  return value
end

function Bus:provide(contract, impl)
  check_bus("MessageBus:provide", self)
  local record = provide(request_response_of(self), nil, "MessageBus:provide", contract, impl, 2)
  return record
end

function Bus:service(name, range)
  check_bus("MessageBus:service", self)
  local proxy = service(request_response_of(self), "MessageBus:service", name, range, 2)
  return proxy
end

---------------------------------------------------------------------------
-- A plugin's bus (ctx.bus): the manager's bus, with what the plugin makes
-- recorded as its own (removed when it unloads) and its id as the sender.
---------------------------------------------------------------------------

local PluginBus = { __name = "qtforge.communication.PluginBus" }
PluginBus.__index = PluginBus
PluginBus.STOP = STOP

local check_plugin_bus = method_check(PluginBus, "a plugin's bus (ctx.bus)")

-- the bus behind a plugin's view; raises once the plugin is unloaded
local function bus_of(view, fname)
  local bus = view._bus
  if bus == nil then
    error(string_format("%s: plugin %q is unloaded; its bus is closed", fname, view._id), 3)
  end
  return bus
end

local function plugin_bus(bus, plugin_id, retain_contracts)
  return setmetatable({
    _bus = bus,
    _id = plugin_id,
    _retain_contracts = retain_contracts == true,
    _subscriptions = {},
    _responders = {},
    _providers = {},
    _contracts = {},
  }, PluginBus)
end

-- Removes everything the plugin made and closes its view; returns how many of each went.
local function release(view)
  local bus = view._bus
  local removed = { subscriptions = 0, responders = 0, services = 0, contracts = 0 }
  if bus == nil then
    return removed
  end
  view._bus = nil
  for record in pairs(view._subscriptions) do
    if remove_subscription(record) then
      removed.subscriptions = removed.subscriptions + 1
    end
  end
  for record in pairs(view._responders) do
    if remove_responder(record) then
      removed.responders = removed.responders + 1
    end
  end
  for record in pairs(view._providers) do
    if withdraw(record) then
      removed.services = removed.services + 1
    end
  end
  local rr = bus._rr
  if rr ~= nil and not view._retain_contracts then
    for entry in pairs(view._contracts) do
      local versions = rr._contracts[entry.contract.name]
      local key = entry.contract.version:to_string()
      -- a contract another plugin still provides stays, and is that plugin's now
      local still
      for _, record in ipairs(rr._providers[entry.contract.name] or {}) do
        if record.contract.version == entry.contract.version then
          still = record
        end
      end
      if still and versions and versions[key] == entry then
        entry.owner, entry.owner_id = still.owner, still.owner_id
        if still.owner ~= nil then
          still.owner._contracts[entry] = true
        end
      elseif versions and versions[key] == entry then
        versions[key] = nil
        if next(versions) == nil then
          rr._contracts[entry.contract.name] = nil
        end
        removed.contracts = removed.contracts + 1
      end
    end
  end
  -- pending asynchronous requests the plugin made will not call back into it
  if rr ~= nil then
    for _, pending in pairs(rr._pending) do
      if pending.owner == view then
        finish(rr, pending)
      end
    end
  end
  return removed
end

function PluginBus:publish(a, b, headers)
  local bus = type(self) == "table" and self._bus
  local routes = bus and bus._routes
  local list = routes and headers == nil and routes[a]
  local counts = list and self._counts
  if counts then
    counts.sent = counts.sent + 1
  end
  if not list then
    check_plugin_bus("bus:publish", self)
    bus = bus_of(self, "bus:publish")
    local ran = publish_slow(bus, self._id, "bus:publish", a, b, 2, headers)
    counts = self._counts
    if counts then
      counts.sent = counts.sent + 1
    end
    return ran
  end
  bus._published = bus._published + 1
  if list[1] == nil then
    return 0
  end
  last_id = last_id + 1
  local message = setmetatable({ type = a, data = b, id = last_id, sender = self._id }, Message)
  -- MessageBus:publish's fast path, with the sender; inlined in both because a
  -- shared function is a call more per publish on PUC Lua, and one shared
  -- closure per object costs LuaJIT its traces (measured, see the issue notes)
  if list[2] == nil then
    local ok, result = pcall(list[1], message)
    if not ok then
      report(bus, list.records[1], message, result, "handler")
    elseif result == SKIPPED then
      return 0
    end
    bus._delivered = bus._delivered + 1
    return 1
  elseif list[BATCH_FROM] ~= nil then
    return deliver_batched(bus, list, message)
  end
  return deliver_each(bus, list, message)
end

function PluginBus:post(a, b, headers)
  check_plugin_bus("bus:post", self)
  local ok, err = post(bus_of(self, "bus:post"), self._id, "bus:post", a, b, 2, headers)
  local counts = self._counts
  if ok and counts then
    counts.sent = counts.sent + 1
  end
  return ok, err
end

function PluginBus:subscribe(pattern, fn, opts)
  check_plugin_bus("bus:subscribe", self)
  local record = subscribe(bus_of(self, "bus:subscribe"), self, "bus:subscribe", pattern, fn, opts, 2)
  return record
end

function PluginBus:respond(request_type, fn)
  check_plugin_bus("bus:respond", self)
  local rr = request_response_of(bus_of(self, "bus:respond"))
  local record = respond(rr, self, "bus:respond", request_type, fn, 2)
  return record
end

function PluginBus:request(request_type, data, opts)
  check_plugin_bus("bus:request", self)
  local rr = request_response_of(bus_of(self, "bus:request"))
  local result = request(rr, self._id, "bus:request", request_type, data, opts, 2)
  return result
end

function PluginBus:request_async(request_type, data, callback, opts)
  check_plugin_bus("bus:request_async", self)
  local rr = request_response_of(bus_of(self, "bus:request_async"))
  local pending = request_async(rr, self._id, "bus:request_async", request_type, data, callback, opts, 2)
  pending.owner = self
  return pending
end

function PluginBus:register_contract(contract)
  check_plugin_bus("bus:register_contract", self)
  local rr = request_response_of(bus_of(self, "bus:register_contract"))
  local value = register_contract(rr, self, "bus:register_contract", contract, 2)
  return value
end

function PluginBus:provide(contract, impl)
  check_plugin_bus("bus:provide", self)
  local rr = request_response_of(bus_of(self, "bus:provide"))
  local record = provide(rr, self, "bus:provide", contract, impl, 2)
  return record
end

function PluginBus:service(name, range)
  check_plugin_bus("bus:service", self)
  local rr = request_response_of(bus_of(self, "bus:service"))
  local proxy = service(rr, "bus:service", name, range, 2)
  return proxy
end

function PluginBus:has_provider(name, range)
  check_plugin_bus("bus:has_provider", self)
  local rr = request_response_of(bus_of(self, "bus:has_provider"))
  local value = has_provider(rr, "bus:has_provider", name, range, 2)
  return value
end

function PluginBus:topics()
  check_plugin_bus("bus:topics", self)
  return bus_of(self, "bus:topics"):topics()
end

function PluginBus:subscriber_count(topic)
  check_plugin_bus("bus:subscriber_count", self)
  local bus = bus_of(self, "bus:subscriber_count")
  if topic ~= nil and type(topic) ~= "string" then
    error("bus:subscriber_count: argument 'topic' must be a string or nil, got " .. describe(topic), 2)
  end
  local count = bus:subscriber_count(topic)
  return count
end

function PluginBus:stats()
  check_plugin_bus("bus:stats", self)
  return bus_of(self, "bus:stats"):stats()
end

PluginBus.__tostring = function(self)
  return string_format("qtforge.communication.PluginBus(%s%s)", self._id, self._bus and "" or ", closed")
end

return {
  MessageBus = class("qtforge.communication.MessageBus", new_bus),
  Message = class("qtforge.communication.Message", new_message),
  RequestResponseSystem = class("qtforge.communication.RequestResponseSystem", new_request_response),
  ServiceContract = class("qtforge.communication.ServiceContract", new_contract),
  STOP = STOP,
  -- for manager.lua
  plugin_bus = plugin_bus,
  release = release,
  -- transactions: hold what is published and posted until release(deliver);
  -- holds nest. held_count and drop_held(n) serve savepoints.
  hold = function(bus)
    bus._hold_depth = (bus._hold_depth or 0) + 1
    if bus._held == nil then
      bus._held = {}
      bus._routes, bus._slot_topics = unrouted(), {}
    end
  end,
  release_held = function(bus, deliver)
    bus._hold_depth = (bus._hold_depth or 1) - 1
    if bus._hold_depth > 0 then
      return
    end
    local held = bus._held or {}
    bus._held = nil
    bus._routes, bus._slot_topics = {}, {}
    if deliver then
      for _, entry in ipairs(held) do
        local ok, problem
        if entry.post then
          ok, problem = pcall(post, bus, entry.sender, "post", entry.a, entry.b, 1, entry.headers)
        else
          ok, problem = pcall(publish_slow, bus, entry.sender, "publish", entry.a, entry.b, 1, entry.headers)
        end
        if not ok then
          pcall(bus._log, "error", "qtforge.bus", "a message held by a transaction failed: " .. safe_tostring(problem))
        end
      end
    end
  end,
  held_count = function(bus)
    return bus._held and #bus._held or 0
  end,
  drop_held = function(bus, keep)
    local held = bus._held
    if held ~= nil then
      for i = #held, keep + 1, -1 do
        held[i] = nil
      end
    end
  end,
  -- metrics: count what `view` (a plugin's bus) sends and receives into
  -- `counts` ({ sent, received }), or stop with nil
  count_messages = function(view, counts)
    view._counts = counts
    local bus = view._bus
    if bus ~= nil and next(view._subscriptions) ~= nil then
      -- the route arrays are made again, with or without counting calls
      bus._routes, bus._slot_topics = {}, {}
    end
  end,
  -- metatables, for specs that check every public method has a type stub
  _Bus = Bus,
  _Message = Message,
  _Subscription = SubscriptionMethods,
  _RequestResponse = RequestResponse,
  _Request = RequestMethods,
  _Responder = ResponderMethods,
  _Pending = PendingMethods,
  _Provider = ProviderMethods,
  _Contract = ContractMethods,
  _PluginBus = PluginBus,
}
