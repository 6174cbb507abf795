-- qtforge.openresty in-process, with a fake `ngx` (support/fake_ngx.lua): the
-- bridge's encode/decode, the module before init_worker, phases (order,
-- statuses, errors, required plugins, metrics), the timer's tick, the bus
-- bridge between simulated workers (each a fresh copy of the module sharing
-- one fake lua_shared_dict: order, no echo, losses, stalls, a counter that
-- goes back), exit_worker, and the misuse of init_worker and the others.
-- scripts/host-openresty.sh runs the same adapter in real nginx.
-- luacheck: globals ngx
local fake_ngx = require("support.fake_ngx")
local fs = require("support.fs")
local misuse = require("support.misuse")
local plugins = require("support.plugins")
local qtforge = require("qtforge")

local MODULE = "qtforge.openresty"
local PHASES = { "rewrite", "access", "content", "header_filter", "body_filter", "log" }
local ENDING = { "rewrite", "access", "content" }
local FILTERS = { "header_filter", "body_filter", "log" }

-- A copy of the adapter of its own, as each nginx worker has (the module
-- keeps its worker's state in an upvalue).
local function fresh_module()
  local saved = package.loaded[MODULE]
  package.loaded[MODULE] = nil
  local module = require(MODULE)
  package.loaded[MODULE] = saved
  return module
end

-- The module's own copy, for encode and decode.
local openresty = fresh_module()

-- A plugin whose export for each phase appends "<name>.<phase>" to
-- request.trail (request is ngx.ctx) and answers request.answer["<name>.<phase>"]:
-- a status, or "raise" to raise.
local function phase_source(name)
  return string.format([[
local NAME = %q
local function step(phase)
  return function(request)
    request.trail = request.trail or {}
    request.trail[#request.trail + 1] = NAME .. "." .. phase
    local answer = request.answer and request.answer[NAME .. "." .. phase]
    if answer == "raise" then
      error("broken in " .. phase)
    end
    return answer
  end
end
local exports = {}
for _, phase in ipairs({ "rewrite", "access", "content", "header_filter", "body_filter", "log" }) do
  exports[phase] = step(phase)
end
return { exports = exports }
]], name)
end

-- A plugin that broadcasts through its own ctx.bus.
local SHOUTER = [[
local bus
local SAME = { broadcast = true }
return {
  on_load = function(ctx) bus = ctx.bus end,
  exports = {
    shout = function(topic, data) return bus:publish(topic, data, { broadcast = true }) end,
    shout_same = function(topic, data) return bus:publish(topic, data, SAME) end,
    post = function(topic, data) return bus:post(topic, data, { broadcast = true }) end,
  },
}
]]

-- equal numbers, nan equal to nan, and 0.0 not equal to -0.0
local function same_number(expected, actual)
  if expected ~= expected then
    return actual ~= actual
  end
  if expected == 0 and actual == 0 then
    return 1 / expected == 1 / actual
  end
  return expected == actual
end

-- encode then decode, asserting both worked; returns the value and the text
local function round_trip(value)
  local text, problem = openresty.encode(value)
  assert.is_string(text, problem)
  local back, err = openresty.decode(text)
  assert.is_nil(err)
  return back, text
end

describe("qtforge.openresty.encode and decode", function()
  it("round-trip strings holding every byte", function()
    local bytes = {}
    for i = 0, 255 do
      bytes[#bytes + 1] = string.char(i)
    end
    local all = table.concat(bytes)
    for _, value in ipairs({ "", all, all:reverse(), "\0" .. "1", "\r\n\\\"'", "]]" .. "[==[", ("x"):rep(10000) }) do
      assert.are.equal(value, (round_trip(value)))
    end
  end)

  it("round-trip integers and floats exactly, inf, -inf and nan", function()
    local values = { 0, 1, -1, 42, 2 ^ 53 - 1, -(2 ^ 53 - 1), 2 ^ 53, 2 ^ 60, -2 ^ 70, 0.1, -0.5, 1 / 3, math.pi,
      1e300, -1e-300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.123456789,
      math.huge, -math.huge, 0 / 0 }
    for _, value in ipairs(values) do
      local back, text = round_trip(value)
      assert.is_number(back, text)
      assert.is_true(same_number(value, back), string.format("%.17g came back as %.17g (%s)", value, back, text))
    end
    assert.are.equal("1/0", openresty.encode(math.huge))
    assert.are.equal("-1/0", openresty.encode(-math.huge))
    assert.are.equal("0/0", openresty.encode(0 / 0))
    assert.are.equal("0.33333333333333331", openresty.encode(1 / 3))
    assert.are.equal("-42", openresty.encode(-42))
  end)

  it("round-trip booleans, nil and nested tables with string, number and boolean keys", function()
    local value = {
      "a", "b", [10] = "sparse", [-3] = "negative", [2.5] = "float", [math.huge] = "inf",
      [true] = "yes", [false] = "no", name = "n", ["with space"] = 1, ["\0key"] = 2,
      nested = { deep = { deeper = { list = { 1, 2, 3 }, flag = false } } },
      empty = {},
    }
    local back = round_trip(value)
    assert.are.same(value, back)
    assert.are_not.equal(value, back)
    assert.is_true((round_trip(true)))
    assert.is_false((round_trip(false)))
    assert.is_nil((round_trip(nil)))
    assert.are.equal("nil", openresty.encode(nil))
  end)

  it("keep tables 32 levels deep and refuse the 33rd, as for a cycle", function()
    local function nest(levels)
      local root = {}
      local t = root
      for _ = 2, levels do
        t.next = {}
        t = t.next
      end
      t.leaf = "here"
      return root
    end
    local back = round_trip(nest(32))
    local depth, t = 1, back
    while t.next do
      depth, t = depth + 1, t.next
    end
    assert.are.equal(32, depth)
    assert.are.equal("here", t.leaf)
    local text, problem = openresty.encode(nest(33), "data")
    assert.is_nil(text)
    assert.are.equal("the value nests more than 32 tables (a cycle?)", problem)
    local cycle = {}
    cycle.self = cycle
    assert.are.same({ nil, "the value nests more than 32 tables (a cycle?)" }, { openresty.encode(cycle) })
  end)

  it("refuse functions, userdata, threads and bad keys, naming the place", function()
    local cases = {
      { print, nil, "value is a function, which cannot cross to another worker" },
      { { f = print }, "data", "data.f is a function, which cannot cross to another worker" },
      { { a = { b = { io.stdout } } }, "data", "data.a.b.1 is a userdata, which cannot cross to another worker" },
      { { co = coroutine.create(print) }, "headers", "headers.co is a thread, which cannot cross to another worker" },
      { { [{}] = 1 }, "data", "data has a key of type table" },
      { { inner = { [print] = true } }, "data", "data.inner has a key of type function" },
    }
    for _, case in ipairs(cases) do
      local text, problem = openresty.encode(case[1], case[2])
      assert.is_nil(text)
      assert.are.equal(case[3], problem)
    end
  end)

  it("read hostile text in an empty environment: no global is reachable or writable", function()
    for _, text in ipairs({ "os", "_G", "require", "print", "io", "load", "ngx", "string", "getmetatable" }) do
      assert.is_nil((openresty.decode(text)), text)
    end
    local value, problem = openresty.decode("os.exit(1)")
    assert.is_nil(value)
    assert.is_string(problem)
    value, problem = openresty.decode("(function() leaked_by_decode = 1 end)()")
    assert.is_nil(value)
    plugins.contains(problem, "only literals may appear")
    assert.is_nil(rawget(_G, "leaked_by_decode"))
    -- a field name is a literal, but what it names is not reachable
    value, problem = openresty.decode("{ leaked_by_decode = 1 }")
    assert.are.same({ leaked_by_decode = 1 }, value, problem)
    assert.is_nil(rawget(_G, "leaked_by_decode"))
    -- one expression only: a statement after it does not parse
    value, problem = openresty.decode("{} os.exit(1)")
    assert.is_nil(value)
    assert.is_string(problem)
    value, problem = openresty.decode("{")
    assert.is_nil(value)
    assert.is_string(problem)
    -- text that is not Lua source: binary chunks are refused
    value, problem = openresty.decode(string.dump(function() return 1 end))
    assert.is_nil(value)
    assert.is_string(problem)
  end)

  -- decode() loads text as code: only literals may pass, so hostile text can
  -- neither loop nor reach string methods through the string metatable.
  it("refuses text that is more than literals: function literals, method calls", function()
    local budget_hit = false
    local jit_was_on = jit and jit.status()
    if jit then
      jit.off()
    end
    debug.sethook(function()
      budget_hit = true
      error("spec: instruction budget exhausted")
    end, "", 1e6)
    local loop, loop_problem = openresty.decode("(function() while true do end end)()")
    local rep = openresty.decode('("").rep')
    debug.sethook()
    if jit_was_on then
      jit.on()
    end
    assert.is_nil(loop)
    assert.is_false(budget_hit, loop_problem)
    assert.is_nil(rep)
  end)

  -- -0.0 is a float with an integer value whose sign must survive.
  it("keeps the sign of -0.0", function()
    local back = round_trip(-0.0)
    assert.are.equal(-math.huge, 1 / back)
  end)

  if math.type then
    -- Under Lua 5.4 integers beyond 2^53 (and math.mininteger, whose digits
    -- overflow when read) must come back exact and integer.
    it("keeps Lua 5.4 integers exact, math.maxinteger included", function()
      for _, value in ipairs({ math.maxinteger, math.mininteger, math.tointeger(2 ^ 60) + 1 }) do
        local back = round_trip(value)
        assert.are.equal("integer", math.type(back))
        assert.are.equal(value, back)
      end
    end)
  end
end)

describe("qtforge.openresty before init_worker", function()
  local module

  before_each(function()
    _G.ngx = fake_ngx.new()
    module = fresh_module()
  end)

  after_each(function()
    _G.ngx = nil
  end)

  it("has no manager, reloader or stats, and poll and exit_worker do nothing", function()
    assert.is_nil(module.manager())
    assert.is_nil(module.reloader())
    assert.is_nil(module.stats())
    module.poll()
    module.exit_worker()
    assert.are.same({}, ngx.logs)
    assert.are.same(PHASES, module.PHASES)
  end)

  it("refuses publish", function()
    assert.are.equal("qtforge.openresty.publish: call init_worker() first",
      misuse.raised_at_caller(function() module.publish("t", 1) end))
  end)

  it("fails closed: rewrite, access and content end with 500, the filter phases return", function()
    for _, phase in ipairs(ENDING) do
      module.run_phase(phase)
    end
    assert.are.same({ 500, 500, 500 }, ngx.exits)
    for _, phase in ipairs(FILTERS) do
      module.run_phase(phase)
    end
    assert.are.same({ 500, 500, 500 }, ngx.exits)
    local lines = fake_ngx.lines(ngx, "error", "in a worker without a manager")
    assert.are.equal(6, #lines)
    assert.are.equal('qtforge.openresty: run_phase("rewrite") in a worker without a manager '
      .. "(init_worker() failed, or exit_worker())", lines[1])
  end)
end)

describe("qtforge.openresty in a worker", function()
  local root, started

  -- starts a simulated worker: a fresh module whose init_worker sees worker `id`
  local function start(id, opts)
    ngx.worker_id, ngx.worker_pid = id, 4000 + id
    local module = fresh_module()
    local manager, results = module.init_worker(opts)
    started[#started + 1] = module
    return module, manager, results
  end

  before_each(function()
    _G.ngx = fake_ngx.new()
    started = {}
    root = fs.temp_dir()
  end)

  after_each(function()
    for _, module in ipairs(started) do
      module.exit_worker()
    end
    _G.ngx = nil
    fs.remove(root)
  end)

  describe("init_worker", function()
    before_each(function()
      plugins.folder(root, "alpha", { source = phase_source("alpha") })
      plugins.folder(root, "broken", { source = "error('cannot start')" })
    end)

    it("makes the manager, loads the folder, logs what did not load, and starts the timer", function()
      local module, manager, results = start(3, { plugins = root, hot_reload = false, interval = 0.5 })
      assert.are.equal(manager, module.manager())
      assert.are.equal("qtforge.core.PluginManager", getmetatable(manager).__name)
      assert.are.equal(2, #results)
      local failed
      for _, result in ipairs(results) do
        if not result.success then
          failed = result
        end
      end
      assert.are.equal("broken", failed.plugin_id)
      assert.are.same({ "alpha" }, manager:load_order())
      local errors = fake_ngx.lines(ngx, "error", "did not load")
      assert.are.equal(1, #errors)
      plugins.contains(errors[1], "qtforge.openresty: plugin broken did not load: ", "cannot start")
      assert.are.same({ "qtforge.openresty: worker 3 ready: alpha" }, fake_ngx.lines(ngx, "notice"))
      assert.are.equal(1, #ngx.timers)
      assert.are.equal(0.5, ngx.timers[1].interval)
      assert.is_nil(module.reloader())
      assert.are.same({ ticks = 0, interval = 0.5, worker = 3 }, module.stats())
    end)

    it("watches the folders with a reloader unless hot_reload is false, and takes a list of folders", function()
      local other = fs.temp_dir()
      plugins.folder(other, "bravo", { source = phase_source("bravo") })
      local module, manager = start(0, { plugins = { root, other } })
      assert.is_not_nil(module.reloader())
      assert.are.equal(2, module.reloader():stats().watched)
      assert.are.same({ "alpha", "bravo" }, manager:load_order())
      assert.are.equal(0.1, ngx.timers[1].interval)
      module.exit_worker()
      assert.are.equal(0, module.reloader():stats().watched)
      fs.remove(other)
    end)

    it("has no reloader without plugin folders", function()
      local module, manager, results = start(0, {})
      assert.is_nil(module.reloader())
      assert.are.same({}, results)
      assert.are.same({}, manager:load_order())
    end)
  end)

  describe("run_phase", function()
    local module, manager

    before_each(function()
      -- zulu's priority puts it first; mike depends on alpha: zulu, alpha, mike
      plugins.folder(root, "alpha", { source = phase_source("alpha") })
      plugins.folder(root, "mike", { source = phase_source("mike"), deps = { { "alpha" } } })
      plugins.folder(root, "zulu", { source = phase_source("zulu"), lines = "priority = 10\n" })
      plugins.folder(root, "idle", { source = "return { exports = { other = function() end } }" })
      module, manager = start(0, { plugins = root, hot_reload = false })
    end)

    local function run(phase, answer, required)
      ngx.ctx = { answer = answer }
      module.run_phase(phase, required)
      return ngx.ctx.trail
    end

    it("calls every running plugin's export in load order with ngx.ctx", function()
      assert.are.same({ "zulu", "alpha", "idle", "mike" }, manager:load_order())
      for _, phase in ipairs(PHASES) do
        assert.are.same({ "zulu." .. phase, "alpha." .. phase, "mike." .. phase }, run(phase))
      end
      assert.are.same({}, ngx.exits)
    end)

    it("ends rewrite, access and content with ngx.exit of a number a plugin returns, skipping the rest", function()
      for _, phase in ipairs(ENDING) do
        assert.are.same({ "zulu." .. phase, "alpha." .. phase }, run(phase, { ["alpha." .. phase] = 401 }))
      end
      assert.are.same({ "zulu.access" }, run("access", { ["zulu.access"] = ngx.OK }))
      assert.are.same({ 401, 401, 401, 0 }, ngx.exits)
    end)

    it("ignores what plugins return in the filter and log phases", function()
      for _, phase in ipairs(FILTERS) do
        assert.are.same({ "zulu." .. phase, "alpha." .. phase, "mike." .. phase },
          run(phase, { ["zulu." .. phase] = 403 }))
      end
      assert.are.same({}, ngx.exits)
    end)

    it("ends the request with 500 when a plugin raises in rewrite, access or content, and logs it", function()
      for _, phase in ipairs(ENDING) do
        assert.are.same({ "zulu." .. phase, "alpha." .. phase }, run(phase, { ["alpha." .. phase] = "raise" }))
      end
      assert.are.same({ 500, 500, 500 }, ngx.exits)
      local lines = fake_ngx.lines(ngx, "error", 'plugin "alpha" failed in ')
      assert.are.equal(3, #lines)
      plugins.contains(lines[2], 'qtforge.openresty: plugin "alpha" failed in access: ', "broken in access")
      -- one request's error does not fail the plugin
      assert.are.equal("running", manager:get_plugin("alpha"):state())
      assert.are.same({ "zulu.access", "alpha.access", "mike.access" }, run("access"))
    end)

    it("logs an error in the filter and log phases and runs the next plugin", function()
      for _, phase in ipairs(FILTERS) do
        assert.are.same({ "zulu." .. phase, "alpha." .. phase, "mike." .. phase },
          run(phase, { ["zulu." .. phase] = "raise" }))
      end
      assert.are.same({}, ngx.exits)
      local lines = fake_ngx.lines(ngx, "error", 'plugin "zulu" failed in ')
      assert.are.equal(3, #lines)
      plugins.contains(lines[3], 'plugin "zulu" failed in log: ', "broken in log")
    end)

    it("answers 503 before any plugin runs when a required plugin is not running with the export", function()
      assert.are.same({ "zulu.access", "alpha.access", "mike.access" }, run("access", nil, { "alpha", "mike" }))
      assert.are.same({}, ngx.exits)
      assert.is_nil(run("access", nil, { "alpha", "ghost" }))
      assert.is_nil(run("content", nil, { "idle" }))
      assert.are.same({ 503, 503 }, ngx.exits)
      assert.are.same({
        'qtforge.openresty: run_phase("access"): required plugin "ghost" is not running or exports no access',
        'qtforge.openresty: run_phase("content"): required plugin "idle" is not running or exports no content',
      }, fake_ngx.lines(ngx, "error", "required plugin"))
    end)

    it("only logs a missing required plugin in the filter and log phases, and runs the plugins", function()
      assert.are.same({ "zulu.log", "alpha.log", "mike.log" }, run("log", nil, { "ghost" }))
      assert.are.same({}, ngx.exits)
      assert.are.equal(1, #fake_ngx.lines(ngx, "error", 'required plugin "ghost"'))
    end)

    it("works the chain out again after a plugin event", function()
      assert.are.same({ "zulu.access", "alpha.access", "mike.access" }, run("access"))
      assert.is_true(manager:stop_plugin("mike").success)
      assert.are.same({ "zulu.access", "alpha.access" }, run("access"))
      assert.is_nil(run("access", nil, { "mike" }))
      assert.are.same({ 503 }, ngx.exits)
      manager:fail_plugin("zulu", "broken by the host", "access")
      assert.are.same({ "alpha.access" }, run("access"))
      assert.is_true(manager:start_plugin("zulu").success)
      assert.is_true(manager:start_plugin("mike").success)
      assert.are.same({ "zulu.access", "alpha.access", "mike.access" }, run("access"))
      assert.is_true(manager:unload_plugin("mike").success)
      assert.are.same({ "zulu.access", "alpha.access" }, run("access"))
    end)

    it("calls through manager:call, so a PluginMetricsCollector counts the calls and errors", function()
      local metrics = qtforge.monitoring.PluginMetricsCollector(manager)
      run("access")
      run("access", { ["alpha.access"] = "raise" })
      run("log")
      local alpha = metrics:get_plugin_metrics("alpha")
      assert.are.equal(2, alpha.exports.access.calls)
      assert.are.equal(1, alpha.exports.access.errors)
      assert.are.equal(1, alpha.exports.log.calls)
      assert.are.equal(0, alpha.exports.log.errors)
      assert.are.equal(1, metrics:get_plugin_metrics("mike").exports.access.calls)
      metrics:close()
    end)

    it("does nothing when no plugin exports the phase, and returns nothing", function()
      for _, id in ipairs({ "zulu", "alpha", "mike" }) do
        manager:stop_plugin(id)
      end
      ngx.ctx = {}
      assert.are.equal(0, select("#", module.run_phase("access")))
      assert.is_nil(ngx.ctx.trail)
      assert.are.same({}, ngx.exits)
    end)
  end)

  describe("the default policy", function()
    before_each(function()
      plugins.folder(root, "hosted", { capabilities = { "host" }, lines = "priority = 2\n",
        source = "return { exports = { body_filter = function() ngx.arg[1] = ngx.arg[1]:upper() end } }" })
      plugins.folder(root, "plain", { lines = "priority = 1\n",
        source = "return { exports = { body_filter = function() ngx.arg[1] = ngx.arg[1] .. '!' end } }" })
    end)

    it("gives ngx to a plugin that declares host, and no host global to one that does not", function()
      local module = start(0, { plugins = root, hot_reload = false })
      ngx.arg = { "hello", false }
      module.run_phase("body_filter")
      assert.are.equal("HELLO", ngx.arg[1])
      local lines = fake_ngx.lines(ngx, "error", 'plugin "plain" failed in body_filter: ')
      assert.are.equal(1, #lines)
      plugins.contains(lines[1], "ngx")
    end)

    it("is replaced by opts.security", function()
      local _, manager, results = start(0, { plugins = root, hot_reload = false,
        security = qtforge.security.SecurityManager() })
      assert.are.same({ "plain" }, manager:load_order())
      local denied
      for _, result in ipairs(results) do
        if result.plugin_id == "hosted" then
          denied = result
        end
      end
      plugins.failed(denied, "capability_denied")
    end)
  end)

  describe("logging", function()
    before_each(function()
      plugins.folder(root, "talker", { capabilities = { "log" }, source = [[
return { on_load = function(ctx)
  ctx.log.info("hello", { b = 2, a = "x" })
  ctx.log.warn("careful")
  ctx.log.debug("details")
end }
]] })
    end)

    it("sends plugin lines to ngx.log at the matching level, fields sorted, from info by default", function()
      start(0, { plugins = root, hot_reload = false })
      assert.are.same({ "qtforge [talker] hello a=x b=2" }, fake_ngx.lines(ngx, "info", "[talker]"))
      assert.are.same({ "qtforge [talker] careful" }, fake_ngx.lines(ngx, "warn", "[talker]"))
      assert.are.same({}, fake_ngx.lines(ngx, "debug", "[talker]"))
    end)

    it("drops lines below log_level", function()
      start(0, { plugins = root, hot_reload = false, log_level = "warn" })
      assert.are.same({}, fake_ngx.lines(ngx, "info", "[talker]"))
      assert.are.same({ "qtforge [talker] careful" }, fake_ngx.lines(ngx, "warn", "[talker]"))
      ngx.logs = {}
      start(1, { plugins = root, hot_reload = false, log_level = "trace" })
      assert.are.same({ "qtforge [talker] details" }, fake_ngx.lines(ngx, "debug", "[talker]"))
    end)

    it("adds a sink writing the same lines to a LoggingManager given as logging", function()
      local logging = qtforge.managers.LoggingManager({ level = "info", sinks = {} })
      start(0, { plugins = root, hot_reload = false, logging = logging })
      assert.are.same({ "qtforge [talker] hello a=x b=2" }, fake_ngx.lines(ngx, "info", "[talker]"))
      assert.are.same({ "qtforge [talker] careful" }, fake_ngx.lines(ngx, "warn", "[talker]"))
    end)
  end)

  describe("the timer", function()
    local module, manager, ticks

    before_each(function()
      module, manager = start(0, {})
      ticks = {}
      manager:register_plugin({ manifest = { name = "ticker", version = "1.0.0" }, update = function(dt)
        ticks[#ticks + 1] = dt
      end })
    end)

    it("ticks the plugins with the time since the last tick, and counts ticks", function()
      ngx.clock = ngx.clock + 0.25
      ngx.timers[1].fn(false)
      ngx.clock = ngx.clock + 0.5
      module.poll()
      assert.are.same({ 0.25, 0.5 }, ticks)
      assert.are.equal(2, module.stats().ticks)
    end)

    it("does nothing when nginx runs it prematurely (the worker is exiting)", function()
      ngx.timers[1].fn(true)
      assert.are.same({}, ticks)
      assert.are.equal(0, module.stats().ticks)
    end)

    it("never gives a negative dt when the clock goes back", function()
      ngx.clock = ngx.clock - 5
      module.poll()
      assert.are.same({ 0 }, ticks)
    end)
  end)

  it("goes on with the tick when a step raises, logging it", function()
    local dict = fake_ngx.dict()
    ngx.shared.bus = dict
    local module, manager = start(0, { shared_dict = "bus" })
    local ticks = 0
    manager:register_plugin({ manifest = { name = "ticker", version = "1.0.0" }, update = function()
      ticks = ticks + 1
    end })
    dict.on_get = function()
      error("dict is broken")
    end
    module.poll()
    assert.are.equal(1, ticks)
    local lines = fake_ngx.lines(ngx, "error", "qtforge.openresty: bus bridge: ")
    assert.are.equal(1, #lines)
    plugins.contains(lines[1], "dict is broken")
  end)

  describe("exit_worker", function()
    it("stops and unloads the plugins, latest loaded first, then answers 503", function()
      local module, manager = start(0, {})
      local calls = {}
      for _, id in ipairs({ "first", "second" }) do
        manager:register_plugin({ manifest = { name = id, version = "1.0.0" },
          on_stop = function()
            calls[#calls + 1] = id .. ".on_stop"
          end,
          on_unload = function()
            calls[#calls + 1] = id .. ".on_unload"
          end,
          exports = { access = function()
            calls[#calls + 1] = id .. ".access"
          end },
        })
      end
      module.exit_worker()
      assert.are.same({ "second.on_stop", "second.on_unload", "first.on_stop", "first.on_unload" }, calls)
      assert.are.same({ "qtforge.openresty: worker 0 stopped: plugins unloaded" },
        fake_ngx.lines(ngx, "notice", "stopped"))
      module.run_phase("access")
      module.run_phase("content")
      module.run_phase("log")
      assert.are.same({ 503, 503 }, ngx.exits)
      assert.are.equal(4, #calls)
      module.poll()
      assert.are.equal(0, module.stats().ticks)
      module.exit_worker()
      assert.are.equal(1, #fake_ngx.lines(ngx, "notice", "stopped"))
    end)
  end)

  describe("the bus bridge", function()
    local dict

    -- a worker with the bridge, and what its bus delivered on "news.#"
    local function bridged(id, opts)
      opts = opts or {}
      opts.shared_dict = "bus"
      local module, manager = start(id, opts)
      local seen = {}
      manager:bus():subscribe("news.#", function(message)
        seen[#seen + 1] = message
      end)
      return module, manager, seen
    end

    local function data_of(seen)
      local list = {}
      for i, message in ipairs(seen) do
        list[i] = message.data
      end
      return list
    end

    before_each(function()
      dict = fake_ngx.dict()
      ngx.shared.bus = dict
    end)

    it("delivers another worker's broadcasts after its tick, in order, once, and not back to the sender", function()
      local a, _, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      assert.are.equal(1, a.publish("news.a", "one", { broadcast = true }))
      assert.are.equal(1, a.publish("news.a", "two", { broadcast = true }))
      assert.are.same({ "one", "two" }, data_of(seen_a))
      assert.are.equal(1, seen_a[1].headers.broadcast_seq)
      assert.are.equal(0, seen_a[2].headers.broadcast_worker)
      assert.are.same({}, seen_b)
      b.poll()
      assert.are.same({ "one", "two" }, data_of(seen_b))
      assert.are.same({ 1, 2 }, { seen_b[1].headers.broadcast_seq, seen_b[2].headers.broadcast_seq })
      assert.are.same({ 0, 0 }, { seen_b[1].headers.broadcast_worker, seen_b[2].headers.broadcast_worker })
      b.poll()
      a.poll()
      assert.are.equal(2, #seen_b)
      assert.are.equal(2, #seen_a)
      assert.are.same({ sent = 2, received = 0, lost = 0, errors = 0, seq = 2 }, a.stats().bridge)
      assert.are.same({ sent = 0, received = 2, lost = 0, errors = 0, seq = 2 }, b.stats().bridge)
      assert.are.same({ ticks = 2, interval = 0.1, worker = 1, bridge = b.stats().bridge }, b.stats())
    end)

    it("rebuilds the message: same type, data, sender, timestamp and headers, a new id", function()
      local a, _, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      local data = { list = { 1, 2.5, "x" }, [7] = true, flag = false }
      a.publish("news.rich", data, { broadcast = true, headers = { trace = "abc", n = 3 } })
      b.poll()
      local sent, got = seen_a[1], seen_b[1]
      assert.are.equal("news.rich", got.type)
      assert.are.same(data, got.data)
      assert.are_not.equal(sent.data, got.data)
      assert.are.equal(sent.timestamp, got.timestamp)
      assert.is_nil(got.sender)
      assert.are.same({ trace = "abc", n = 3, broadcast = true, broadcast_seq = 1, broadcast_worker = 0 }, got.headers)
      assert.are_not.equal(sent.id, got.id)
    end)

    it("keeps one order for every worker, each publisher's in the order published", function()
      local a, _, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      local c, _, seen_c = bridged(2)
      a.publish("news.x", "a1", { broadcast = true })
      b.publish("news.x", "b2", { broadcast = true })
      a.publish("news.x", "a3", { broadcast = true })
      c.poll()
      assert.are.same({ "a1", "b2", "a3" }, data_of(seen_c))
      a.poll()
      b.poll()
      assert.are.same({ "a1", "a3", "b2" }, data_of(seen_a))
      assert.are.same({ "b2", "a1", "a3" }, data_of(seen_b))
      assert.are.same({ 2, 1, 3 }, { seen_b[1].headers.broadcast_seq, seen_b[2].headers.broadcast_seq,
        seen_b[3].headers.broadcast_seq })
    end)

    it("hears only what is broadcast after the worker's init_worker", function()
      local a = bridged(0)
      a.publish("news.early", 1, { broadcast = true })
      local b, _, seen_b = bridged(1)
      b.poll()
      assert.are.same({}, seen_b)
      assert.are.equal(1, b.stats().bridge.seq)
      a.publish("news.late", 2, { broadcast = true })
      b.poll()
      assert.are.same({ 2 }, data_of(seen_b))
    end)

    it("carries a plugin's ctx.bus broadcast, published or posted, with its sender", function()
      plugins.folder(root, "shouter", { capabilities = { "bus:publish" }, source = SHOUTER })
      local a, manager_a = bridged(0, { plugins = root, hot_reload = false })
      local b, _, seen_b = bridged(1, { plugins = root, hot_reload = false })
      manager_a:call("shouter", "shout", "news.p", "hi")
      manager_a:call("shouter", "post", "news.p", "later")
      b.poll()
      assert.are.same({ "hi" }, data_of(seen_b))
      assert.are.equal("shouter", seen_b[1].sender)
      a.poll() -- flushes the post
      b.poll()
      assert.are.same({ "hi", "later" }, data_of(seen_b))
      assert.are.equal("shouter", seen_b[2].sender)
    end)

    it("is no subscriber: counts and topics are the plugins' own", function()
      local a, manager_a = bridged(0)
      local b, manager_b = bridged(1)
      local lonely = {}
      manager_b:bus():subscribe("lonely.#", function(message)
        lonely[#lonely + 1] = message.data
      end)
      assert.are.equal(0, a.publish("lonely.x", 1, { broadcast = true }))
      assert.are.equal(0, manager_a:bus():publish("lonely.x", 2, { broadcast = true }))
      assert.are.equal(0, manager_a:bus():subscriber_count("lonely.x"))
      assert.are.equal(1, manager_a:bus():subscriber_count())
      assert.are.same({ "news.#" }, manager_a:bus():topics())
      b.poll()
      assert.are.same({ 1, 2 }, lonely)
      assert.are.equal(1, manager_b:bus():subscriber_count("lonely.x"))
      assert.are.equal(2, manager_b:bus():subscriber_count())
    end)

    it("loses the oldest when a worker falls more than ring behind, and counts and logs it", function()
      local a = bridged(0, { ring = 4 })
      local b, _, seen_b = bridged(1, { ring = 4 })
      for i = 1, 10 do
        a.publish("news.n", i, { broadcast = true })
      end
      b.poll()
      assert.are.same({ 7, 8, 9, 10 }, data_of(seen_b))
      assert.are.same({ sent = 0, received = 4, lost = 6, errors = 0, seq = 10 }, b.stats().bridge)
      assert.are.same({ "qtforge.openresty: 6 broadcast(s) were overwritten before this worker read them "
        .. "(ring of 4 slots); raise `ring` or lower `interval`" }, fake_ngx.lines(ngx, "warn"))
    end)

    it("counts a slot overwritten while the worker reads the ring", function()
      local a = bridged(0, { ring = 4 })
      local b, _, seen_b = bridged(1, { ring = 4 })
      for i = 1, 4 do
        a.publish("news.n", i, { broadcast = true })
      end
      local armed = true
      dict.on_get = function(key)
        if armed and key == "seq" then
          armed = false
          a.publish("news.n", 5, { broadcast = true })
          a.publish("news.n", 6, { broadcast = true })
        end
      end
      b.poll()
      assert.are.same({ 3, 4 }, data_of(seen_b))
      assert.are.equal(2, b.stats().bridge.lost)
      assert.are.same({
        "qtforge.openresty: broadcast 1 was overwritten before this worker read it; raise `ring`",
        "qtforge.openresty: broadcast 2 was overwritten before this worker read it; raise `ring`",
      }, fake_ngx.lines(ngx, "warn"))
      b.poll()
      assert.are.same({ 3, 4, 5, 6 }, data_of(seen_b))
    end)

    it("waits for a slot whose number was taken but never written, then skips it after a second", function()
      local a = bridged(0)
      local b, _, seen_b = bridged(1)
      dict:incr("seq", 1, 0) -- a writer that died between incr and set
      a.publish("news.n", "after", { broadcast = true })
      b.poll()
      assert.are.same({}, seen_b)
      ngx.clock = ngx.clock + 0.5
      b.poll()
      assert.are.same({}, seen_b)
      assert.are.same({ sent = 0, received = 0, lost = 0, errors = 0, seq = 0 }, b.stats().bridge)
      ngx.clock = ngx.clock + 0.5
      b.poll()
      assert.are.same({ "after" }, data_of(seen_b))
      assert.are.same({ sent = 0, received = 1, lost = 1, errors = 0, seq = 2 }, b.stats().bridge)
      assert.are.same({ "qtforge.openresty: broadcast 1 was never written to the shared dict; skipped" },
        fake_ngx.lines(ngx, "warn"))
      -- the wait starts again for the next gap
      dict:incr("seq", 1, 0)
      a.publish("news.n", "again", { broadcast = true })
      b.poll()
      assert.are.same({ "after" }, data_of(seen_b))
    end)

    it("keeps a broadcast in its worker when the dict is full, logging and counting it", function()
      local a, _, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      dict.full = true
      assert.are.equal(1, a.publish("news.n", "local only", { broadcast = true }))
      assert.are.same({ "local only" }, data_of(seen_a))
      assert.are.same({ sent = 0, received = 0, lost = 0, errors = 1, seq = 0 }, a.stats().bridge)
      assert.are.same({ "qtforge.openresty: broadcast 1 (news.n) stays in this worker: shared dict: no memory; "
        .. "make lua_shared_dict bus larger or the ring smaller" }, fake_ngx.lines(ngx, "error"))
      dict.full = false
      b.poll()
      ngx.clock = ngx.clock + 1
      b.poll()
      assert.are.same({}, seen_b)
      assert.are.equal(1, b.stats().bridge.lost)
    end)

    -- After a flush the counter starts over: a worker reads the new count's
    -- slots from the start, so what was broadcast before its tick arrives.
    it("logs a counter that went back, and delivers what was broadcast since and after", function()
      local a = bridged(0)
      local b, _, seen_b = bridged(1)
      a.publish("news.n", 1, { broadcast = true })
      a.publish("news.n", 2, { broadcast = true })
      b.poll()
      dict:flush_all()
      a.publish("news.n", "fresh", { broadcast = true })
      b.poll()
      assert.are.same({ "qtforge.openresty: the bus bridge's counter went back from 2 to 1 (shared dict flushed?); "
        .. "reading from its start again" }, fake_ngx.lines(ngx, "warn"))
      assert.are.same({ 1, 2, "fresh" }, data_of(seen_b))
      assert.are.equal(1, b.stats().bridge.seq)
      a.publish("news.n", 3, { broadcast = true })
      b.poll()
      assert.are.same({ 1, 2, "fresh", 3 }, data_of(seen_b))
      assert.are.same({ sent = 0, received = 4, lost = 0, errors = 0, seq = 2 }, b.stats().bridge)
    end)

    it("skips a slot that does not read, counting an error", function()
      local _ = bridged(0)
      local b, _, seen_b = bridged(1)
      dict:incr("seq", 1, 0)
      dict:safe_set("m1", "{s=1,p=9,")
      b.poll()
      assert.are.same({}, seen_b)
      assert.are.same({ sent = 0, received = 0, lost = 0, errors = 1, seq = 1 }, b.stats().bridge)
      local lines = fake_ngx.lines(ngx, "error")
      assert.are.equal(1, #lines)
      plugins.contains(lines[1], "qtforge.openresty: broadcast 1 does not read (", "); skipped")
    end)

    it("refuses, before any delivery, a broadcast whose data or headers cannot cross", function()
      local a, _, seen_a = bridged(0)
      assert.are.equal("qtforge.openresty.publish: data.f is a function, which cannot cross to another worker",
        misuse.raised_at_caller(function() a.publish("news.n", { f = print }, { broadcast = true }) end))
      assert.are.equal("qtforge.openresty.publish: headers.cb is a function, which cannot cross to another worker",
        misuse.raised_at_caller(function() a.publish("news.n", 1, { broadcast = true, headers = { cb = print } }) end))
      assert.are.same({}, seen_a)
      assert.is_nil(dict.store.seq)
      assert.are.equal(0, a.stats().bridge.sent)
      -- without broadcast it stays here and anything goes
      assert.are.equal(1, a.publish("news.n", print))
      assert.are.equal(print, seen_a[1].data)
      assert.is_nil(dict.store.seq)
    end)

    it("delivers a bus broadcast that cannot cross only in its worker, logging why", function()
      local a, manager_a, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      manager_a:bus():publish("news.n", { co = coroutine.create(print) }, { broadcast = true })
      assert.are.equal(1, #seen_a)
      b.poll()
      assert.are.same({}, seen_b)
      assert.are.same({ sent = 0, received = 0, lost = 0, errors = 1, seq = 0 }, a.stats().bridge)
      assert.are.same({ "qtforge.openresty: broadcast news.n stays in this worker: data.co is a thread, "
        .. "which cannot cross to another worker" }, fake_ngx.lines(ngx, "error"))
    end)

    it("adds opts.headers to a publish, which stays in its worker without broadcast", function()
      local a, _, seen_a = bridged(0)
      local b, _, seen_b = bridged(1)
      a.publish("news.n", 1, { headers = { trace = "t1" } })
      assert.are.same({ trace = "t1" }, seen_a[1].headers)
      b.poll()
      assert.are.same({}, seen_b)
      assert.is_nil(dict.store.seq)
    end)

    it("refuses a broadcast without shared_dict", function()
      local module = start(5, {})
      assert.is_nil(module.stats().bridge)
      assert.are.equal("qtforge.openresty.publish: broadcast needs init_worker's shared_dict",
        misuse.raised_at_caller(function() module.publish("news.n", 1, { broadcast = true }) end))
      assert.are.equal(0, module.publish("news.n", 1, { headers = { broadcast = true } }))
    end)

    -- The bridge stamps a copy of the headers: a sender reusing one headers
    -- table (a plugin's constant { broadcast = true }) has every broadcast sent.
    it("carries every broadcast published with one reused headers table", function()
      plugins.folder(root, "shouter", { capabilities = { "bus:publish" }, source = SHOUTER })
      local _, manager_a = bridged(0, { plugins = root, hot_reload = false })
      local b, _, seen_b = bridged(1, { plugins = root, hot_reload = false })
      manager_a:call("shouter", "shout_same", "news.p", 1)
      manager_a:call("shouter", "shout_same", "news.p", 2)
      local headers = { broadcast = true }
      manager_a:bus():publish("news.h", 3, headers)
      manager_a:bus():publish("news.h", 4, headers)
      b.poll()
      assert.are.same({ 1, 2, 3, 4 }, data_of(seen_b))
    end)
  end)
end)

describe("qtforge.openresty misuse", function()
  local module

  before_each(function()
    _G.ngx = fake_ngx.new()
    ngx.shared.bus = fake_ngx.dict()
    module = fresh_module()
  end)

  after_each(function()
    module.exit_worker()
    _G.ngx = nil
  end)

  local KNOWN = "autostart, bus, config, grant, host_globals, hot_reload, interval, log_level, logging, plugins, "
    .. "reload, resources, ring, security, shared_dict"

  local WRONG = {
    { "shared_dict", 1, "string", "number" },
    { "interval", "1", "number", "string" },
    { "ring", "4", "number", "string" },
    { "hot_reload", "yes", "boolean", "string" },
    { "reload", 1, "table", "number" },
    { "security", "strict", "table", "string" },
    { "grant", "host", "table", "string" },
    { "host_globals", "ngx", "table", "string" },
    { "log_level", 3, "string", "number" },
    { "autostart", 0, "boolean", "number" },
    { "bus", true, "table", "boolean" },
    { "config", "c", "table", "string" },
    { "resources", 2, "table", "number" },
    { "logging", print, "table", "function" },
  }

  for _, case in ipairs(WRONG) do
    it("init_worker refuses option " .. case[1] .. " of another type, at the caller", function()
      local message = misuse.raised_at_caller(function() module.init_worker({ [case[1]] = case[2] }) end)
      assert.are.equal(string.format("qtforge.openresty.init_worker: option '%s' must be a %s, got %s", case[1],
        case[3], case[4]), message)
      assert.is_nil(module.manager())
      assert.are.same({}, ngx.timers)
    end)
  end

  local CASES = {
    { "qtforge.openresty.init_worker: argument 'opts' must be a table, got string",
      function() module.init_worker("plugins") end },
    { "qtforge.openresty.init_worker: unknown option plugin (known: " .. KNOWN .. ")",
      function() module.init_worker({ plugin = "x" }) end },
    { "qtforge.openresty.init_worker: unknown option 1 (known: " .. KNOWN .. ")",
      function() module.init_worker({ "x" }) end },
    { "qtforge.openresty.init_worker: option 'plugins' must be a folder or a list of folders",
      function() module.init_worker({ plugins = 5 }) end },
    { "qtforge.openresty.init_worker: option 'plugins'[2] must be a string",
      function() module.init_worker({ plugins = { "a", 7 } }) end },
    { "qtforge.openresty.init_worker: option 'interval' must be a positive number of seconds",
      function() module.init_worker({ interval = 0 }) end },
    { "qtforge.openresty.init_worker: option 'interval' must be a positive number of seconds",
      function() module.init_worker({ interval = -1 }) end },
    { "qtforge.openresty.init_worker: option 'interval' must be a positive number of seconds",
      function() module.init_worker({ interval = math.huge }) end },
    { "qtforge.openresty.init_worker: option 'interval' must be a positive number of seconds",
      function() module.init_worker({ interval = 0 / 0 }) end },
    { "qtforge.openresty.init_worker: option 'ring' must be a positive integer",
      function() module.init_worker({ ring = 0 }) end },
    { "qtforge.openresty.init_worker: option 'ring' must be a positive integer",
      function() module.init_worker({ ring = 2.5 }) end },
    { "qtforge.openresty.init_worker: option 'ring' must be a positive integer",
      function() module.init_worker({ ring = 0 / 0 }) end },
    { "qtforge.openresty.init_worker: option 'log_level' must be trace, debug, info, warn or error",
      function() module.init_worker({ log_level = "loud" }) end },
    { "qtforge.openresty.init_worker: give option 'security', or 'grant'/'host_globals', not both",
      function() module.init_worker({ security = qtforge.security.SecurityManager(), grant = { "fs:read" } }) end },
    { "qtforge.openresty.init_worker: give option 'security', or 'grant'/'host_globals', not both",
      function() module.init_worker({ security = qtforge.security.SecurityManager(), host_globals = {} }) end },
    { "qtforge.openresty.init_worker: no lua_shared_dict nope in nginx.conf",
      function() module.init_worker({ shared_dict = "nope" }) end },
  }

  for _, case in ipairs(CASES) do
    it("init_worker raises at the caller: " .. case[1], function()
      assert.are.equal(case[1], misuse.raised_at_caller(case[2]))
      assert.is_nil(module.manager())
      assert.are.same({}, ngx.timers)
    end)
  end

  it("init_worker refuses to run in init_by_lua, or outside nginx", function()
    ngx.phase = "init"
    assert.are.equal("qtforge.openresty.init_worker: call it from init_worker_by_lua, not init_by_lua",
      misuse.raised_at_caller(function() module.init_worker({}) end))
    local saved = ngx
    _G.ngx = nil
    assert.are.equal("qtforge.openresty.init_worker: runs inside nginx with lua-nginx-module (init_worker_by_lua)",
      misuse.raised_at_caller(function() module.init_worker({}) end))
    _G.ngx = saved
    assert.is_nil(module.manager())
  end)

  it("init_worker refuses a second call in the same worker, keeping the first manager", function()
    local manager = module.init_worker({})
    assert.are.equal("qtforge.openresty.init_worker: this worker already has its manager",
      misuse.raised_at_caller(function() module.init_worker({}) end))
    assert.are.equal(manager, module.manager())
    assert.are.equal(1, #ngx.timers)
  end)

  it("init_worker raises when ngx.timer.every fails", function()
    ngx.timer_error = "too many pending timers"
    assert.are.equal("qtforge.openresty.init_worker: ngx.timer.every failed: too many pending timers",
      misuse.raised_at_caller(function() module.init_worker({}) end))
    assert.is_nil(module.manager())
  end)

  it("run_phase refuses an unknown phase at the caller", function()
    module.init_worker({})
    for _, phase in ipairs({ "acess", "init_worker", 1 }) do
      assert.are.equal("qtforge.openresty.run_phase: unknown phase " .. tostring(phase)
        .. " (known: rewrite, access, content, header_filter, body_filter, log)",
        misuse.raised_at_caller(function() module.run_phase(phase) end))
    end
    assert.are.equal("qtforge.openresty.run_phase: unknown phase nil (known: rewrite, access, content, "
      .. "header_filter, body_filter, log)", misuse.raised_at_caller(function() module.run_phase() end))
    assert.are.same({}, ngx.exits)
  end)

  it("publish refuses opts that are not a table, or headers that are not a table", function()
    module.init_worker({ shared_dict = "bus" })
    assert.are.equal("qtforge.openresty.publish: argument 'opts' must be nil or a table { broadcast, headers }",
      misuse.raised_at_caller(function() module.publish("t", 1, true) end))
    assert.are.equal("qtforge.openresty.publish: argument 'opts' must be nil or a table { broadcast, headers }",
      misuse.raised_at_caller(function() module.publish("t", 1, { headers = "h" }) end))
    assert.is_nil(ngx.shared.bus.store.seq)
  end)

  -- under LuaJIT seq % inf is nan: every broadcast would go to one slot.
  it("init_worker refuses an infinite ring", function()
    assert.are.equal("qtforge.openresty.init_worker: option 'ring' must be a positive integer",
      misuse.raised_at_caller(function() module.init_worker({ ring = math.huge }) end))
  end)

  -- a table of the wrong kind for an object option is refused at the caller,
  -- naming init_worker and the option.
  it("init_worker refuses option objects of the wrong kind at the caller, naming the option", function()
    for _, name in ipairs({ "security", "bus", "config", "resources", "logging" }) do
      local message = misuse.raised_at_caller(function() module.init_worker({ [name] = {} }) end)
      plugins.contains(message, "qtforge.openresty.init_worker: ", "'" .. name .. "'")
    end
  end)

  -- bad reload options are refused before any plugin loads, and a failing
  -- ngx.timer.every stops the plugins that started: nothing is left running.
  it("init_worker leaves no plugin running when it raises after loading", function()
    local root = fs.temp_dir()
    plugins.folder(root, "lamp", { capabilities = { "host" }, source = [[
return {
  on_start = function() ngx.log(ngx.NOTICE, "lamp on") end,
  on_stop = function() ngx.log(ngx.NOTICE, "lamp off") end,
}
]] })
    local ok = pcall(module.init_worker, { plugins = root, reload = { bogus = true } })
    assert.is_false(ok)
    assert.are.equal(#fake_ngx.lines(ngx, "notice", "lamp on"), #fake_ngx.lines(ngx, "notice", "lamp off"))
    ngx.timer_error = "too many pending timers"
    ok = pcall(module.init_worker, { plugins = root })
    assert.is_false(ok)
    assert.are.equal(#fake_ngx.lines(ngx, "notice", "lamp on"), #fake_ngx.lines(ngx, "notice", "lamp off"))
    fs.remove(root)
  end)

  -- `required` must be a list: a plugin id given as a string is a mistake.
  it("run_phase refuses a required that is not a list, at the caller", function()
    module.init_worker({})
    local message = misuse.raised_at_caller(function() module.run_phase("access", "auth_plugin") end)
    plugins.contains(message, "qtforge.openresty.run_phase: ", "'required'")
    message = misuse.raised_at_caller(function() module.run_phase("access", 5) end)
    plugins.contains(message, "qtforge.openresty.run_phase: ", "'required'")
    assert.are.same({}, ngx.exits)
  end)

  -- a topic that is not a string is refused at the caller.
  it("publish refuses a topic that is not a string, at the caller", function()
    module.init_worker({})
    local message = misuse.raised_at_caller(function() module.publish(5, "data") end)
    plugins.contains(message, "qtforge.openresty.publish: ")
  end)

  -- decode(nil) is refused at the caller.
  it("decode refuses text that is not a string, at the caller", function()
    local message = misuse.raised_at_caller(function() openresty.decode(nil) end)
    plugins.contains(message, "qtforge.openresty.decode: ")
  end)
end)
