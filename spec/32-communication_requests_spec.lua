-- qtforge.communication: request/response (respond, request, request_async,
-- deferred answers, timeouts, cancel) and service contracts (ServiceContract,
-- provide, service proxies checked against the contract, version ranges).
local qtforge = require("qtforge")
local plugins = require("support.plugins")

local communication = qtforge.communication
local MessageBus = communication.MessageBus
local RequestResponseSystem = communication.RequestResponseSystem
local ServiceContract = communication.ServiceContract
local Error = qtforge.Error
local monotonic = qtforge.utils.monotonic

local contains, failed = plugins.contains, plugins.failed

-- Spins for `seconds` on the monotonic clock: a responder that takes its time.
local function busy_wait(seconds)
  local stop = monotonic() + seconds
  while monotonic() < stop do -- luacheck: ignore 563
  end
end

-- Calls fn(...) expecting it to raise; returns the error value.
local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- Calls fn(...) expecting it to raise a qtforge.Error of `code`; returns it.
local function raises_error(code, fn, ...)
  local err = raises(fn, ...)
  assert.is_true(Error.is(err), "not a qtforge.Error: " .. tostring(err))
  assert.are.equal(code, err.code, tostring(err))
  return err
end

-- Calls fn(...) expecting a Lua error (a string); returns the message.
local function raises_message(fn, ...)
  local err = raises(fn, ...)
  assert.is_string(err)
  return err
end

-- A callback that keeps the results it is called with.
local function recorder()
  local calls = {}
  return calls, function(result)
    calls[#calls + 1] = result
  end
end

local CALC = {
  name = "calc",
  version = "1.0.0",
  description = "adds",
  methods = {
    add = { params = { "number", "number" }, returns = { "number" } },
    neg = { params = { "number" }, returns = { "number" } },
  },
}

local function calc_contract(version)
  local definition = {}
  for k, v in pairs(CALC) do
    definition[k] = v
  end
  definition.version = version or CALC.version
  return ServiceContract(definition)
end

local function calc_impl(tag)
  return {
    add = function(_, a, b)
      return a + b
    end,
    neg = function(_, a)
      return -a
    end,
    tag = tag,
  }
end

describe("request/response", function()
  local bus

  before_each(function()
    bus = MessageBus({ log = function() end })
  end)

  it("answers a request with what the responder returns", function()
    local seen
    bus:respond("math.double", function(data, request)
      seen = request
      return data * 2
    end)
    local result = bus:request("math.double", 21)
    assert.are.same({ success = true, value = 42 }, result)
    assert.are.equal("math.double", seen.type)
    assert.are.equal(21, seen.data)
    assert.is_number(seen.id)
    assert.is_nil(seen.sender)
    assert.is_true(seen:answered())
  end)

  it("takes a nil answer as a success with value nil", function()
    bus:respond("void", function() end)
    local result = bus:request("void", nil)
    assert.is_true(result.success)
    assert.is_nil(result.value)
    assert.is_nil(result.error)
  end)

  it("fails with no_responder when nothing answers the type", function()
    local err = failed(bus:request("nobody.home", 1), "no_responder")
    contains(err.message, '"nobody.home"')
  end)

  it("fails with handler_error carrying the message when the responder raises", function()
    bus:respond("explode", function()
      error("kaboom")
    end)
    local err = failed(bus:request("explode"), "handler_error")
    contains(err.message, '"explode"', "kaboom")
  end)

  it("refuses a second responder for a type, naming the one there", function()
    bus:respond("math.double", function() end)
    local message = raises_message(function()
      bus:respond("math.double", function() end)
    end)
    contains(message, "MessageBus:respond", '"math.double" already has a responder', "unregister it first")
    -- the first stays in place
    assert.are.same({ "math.double" }, bus:request_response():responders())
  end)

  it("forgets a responder that unregisters, and accepts a new one then", function()
    local responder = bus:respond("math.double", function(x)
      return x * 2
    end)
    assert.is_true(responder:active())
    assert.is_true(responder:unregister())
    assert.is_false(responder:active())
    assert.is_false(responder:unregister())
    failed(bus:request("math.double", 1), "no_responder")
    bus:respond("math.double", function(x)
      return x + x + 1
    end)
    assert.are.equal(5, bus:request("math.double", 2).value)
  end)

  it("lists the types that have a responder, sorted", function()
    local rr = bus:request_response()
    assert.are.same({}, rr:responders())
    bus:respond("zeta", function() end)
    local alpha = bus:respond("alpha", function() end)
    bus:respond("mid.dle", function() end)
    assert.are.same({ "alpha", "mid.dle", "zeta" }, rr:responders())
    alpha:unregister()
    assert.are.same({ "mid.dle", "zeta" }, rr:responders())
  end)

  it("refuses a bad type, responder or option as misuse", function()
    contains(raises_message(bus.respond, bus, "", function() end), "argument 'type'")
    contains(raises_message(bus.respond, bus, "x", 5), "argument 'fn'")
    contains(raises_message(bus.request, bus, 5), "argument 'type'")
    contains(raises_message(bus.request, bus, "x", nil, { timeout = -1 }), "option 'timeout'")
    contains(raises_message(bus.request, bus, "x", nil, { timeot = 1 }), "timeot")
  end)
end)

describe("request timeouts", function()
  local bus

  before_each(function()
    bus = MessageBus({ log = function() end })
  end)

  it("fails a synchronous request whose responder answers after the timeout", function()
    bus:respond("slow", function()
      busy_wait(0.03)
      return "late"
    end)
    local err = failed(bus:request("slow", nil, { timeout = 0.01 }), "timeout")
    contains(err.message, '"slow"', "0.01s")
    -- without a timeout the same responder is waited for
    assert.are.same({ success = true, value = "late" }, bus:request("slow"))
  end)

  it("answers a synchronous request that finishes within its timeout", function()
    bus:respond("quick", function()
      return "now"
    end)
    assert.are.same({ success = true, value = "now" }, bus:request("quick", nil, { timeout = 5 }))
  end)

  it("times out a synchronous request whose responder defers, pointing at request_async", function()
    local kept
    bus:respond("later", function(_, request)
      kept = request:defer()
    end)
    local err = failed(bus:request("later"), "timeout")
    contains(err.message, '"later"', "deferred")
    contains(err.details, "request_async")
    -- the request is settled: a late reply is refused
    assert.is_false(kept:reply("too late"))
  end)
end)

describe("asynchronous requests", function()
  local bus

  before_each(function()
    bus = MessageBus({ log = function() end })
  end)

  it("runs the callback on flush, not before, even when answered at once", function()
    bus:respond("echo", function(data)
      return data
    end)
    local calls, callback = recorder()
    local pending = bus:request_async("echo", "hi", callback)
    assert.are.same({}, calls)
    assert.are.equal("echo", pending.type)
    assert.is_number(pending.id)
    bus:flush()
    assert.are.same({ { success = true, value = "hi" } }, calls)
    assert.are.equal(0, bus:stats().pending_requests)
    bus:flush()
    assert.are.equal(1, #calls)
  end)

  it("delivers no_responder and handler_error through the callback too", function()
    bus:respond("explode", function()
      error("kaboom")
    end)
    local calls, callback = recorder()
    bus:request_async("nobody", 1, callback)
    bus:request_async("explode", 1, callback)
    assert.are.same({}, calls)
    bus:flush()
    assert.are.equal(2, #calls)
    failed(calls[1], "no_responder")
    contains(failed(calls[2], "handler_error").message, "kaboom")
  end)

  it("takes a deferred answer given later with reply, on the next flush", function()
    local kept
    bus:respond("later", function(data, request)
      assert.are.equal(20, data)
      kept = request:defer()
    end)
    local calls, callback = recorder()
    local pending = bus:request_async("later", 20, callback)
    bus:flush()
    assert.are.same({}, calls)
    assert.is_false(kept:answered())
    assert.is_true(kept:reply(21))
    assert.is_true(kept:answered())
    assert.are.same({}, calls)
    bus:flush()
    assert.are.same({ { success = true, value = 21 } }, calls)
    assert.is_false(pending:cancel()) -- finished: nothing left to cancel
    -- settled once
    assert.is_false(kept:reply(22))
    assert.is_false(kept:fail("no"))
    bus:flush()
    assert.are.equal(1, #calls)
  end)

  it("turns fail(message) into handler_error and passes an Error through as it is", function()
    local requests = {}
    bus:respond("later", function(_, request)
      requests[#requests + 1] = request:defer()
    end)
    local calls, callback = recorder()
    bus:request_async("later", 1, callback)
    bus:request_async("later", 2, callback)
    assert.is_true(requests[1]:fail("x"))
    assert.is_true(requests[2]:fail(Error("out_of_stock", "none left")))
    bus:flush()
    assert.are.equal(2, #calls)
    contains(failed(calls[1], "handler_error").message, '"later"', "x")
    assert.are.equal("none left", failed(calls[2], "out_of_stock").message)
  end)

  it("times out a request not answered in time, once, and refuses the late reply", function()
    local kept
    bus:respond("later", function(_, request)
      kept = request:defer()
    end)
    local calls, callback = recorder()
    local pending = bus:request_async("later", nil, callback, { timeout = 0.02 })
    assert.are.same({}, calls)
    busy_wait(0.03)
    bus:flush()
    assert.are.equal(1, #calls)
    contains(failed(calls[1], "timeout").message, '"later"', "0.02s")
    assert.is_false(pending:cancel())
    assert.is_false(kept:reply("late"))
    bus:flush()
    assert.are.equal(1, #calls)
  end)

  it("keeps an answer given after the deadline but before the flush that would time it out", function()
    local kept
    bus:respond("later", function(_, request)
      kept = request:defer()
    end)
    local calls, callback = recorder()
    bus:request_async("later", nil, callback, { timeout = 0.01 })
    busy_wait(0.02)
    assert.is_true(kept:reply("in time for the flush"))
    bus:flush()
    assert.are.same({ { success = true, value = "in time for the flush" } }, calls)
  end)

  it("never runs the callback of a cancelled request", function()
    local kept
    bus:respond("later", function(_, request)
      kept = request:defer()
    end)
    local calls, callback = recorder()
    local pending = bus:request_async("later", nil, callback)
    assert.is_true(pending:cancel())
    assert.is_false(pending:cancel())
    assert.is_false(kept:reply("after cancel"))
    bus:flush()
    assert.are.same({}, calls)
  end)

  it("never runs the callback of a request cancelled after its answer came", function()
    bus:respond("echo", function(data)
      return data
    end)
    local calls, callback = recorder()
    local pending = bus:request_async("echo", 1, callback)
    assert.is_true(pending:cancel())
    bus:flush()
    assert.are.same({}, calls)
  end)

  it("says with done() whether the request is finished", function()
    local requests = {}
    bus:respond("later", function(_, request)
      requests[#requests + 1] = request:defer()
    end)
    local calls, callback = recorder()
    local answered = bus:request_async("later", 1, callback)
    local cancelled = bus:request_async("later", 2, callback)
    local ok, problem = pcall(function()
      assert.is_false(answered:done())
      assert.is_false(cancelled:done())
      requests[1]:reply("one")
      assert.is_false(answered:done()) -- answered, its callback not run yet
      bus:flush()
      assert.is_true(answered:done())
      cancelled:cancel()
      assert.is_true(cancelled:done())
    end)
    assert.is_true(ok, tostring(problem))
    assert.are.same({ { success = true, value = "one" } }, calls)
  end)

  it("counts the pending requests in stats()", function()
    local requests = {}
    bus:respond("later", function(_, request)
      requests[#requests + 1] = request:defer()
    end)
    assert.are.equal(0, bus:stats().pending_requests)
    local calls, callback = recorder()
    local first = bus:request_async("later", 1, callback)
    bus:request_async("later", 2, callback)
    local third = bus:request_async("later", 3, callback)
    assert.are.equal(3, bus:stats().pending_requests)
    requests[2]:reply("two")
    bus:flush()
    assert.are.equal(2, bus:stats().pending_requests)
    first:cancel()
    assert.are.equal(1, bus:stats().pending_requests)
    third:cancel()
    assert.are.equal(0, bus:stats().pending_requests)
    assert.are.same({ { success = true, value = "two" } }, calls)
  end)

  it("runs on the next flush what a callback asks for", function()
    bus:respond("echo", function(data)
      return data
    end)
    local order = {}
    bus:request_async("echo", "first", function(result)
      order[#order + 1] = result.value
      bus:request_async("echo", "second", function(inner)
        order[#order + 1] = inner.value
      end)
    end)
    bus:flush()
    assert.are.same({ "first" }, order)
    bus:flush()
    assert.are.same({ "first", "second" }, order)
  end)

  it("logs a callback that raises and still runs the others", function()
    local logged = {}
    local quiet = MessageBus({ log = function(level, source, message)
      logged[#logged + 1] = { level, source, message }
    end })
    quiet:respond("echo", function(data)
      return data
    end)
    local calls, callback = recorder()
    quiet:request_async("echo", 1, function()
      error("callback broke")
    end)
    quiet:request_async("echo", 2, callback)
    quiet:flush()
    assert.are.same({ { success = true, value = 2 } }, calls)
    assert.are.equal(1, #logged)
    assert.are.equal("error", logged[1][1])
    contains(logged[1][3], '"echo"', "callback broke")
  end)

  it("works on a RequestResponseSystem of its own, with its own flush", function()
    local rr = RequestResponseSystem()
    local other = MessageBus()
    assert.are_not.equal(other:request_response(), rr)
    rr:respond("sum", function(list)
      local total = 0
      for _, x in ipairs(list) do
        total = total + x
      end
      return total
    end)
    assert.are.same({ success = true, value = 6 }, rr:request("sum", { 1, 2, 3 }))
    local calls, callback = recorder()
    local pending = rr:request_async("sum", { 4, 5 }, callback)
    other:flush() -- another bus's flush does not reach it
    assert.are.same({}, calls)
    assert.are.equal(1, rr:flush())
    assert.are.same({ { success = true, value = 9 } }, calls)
    assert.is_false(pending:cancel())
    assert.are.equal(0, rr:flush())
    assert.are.same({ "sum" }, rr:responders())
  end)

  it("gives the same RequestResponseSystem from bus:request_response() each time", function()
    local rr = bus:request_response()
    assert.are.equal(rr, bus:request_response())
    assert.are.equal("qtforge.communication.RequestResponseSystem", getmetatable(rr).__name)
    rr:respond("via.rr", function()
      return "rr"
    end)
    -- the bus's methods use the same system
    assert.are.equal("rr", bus:request("via.rr").value)
    local calls, callback = recorder()
    rr:request_async("via.rr", nil, callback)
    bus:flush()
    assert.are.same({ { success = true, value = "rr" } }, calls)
  end)

  it("refuses a callback that is not a function", function()
    contains(raises_message(bus.request_async, bus, "x", nil, "nope"), "argument 'callback'")
  end)
end)

describe("service contracts", function()
  local bus

  before_each(function()
    bus = MessageBus({ log = function() end })
  end)

  describe("ServiceContract", function()
    it("holds the checked definition", function()
      local contract = calc_contract("1.2.3")
      assert.are.equal("calc", contract.name)
      assert.are.equal("1.2.3", contract.version:to_string())
      assert.are.equal("adds", contract.description)
      assert.are.same({ "add", "neg" }, contract:method_names())
      assert.are.equal("qtforge.communication.ServiceContract(calc@1.2.3)", tostring(contract))
    end)

    local cases = {
      { "a version that is not semver", { name = "calc", version = "one", methods = CALC.methods }, '"one"' },
      { "an unknown type name", { name = "calc", version = "1.0.0",
        methods = { add = { params = { "numbr" } } } }, '"numbr" is not a type' },
      { "no methods", { name = "calc", version = "1.0.0", methods = {} }, "at least one method" },
      { "a bad method name", { name = "calc", version = "1.0.0", methods = { ["1add"] = {} } },
        '"1add" is not a method name' },
      { "a bad result type", { name = "calc", version = "1.0.0",
        methods = { add = { returns = { "number", "x" } } } }, "result 2" },
      { "a bad service name", { name = "no spaces", version = "1.0.0", methods = CALC.methods }, "name" },
    }
    for _, case in ipairs(cases) do
      it("refuses " .. case[1] .. " with an error naming ServiceContract", function()
        local message = raises_message(function()
          return ServiceContract(case[2])
        end)
        contains(message, "ServiceContract", case[3])
      end)
    end

    it("refuses a definition that is not a table", function()
      contains(raises_message(ServiceContract, "calc"), "ServiceContract", "definition")
    end)
  end)

  describe("provide", function()
    it("refuses an implementation that lacks a method, naming it", function()
      local message = raises_message(function()
        bus:provide(calc_contract(), { add = function() end })
      end)
      contains(message, "lacks method 'neg'", "calc@1.0.0")
      assert.is_false(bus:has_provider("calc"))
    end)

    it("refuses a second provider of the same name and version", function()
      bus:provide(calc_contract(), calc_impl())
      local contract = bus:request_response():contracts()[1].contract
      local message = raises_message(function()
        bus:provide(contract, calc_impl())
      end)
      contains(message, "calc@1.0.0 is already provided")
    end)

    it("refuses what is not a ServiceContract or an implementation table", function()
      contains(raises_message(bus.provide, bus, CALC, calc_impl()), "argument 'contract'")
      contains(raises_message(bus.provide, bus, calc_contract(), "impl"), "argument 'implementation'")
    end)

    it("answers has_provider for a name and a range", function()
      assert.is_false(bus:has_provider("calc"))
      local provider = bus:provide(calc_contract("1.4.0"), calc_impl())
      assert.is_true(bus:has_provider("calc"))
      assert.is_true(bus:has_provider("calc", "^1.2"))
      assert.is_false(bus:has_provider("calc", "^2"))
      assert.is_false(bus:has_provider("other"))
      assert.is_true(provider:active())
      assert.is_true(provider:withdraw())
      assert.is_false(provider:active())
      assert.is_false(provider:withdraw())
      assert.is_false(bus:has_provider("calc"))
    end)

    it("lists the registered contracts sorted, with whether each is provided", function()
      local rr = bus:request_response()
      assert.are.same({}, rr:contracts())
      local registered = ServiceContract({ name = "zeta", version = "2.0.0", methods = { go = {} } })
      assert.are.equal(registered, bus:register_contract(registered))
      bus:provide(calc_contract("1.2.0"), calc_impl())
      local old = bus:provide(calc_contract("1.0.0"), calc_impl())
      local list = rr:contracts()
      local seen = {}
      for i, entry in ipairs(list) do
        seen[i] = { entry.name, entry.version:to_string(), entry.provided }
      end
      assert.are.same({ { "calc", "1.0.0", true }, { "calc", "1.2.0", true }, { "zeta", "2.0.0", false } }, seen)
      assert.are.equal(registered, list[3].contract)
      assert.is_nil(list[3].plugin_id)
      -- a withdrawn provider leaves its contract registered
      old:withdraw()
      assert.are.same({ "calc", "1.0.0", false },
        { rr:contracts()[1].name, rr:contracts()[1].version:to_string(), rr:contracts()[1].provided })
    end)
  end)

  describe("service proxies", function()
    local function typed(methods)
      return ServiceContract({ name = "typed", version = "1.0.0", methods = methods })
    end

    it("calls the provider with ':' and returns what it returns", function()
      bus:provide(calc_contract(), calc_impl())
      local calc = bus:service("calc", "^1")
      assert.are.equal(5, calc:add(2, 3))
      assert.are.equal(-4, calc:neg(4))
      assert.are.equal("qtforge.communication.ServiceProxy(calc ^1)", tostring(calc))
    end)

    it("passes the implementation as self to the provider's methods", function()
      local impl = calc_impl("me")
      local seen
      impl.add = function(self, a, b)
        seen = self
        return a + b
      end
      bus:provide(calc_contract(), impl)
      assert.are.equal(3, bus:service("calc"):add(1, 2))
      assert.are.equal(impl, seen)
    end)

    it("refuses an argument of the wrong type with contract_violation naming method, argument and types", function()
      local called = false
      local impl = calc_impl()
      impl.add = function()
        called = true
        return 0
      end
      bus:provide(calc_contract(), impl)
      local calc = bus:service("calc", "^1")
      local err = raises_error("contract_violation", function()
        return calc:add(1, "two")
      end)
      contains(err.message, "calc@1.0.0", "add", "argument 2", "number", '"two"')
      err = raises_error("contract_violation", function()
        return calc:add(nil, 2)
      end)
      contains(err.message, "add", "argument 1", "number", "nil")
      err = raises_error("contract_violation", function()
        return calc:add(1)
      end)
      contains(err.message, "argument 2", "nil")
      assert.is_false(called)
    end)

    it("refuses too many arguments", function()
      bus:provide(calc_contract(), calc_impl())
      local calc = bus:service("calc")
      local err = raises_error("contract_violation", function()
        return calc:add(1, 2, 3)
      end)
      contains(err.message, "add", "takes 2 argument(s), got 3")
      err = raises_error("contract_violation", function()
        return calc:neg(1, nil)
      end)
      contains(err.message, "neg", "takes 1 argument(s), got 2")
    end)

    it("lets an optional '?' parameter be nil or left out", function()
      bus:provide(typed({ greet = { params = { "string", "string?" }, returns = { "string" } } }), {
        greet = function(_, name, greeting)
          return (greeting or "Hello") .. ", " .. name
        end,
      })
      local typed_proxy = bus:service("typed")
      assert.are.equal("Hello, Ada", typed_proxy:greet("Ada"))
      assert.are.equal("Hello, Ada", typed_proxy:greet("Ada", nil))
      assert.are.equal("Hi, Ada", typed_proxy:greet("Ada", "Hi"))
      local err = raises_error("contract_violation", function()
        return typed_proxy:greet("Ada", 5)
      end)
      contains(err.message, "greet", "argument 2", "string?", "number")
    end)

    it("takes integral numbers for 'integer' and refuses 3.5", function()
      bus:provide(typed({ at = { params = { "integer" }, returns = { "integer" } } }), {
        at = function(_, i)
          return i
        end,
      })
      local typed_proxy = bus:service("typed")
      assert.are.equal(3, typed_proxy:at(3))
      assert.are.equal(-7, typed_proxy:at(-7))
      local err = raises_error("contract_violation", function()
        return typed_proxy:at(3.5)
      end)
      contains(err.message, "at", "argument 1", "integer", "3.5")
      raises_error("contract_violation", function()
        return typed_proxy:at("3")
      end)
      raises_error("contract_violation", function()
        return typed_proxy:at(math.huge)
      end)
    end)

    it("takes any member of a union 'string|number'", function()
      bus:provide(typed({ show = { params = { "string|number" }, returns = { "string" } } }), {
        show = function(_, v)
          return tostring(v)
        end,
      })
      local typed_proxy = bus:service("typed")
      assert.are.equal("a", typed_proxy:show("a"))
      assert.are.equal("1.5", typed_proxy:show(1.5))
      local err = raises_error("contract_violation", function()
        return typed_proxy:show(true)
      end)
      contains(err.message, "show", "argument 1", "string|number", "boolean")
      raises_error("contract_violation", function()
        return typed_proxy:show({})
      end)
      raises_error("contract_violation", function()
        return typed_proxy:show(nil)
      end)
    end)

    it("takes anything, nil too, for 'any'", function()
      bus:provide(typed({ id = { params = { "any" }, returns = { "any" } } }), {
        id = function(_, v)
          return v
        end,
      })
      local typed_proxy = bus:service("typed")
      local t = {}
      assert.are.equal(t, typed_proxy:id(t))
      assert.is_nil(typed_proxy:id(nil))
      assert.is_nil(typed_proxy:id())
    end)

    it("checks the provider's results: a wrong type is contract_violation naming 'result 1'", function()
      local impl = calc_impl()
      impl.add = function()
        return "not a number"
      end
      impl.neg = function()
        return 1, 2
      end
      bus:provide(calc_contract(), impl)
      local calc = bus:service("calc")
      local err = raises_error("contract_violation", function()
        return calc:add(1, 2)
      end)
      contains(err.message, "calc@1.0.0", "add", "result 1", "number", '"not a number"')
      err = raises_error("contract_violation", function()
        return calc:neg(1)
      end)
      contains(err.message, "neg", "returns 1 result(s), the provider returned 2")
    end)

    it("raises handler_error when the provider raises", function()
      local impl = calc_impl()
      impl.add = function()
        error("provider broke")
      end
      bus:provide(calc_contract(), impl)
      local calc = bus:service("calc")
      local err = raises_error("handler_error", function()
        return calc:add(1, 2)
      end)
      contains(err.message, "calc@1.0.0", "add", "provider broke")
      -- an Error the provider raises reaches the caller as it is
      impl.neg = function()
        error(Error("overflow", "too negative"))
      end
      err = raises_error("overflow", function()
        return calc:neg(1)
      end)
      assert.are.equal("too negative", err.message)
    end)

    it("raises service_unavailable when nothing provides the service", function()
      local calc = bus:service("calc", "^1")
      local err = raises_error("service_unavailable", function()
        return calc:add(1, 2)
      end)
      contains(err.message, "calc", "^1")
    end)

    it("follows its provider away and back with the same proxy", function()
      local calc = bus:service("calc", "^1")
      local contract = calc_contract()
      local provider = bus:provide(contract, calc_impl())
      assert.are.equal(3, calc:add(1, 2))
      provider:withdraw()
      raises_error("service_unavailable", function()
        return calc:add(1, 2)
      end)
      bus:provide(contract, calc_impl())
      assert.are.equal(7, calc:add(3, 4))
    end)

    it("takes a new provider whose contract is built anew from the same definition", function()
      -- the contract stays registered after a withdraw; a provider that builds
      -- the same contract again (as a restarted component would) is not "different"
      local calc = bus:service("calc", "^1")
      bus:provide(calc_contract(), calc_impl()):withdraw()
      local ok, problem = pcall(bus.provide, bus, calc_contract(), calc_impl())
      assert.is_true(ok, tostring(problem))
      assert.are.equal(7, calc:add(3, 4))
    end)

    it("still refuses a contract of the same name and version that differs", function()
      bus:register_contract(calc_contract())
      local other = ServiceContract({ name = "calc", version = "1.0.0", methods = { add = { params = { "string" } } } })
      contains(raises_message(bus.provide, bus, other, { add = function() end }),
        "a different contract calc@1.0.0 is already registered")
    end)

    it("binds the highest version in its range", function()
      local function versioned(version)
        local impl = calc_impl()
        impl.add = function()
          return 0
        end
        impl.neg = function()
          return version
        end
        return impl
      end
      local contract = ServiceContract({ name = "calc", version = "1.2.0",
        methods = { add = CALC.methods.add, neg = { params = { "number" }, returns = { "string" } } } })
      local old = ServiceContract({ name = "calc", version = "1.0.0",
        methods = { add = CALC.methods.add, neg = { params = { "number" }, returns = { "string" } } } })
      -- the newer one first: the choice is by version, not by order
      bus:provide(contract, versioned("1.2.0"))
      bus:provide(old, versioned("1.0.0"))
      local caret = bus:service("calc", "^1")
      local tilde = bus:service("calc", "~1.0")
      local any = bus:service("calc")
      assert.are.equal("1.2.0", caret:neg(0))
      assert.are.equal("1.0.0", tilde:neg(0))
      assert.are.equal("1.2.0", any:neg(0))
      raises_error("service_unavailable", function()
        return bus:service("calc", "^2"):neg(0)
      end)
      -- a newer provider in range takes over at once
      bus:provide(ServiceContract({ name = "calc", version = "1.3.0",
        methods = { add = CALC.methods.add, neg = { params = { "number" }, returns = { "string" } } } }),
        versioned("1.3.0"))
      assert.are.equal("1.3.0", caret:neg(0))
      assert.are.equal("1.0.0", tilde:neg(0))
    end)

    it("raises a clear error when a method is called with '.'", function()
      bus:provide(calc_contract(), calc_impl())
      local calc = bus:service("calc")
      local message = raises_message(function()
        return calc.add(1, 2)
      end)
      contains(message, "calc:add", "call it with ':'")
      message = raises_message(function()
        return calc.add()
      end)
      contains(message, "call it with ':'")
    end)

    it("refuses a method the contract does not have", function()
      bus:provide(calc_contract(), calc_impl())
      local calc = bus:service("calc")
      local err = raises_error("contract_violation", function()
        return calc:tag()
      end)
      contains(err.message, "tag", "no such method")
    end)

    it("calls a method whose name is any identifier the contract accepts", function()
      -- '_state' is a valid method name for ServiceContract
      bus:provide(typed({ _state = { returns = { "string" } } }), {
        _state = function()
          return "fine"
        end,
      })
      local typed_proxy = bus:service("typed")
      local ok, result = pcall(function()
        return typed_proxy:_state()
      end)
      assert.is_true(ok, tostring(result))
      assert.are.equal("fine", result)
    end)

    it("refuses a bad service name or range", function()
      contains(raises_message(bus.service, bus, ""), "argument 'name'")
      contains(raises_message(bus.service, bus, "calc", 1), "argument 'range'")
      contains(raises_message(bus.service, bus, "calc", "not a range!"), "MessageBus:service")
    end)
  end)
end)
