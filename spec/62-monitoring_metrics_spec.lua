-- PluginMetricsCollector: exact counts after known sequences of calls,
-- updates, messages and reloads; memory; Prometheus text read back.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local misuse = require("support.misuse")

local Collector = qtforge.monitoring.PluginMetricsCollector
local contains = plugins.contains

-- A small reader of the Prometheus text format (0.0.4): families by name,
-- each with its help, type and samples ({ labels = {...}, value = number }).
local function unescape(text, help)
  local out = text:gsub("\\(.)", function(c)
    if c == "n" then
      return "\n"
    elseif c == "\\" then
      return "\\"
    elseif c == '"' and not help then
      return '"'
    end
    error("bad escape \\" .. c)
  end)
  return out
end

local function parse_number(text)
  if text == "NaN" then
    return 0 / 0
  elseif text == "+Inf" then
    return math.huge
  elseif text == "-Inf" then
    return -math.huge
  end
  return assert(tonumber(text), "not a number: " .. text)
end

local function parse_labels(text)
  local labels, pos = {}, 1
  while pos <= #text do
    local name, after = text:match("^([%a_][%w_]*)=\"()", pos)
    assert(name, "bad label at " .. text:sub(pos))
    local value, i = {}, after
    while true do
      local c = text:sub(i, i)
      assert(c ~= "", "unterminated label value")
      if c == "\\" then
        value[#value + 1] = text:sub(i, i + 1)
        i = i + 2
      elseif c == '"' then
        break
      else
        value[#value + 1] = c
        i = i + 1
      end
    end
    assert(labels[name] == nil, "repeated label " .. name)
    labels[name] = unescape(table.concat(value))
    pos = i + 1
    if text:sub(pos, pos) == "," then
      pos = pos + 1
    end
  end
  return labels
end

local function parse_prometheus(text)
  assert.are.equal("\n", text:sub(-1), "the text ends with a newline")
  local families = {}
  for line in text:gmatch("([^\n]*)\n") do
    local name, help = line:match("^# HELP ([%a_:][%w_:]*) (.*)$")
    if name then
      families[name] = families[name] or { samples = {} }
      families[name].help = unescape(help, true)
    else
      local typed, kind = line:match("^# TYPE ([%a_:][%w_:]*) (%a+)$")
      if typed then
        assert(families[typed] and families[typed].help, "TYPE after HELP: " .. line)
        families[typed].type = kind
      else
        local metric, rest = line:match("^([%a_:][%w_:]*)(.*)$")
        assert(metric, "bad line: " .. line)
        local labels, value = {}, nil -- luacheck: ignore 311
        if rest:sub(1, 1) == "{" then
          local inside, tail = rest:match("^{(.*)} (%S+)$")
          assert(inside, "bad sample: " .. line)
          labels, value = parse_labels(inside), tail
        else
          value = assert(rest:match("^ (%S+)$"), "bad sample: " .. line)
        end
        local fam = assert(families[metric], "a sample before its HELP: " .. line)
        assert(fam.type, "a sample before its TYPE: " .. line)
        fam.samples[#fam.samples + 1] = { labels = labels, value = parse_number(value) }
      end
    end
  end
  return families
end

-- the value of the sample of `family` whose labels include `want`
local function sample(families, family, want)
  local fam = assert(families[family], "no family " .. family)
  for _, s in ipairs(fam.samples) do
    local match = true
    for k, v in pairs(want or {}) do
      if s.labels[k] ~= v then
        match = false
      end
    end
    if match then
      return s.value
    end
  end
  error("no sample of " .. family .. " with the labels asked")
end

describe("PluginMetricsCollector", function()
  local root, manager, collectors

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    collectors = {}
  end)

  after_each(function()
    for _, c in ipairs(collectors) do
      c:close()
    end
    manager:shutdown()
    fs.remove(root)
  end)

  local function collector(...)
    local c = Collector(...)
    collectors[#collectors + 1] = c
    return c
  end

  local function register(name, plugin)
    plugin.manifest = plugin.manifest or { name = name, version = "1.2.3" }
    local result = manager:register_plugin(plugin)
    assert.is_true(result.success, tostring(result.error))
    return manager:get_plugin(name)
  end

  local function calculator()
    return register("calc", {
      exports = {
        add = function(a, b)
          return a + b
        end,
        fail = function()
          error("boom")
        end,
        many = function()
          return 1, nil, 3
        end,
      },
    })
  end

  describe("calls", function()
    it("counts calls through manager:call, plugin:call and the method sugar, and not direct exports", function()
      local metrics = collector(manager)
      local calc = calculator()
      for _ = 1, 3 do
        assert.are.equal(5, manager:call("calc", "add", 2, 3))
      end
      assert.are.equal(7, calc:call("add", 3, 4))
      assert.are.equal(7, calc:call("add", 3, 4))
      assert.are.equal(9, calc:add(4, 5))
      assert.are.equal(9, calc.add(4, 5))
      for _ = 1, 5 do
        calc.exports.add(1, 1)
      end
      local m = metrics:get_plugin_metrics("calc")
      assert.are.equal(7, m.calls)
      assert.are.equal(0, m.errors)
      assert.are.equal(7, m.exports.add.calls)
      assert.is_true(m.call_time >= 0 and m.avg_call_time >= 0)
      assert.are.equal(m.call_time / 7, m.avg_call_time)
      assert.are.equal("calc", m.plugin_id)
      assert.are.equal("running", m.state)
      assert.are.equal("1.2.3", m.version)
    end)

    it("counts errors, raises them unchanged and keeps the last one", function()
      local metrics = collector(manager)
      local calc = calculator()
      local _, direct = pcall(calc.exports.fail)
      local ok1, via_manager = pcall(manager.call, manager, "calc", "fail")
      local ok2, via_handle = pcall(calc.fail, calc)
      assert.is_false(ok1)
      assert.is_false(ok2)
      assert.are.equal(direct, via_manager)
      assert.are.equal(direct, via_handle)
      calc:add(1, 2)
      local m = metrics:get_plugin_metrics("calc")
      assert.are.equal(3, m.calls)
      assert.are.equal(2, m.errors)
      assert.are.same({ calls = 2, errors = 2 }, { calls = m.exports.fail.calls, errors = m.exports.fail.errors })
      assert.are.equal(1, m.exports.add.calls)
      assert.are.equal("call_error", m.last_error.code)
      contains(m.last_error.message, "calc", "fail", "boom")
    end)

    it("counts without timing when asked, and times while any collector does", function()
      local counting = collector(manager, { timing = false })
      local calc = calculator()
      local ticks = 0
      register("ticker", { update = function() ticks = ticks + 1 end })
      calc:add(1, 2)
      manager:update_all_plugins(0.1)
      local m = counting:get_plugin_metrics("calc")
      assert.are.same({ 1, 0, 0 }, { m.calls, m.call_time, m.avg_call_time })
      assert.are.same({ 1, 0 }, { counting:get_plugin_metrics("ticker").updates,
        counting:get_plugin_metrics("ticker").update_time })
      local timing = collector(manager)
      -- a call long enough to read on any clock
      register("slow", { exports = { wait = function()
        local started = os.clock()
        while os.clock() - started < 0.002 do
        end
      end } })
      manager:call("slow", "wait")
      local timed = timing:get_plugin_metrics("slow").call_time
      assert.is_true(timed > 0)
      timing:close()
      manager:call("slow", "wait")
      local slow = counting:get_plugin_metrics("slow")
      assert.are.equal(2, slow.calls)
      -- the second call, untimed, added nothing
      assert.are.equal(timed, slow.call_time)
      assert.are.equal(timed, slow.exports.wait.time)
    end)

    it("keeps every result of a call, nils included", function()
      collector(manager)
      local calc = calculator()
      assert.are.equal(3, select("#", manager:call("calc", "many")))
      assert.are.equal(3, select("#", calc:many()))
      local a, b, c = calc:call("many")
      assert.are.same({ 1, nil, 3 }, { a, b, c })
    end)

    it("counts nothing while disabled, and again once enabled", function()
      local metrics = collector(manager, { enabled = false })
      assert.is_false(metrics:is_enabled())
      local calc = calculator()
      calc:add(1, 2)
      manager:call("calc", "add", 1, 2)
      assert.are.equal(0, metrics:get_plugin_metrics("calc").calls)
      metrics:enable()
      calc:add(1, 2)
      metrics:disable()
      calc:add(1, 2)
      assert.are.equal(1, metrics:get_plugin_metrics("calc").calls)
    end)

    it("counts while any collector of the manager is enabled", function()
      local first = collector(manager)
      local second = collector(manager)
      local calc = calculator()
      calc:add(1, 2)
      first:disable()
      calc:add(1, 2)
      assert.are.equal(2, second:get_plugin_metrics("calc").calls)
      second:disable()
      calc:add(1, 2)
      assert.are.equal(2, second:get_plugin_metrics("calc").calls)
    end)

    it("stops counting when the collector is collected", function()
      local calc = calculator()
      Collector(manager) -- kept by nothing
      collectgarbage()
      collectgarbage()
      calc:add(1, 2)
      assert.are.equal(0, collector(manager, { enabled = false }):get_plugin_metrics("calc").calls)
    end)

    it("counts a sandboxed plugin's calls like any other", function()
      local metrics = collector(manager)
      local path = plugins.folder(root, "boxed", { source = "return { exports = { twice = function(x)"
        .. " return 2 * x end, bad = function() error('no') end } }" })
      assert.is_true(manager:load_plugin(path).success)
      local boxed = manager:get_plugin("boxed")
      assert.are.equal(8, boxed:twice(4))
      assert.is_false(pcall(boxed.bad, boxed))
      local m = metrics:get_plugin_metrics("boxed")
      assert.are.equal(2, m.calls)
      assert.are.equal(1, m.errors)
      contains(m.last_error.message, "no")
      contains(m.last_error.details, "init.lua:1")
    end)
  end)

  describe("updates", function()
    it("counts update ticks and their errors", function()
      local metrics = collector(manager)
      local ticks = 0
      register("ticker", {
        update = function()
          ticks = ticks + 1
          if ticks == 4 then
            error("fourth tick")
          end
        end,
      })
      for _ = 1, 6 do
        manager:update_all_plugins(0.01)
      end
      local m = metrics:get_plugin_metrics("ticker")
      assert.are.equal(4, m.updates)
      assert.are.equal(1, m.update_errors)
      assert.are.equal("failed", m.state)
      assert.is_true(m.update_time >= 0)
      assert.are.equal(m.update_time / 4, m.avg_update_time)
      contains(m.last_error.message, "fourth tick")
      local all = metrics:get_all_metrics()
      assert.are.equal(6, all.updates)
      assert.are.equal(1, all.update_errors)
    end)
  end)

  describe("bus messages", function()
    local function chat()
      register("listener", {
        on_load = function(ctx)
          ctx.bus:subscribe("chat.#", function() end)
          ctx.bus:subscribe("chat.loud", function() end, { filter = function(m)
            return m.data == "LOUD"
          end })
        end,
      })
      local speaker = register("speaker", {
        on_load = function(ctx)
          ctx.speaker_bus = ctx.bus
        end,
        exports = {},
      })
      return speaker
    end

    it("counts what each plugin sends and what its handlers receive", function()
      local metrics = collector(manager)
      local bus
      register("speaker", {
        on_load = function(ctx)
          bus = ctx.bus
        end,
      })
      register("listener", {
        on_load = function(ctx)
          ctx.bus:subscribe("chat.#", function() end)
          ctx.bus:subscribe("chat.loud", function() end, { filter = function(m)
            return m.data == "LOUD"
          end })
        end,
      })
      bus:publish("chat.hello", 1)
      bus:publish("chat.hello", 2)
      bus:publish("chat.loud", "quiet") -- the filter turns it away from the second handler
      bus:publish("chat.loud", "LOUD")
      assert.is_true(bus:post("chat.later", 5))
      manager:bus():publish("chat.hello", "from the host")
      manager:bus():flush()
      local speaker = metrics:get_plugin_metrics("speaker")
      local listener = metrics:get_plugin_metrics("listener")
      assert.are.equal(5, speaker.messages_sent)
      assert.are.equal(0, speaker.messages_received)
      assert.are.equal(0, listener.messages_sent)
      -- chat.# got all six; chat.loud only the LOUD one
      assert.are.equal(7, listener.messages_received)
    end)

    it("counts subscriptions made before the collector came, and stops when it goes", function()
      assert.is_table(chat())
      local host = manager:bus()
      host:publish("chat.before", 0)
      local metrics = collector(manager)
      host:publish("chat.one", 1)
      host:publish("chat.two", 2)
      assert.are.equal(2, metrics:get_plugin_metrics("listener").messages_received)
      metrics:disable()
      host:publish("chat.one", 3)
      assert.are.equal(2, metrics:get_plugin_metrics("listener").messages_received)
    end)
  end)

  describe("loads and reloads", function()
    it("records load time, reloads that took and reloads refused, keeping counts across a reload", function()
      local metrics = collector(manager)
      local path = plugins.folder(root, "svc", { source = "return { exports = { v = function() return 1 end } }" })
      assert.is_true(manager:load_plugin(path).success)
      local svc = manager:get_plugin("svc")
      assert.are.equal(1, svc:v())
      local m = metrics:get_plugin_metrics("svc")
      assert.is_number(m.load_time)
      assert.is_true(m.load_time > 0)
      fs.write(path .. "/init.lua", "return { exports = { v = function() return 2 end } }")
      assert.is_true(manager:reload_plugin("svc").success)
      assert.are.equal(2, svc:v())
      assert.is_true(manager:reload_plugin("svc").success)
      fs.write(path .. "/init.lua", "return { exports = { v = function() return 3 end }")
      assert.is_false(manager:reload_plugin("svc").success)
      assert.are.equal(2, svc:v())
      m = metrics:get_plugin_metrics("svc")
      assert.are.equal(2, m.reloads)
      assert.are.equal(1, m.reload_failures)
      assert.are.equal(3, m.calls)
      assert.are.equal(3, m.exports.v.calls)
      assert.are.equal("load_error", m.last_error.code)
      contains(m.last_error.details, "init.lua:1")
    end)

    it("forgets an unloaded plugin", function()
      local metrics = collector(manager)
      local calc = calculator()
      calc:add(1, 2)
      assert.is_true(manager:unload_plugin("calc").success)
      assert.is_nil(metrics:get_plugin_metrics("calc"))
      calculator()
      assert.are.equal(0, metrics:get_plugin_metrics("calc").calls)
    end)
  end)

  describe("reset", function()
    it("starts every count again from zero, and counting goes on", function()
      local metrics = collector(manager)
      local calc = calculator()
      local bus
      register("talker", {
        on_load = function(ctx)
          bus = ctx.bus
          ctx.bus:subscribe("t", function() end)
        end,
        update = function() end,
      })
      calc:add(1, 2)
      pcall(calc.fail, calc)
      bus:publish("t", 1)
      manager:update_all_plugins(0.1)
      metrics:reset()
      local m = metrics:get_plugin_metrics("calc")
      assert.are.same({ 0, 0, 0, 0 }, { m.calls, m.errors, m.call_time, m.reloads })
      assert.is_nil(m.last_error)
      assert.are.same({}, m.exports)
      local t = metrics:get_plugin_metrics("talker")
      assert.are.same({ 0, 0, 0, 0 }, { t.messages_sent, t.messages_received, t.updates, t.update_time })
      assert.is_true(t.load_time > 0)
      calc:add(1, 2)
      bus:publish("t", 2)
      assert.are.equal(1, metrics:get_plugin_metrics("calc").calls)
      assert.are.equal(1, metrics:get_plugin_metrics("talker").messages_received)
      assert.are.equal(1, metrics:get_plugin_metrics("talker").messages_sent)
    end)
  end)

  describe("get_all_metrics", function()
    it("has every plugin, the states and the ticks", function()
      local metrics = collector(manager)
      calculator()
      register("idle", { manifest = { name = "idle", version = "0.1.0" } })
      assert.is_true(manager:stop_plugin("idle").success)
      manager:update_all_plugins(0.1)
      local all = metrics:get_all_metrics()
      assert.are.equal(2, all.plugin_count)
      assert.are.same({ running = 1, stopped = 1 }, all.states)
      assert.are.equal(1, all.updates)
      assert.is_true(all.enabled)
      assert.are.equal("calc", all.plugins.calc.plugin_id)
      assert.are.equal("stopped", all.plugins.idle.state)
    end)
  end)

  describe("without a manager", function()
    it("follows every manager of the Lua state, made before or after it, adding up a shared id", function()
      local metrics = collector()
      local other = plugins.manager()
      calculator()
      local result = other:register_plugin({ manifest = { name = "calc", version = "1.2.3" },
        exports = { add = function(a, b) return a + b end } })
      assert.is_true(result.success)
      manager:call("calc", "add", 1, 2)
      other:call("calc", "add", 1, 2)
      other:call("calc", "add", 1, 2)
      local m = metrics:get_plugin_metrics("calc")
      assert.are.equal(3, m.calls)
      assert.are.equal(2, m.managers)
      assert.are.equal(3, metrics:get_all_metrics().plugins.calc.exports.add.calls)
      other:shutdown()
    end)

    it("runs the seed's memory example", function()
      calculator()
      local lines = {}
      local print = function(text)
        lines[#lines + 1] = text
      end
      local metrics = qtforge.monitoring.PluginMetricsCollector()
      collectors[#collectors + 1] = metrics
      local memory_usage = metrics:get_memory_usage()
      print("Total memory: " .. memory_usage.total .. " MB")
      print("Plugin memory: " .. memory_usage.plugins .. " MB")
      assert.are.equal(2, #lines)
      contains(lines[1], "Total memory: ", " MB")
      contains(lines[2], "Plugin memory: ", " MB")
    end)
  end)

  describe("get_memory_usage", function()
    it("adds Lua's heap and Rust's, and estimates each plugin's share", function()
      local metrics = collector(manager)
      local big = string.rep("x", 1024 * 1024)
      register("heavy", { exports = { data = function() return big end } })
      register("light", { exports = { one = function() return 1 end } })
      local usage = metrics:get_memory_usage()
      local heap = collectgarbage("count") / 1024
      assert.is_true(usage.lua > 0 and usage.rust > 0)
      assert.is_true(math.abs(usage.total - (usage.lua + usage.rust)) < 1e-9)
      assert.is_true(usage.lua <= heap + 1 and usage.lua >= heap - 1)
      assert.is_true(usage.by_plugin.heavy >= 1 and usage.by_plugin.heavy < 1.1, usage.by_plugin.heavy)
      assert.is_true(usage.by_plugin.light > 0 and usage.by_plugin.light < 0.01, usage.by_plugin.light)
      assert.is_true(math.abs(usage.plugins - (usage.by_plugin.heavy + usage.by_plugin.light)) < 1e-9)
    end)

    it("counts an object two plugins share once, and leaves the host's globals out", function()
      local metrics = collector(manager)
      local shared = { string.rep("y", 512 * 1024) }
      register("first", { exports = { get = function() return shared end } })
      register("second", { exports = { get = function() return shared end } })
      register("globals", { exports = { g = function() return _G end } })
      local usage = metrics:get_memory_usage()
      assert.is_true(usage.by_plugin.first >= 0.5)
      assert.is_true(usage.by_plugin.second < 0.01)
      assert.is_true(usage.by_plugin.globals < 0.01)
    end)

    it("sees a file plugin's globals and modules", function()
      local metrics = collector(manager)
      assert.is_true(manager:load_plugin(plugins.folder(root, "moduled", {
        source = "return { on_load = function(ctx) ctx.require('blob') end }",
        files = { ["blob.lua"] = "return { data = string.rep('z', 256 * 1024) }" },
      })).success)
      assert.is_true(manager:load_plugin(plugins.folder(root, "global", {
        source = "cache = string.rep('g', 128 * 1024)\nreturn {}",
      })).success)
      local usage = metrics:get_memory_usage()
      assert.is_true(usage.by_plugin.moduled >= 0.25 and usage.by_plugin.moduled < 0.3, usage.by_plugin.moduled)
      assert.is_true(usage.by_plugin.global >= 0.125 and usage.by_plugin.global < 0.15, usage.by_plugin.global)
    end)
  end)

  describe("to_prometheus", function()
    it("writes every figure, and the text reads back to the same numbers", function()
      local metrics = collector(manager)
      local calc = calculator()
      calc:add(1, 2)
      calc:add(1, 2)
      pcall(calc.fail, calc)
      register("ticker", { update = function() end })
      manager:update_all_plugins(0.1)
      manager:update_all_plugins(0.1)
      local families = parse_prometheus(metrics:to_prometheus())
      assert.are.equal("counter", families.qtforge_plugin_calls_total.type)
      assert.are.equal("gauge", families.qtforge_plugin_load_seconds.type)
      assert.are.equal(3, sample(families, "qtforge_plugin_calls_total", { plugin = "calc" }))
      assert.are.equal(1, sample(families, "qtforge_plugin_call_errors_total", { plugin = "calc" }))
      assert.are.equal(2, sample(families, "qtforge_plugin_export_calls_total", { plugin = "calc", export = "add" }))
      assert.are.equal(1, sample(families, "qtforge_plugin_export_call_errors_total",
        { plugin = "calc", export = "fail" }))
      assert.are.equal(2, sample(families, "qtforge_plugin_updates_total", { plugin = "ticker" }))
      assert.are.equal(1, sample(families, "qtforge_plugin_info", { plugin = "calc", version = "1.2.3",
        state = "running" }))
      assert.are.equal(2, sample(families, "qtforge_plugins", { state = "running" }))
      assert.are.equal(2, sample(families, "qtforge_updates_total"))
      assert.is_true(sample(families, "qtforge_memory_bytes", { area = "lua" }) > 0)
      assert.is_true(sample(families, "qtforge_plugin_memory_bytes", { plugin = "calc" }) > 0)
      local m = metrics:get_plugin_metrics("calc")
      assert.are.equal(m.load_time, sample(families, "qtforge_plugin_load_seconds", { plugin = "calc" }))
      assert.are.equal(m.call_time, sample(families, "qtforge_plugin_call_seconds_total", { plugin = "calc" }))
      for name, fam in pairs(families) do
        assert.are.equal("qtforge_", name:sub(1, 8))
        assert.is_string(fam.help)
      end
    end)

    it("escapes label values", function()
      local metrics = collector(manager)
      local odd = 'say "hi"\\ back\nnow é'
      local calc = register("odd", { exports = { [odd] = function() return true end } })
      calc:call(odd)
      local text = metrics:to_prometheus()
      contains(text, 'export="say \\"hi\\"\\\\ back\\nnow é"')
      local families = parse_prometheus(text)
      assert.are.equal(1, sample(families, "qtforge_plugin_export_calls_total", { plugin = "odd", export = odd }))
    end)

    it("is valid with no plugins", function()
      local families = parse_prometheus(collector(manager):to_prometheus())
      assert.is_nil(families.qtforge_plugin_calls_total)
      assert.are.equal(0, sample(families, "qtforge_updates_total"))
    end)
  end)

  describe("misuse", function()
    it("raises naming the method and the argument", function()
      contains(misuse.raised_at_caller(function() Collector(42) end),
        "PluginMetricsCollector: argument 'manager' must be a qtforge.core.PluginManager or nil, got number")
      contains(misuse.raised_at_caller(function() Collector(manager, { enabled = "yes" }) end),
        "PluginMetricsCollector", "enabled")
      contains(misuse.raised_at_caller(function() Collector(manager, { colour = true }) end),
        "PluginMetricsCollector", "colour")
      local metrics = collector(manager)
      contains(misuse.raised_at_caller(function() metrics:get_plugin_metrics(7) end),
        "PluginMetricsCollector:get_plugin_metrics: argument 'plugin_id' must be a plugin id string, got number")
      for _, name in ipairs({ "enable", "disable", "is_enabled", "close", "get_plugin_metrics", "get_all_metrics",
        "reset", "get_memory_usage", "to_prometheus" }) do
        contains(misuse.raised_at_caller(function() metrics[name]() end), "PluginMetricsCollector:" .. name)
        contains(misuse.raised_at_caller(function() metrics[name]({}) end), "PluginMetricsCollector:" .. name)
      end
      metrics:close()
      contains(misuse.raised_at_caller(function() metrics:enable() end),
        "PluginMetricsCollector:enable: the collector is closed")
      assert.is_nil(metrics:get_plugin_metrics("nothing"))
    end)
  end)
end)
