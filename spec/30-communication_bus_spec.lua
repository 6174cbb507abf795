-- qtforge.communication.MessageBus: wildcard routing, priorities, once and
-- filters, error isolation, STOP, every reentrant change during a publish,
-- Message objects, post/flush, introspection, the route cache and misuse.
-- Every case checks what the handlers saw (a delivery log), not only that
-- nothing raised.
local qtforge = require("qtforge")
local misuse = require("support.misuse")

local communication = qtforge.communication
local MessageBus, Message, STOP = communication.MessageBus, communication.Message, communication.STOP
local Error = qtforge.Error

-- a bus whose handler errors go to `logged` (or nowhere) instead of stderr
local function quiet_bus(opts, logged)
  opts = opts or {}
  opts.log = opts.log or function(level, source, text)
    if logged then
      logged[#logged + 1] = { level, source, text }
    end
  end
  return MessageBus(opts)
end

-- a handler that appends `name` (and the message's data, when given) to `log`
local function recorder(log, name)
  return function(message)
    if message.data ~= nil then
      log[#log + 1] = name .. ":" .. tostring(message.data)
    else
      log[#log + 1] = name
    end
  end
end

local function clear(t)
  for i = #t, 1, -1 do
    t[i] = nil
  end
end

-- (pattern, topic, matches): `*` is exactly one segment, `#` zero or more
local MATCHING = {
  { "a.b", "a.b", true },
  { "a.b", "a.c", false },
  { "a.b", "a.b.c", false },
  { "a.b", "a", false },
  { "a.b", "a.bb", false },
  { "a.b", "aa.b", false },
  { "A.b", "a.b", false },
  { "a.*", "a.b", true },
  { "a.*", "a", false },
  { "a.*", "a.b.c", false },
  { "*.b", "a.b", true },
  { "*.b", "b", false },
  { "*", "a", true },
  { "*", "a.b", false },
  { "*.*", "a.b", true },
  { "*.*", "a", false },
  { "plugin.*.status", "plugin.audio.status", true },
  { "plugin.*.status", "plugin.status", false },
  { "plugin.*.status", "plugin.a.b.status", false },
  { "a.b.*.d", "a.b.c.d", true },
  { "a.b.*.d", "a.b.c.e", false },
  -- `#` alone
  { "#", "a", true },
  { "#", "a.b.c", true },
  -- `#` at the start
  { "#.c", "c", true },
  { "#.c", "a.b.c", true },
  { "#.c", "a.b.c.d", false },
  { "#.c", "cc", false },
  -- `#` at the end
  { "a.#", "a", true },
  { "a.#", "a.b", true },
  { "a.#", "a.b.c", true },
  { "a.#", "b.a", false },
  { "a.#", "ab", false },
  -- `#` in the middle, standing for zero, one and two segments
  { "a.#.c", "a.c", true },
  { "a.#.c", "a.b.c", true },
  { "a.#.c", "a.b.b.c", true },
  { "a.#.c", "a.b.d", false },
  { "a.#.c", "a.c.d", false },
  { "a.#.c", "c", false },
  { "a.#.c", "a", false },
  { "#.b.#", "b", true },
  { "#.b.#", "a.b.c", true },
  { "#.b.#", "a.c", false },
  -- mixed
  { "a.#.#", "a", true },
  { "a.#.#", "a.b.c", true },
  { "a.*.#", "a", false },
  { "a.*.#", "a.b", true },
  { "a.*.#", "a.b.c.d", true },
  { "#.*", "a", true },
  { "#.*.#", "a.b", true },
  { "*.#.*", "a", false },
  { "*.#.*", "a.b", true },
  { "*.#.*", "a.b.c.d", true },
}

describe("MessageBus wildcard matching", function()
  for _, row in ipairs(MATCHING) do
    local pattern, topic, matches = row[1], row[2], row[3]
    local expected = matches and 1 or 0
    it(string.format("%q %s %q", pattern, matches and "reaches" or "does not reach", topic), function()
      local bus = MessageBus()
      local log = {}
      bus:subscribe(pattern, function(message)
        log[#log + 1] = message.type
      end)
      assert.are.equal(expected, bus:subscriber_count(topic))
      assert.are.equal(expected, bus:publish(topic, "first"))
      -- the second publish takes the cached route
      assert.are.equal(expected, bus:publish(topic, "second"))
      assert.are.same(matches and { topic, topic } or {}, log)
    end)
  end

  it("agrees with the table with every pattern of it subscribed on one bus", function()
    local bus = MessageBus()
    local seen = {}
    local patterns, by_pattern = {}, {}
    for _, row in ipairs(MATCHING) do
      if not by_pattern[row[1]] then
        by_pattern[row[1]] = true
        patterns[#patterns + 1] = row[1]
        bus:subscribe(row[1], function()
          seen[#seen + 1] = row[1]
        end)
      end
    end
    for _, row in ipairs(MATCHING) do
      local pattern, topic = row[1], row[2]
      -- what every pattern says about this topic, in subscription order
      local expected = {}
      for _, candidate in ipairs(patterns) do
        for _, other in ipairs(MATCHING) do
          if other[1] == candidate and other[2] == topic and other[3] then
            expected[#expected + 1] = candidate
            break
          end
        end
      end
      seen = {}
      local ran = bus:publish(topic)
      local hit = false
      for _, name in ipairs(seen) do
        hit = hit or name == pattern
      end
      assert.are.equal(row[3], hit, pattern .. " on " .. topic)
      -- every pattern the table lists for the topic ran, in subscription order
      local listed = {}
      for _, name in ipairs(seen) do
        for _, want in ipairs(expected) do
          if want == name then
            listed[#listed + 1] = name
          end
        end
      end
      assert.are.same(expected, listed, topic)
      assert.are.equal(#seen, ran)
      assert.are.equal(#seen, bus:subscriber_count(topic))
    end
  end)

  it("delivers once to a pattern that reaches a topic several ways", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("a.#.#", recorder(log, "twice-hash"))
    bus:subscribe("#.b.#", recorder(log, "b-anywhere"))
    assert.are.equal(2, bus:publish("a.b.b.c", 1))
    assert.are.same({ "twice-hash:1", "b-anywhere:1" }, log)
    assert.are.equal(2, bus:subscriber_count("a.b.b.c"))
  end)
end)

describe("MessageBus priorities", function()
  it("run higher first, equal ones in subscription order, negatives last", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("a.b", recorder(log, "low"), { priority = -1 })
    bus:subscribe("a.*", recorder(log, "first0"))
    bus:subscribe("#", recorder(log, "high"), { priority = 5 })
    bus:subscribe("a.b", recorder(log, "second0"), { priority = 0 })
    bus:subscribe("a.#", recorder(log, "lowest"), { priority = -3 })
    bus:subscribe("*.b", recorder(log, "also5"), { priority = 5 })
    bus:subscribe("a.b", recorder(log, "third0"))
    assert.are.equal(7, bus:publish("a.b"))
    assert.are.same({ "high", "also5", "first0", "second0", "third0", "low", "lowest" }, log)
  end)

  it("order a later subscription by its priority, not by when it came", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", recorder(log, "zero"))
    assert.are.equal(1, bus:publish("t"))
    bus:subscribe("t", recorder(log, "one"), { priority = 1 })
    bus:subscribe("t", recorder(log, "minus"), { priority = -1 })
    assert.are.equal(3, bus:publish("t"))
    assert.are.same({ "zero", "one", "zero", "minus" }, log)
  end)

  it("take big integers of either sign", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", recorder(log, "min"), { priority = -2 ^ 40 })
    bus:subscribe("t", recorder(log, "max"), { priority = 2 ^ 40 })
    bus:subscribe("t", recorder(log, "zero"))
    bus:publish("t")
    assert.are.same({ "max", "zero", "min" }, log)
  end)
end)

describe("MessageBus once", function()
  it("runs a handler for one message, then removes it", function()
    local bus = MessageBus()
    local log = {}
    local sub = bus:subscribe("t", recorder(log, "once"), { once = true })
    bus:subscribe("t", recorder(log, "always"))
    assert.is_true(sub.once)
    assert.are.equal(2, bus:subscriber_count("t"))
    assert.are.equal(2, bus:publish("t", 1))
    assert.is_false(sub:active())
    assert.are.equal(1, bus:subscriber_count("t"))
    assert.are.equal(1, bus:publish("t", 2))
    assert.are.same({ "once:1", "always:1", "always:2" }, log)
    assert.is_false(sub:unsubscribe())
  end)

  it("runs once even when the handler republishes the same topic", function()
    local bus = MessageBus()
    local log, inner = {}, nil
    local sub
    sub = bus:subscribe("t", function(message)
      log[#log + 1] = "once:" .. message.data
      -- removed before it ran: inactive already, and not reached again
      log[#log + 1] = "active:" .. tostring(sub:active())
      inner = bus:publish("t", message.data + 1)
    end, { once = true, priority = 1 })
    bus:subscribe("t", recorder(log, "other"))
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.equal(1, inner)
    assert.are.same({ "once:1", "active:false", "other:2", "other:1" }, log)
    assert.are.equal(1, bus:publish("t", 3))
    assert.are.same({ "once:1", "active:false", "other:2", "other:1", "other:3" }, log)
  end)

  it("waits for a message its filter lets through", function()
    local bus = MessageBus()
    local log = {}
    local sub = bus:subscribe("t", recorder(log, "even-once"), {
      once = true,
      filter = function(message)
        return message.data % 2 == 0
      end,
    })
    assert.are.equal(0, bus:publish("t", 1))
    assert.is_true(sub:active())
    assert.are.equal(1, bus:publish("t", 2))
    assert.is_false(sub:active())
    assert.are.equal(0, bus:publish("t", 4))
    assert.are.same({ "even-once:2" }, log)
  end)

  it("is gone even when its handler raises", function()
    local bus = quiet_bus()
    local calls = 0
    local sub = bus:subscribe("t", function()
      calls = calls + 1
      error("boom")
    end, { once = true })
    assert.are.equal(1, bus:publish("t"))
    assert.are.equal(0, bus:publish("t"))
    assert.are.equal(1, calls)
    assert.is_false(sub:active())
  end)
end)

describe("MessageBus filters", function()
  it("skip the handler when they answer false or nil, and see the message itself", function()
    local bus = MessageBus()
    local log, filtered = {}, {}
    bus:subscribe("t", recorder(log, "odd"), {
      filter = function(message)
        filtered[#filtered + 1] = message
        return message.data % 2 == 1
      end,
    })
    bus:subscribe("t", recorder(log, "nil-filter"), {
      filter = function()
        return nil
      end,
    })
    bus:subscribe("t", recorder(log, "truthy"), {
      filter = function()
        return "yes"
      end,
    })
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.equal(1, bus:publish("t", 2))
    assert.are.same({ "odd:1", "truthy:1", "truthy:2" }, log)
    assert.are.equal(2, #filtered)
    assert.are.equal("t", filtered[1].type)
    assert.are.equal(2, filtered[2].data)
    assert.are.equal(3, bus:stats().delivered)
  end)

  it("that raise are reported, their handler skipped, the others run", function()
    local logged, reported = {}, {}
    local bus = quiet_bus({
      on_error = function(err, message, subscription)
        reported[#reported + 1] = { err = err, message = message, subscription = subscription }
      end,
    }, logged)
    local log = {}
    local bad = bus:subscribe("t", recorder(log, "skipped"), {
      filter = function()
        error("filter exploded")
      end,
    })
    bus:subscribe("t", recorder(log, "runs"))
    assert.are.equal(1, bus:publish("t", 7))
    assert.are.same({ "runs:7" }, log)
    assert.are.equal(1, #reported)
    local err = reported[1].err
    assert.is_true(Error.is(err))
    assert.are.equal("handler_error", err.code)
    assert.truthy(err.message:find("filter exploded", 1, true), err.message)
    assert.truthy(err.message:find("filter", 1, true))
    assert.is_true(rawequal(bad, reported[1].subscription))
    assert.are.equal(7, reported[1].message.data)
    assert.are.equal(1, bus:stats().errors)
    assert.are.equal(1, #logged)
    assert.are.equal("error", logged[1][1])
    assert.truthy(logged[1][3]:find("filter exploded", 1, true))
    -- the subscription stays: its filter may pass next time
    assert.is_true(bad:active())
  end)
end)

describe("MessageBus error isolation", function()
  it("runs the later handlers after one raises, and reports the error", function()
    local logged, reported = {}, {}
    local bus = quiet_bus({}, logged)
    local log = {}
    local boom = bus:subscribe("job.run", function(message)
      log[#log + 1] = "boom:" .. message.data
      error("handler exploded")
    end, { priority = 1 })
    bus:subscribe("job.*", recorder(log, "after"))
    local remove = bus:on_error(function(err, message, subscription)
      reported[#reported + 1] = { err, message, subscription }
    end)
    assert.are.equal(2, bus:publish("job.run", 1))
    assert.are.same({ "boom:1", "after:1" }, log)

    assert.are.equal(1, #reported)
    local err, message, subscription = reported[1][1], reported[1][2], reported[1][3]
    assert.is_true(Error.is(err))
    assert.are.equal("handler_error", err.code)
    assert.truthy(err.message:find("handler exploded", 1, true), err.message)
    assert.truthy(err.message:find("job.run", 1, true), err.message)
    assert.are.equal("job.run", message.type)
    assert.are.equal(1, message.data)
    assert.is_true(rawequal(boom, subscription))
    assert.is_true(rawequal(boom, err.subscription))

    assert.are.same({ published = 1, delivered = 2, errors = 1 },
      { published = bus:stats().published, delivered = bus:stats().delivered, errors = bus:stats().errors })
    assert.are.equal(1, #logged)
    assert.are.equal("error", logged[1][1])
    assert.are.equal("qtforge.bus", logged[1][2])
    assert.are.equal(err.message, logged[1][3])

    -- a removed listener hears nothing more; errors still count and log
    remove()
    assert.are.equal(2, bus:publish("job.run", 2))
    assert.are.equal(1, #reported)
    assert.are.equal(2, bus:stats().errors)
    assert.are.equal(2, #logged)
    assert.are.same({ "boom:1", "after:1", "boom:2", "after:2" }, log)
  end)

  it("calls the on_error option and every listener, in order, and survives a failing listener", function()
    local calls, logged = {}, {}
    local bus = quiet_bus({
      on_error = function(err)
        calls[#calls + 1] = "option:" .. err.code
      end,
    }, logged)
    bus:on_error(function()
      calls[#calls + 1] = "failing"
      error("listener exploded")
    end)
    bus:on_error(function(err)
      calls[#calls + 1] = "second:" .. err.code
    end)
    bus:subscribe("t", function()
      error({ "not a string" })
    end)
    local ran = {}
    bus:subscribe("t", recorder(ran, "next"))
    assert.are.equal(2, bus:publish("t"))
    assert.are.same({ "option:handler_error", "failing", "second:handler_error" }, calls)
    assert.are.same({ "next" }, ran)
    -- one line for the failing listener, one for the handler's error
    assert.are.equal(2, #logged)
    assert.truthy(logged[1][3]:find("listener exploded", 1, true))
    assert.are.equal(1, bus:stats().errors)
  end)

  -- lists of one, two and more handlers may take different paths through delivery
  for count = 1, 5 do
    for failing = 1, count do
      it(string.format("reports handler %d of %d failing, runs the others and counts it as run", failing, count),
        function()
          local reported = {}
          local bus = quiet_bus({
            on_error = function(err, message, subscription)
              reported[#reported + 1] = { err.code, message.data, subscription }
            end,
          })
          local log, subs = {}, {}
          for i = 1, count do
            subs[i] = bus:subscribe("t", function(message)
              log[#log + 1] = i .. ":" .. message.data
              if i == failing then
                error("handler " .. i .. " fails")
              end
            end)
          end
          local expected = {}
          for round = 1, 2 do
            assert.are.equal(count, bus:publish("t", round))
            for i = 1, count do
              expected[#expected + 1] = i .. ":" .. round
            end
          end
          assert.are.same(expected, log)
          assert.are.equal(2, #reported)
          for round = 1, 2 do
            assert.are.equal("handler_error", reported[round][1])
            assert.are.equal(round, reported[round][2])
            assert.is_true(rawequal(subs[failing], reported[round][3]))
          end
          assert.are.same({ errors = 2, delivered = 2 * count },
            { errors = bus:stats().errors, delivered = bus:stats().delivered })
        end)

      it(string.format("stops at handler %d of %d returning STOP, after an error before it", failing, count),
        function()
          local bus = quiet_bus()
          local log = {}
          for i = 1, count do
            bus:subscribe("t", function()
              log[#log + 1] = i
              if i == failing then
                return STOP
              elseif i == failing - 1 then
                error("just before the stop")
              end
            end, i % 2 == 0 and {
              -- some through the filter path, which must pass STOP on
              filter = function()
                return true
              end,
            } or nil)
          end
          assert.are.equal(failing, bus:publish("t"))
          local expected = {}
          for i = 1, failing do
            expected[i] = i
          end
          assert.are.same(expected, log)
          assert.are.equal(failing > 1 and 1 or 0, bus:stats().errors)
        end)

      it(string.format("skips handlers removed by handler %d of %d, and reports later errors against the right one",
        failing, count), function()
        local reported = {}
        local bus = quiet_bus({
          on_error = function(_, _, subscription)
            reported[#reported + 1] = subscription
          end,
        })
        local log, subs = {}, {}
        for i = 1, count do
          subs[i] = bus:subscribe("t", function()
            log[#log + 1] = i
            if i == failing then
              -- removes the next one and itself
              if subs[i + 1] then
                subs[i + 1]:unsubscribe()
              end
              subs[i]:unsubscribe()
            elseif i > failing then
              error("after the remover")
            end
          end)
        end
        local expected, errors = {}, {}
        for i = 1, count do
          if i ~= failing + 1 then
            expected[#expected + 1] = i
            if i > failing then
              errors[#errors + 1] = subs[i]
            end
          end
        end
        assert.are.equal(#expected, bus:publish("t"))
        assert.are.same(expected, log)
        assert.are.equal(#errors, #reported)
        for i = 1, #errors do
          assert.is_true(rawequal(errors[i], reported[i]))
        end
        assert.are.equal(count - math.min(2, count - failing + 1), bus:subscriber_count("t"))
      end)
    end
  end

  it("keeps delivering when the log function itself raises", function()
    local bus = MessageBus({
      log = function()
        error("log exploded")
      end,
    })
    local log = {}
    bus:subscribe("t", function()
      error("boom")
    end)
    bus:subscribe("t", recorder(log, "second"))
    bus:subscribe("t", recorder(log, "third"))
    assert.are.equal(3, bus:publish("t", 1))
    assert.are.same({ "second:1", "third:1" }, log)
    assert.are.equal(1, bus:stats().errors)
  end)

  it("does not stop on a handler returning nothing, nil, false or a value", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", function()
      log[#log + 1] = "nothing"
    end, { priority = 4 })
    bus:subscribe("t", function()
      log[#log + 1] = "nil"
      return nil
    end, { priority = 3 })
    bus:subscribe("t", function()
      log[#log + 1] = "false"
      return false
    end, { priority = 2 })
    bus:subscribe("t", function()
      log[#log + 1] = "value"
      return "stop"
    end, { priority = 1 })
    bus:subscribe("t", recorder(log, "last"))
    assert.are.equal(5, bus:publish("t"))
    assert.are.same({ "nothing", "nil", "false", "value", "last" }, log)
  end)

  it("stops delivery at a handler returning STOP (qtforge.communication.STOP or bus.STOP)", function()
    local bus = MessageBus()
    assert.is_true(rawequal(STOP, bus.STOP))
    local log = {}
    bus:subscribe("t", recorder(log, "first"), { priority = 2 })
    bus:subscribe("t", function(message)
      log[#log + 1] = "stopper:" .. message.data
      if message.data == 1 then
        return STOP
      end
      return bus.STOP
    end, { priority = 1 })
    bus:subscribe("t", recorder(log, "never"))
    -- the stopper counts as run; the ones after it do not
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.equal(2, bus:publish("t", 2))
    assert.are.same({ "first:1", "stopper:1", "first:2", "stopper:2" }, log)
    assert.are.equal(4, bus:stats().delivered)
  end)

  it("keeps STOP a constant", function()
    assert.are.equal("qtforge.communication.STOP", tostring(STOP))
    local ok, message = pcall(function()
      STOP.x = 1
    end)
    assert.is_false(ok)
    assert.truthy(message:find("qtforge.communication.STOP is a constant", 1, true))
    assert.is_nil(rawget(STOP, "x"))
  end)

  it("does not let a STOP inside a nested publish stop the outer one", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("outer", function()
      log[#log + 1] = "outer1"
      bus:publish("inner")
    end, { priority = 1 })
    bus:subscribe("outer", recorder(log, "outer2"))
    bus:subscribe("inner", function()
      log[#log + 1] = "inner1"
      return STOP
    end, { priority = 1 })
    bus:subscribe("inner", recorder(log, "inner2"))
    assert.are.equal(2, bus:publish("outer"))
    assert.are.same({ "outer1", "inner1", "outer2" }, log)
  end)
end)

describe("MessageBus reentrancy", function()
  it("delivers a message published by a handler at once, before the later handlers", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("a", function()
      log[#log + 1] = "a1"
      assert.are.equal(2, bus:publish("b"))
      log[#log + 1] = "a1 done"
    end, { priority = 1 })
    bus:subscribe("a", recorder(log, "a2"))
    bus:subscribe("b", recorder(log, "b1"))
    bus:subscribe("#", recorder(log, "all"), { priority = -1 })
    assert.are.equal(3, bus:publish("a"))
    assert.are.same({ "a1", "b1", "all", "a1 done", "a2", "all" }, log)
  end)

  it("delivers a handler's publish on the same topic, nested, in order", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", function(message)
      log[#log + 1] = "first:" .. message.data
      if message.data < 3 then
        bus:publish("t", message.data + 1)
      end
    end)
    bus:subscribe("t", recorder(log, "second"))
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.same({ "first:1", "first:2", "first:3", "second:3", "second:2", "second:1" }, log)
    assert.are.equal(3, bus:stats().published)
    assert.are.equal(6, bus:stats().delivered)
  end)

  it("does not give the current message to a handler subscribed during it; the next one reaches it", function()
    local bus = MessageBus()
    local log = {}
    local added
    bus:subscribe("t", function(message)
      log[#log + 1] = "adder:" .. message.data
      if not added then
        -- even with a higher priority and a wildcard it waits for the next message
        added = bus:subscribe("#", recorder(log, "new"), { priority = 10 })
      end
    end)
    bus:subscribe("t", recorder(log, "later"))
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.same({ "adder:1", "later:1" }, log)
    assert.is_true(added:active())
    assert.are.equal(3, bus:publish("t", 2))
    assert.are.same({ "adder:1", "later:1", "new:2", "adder:2", "later:2" }, log)
  end)

  it("gives a message a handler publishes to a handler subscribed just before", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", function(message)
      log[#log + 1] = "outer:" .. message.data
      if message.data == 1 then
        bus:subscribe("t", recorder(log, "new"))
        bus:publish("t", 2)
      end
    end)
    assert.are.equal(1, bus:publish("t", 1))
    assert.are.same({ "outer:1", "outer:2", "new:2" }, log)
  end)

  it("lets a handler unsubscribe itself and a later handler, which is then skipped", function()
    local bus = MessageBus()
    local log = {}
    local self_sub, later, results
    self_sub = bus:subscribe("t", function(message)
      log[#log + 1] = "remover:" .. message.data
      results = { self_sub:unsubscribe(), later:unsubscribe(), later:unsubscribe(), self_sub:unsubscribe() }
      assert.is_false(self_sub:active())
      assert.is_false(later:active())
    end, { priority = 1 })
    bus:subscribe("t", recorder(log, "stays"))
    later = bus:subscribe("t", recorder(log, "later"), { priority = -1 })
    assert.is_true(self_sub:active())
    assert.is_true(later:active())
    -- the skipped one does not count
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.same({ true, true, false, false }, results)
    assert.are.same({ "remover:1", "stays:1" }, log)
    assert.are.equal(1, bus:publish("t", 2))
    assert.are.same({ "remover:1", "stays:1", "stays:2" }, log)
    assert.are.equal(1, bus:subscriber_count())
    assert.are.same({ "t" }, bus:topics())
  end)

  it("lets a handler unsubscribe one that already ran, without running it again", function()
    local bus = MessageBus()
    local log = {}
    local early = bus:subscribe("t", recorder(log, "early"), { priority = 1 })
    bus:subscribe("t", function(message)
      log[#log + 1] = "remover:" .. message.data
      log[#log + 1] = tostring(early:unsubscribe())
    end)
    assert.are.equal(2, bus:publish("t", 1))
    assert.are.equal(1, bus:publish("t", 2))
    assert.are.same({ "early:1", "remover:1", "true", "remover:2", "false" }, log)
  end)

  it("skips a handler unsubscribed by a nested publish's handler", function()
    local bus = MessageBus()
    local log = {}
    local victim
    bus:subscribe("outer", function()
      log[#log + 1] = "outer"
      bus:publish("inner")
    end, { priority = 1 })
    victim = bus:subscribe("outer", recorder(log, "victim"))
    bus:subscribe("inner", function()
      log[#log + 1] = "inner"
      victim:unsubscribe()
    end)
    assert.are.equal(1, bus:publish("outer"))
    assert.are.same({ "outer", "inner" }, log)
  end)

  it("answers false to unsubscribing a removed subscription, and active() flips once", function()
    local bus = MessageBus()
    local sub = bus:subscribe("t", function() end)
    assert.is_true(sub:active())
    assert.is_true(sub:unsubscribe())
    assert.is_false(sub:active())
    assert.is_false(sub:unsubscribe())
    assert.is_false(sub:active())
    assert.are.equal(0, bus:publish("t"))
    assert.are.equal(0, bus:subscriber_count())
    assert.are.same({}, bus:topics())
    assert.truthy(tostring(sub):find("inactive", 1, true))
  end)

  it("describes a subscription by its id, pattern and priority", function()
    local bus = MessageBus()
    local a = bus:subscribe("x.*", function() end, { priority = 3 })
    local b = bus:subscribe("#", function() end)
    assert.are.equal("x.*", a.pattern)
    assert.are.equal(3, a.priority)
    assert.are.equal(0, b.priority)
    assert.is_false(a.once)
    assert.is_true(b.id > a.id)
    assert.is_nil(a.owner_id)
  end)
end)

describe("MessageBus messages", function()
  it("hands every subscriber the very Message published, built field by field", function()
    local bus = MessageBus()
    local got = {}
    bus:subscribe("plugin.command", function(message)
      got[#got + 1] = message
    end)
    bus:subscribe("plugin.*", function(message)
      got[#got + 1] = message
    end)
    local m = Message()
    m.type = "plugin.command"
    m.data = { command = "play", args = { 1, 2 } }
    assert.are.equal(2, bus:publish(m))
    assert.are.equal(2, #got)
    assert.is_true(rawequal(m, got[1]))
    assert.is_true(rawequal(m, got[2]))
    assert.are.same({ command = "play", args = { 1, 2 } }, got[1].data)
    assert.is_true(math.type == nil or math.type(m.id) == "integer")
    assert.are.equal("number", type(m.id))
    assert.are.equal("number", type(m.timestamp))
    assert.are.equal("table", type(m.headers))
    assert.is_nil(m.sender)
  end)

  it("gives messages unique, increasing ids and a current timestamp", function()
    local before = os.time()
    local a, b = Message(), Message({ type = "x" })
    assert.is_true(b.id > a.id)
    local after = os.time()
    -- seconds since the epoch (not milliseconds, not a monotonic clock), with room for a clock step
    assert.is_true(a.timestamp >= before - 60 and a.timestamp <= after + 60,
      string.format("timestamp %.3f, os.time() %d before and %d after", a.timestamp, before, after))
    local bus = MessageBus()
    local ids = {}
    bus:subscribe("x", function(message)
      ids[#ids + 1] = message.id
    end)
    bus:publish("x")
    bus:publish(b)
    bus:publish("x")
    local c = Message()
    assert.are.equal(3, #ids)
    assert.is_true(ids[1] > b.id)
    assert.are.equal(b.id, ids[2])
    assert.is_true(ids[3] > ids[1])
    assert.is_true(c.id > ids[3])
  end)

  it("builds from fields: type, data, sender, headers", function()
    local headers = { trace = "abc" }
    local m = Message({ type = "a.b", data = 5, sender = "me", headers = headers })
    assert.are.equal("a.b", m.type)
    assert.are.equal(5, m.data)
    assert.are.equal("me", m.sender)
    assert.is_true(rawequal(headers, m.headers))
    local n = Message.new({ type = "a.b" })
    assert.are.same({}, n.headers)
    assert.truthy(tostring(m):find("a.b", 1, true))
  end)

  it("carries type, data and id for publish(type, data), the timestamp and headers made on first access", function()
    local bus = MessageBus()
    local data = { n = 1 }
    local got
    bus:subscribe("a.b", function(message)
      got = message
    end)
    assert.are.equal(1, bus:publish("a.b", data))
    assert.are.equal("a.b", got.type)
    assert.is_true(rawequal(data, got.data))
    assert.are.equal("number", type(got.id))
    assert.is_nil(rawget(got, "timestamp"))
    assert.is_nil(rawget(got, "headers"))
    local stamp = got.timestamp
    assert.are.equal("number", type(stamp))
    assert.are.equal(stamp, rawget(got, "timestamp"))
    assert.are.equal(stamp, got.timestamp)
    local headers = got.headers
    assert.are.equal("table", type(headers))
    assert.is_true(rawequal(headers, got.headers))
    assert.is_nil(got.sender)
    assert.is_nil(got.anything_else)
  end)

  it("builds a new message for every publish(type, data)", function()
    local bus = MessageBus()
    local got = {}
    bus:subscribe("t", function(message)
      got[#got + 1] = message
    end)
    bus:publish("t", 1)
    bus:publish("t", 1)
    assert.is_false(rawequal(got[1], got[2]))
    assert.is_true(got[2].id > got[1].id)
  end)
end)

describe("MessageBus post and flush", function()
  it("queues messages in order and delivers nothing before flush", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("q.*", function(message)
      log[#log + 1] = message.type .. ":" .. tostring(message.data)
    end)
    assert.are.same({ true }, { bus:post("q.a", 1) })
    assert.is_true(bus:post("q.b", 2))
    local m = Message({ type = "q.c", data = 3 })
    assert.is_true(bus:post(m))
    assert.is_true(bus:post("q.a", 4))
    assert.is_true(bus:post("nobody.listens", 5))
    assert.are.same({}, log)
    assert.are.equal(5, bus:stats().queued)
    assert.are.equal(5, bus:stats().posted)
    assert.are.equal(0, bus:stats().published)
    assert.are.equal(5, bus:flush())
    assert.are.same({ "q.a:1", "q.b:2", "q.c:3", "q.a:4" }, log)
    assert.are.equal(0, bus:stats().queued)
    assert.are.equal(5, bus:stats().published)
    assert.are.equal(4, bus:stats().delivered)
    assert.are.equal(0, bus:flush())
  end)

  it("delivers the posted Message itself, stamped when posted", function()
    local bus = MessageBus()
    local got = {}
    bus:subscribe("t", function(message)
      got[#got + 1] = message
    end)
    local m = Message({ type = "t" })
    bus:post(m)
    bus:post("t", "x")
    bus:flush()
    assert.is_true(rawequal(m, got[1]))
    assert.are.equal("x", got[2].data)
    assert.are.equal("number", type(rawget(got[2], "timestamp")))
    assert.is_true(got[2].id > m.id)
  end)

  it("keeps what handlers post during a flush for the next flush", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("t", function(message)
      log[#log + 1] = message.data
      if message.data < 3 then
        assert.is_true(bus:post("t", message.data + 1))
      end
    end)
    bus:post("t", 1)
    assert.are.equal(1, bus:flush())
    assert.are.same({ 1 }, log)
    assert.are.equal(1, bus:stats().queued)
    assert.are.equal(1, bus:flush())
    assert.are.same({ 1, 2 }, log)
    assert.are.equal(1, bus:flush())
    assert.are.equal(0, bus:flush())
    assert.are.same({ 1, 2, 3 }, log)
  end)

  it("delivers to the subscriptions there at flush time", function()
    local bus = MessageBus()
    local log = {}
    local gone = bus:subscribe("t", recorder(log, "gone"))
    bus:post("t", 1)
    gone:unsubscribe()
    bus:subscribe("t", recorder(log, "new"))
    assert.are.equal(1, bus:flush())
    assert.are.same({ "new:1" }, log)
  end)

  it("does not lose the other queued messages to one whose type was spoiled after post", function()
    local bus = quiet_bus()
    local log = {}
    bus:subscribe("t", recorder(log, "t"))
    local m = Message({ type = "t", data = 1 })
    bus:post("t", 0)
    bus:post(m)
    bus:post("t", 2)
    bus:post("t", 3)
    m.type = 42
    -- the spoiled one may raise or be dropped; the others arrive, now or at the next flush
    pcall(bus.flush, bus)
    pcall(bus.flush, bus)
    assert.are.same({ "t:0", "t:2", "t:3" }, log)
  end)

  it("refuses with queue_full past max_queue, and takes messages again after a flush", function()
    local bus = MessageBus({ max_queue = 2 })
    local log = {}
    bus:subscribe("t", recorder(log, "h"))
    assert.is_true(bus:post("t", 1))
    assert.is_true(bus:post("t", 2))
    local ok, err = bus:post("t", 3)
    assert.is_false(ok)
    assert.is_true(Error.is(err))
    assert.are.equal("queue_full", err.code)
    assert.is_false((bus:post(Message({ type = "t", data = 4 }))))
    assert.are.equal(2, bus:stats().queued)
    assert.are.equal(2, bus:stats().posted)
    assert.are.equal(2, bus:flush())
    assert.are.same({ "h:1", "h:2" }, log)
    assert.is_true(bus:post("t", 5))
    assert.are.equal(1, bus:flush())
    assert.are.same({ "h:1", "h:2", "h:5" }, log)
  end)
end)

describe("MessageBus headers and on_broadcast", function()
  it("publish and post take headers, which become the message's", function()
    local bus = MessageBus()
    local seen = {}
    bus:subscribe("h.*", function(message)
      seen[#seen + 1] = message.type .. ":" .. tostring(message.headers.trace)
    end)
    local headers = { trace = "t1" }
    assert.are.equal(1, bus:publish("h.a", 1, headers))
    assert.is_true(bus:post("h.b", 2, { trace = "t2" }))
    bus:publish("h.c", 3)
    bus:flush()
    assert.are.same({ "h.a:t1", "h.c:nil", "h.b:t2" }, seen)
  end)

  it("hands a broadcast message to every listener before its handlers, once each", function()
    local bus = MessageBus()
    local log = {}
    bus:subscribe("b.*", function(message)
      log[#log + 1] = "handler:" .. message.type
    end)
    bus:on_broadcast(function(message)
      log[#log + 1] = "first:" .. message.type .. ":" .. tostring(message.data)
    end)
    local remove = bus:on_broadcast(function(message)
      log[#log + 1] = "second:" .. message.type
    end)
    bus:publish("b.now", 1, { broadcast = true })
    bus:publish("b.local", 2, { broadcast = false })
    bus:publish("b.plain", 3)
    bus:publish(Message({ type = "b.message", data = 4, headers = { broadcast = true } }))
    bus:post("b.later", 5, { broadcast = true })
    assert.are.same({ "first:b.now:1", "second:b.now", "handler:b.now", "handler:b.local", "handler:b.plain",
      "first:b.message:4", "second:b.message", "handler:b.message" }, log)
    remove()
    bus:flush()
    assert.are.same({ "first:b.later:5", "handler:b.later" }, { log[9], log[10] })
    assert.are.equal(10, #log)
  end)

  it("hands on broadcasts nobody here subscribed to, and counts no subscription for it", function()
    local bus = MessageBus()
    local out = {}
    bus:on_broadcast(function(message)
      out[#out + 1] = message.type
    end)
    assert.are.equal(0, bus:publish("elsewhere.only", nil, { broadcast = true }))
    assert.are.same({ "elsewhere.only" }, out)
    assert.are.equal(0, bus:subscriber_count())
    assert.are.same({}, bus:topics())
  end)

  it("survives a failing listener: logged, counted, and the handlers still run", function()
    local logged = {}
    local bus = quiet_bus(nil, logged)
    local handled = 0
    bus:subscribe("x", function()
      handled = handled + 1
    end)
    bus:on_broadcast(function()
      error("cannot carry it")
    end)
    assert.are.equal(1, bus:publish("x", nil, { broadcast = true }))
    assert.are.equal(1, handled)
    assert.are.equal(1, bus:stats().errors)
    assert.are.equal(1, #logged)
    assert.truthy(logged[1][3]:find("on_broadcast listener failed on message", 1, true))
    assert.truthy(logged[1][3]:find("cannot carry it", 1, true))
  end)

  it("reaches a plugin's publish and post, with its sender", function()
    local manager = qtforge.core.PluginManager()
    local out = {}
    manager:bus():on_broadcast(function(message)
      out[#out + 1] = message.type .. " from " .. tostring(message.sender) .. " " .. tostring(message.headers.n)
    end)
    manager:register_plugin({
      manifest = { name = "caster", version = "1.0.0" },
      on_start = function(ctx)
        ctx.bus:publish("cast.now", 1, { broadcast = true, n = 1 })
        ctx.bus:post("cast.later", 2, { broadcast = true, n = 2 })
      end,
    })
    manager:update_all_plugins(0)
    assert.are.same({ "cast.now from caster 1", "cast.later from caster 2" }, out)
    manager:shutdown()
  end)
end)

describe("MessageBus introspection", function()
  it("lists the subscribed patterns sorted, each once", function()
    local bus = MessageBus()
    assert.are.same({}, bus:topics())
    local subs = {
      bus:subscribe("b.*", function() end),
      bus:subscribe("a", function() end),
      bus:subscribe("b.*", function() end, { priority = 1 }),
      bus:subscribe("#", function() end),
      bus:subscribe("a.#", function() end),
    }
    assert.are.same({ "#", "a", "a.#", "b.*" }, bus:topics())
    subs[1]:unsubscribe()
    assert.are.same({ "#", "a", "a.#", "b.*" }, bus:topics())
    subs[3]:unsubscribe()
    assert.are.same({ "#", "a", "a.#" }, bus:topics())
  end)

  it("counts the subscriptions a topic reaches, and all of them", function()
    local bus = MessageBus()
    bus:subscribe("a.b", function() end)
    bus:subscribe("a.*", function() end)
    local hash = bus:subscribe("#", function() end)
    bus:subscribe("c", function() end, {
      filter = function()
        return false
      end,
    })
    assert.are.equal(4, bus:subscriber_count())
    assert.are.equal(3, bus:subscriber_count("a.b"))
    assert.are.equal(2, bus:subscriber_count("a.c"))
    -- before filters
    assert.are.equal(2, bus:subscriber_count("c"))
    assert.are.equal(1, bus:subscriber_count("z.z.z"))
    hash:unsubscribe()
    assert.are.equal(3, bus:subscriber_count())
    assert.are.equal(0, bus:subscriber_count("z.z.z"))
    assert.are.equal(2, bus:subscriber_count("a.b"))
  end)

  it("keeps stats of published, delivered, errors, posted, queued and subscriptions", function()
    local bus = quiet_bus()
    assert.are.same({ published = 0, delivered = 0, errors = 0, posted = 0, queued = 0, subscriptions = 0,
      routes_cached = 0, pending_requests = 0 }, bus:stats())
    bus:subscribe("t", function() end)
    bus:subscribe("t", function()
      error("x")
    end)
    local gone = bus:subscribe("u", function() end)
    bus:publish("t")
    bus:publish("nobody")
    bus:post("t")
    bus:post("u")
    gone:unsubscribe()
    local stats = bus:stats()
    assert.are.equal(2, stats.published)
    assert.are.equal(2, stats.delivered)
    assert.are.equal(1, stats.errors)
    assert.are.equal(2, stats.posted)
    assert.are.equal(2, stats.queued)
    assert.are.equal(2, stats.subscriptions)
    bus:flush()
    stats = bus:stats()
    assert.are.equal(4, stats.published)
    assert.are.equal(4, stats.delivered)
    assert.are.equal(2, stats.errors)
    assert.are.equal(2, stats.posted)
    assert.are.equal(0, stats.queued)
  end)

  it("reads as its class and subscription count", function()
    local bus = MessageBus()
    bus:subscribe("a", function() end)
    assert.truthy(tostring(bus):find("MessageBus", 1, true))
    assert.truthy(tostring(bus):find("1 subscription", 1, true))
  end)
end)

describe("MessageBus route cache", function()
  it("delivers right on many topics with room for two routes", function()
    local bus = MessageBus({ route_cache = 2 })
    local log = {}
    bus:subscribe("t.#", function(message)
      log[#log + 1] = "all:" .. message.type
    end)
    bus:subscribe("t.*.even", function(message)
      log[#log + 1] = "even:" .. message.type
    end, { priority = 1 })
    local expected = {}
    for round = 1, 3 do
      for i = 1, 20 do
        local topic = "t." .. i .. (i % 2 == 0 and ".even" or ".odd")
        local want = i % 2 == 0 and 2 or 1
        assert.are.equal(want, bus:publish(topic, round), topic)
        if i % 2 == 0 then
          expected[#expected + 1] = "even:" .. topic
        end
        expected[#expected + 1] = "all:" .. topic
        assert.is_true(bus:stats().routes_cached <= 2)
      end
    end
    assert.are.same(expected, log)
  end)

  for _, limit in ipairs({ 2, 4096 }) do
    it("gives topics published before a wildcard subscription the new handler, and drops it after "
      .. "unsubscribe (route_cache = " .. limit .. ")", function()
      local bus = MessageBus({ route_cache = limit })
      local log = {}
      bus:subscribe("x.1", recorder(log, "exact"))
      for _, topic in ipairs({ "x.1", "x.2", "y.1" }) do
        bus:publish(topic, topic)
      end
      assert.are.same({ "exact:x.1" }, log)

      clear(log)
      local wild = bus:subscribe("x.*", recorder(log, "wild"), { priority = 1 })
      local counts = {}
      for _, topic in ipairs({ "x.1", "x.2", "y.1" }) do
        counts[#counts + 1] = bus:publish(topic, topic)
      end
      assert.are.same({ 2, 1, 0 }, counts)
      assert.are.same({ "wild:x.1", "exact:x.1", "wild:x.2" }, log)

      clear(log)
      assert.is_true(wild:unsubscribe())
      counts = {}
      for _, topic in ipairs({ "x.1", "x.2", "y.1" }) do
        counts[#counts + 1] = bus:publish(topic, topic)
      end
      assert.are.same({ 1, 0, 0 }, counts)
      assert.are.same({ "exact:x.1" }, log)
    end)
  end

  it("gives a topic nobody listened to its first subscriber", function()
    local bus = MessageBus()
    local log = {}
    assert.are.equal(0, bus:publish("lonely", 1))
    assert.are.equal(0, bus:publish("lonely", 2))
    bus:subscribe("lonely", recorder(log, "exact"))
    assert.are.equal(1, bus:publish("lonely", 3))
    bus:subscribe("#", recorder(log, "any"))
    assert.are.equal(2, bus:publish("lonely", 4))
    assert.are.same({ "exact:3", "exact:4", "any:4" }, log)
  end)

  it("lets an exact subscription change only its own topic's route", function()
    local bus = MessageBus({ route_cache = 3 })
    local log = {}
    bus:subscribe("#", recorder(log, "any"))
    bus:publish("a", 1)
    bus:publish("b", 1)
    local exact = bus:subscribe("a", recorder(log, "a"), { priority = 1 })
    bus:publish("a", 2)
    bus:publish("b", 2)
    exact:unsubscribe()
    bus:publish("a", 3)
    assert.are.same({ "any:1", "any:1", "a:2", "any:2", "any:2", "any:3" }, log)
  end)
end)

-- Misuse: each case is a one-line function, so the line it is defined on is
-- the line of the bad call; `bus`, `sub` and `f` are rebuilt before each case.
local bus, sub
local function f() end

local CASES = {
  { 'MessageBus:subscribe: "a..b" is not a subscription pattern (segment 2 is empty',
    function() bus:subscribe("a..b", f) end },
  { 'MessageBus:subscribe: "a.b*" is not a subscription pattern ("b*": \'*\' and \'#\' stand only as whole segments',
    function() bus:subscribe("a.b*", f) end },
  { 'MessageBus:subscribe: ".a" is not a subscription pattern', function() bus:subscribe(".a", f) end },
  { 'MessageBus:subscribe: "" is not a subscription pattern', function() bus:subscribe("", f) end },
  { "MessageBus:subscribe: argument 'pattern' must be a topic pattern string, got nil",
    function() bus:subscribe(nil, f) end },
  { "MessageBus:subscribe: argument 'fn' must be a function, got nil", function() bus:subscribe("a") end },
  { "MessageBus:subscribe: argument 'fn' must be a function, got number", function() bus:subscribe("a", 5) end },
  { "MessageBus:subscribe: argument 'fn' must be a function, got \"f\"", function() bus:subscribe("a", "f") end },
  { 'MessageBus:subscribe: unknown option "prio" (known: filter, once, priority)',
    function() bus:subscribe("a", f, { prio = 1 }) end },
  { "MessageBus:subscribe: argument 'opts' must be a table or nil, got number",
    function() bus:subscribe("a", f, 1) end },
  { "MessageBus:subscribe: option 'priority' must be an integer from -2^53 to 2^53, got 1.5",
    function() bus:subscribe("a", f, { priority = 1.5 }) end },
  { "MessageBus:subscribe: option 'priority' must be an integer from -2^53 to 2^53, got",
    function() bus:subscribe("a", f, { priority = 0 / 0 }) end },
  { "MessageBus:subscribe: option 'priority' must be an integer from -2^53 to 2^53, got inf",
    function() bus:subscribe("a", f, { priority = math.huge }) end },
  { "MessageBus:subscribe: option 'priority' must be a number, got \"1\"",
    function() bus:subscribe("a", f, { priority = "1" }) end },
  { "MessageBus:subscribe: option 'once' must be a boolean, got \"yes\"",
    function() bus:subscribe("a", f, { once = "yes" }) end },
  { "MessageBus:subscribe: option 'filter' must be a function, got boolean",
    function() bus:subscribe("a", f, { filter = true }) end },
  -- an integral priority past what the router holds is misuse like any other
  { "MessageBus:subscribe: option 'priority'", function() bus:subscribe("a", f, { priority = 2 ^ 63 }) end,
    "priority 2^63" },
  { "MessageBus:subscribe: option 'priority'", function() bus:subscribe("a", f, { priority = -1e300 }) end,
    "priority -1e300" },
  { 'MessageBus:publish: "a.*" is not a topic ("*": wildcards belong in subscription patterns',
    function() bus:publish("a.*") end },
  { 'MessageBus:publish: "#" is not a topic', function() bus:publish("#") end },
  { 'MessageBus:publish: "" is not a topic (a topic must not be empty)', function() bus:publish("") end },
  { 'MessageBus:publish: "a..b" is not a topic', function() bus:publish("a..b", 1) end },
  { "MessageBus:publish: argument 1 must be a topic string or a qtforge.communication.Message, got number",
    function() bus:publish(42) end },
  { "MessageBus:publish: argument 1 must be a topic string or a qtforge.communication.Message, got table",
    function() bus:publish({ type = "a" }) end },
  { "MessageBus:publish: the message's 'type' must be a topic string, got nil", function() bus:publish(Message()) end },
  { "MessageBus:publish: a message carries its data and headers: pass publish(message) or publish(type, data, headers)",
    function() bus:publish(Message({ type = "a" }), 1) end },
  { "MessageBus:publish: a message carries its data and headers: pass publish(message) or publish(type, data, headers)",
    function() bus:publish(Message({ type = "a" }), nil, {}) end },
  { "MessageBus:publish: argument 'headers' must be a table or nil, got \"broadcast\"",
    function() bus:publish("a", 1, "broadcast") end },
  { "MessageBus:post: argument 'headers' must be a table or nil, got boolean", function() bus:post("a", 1, true) end },
  { "MessageBus:post: a message carries its data and headers: pass post(message) or post(type, data, headers)",
    function() bus:post(Message({ type = "a" }), nil, {}) end },
  { "MessageBus:on_broadcast: argument 'fn' must be a function, got nil", function() bus:on_broadcast() end },
  { 'MessageBus:post: "a.*" is not a topic', function() bus:post("a.*") end },
  { "MessageBus:post: argument 1 must be a topic string or a qtforge.communication.Message, got nil",
    function() bus:post() end },
  { "MessageBus:subscriber_count: argument 'topic' must be a string or nil, got number",
    function() bus:subscriber_count(5) end },
  { 'MessageBus:subscriber_count: "a.#" is not a topic', function() bus:subscriber_count("a.#") end },
  { "MessageBus:on_error: argument 'fn' must be a function, got nil", function() bus:on_error() end },
  { 'MessageBus: unknown option "colour" (known: log, max_queue, on_error, route_cache)',
    function() MessageBus({ colour = 1 }) end },
  { "MessageBus: argument 'opts' must be a table or nil, got \"x\"", function() MessageBus.new("x") end },
  { "MessageBus: option 'max_queue' must be a positive integer, got 0", function() MessageBus({ max_queue = 0 }) end },
  { "MessageBus: option 'route_cache' must be a positive integer, got 1.5",
    function() MessageBus({ route_cache = 1.5 }) end },
  { "MessageBus: option 'log' must be a function, got \"x\"", function() MessageBus({ log = "x" }) end },
  { "Message: argument 'fields' must be a table or nil, got number", function() Message(5) end },
  { 'Message: unknown field "colour" (known: data, headers, sender, type)', function() Message({ colour = 1 }) end },
  { "Message: field 'type' must be a string, got number", function() Message.new({ type = 5 }) end },
  -- called with '.' instead of ':'
  { "MessageBus:publish: call it with ':' on a MessageBus, got \"a.b\"", function() bus.publish("a.b", 1) end },
  { "MessageBus:publish: call it with ':' on a MessageBus, got nil", function() bus.publish() end },
  { "MessageBus:publish: call it with ':' on a MessageBus, got number", function() bus.publish(42) end },
  { "MessageBus:subscribe: call it with ':' on a MessageBus, got \"a\"", function() bus.subscribe("a", f) end },
  { "MessageBus:post: call it with ':' on a MessageBus, got \"a\"", function() bus.post("a") end },
  { "MessageBus:flush: call it with ':' on a MessageBus, got nil", function() bus.flush() end },
  { "MessageBus:on_error: call it with ':' on a MessageBus, got function", function() bus.on_error(f) end },
  { "MessageBus:topics: call it with ':' on a MessageBus, got nil", function() bus.topics() end },
  { "MessageBus:subscriber_count: call it with ':' on a MessageBus, got \"a\"",
    function() bus.subscriber_count("a") end },
  { "MessageBus:stats: call it with ':' on a MessageBus, got nil", function() bus.stats() end },
  { "Subscription:unsubscribe: call it with ':' on a subscription, got nil", function() sub.unsubscribe() end },
  { "Subscription:active: call it with ':' on a subscription, got table", function() sub.active({}) end },
}


describe("MessageBus misuse", function()
  local log

  before_each(function()
    log = {}
    bus = MessageBus()
    sub = bus:subscribe("t", recorder(log, "t"))
  end)

  for _, case in ipairs(CASES) do
    local expected, fn, label = case[1], case[2], case[3]
    local name = "raises \"" .. expected .. "\" at the caller's line and changes nothing"
    it(name .. (label and " (" .. label .. ")" or ""), function()
      assert.are.equal(expected, misuse.raised_at_caller(fn):sub(1, #expected))
      -- the bus is as it was, and still works
      assert.are.same({ "t" }, bus:topics())
      assert.are.equal(1, bus:subscriber_count())
      assert.are.equal(0, bus:stats().queued)
      assert.are.equal(1, bus:publish("t", "ok"))
      assert.are.same({ "t:ok" }, log)
    end)
  end

  -- Lua strings are bytes: a pattern or topic that is not UTF-8 may be taken, or
  -- refused like any bad argument (a string naming the method, at the caller's
  -- line), but not fail as a conversion inside qtforge (no tail calls below:
  -- they would take the caller's line out of the error)
  local NOT_UTF8 = "caf\233"
  for _, case in ipairs({
    { "MessageBus:subscribe", function() local _ = bus:subscribe(NOT_UTF8, f) end },
    { "MessageBus:publish", function() local _ = bus:publish(NOT_UTF8, 1) end },
    { "MessageBus:post", function() local _ = bus:post(NOT_UTF8, 1) end },
    { "MessageBus:subscriber_count", function() local _ = bus:subscriber_count(NOT_UTF8) end },
  }) do
    local fname, fn = case[1], case[2]
    it("of " .. fname .. " with a name that is not UTF-8 is taken or refused by name", function()
      if not pcall(fn) then
        assert.are.equal(fname .. ": ", misuse.raised_at_caller(fn):sub(1, #fname + 2))
      end
    end)
  end
end)
