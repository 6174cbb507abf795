-- qtforge.communication.MessageBus against a model: 10,000 random operations
-- (subscribe, unsubscribe, publish, post, flush) run on the real bus and on a
-- pure-Lua model of what the bus promises, and the two delivery logs must be
-- the same entry for entry.
--
-- The model is deliberately naive: a linear scan of the live subscriptions
-- with a recursive matcher, sorted by priority (higher first) then
-- subscription order. A publish delivers to the subscriptions that matched
-- when it began (snapshot), skipping those removed since; a `once` is removed
-- before its handler runs; a filter that raises is reported and its handler
-- skipped; a handler that raises is reported and counted as run; STOP ends
-- the publish; a flush delivers what was queued when it began.
--
-- Handlers act during delivery: they unsubscribe others or themselves,
-- subscribe new handlers, publish, post and flush (nested up to MAX_DEPTH),
-- return STOP or false, or raise. Every random choice comes from
-- math.random, seeded once per run, so both runs see the same choices for as
-- long as they agree. Set QTFORGE_BUS_SEED to try another seed.
local qtforge = require("qtforge")

local communication = qtforge.communication
local MessageBus, STOP = communication.MessageBus, communication.STOP

local SEED = tonumber(os.getenv("QTFORGE_BUS_SEED") or "") or 20261124
local OPERATIONS = 10000
local MAX_LIVE = 40 -- live subscriptions past which subscribing turns into unsubscribing
local MAX_DEPTH = 2 -- how deep handlers may publish and flush in turn
local MAX_QUEUED = 20 -- queued messages past which handlers stop posting (top-level posts always do)
local CHECK_EVERY = 500 -- operations between comparisons of subscriber_count and topics
local WORDS = { "a", "b", "c" }
local PATTERN_WORDS = { "a", "b", "c", "*", "#" }

local random = math.random

---------------------------------------------------------------------------
-- the model
---------------------------------------------------------------------------

local function split(text)
  local words = {}
  for word in text:gmatch("[^.]+") do
    words[#words + 1] = word
  end
  return words
end

-- pattern segments from `p`, topic words from `t`: `*` one word, `#` zero or more
local function matches(pattern, p, topic, t)
  if p > #pattern then
    return t > #topic
  end
  local segment = pattern[p]
  if segment == "#" then
    for next_t = t, #topic + 1 do
      if matches(pattern, p + 1, topic, next_t) then
        return true
      end
    end
    return false
  end
  if t > #topic then
    return false
  end
  if segment == "*" or segment == topic[t] then
    return matches(pattern, p + 1, topic, t + 1)
  end
  return false
end

local function before(x, y)
  if x.priority ~= y.priority then
    return x.priority > y.priority
  end
  return x.order < y.order
end

-- on_error(subscription, message, code) as the bus's error listeners get it
local function new_model(on_error)
  local model = {}
  local live = {} -- live subscriptions, in subscription order
  local queue = {}
  local subscribed = 0
  local counts = { published = 0, delivered = 0, errors = 0, posted = 0 }

  local function report(record, message)
    counts.errors = counts.errors + 1
    on_error(record, message, "handler_error")
  end

  function model.subscribe(pattern, fn, opts)
    subscribed = subscribed + 1
    local record = {
      pattern = pattern,
      segments = split(pattern),
      priority = opts.priority or 0,
      once = opts.once == true,
      filter = opts.filter,
      fn = fn,
      live = true,
      order = subscribed,
    }
    live[#live + 1] = record
    return record
  end

  function model.unsubscribe(record)
    if not record.live then
      return false
    end
    record.live = false
    for i = 1, #live do
      if live[i] == record then
        table.remove(live, i)
        break
      end
    end
    return true
  end

  function model.active(record)
    return record.live
  end

  local function deliver(message)
    counts.published = counts.published + 1
    local words = split(message.type)
    local list = {}
    for _, record in ipairs(live) do
      if matches(record.segments, 1, words, 1) then
        list[#list + 1] = record
      end
    end
    table.sort(list, before)
    local ran = 0
    for _, record in ipairs(list) do
      if record.live then
        local pass = true
        if record.filter then
          local ok, verdict = pcall(record.filter, message)
          if ok then
            pass = verdict
          else
            report(record, message)
            pass = false
          end
        end
        if pass then
          if record.once then
            model.unsubscribe(record)
          end
          ran = ran + 1
          local ok, result = pcall(record.fn, message)
          if not ok then
            report(record, message)
          elseif result == STOP then
            break
          end
        end
      end
    end
    counts.delivered = counts.delivered + ran
    return ran
  end

  function model.publish(topic, data)
    return deliver({ type = topic, data = data })
  end

  function model.post(topic, data)
    queue[#queue + 1] = { type = topic, data = data }
    counts.posted = counts.posted + 1
    return true
  end

  function model.flush()
    local taken = queue
    queue = {}
    for _, message in ipairs(taken) do
      deliver(message)
    end
    return #taken
  end

  function model.count(topic)
    if topic == nil then
      return #live
    end
    local words, count = split(topic), 0
    for _, record in ipairs(live) do
      if matches(record.segments, 1, words, 1) then
        count = count + 1
      end
    end
    return count
  end

  function model.stats()
    return { published = counts.published, delivered = counts.delivered, errors = counts.errors,
      posted = counts.posted, queued = #queue, subscriptions = #live }
  end

  function model.patterns()
    local seen, list = {}, {}
    for _, record in ipairs(live) do
      if not seen[record.pattern] then
        seen[record.pattern] = true
        list[#list + 1] = record.pattern
      end
    end
    table.sort(list)
    return list
  end

  return model
end

-- the real bus, behind the same functions
local function new_bus(on_error, opts)
  local bus_opts = {
    log = function() end,
    on_error = function(err, message, subscription)
      on_error(subscription, message, err.code)
    end,
  }
  for key, value in pairs(opts or {}) do
    bus_opts[key] = value
  end
  local bus = MessageBus(bus_opts)
  return {
    subscribe = function(pattern, fn, sub_opts)
      return bus:subscribe(pattern, fn, sub_opts)
    end,
    unsubscribe = function(subscription)
      return subscription:unsubscribe()
    end,
    active = function(subscription)
      return subscription:active()
    end,
    publish = function(topic, data)
      return bus:publish(topic, data)
    end,
    post = function(topic, data)
      return (bus:post(topic, data))
    end,
    flush = function()
      return bus:flush()
    end,
    count = function(topic)
      return bus:subscriber_count(topic)
    end,
    patterns = function()
      return bus:topics()
    end,
    stats = function()
      return bus:stats()
    end,
  }
end

---------------------------------------------------------------------------
-- the random run, the same driver for both
---------------------------------------------------------------------------

local function pick(list)
  return list[random(#list)]
end

local function random_name(words)
  local parts = {}
  for i = 1, random(3) do
    parts[i] = pick(words)
  end
  return table.concat(parts, ".")
end

-- every topic of 1-3 words, for the subscriber_count comparisons
local ALL_TOPICS = {}
for _, a in ipairs(WORDS) do
  ALL_TOPICS[#ALL_TOPICS + 1] = a
  for _, b in ipairs(WORDS) do
    ALL_TOPICS[#ALL_TOPICS + 1] = a .. "." .. b
    for _, c in ipairs(WORDS) do
      ALL_TOPICS[#ALL_TOPICS + 1] = a .. "." .. b .. "." .. c
    end
  end
end

local FILTERS = {
  even = function(message)
    return message.data % 2 == 0
  end,
  odd = function(message)
    return message.data % 2 == 1
  end,
  -- raises on every third message, lets the others through
  raising = function(message)
    if message.data % 3 == 0 then
      error("filter refuses " .. message.data)
    end
    return true
  end,
}

-- what a handler does after logging its call; subscribed handlers do not subscribe
local ACTIONS = {
  "none", "none", "none", "none", "false", "stop", "raise",
  "unsubscribe_other", "unsubscribe_other", "unsubscribe_self",
  "publish", "publish", "post", "flush", "subscribe", "subscribe",
}
local SPAWNED_ACTIONS = { "none", "none", "false", "stop", "raise", "unsubscribe_other", "unsubscribe_self", "publish" }

-- Runs OPERATIONS random operations on what `make(on_error)` builds; returns the log.
local function run(make)
  math.randomseed(SEED)
  local log = {}
  local handles, ids = {}, {}
  local number, depth, queued = 0, 0, 0
  local target = make(function(subscription, message, code)
    log[#log + 1] = "E" .. tostring(ids[subscription]) .. ":" .. message.data .. ":" .. code
  end)

  local subscribe

  local function unsubscribe(id)
    log[#log + 1] = "U" .. id .. "=" .. tostring(target.unsubscribe(handles[id]))
  end

  -- a random subscription, live when one turns up in a few tries
  local function random_id()
    local id
    for _ = 1, 4 do
      id = random(#handles)
      if target.active(handles[id]) then
        return id
      end
    end
    return id
  end

  local function publish(topic)
    number = number + 1
    local n = number
    depth = depth + 1
    local ran = target.publish(topic, n)
    depth = depth - 1
    log[#log + 1] = "P" .. n .. ":" .. topic .. "=" .. ran
  end

  local function post(topic)
    number = number + 1
    queued = queued + 1
    log[#log + 1] = "Q" .. number .. ":" .. topic .. "=" .. tostring(target.post(topic, number))
  end

  local function flush()
    depth = depth + 1
    local count = target.flush()
    depth = depth - 1
    queued = queued - count
    log[#log + 1] = "F=" .. count
  end

  local function act(action, me)
    if action == "false" then
      return false
    elseif action == "stop" then
      return STOP
    elseif action == "raise" then
      error("handler " .. me .. " raises")
    elseif action == "unsubscribe_other" then
      unsubscribe(random(#handles))
    elseif action == "unsubscribe_self" then
      unsubscribe(me)
    elseif action == "subscribe" then
      if target.count() < MAX_LIVE then
        subscribe(SPAWNED_ACTIONS)
      end
    elseif action == "publish" then
      if depth <= MAX_DEPTH then
        publish(random_name(WORDS))
      end
    elseif action == "post" then
      if queued < MAX_QUEUED then
        post(random_name(WORDS))
      end
    elseif action == "flush" then
      if depth <= MAX_DEPTH then
        flush()
      end
    end
    return nil
  end

  subscribe = function(actions)
    local pattern = random_name(PATTERN_WORDS)
    local opts = { priority = random(-2, 2) }
    if random(5) == 1 then
      opts.once = true
    end
    local filter_name = ({ "even", "odd", "raising" })[random(8)]
    opts.filter = FILTERS[filter_name]
    local action = pick(actions)
    local me = #handles + 1
    handles[me] = target.subscribe(pattern, function(message)
      log[#log + 1] = me .. ":" .. message.data
      return act(action, me)
    end, opts)
    ids[handles[me]] = me
    log[#log + 1] = string.format("S%d=%s/%d%s/%s/%s", me, pattern, opts.priority, opts.once and "/once" or "",
      filter_name or "-", action)
  end

  local function compare_counts()
    local counts = { "C" .. target.count() }
    for _, topic in ipairs(ALL_TOPICS) do
      counts[#counts + 1] = topic .. "=" .. target.count(topic)
    end
    log[#log + 1] = table.concat(counts, " ")
    log[#log + 1] = "T" .. table.concat(target.patterns(), " ")
    local stats = target.stats()
    log[#log + 1] = string.format("Z published %d delivered %d errors %d posted %d queued %d subscriptions %d",
      stats.published, stats.delivered, stats.errors, stats.posted, stats.queued, stats.subscriptions)
  end

  for op = 1, OPERATIONS do
    local roll = random(100)
    if roll <= 30 and (#handles == 0 or target.count() < MAX_LIVE) then
      subscribe(ACTIONS)
    elseif roll <= 50 then
      if #handles > 0 then
        unsubscribe(random_id())
      end
    elseif roll <= 88 then
      publish(random_name(WORDS))
    elseif roll <= 95 then
      post(random_name(WORDS))
    else
      flush()
    end
    if op % CHECK_EVERY == 0 then
      compare_counts()
    end
  end
  flush()
  compare_counts()
  return log
end

local function first_difference(a, b)
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then
      return i
    end
  end
  return nil
end

local function describe_difference(bus_log, model_log, index)
  local lines = {
    string.format("seed %d under %s: the bus and the model part at log entry %d of %d/%d "
      .. "(rerun with QTFORGE_BUS_SEED=%d)", SEED, jit and jit.version or _VERSION, index, #bus_log, #model_log, SEED),
  }
  for i = math.max(1, index - 12), index - 1 do
    lines[#lines + 1] = string.format("  %6d  %s", i, tostring(model_log[i]))
  end
  lines[#lines + 1] = string.format("  %6d  bus: %s", index, tostring(bus_log[index]))
  lines[#lines + 1] = string.format("  %6d  model: %s", index, tostring(model_log[index]))
  return table.concat(lines, "\n")
end

describe("MessageBus against a model", function()
  local model_log

  setup(function()
    model_log = run(new_model)
  end)

  -- the specs after this one get an unseeded generator again
  teardown(function()
    math.randomseed(os.time())
  end)

  it("makes a log that exercises everything it should", function()
    local seen = {}
    for _, entry in ipairs(model_log) do
      local kind = entry:match("^(%a)") or (entry:match("^%d+:") and "delivery")
      seen[kind] = (seen[kind] or 0) + 1
    end
    -- subscriptions, unsubscriptions, publishes, posts, flushes, errors, deliveries
    for _, kind in ipairs({ "S", "U", "P", "Q", "F", "E", "delivery" }) do
      assert.is_true((seen[kind] or 0) > 50, kind .. " entries: " .. tostring(seen[kind]))
    end
    -- the subscriber_count, topics and stats comparisons
    local checks = math.floor(OPERATIONS / CHECK_EVERY) + 1
    for _, kind in ipairs({ "C", "T", "Z" }) do
      assert.are.equal(checks, seen[kind], kind .. " entries")
    end
    local text = table.concat(model_log, "\n")
    for _, needle in ipairs({ "=false\n", "=true\n", "/once/", "/even/", "/raising/", "/subscribe\n", "/stop\n" }) do
      assert.truthy(text:find(needle, 1, true), "no " .. needle .. " in the log")
    end
  end)

  for _, case in ipairs({
    { "the default route cache", nil },
    { "a route cache of 3 topics", { route_cache = 3 } },
  }) do
    it("agrees entry for entry with " .. case[1], function()
      local bus_log = run(function(on_error)
        return new_bus(on_error, case[2])
      end)
      local index = first_difference(bus_log, model_log)
      local message = index and describe_difference(bus_log, model_log, index) or ("seed " .. SEED)
      -- the whole logs are compared; luassert prints tables of this size only in outline
      local level = assert:get_parameter("TableFormatLevel")
      finally(function()
        assert:set_parameter("TableFormatLevel", level)
      end)
      assert:set_parameter("TableFormatLevel", 0)
      assert.are.same(model_log, bus_log, message)
    end)
  end
end)
