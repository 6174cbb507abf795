-- qtforge.orchestration: the seed's example and the docs' diamond as written,
-- data flow between steps (inputs, the context, results), diamonds and wider
-- graphs, critical and non-critical failures, conditions, retries and their
-- backoff, timeouts of steps that yield and of steps that return late,
-- asynchronous runs (poll, update_all_plugins, cancel, pause, resume, wait,
-- callbacks), events, validation, workflows read from a TOML file and
-- to_table/from_table, sandboxed plugins with quotas, metrics, a plugin
-- unloaded under a run, and misuse of every public method.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local misuse = require("support.misuse")

local Workflow = qtforge.orchestration.Workflow
local PluginOrchestrator = qtforge.orchestration.PluginOrchestrator
local Error = qtforge.Error
local monotonic = qtforge.utils.monotonic
local contains, failed = plugins.contains, plugins.failed
local raised_at_caller = misuse.raised_at_caller

local THIS_FILE = debug.getinfo(1, "S").short_src
local DOCS = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or ".") .. "/docs/orchestration.md"
-- to-be-closed variables and coroutine.close exist under Lua 5.4 only
local IS_54 = _VERSION == "Lua 5.4" and not jit

-- where boom raises: the details a step that calls it must carry
local BOOM_LINE = debug.getinfo(1, "l").currentline + 2
local function boom()
  error("boom")
end

-- what a step's input was when it was nil (a table cannot hold nil)
local NIL = setmetatable({}, { __tostring = function()
  return "NIL"
end })

-- Keeps the thread busy for `seconds`, like a step that computes.
local function spin(seconds)
  local stop = monotonic() + seconds
  while monotonic() < stop do
  end
end

local function keys(t)
  local list = {}
  for k in pairs(t) do
    list[#list + 1] = k
  end
  table.sort(list)
  return list
end

local function position(list, value)
  for i, v in ipairs(list) do
    if v == value then
      return i
    end
  end
  error(string.format("%s is not in the list", tostring(value)), 2)
end

local function shallow(t)
  local c = {}
  for k, v in pairs(t) do
    c[k] = v
  end
  return c
end

-- the ```lua block of the docs that contains `marker`
local function doc_block(marker, fence)
  local text = assert(fs.read(DOCS), "cannot read " .. DOCS)
  for block in text:gmatch("```" .. (fence or "lua") .. "\n(.-)```") do
    if block:find(marker, 1, true) then
      return block
    end
  end
  error("no block with " .. marker .. " in " .. DOCS)
end

describe("orchestration", function()
  local root, manager, logs, orchestrators
  -- what the "echo" plugin saw: the steps it ran, in order, and each one's input
  local calls, inputs

  local function orchestrator(...)
    local o = PluginOrchestrator(...)
    orchestrators[#orchestrators + 1] = o
    return o
  end

  -- registers the inline plugin `name`; `exports` is a table, or the function
  -- that is its `execute`
  local function plugin(name, exports, target)
    if type(exports) == "function" then
      exports = { execute = exports }
    end
    local result = (target or manager):register_plugin({ manifest = { name = name, version = "1.0.0" },
      exports = exports })
    assert.is_true(result.success, tostring(result.error))
  end

  local function ok(result)
    assert.is_table(result)
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("completed", result.status)
    return result
  end

  -- polls until `exec` has ended; returns its result and how many polls it took
  local function finish(o, exec)
    local polls = 0
    local give_up = monotonic() + 5
    while exec:result() == nil do
      assert.is_true(monotonic() < give_up, "the run never ended")
      o:poll()
      polls = polls + 1
    end
    return exec:result(), polls
  end

  -- the log lines that contain `text`
  local function logged(text)
    local found = {}
    for _, line in ipairs(logs) do
      if line.message:find(text, 1, true) then
        found[#found + 1] = line
      end
    end
    return found
  end

  before_each(function()
    root = fs.temp_dir()
    manager, logs = plugins.manager()
    orchestrators = {}
    calls, inputs = {}, {}
    plugin("echo", function(input, ctx)
      calls[#calls + 1] = ctx.step
      if input == nil then
        inputs[ctx.step] = NIL
      else
        inputs[ctx.step] = input
      end
      return ctx.step .. "!"
    end)
  end)

  after_each(function()
    -- a run left under way would keep its ticker on every manager
    for _, o in ipairs(orchestrators) do
      for _, exec in ipairs(o:executions()) do
        exec:cancel()
      end
      assert.are.equal(0, o:poll())
    end
    manager:shutdown()
    fs.remove(root)
  end)

  describe("the seed's example", function()
    -- folder plugins: load_data reads rows, process_data multiplies them,
    -- save_results says what it saved
    local function write_seed_plugins(saver_fails)
      local dir = root .. "/plugins"
      local loader = plugins.folder(dir, "data_loader_plugin", { source = "return { exports = {"
        .. " execute = function(input) return { path = input.path, rows = { 1, 2, 3 } } end } }\n" })
      local processor = plugins.folder(dir, "data_processor_plugin", { source = "return { exports = {"
        .. " execute = function(data)\n local rows = {}\n for i, v in ipairs(data.rows) do rows[i] = v * 10 end\n"
        .. " return { path = data.path, rows = rows } end } }\n" })
      local saver = plugins.folder(dir, "data_saver_plugin", { source = saver_fails
        and "return { exports = { execute = function() error('disk full') end } }\n"
        or "return { exports = { execute = function(data)\n"
        .. " return 'saved ' .. table.concat(data.rows, ',') .. ' from ' .. data.path end } }\n" })
      for _, path in ipairs({ loader, processor, saver }) do
        local result = manager:load_plugin(path)
        assert.is_true(result.success, tostring(result.error))
      end
    end

    -- runs the docs' first block; returns what it printed, its result,
    -- orchestrator and workflow
    local function run_seed()
      local printed = {}
      local env = setmetatable({ print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do
          parts[i] = tostring((select(i, ...)))
        end
        printed[#printed + 1] = table.concat(parts, " ")
      end }, { __index = _G })
      local code = doc_block("the seed's example") .. "\nreturn result, orchestrator, workflow\n"
      local chunk = assert(load(code, "=docs/orchestration.md", "t", env))
      return printed, chunk()
    end

    it("pipes the data load -> process -> save with a PluginOrchestrator made without a manager", function()
      write_seed_plugins(false)
      local block = doc_block("the seed's example")
      contains(block, "PluginOrchestrator()", "Workflow()", 'add_step("load_data", "data_loader_plugin")')
      local printed, result, _, workflow = run_seed()
      assert.are.same({ "saved: saved 10,20,30 from input.csv" }, printed)
      ok(result)
      assert.are.same({
        load_data = { path = "input.csv", rows = { 1, 2, 3 } },
        process_data = { path = "input.csv", rows = { 10, 20, 30 } },
        save_results = "saved 10,20,30 from input.csv",
      }, result.results)
      assert.are.equal("workflow", result.workflow)
      assert.are.equal("workflow", workflow:name())
      assert.are.same({ "load_data", "process_data", "save_results" }, workflow:steps())
      assert.are.same({}, result.skipped)
      assert.are.same({}, result.skip_reasons)
      assert.are.same({}, result.errors)
      assert.is_nil(result.failed_step)
      assert.is_nil(result.error)
      assert.is_number(result.duration_ms)
      assert.is_true(result.duration_ms >= 0)
    end)

    it("runs the same workflow with an orchestrator bound to the manager", function()
      write_seed_plugins(false)
      local _, first, _, workflow = run_seed()
      local bound = orchestrator(manager)
      local result = ok(bound:execute_workflow(workflow, { path = "other.csv" }))
      assert.are.equal("saved 10,20,30 from other.csv", result.results.save_results)
      assert.are.same({ "load_data", "process_data", "save_results" }, keys(result.results))
      assert.are.equal("saved 10,20,30 from input.csv", first.results.save_results)
    end)

    it("prints the failed step and its error when the last step raises", function()
      write_seed_plugins(true)
      local printed, result = run_seed()
      assert.are.equal(1, #printed)
      contains(printed[1], "step save_results failed: call_error: ", 'step "save_results"',
        'plugin "data_saver_plugin"', "disk full", "init.lua:1")
      assert.is_false(result.success)
      assert.are.equal("save_results", result.failed_step)
      assert.are.same({ "load_data", "process_data" }, keys(result.results))
    end)
  end)

  describe("data flow", function()
    it("gives the first step the workflow's input and each next step the result before it", function()
      local got = {}
      plugin("first", function(input)
        got.first = input
        return { from = "first" }
      end)
      plugin("second", function(input)
        got.second = input
        return { from = "second" }
      end)
      local input = { n = 1 }
      local result = ok(orchestrator(manager):execute_workflow(Workflow("flow"):add_step("a", "first")
        :add_step("b", "second"), input))
      assert.are.equal(input, got.first)
      assert.are.equal(result.results.a, got.second)
      assert.are.same({ a = { from = "first" }, b = { from = "second" } }, result.results)
      assert.are.equal("flow", result.workflow)
    end)

    it("gives a step that depends on several a table of their results by name", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo", { depends_on = {} })
        :add_step("c", "echo", { depends_on = { "a", "b" } })
      ok(orchestrator(manager):execute_workflow(wf, "in"))
      assert.are.same({ a = "a!", b = "b!" }, inputs.c)
      assert.are.equal("in", inputs.a)
      assert.are.equal("in", inputs.b)
    end)

    it("gives a step its input option instead, as a value (even false) or what the function makes", function()
      local fixed = { fixed = true }
      local seen
      local wf = Workflow("opts"):add_step("a", "echo")
        :add_step("b", "echo", { input = fixed })
        :add_step("c", "echo", { depends_on = "a", input = false })
        :add_step("d", "echo", { depends_on = { "a", "b" }, input = function(results, context)
          seen = { results = results, context = context, a = results.a, b = results.b, step = context.step }
          return results.a .. "+" .. results.b
        end })
      ok(orchestrator(manager):execute_workflow(wf, "in"))
      assert.are.equal(fixed, inputs.b)
      assert.are.equal(false, inputs.c)
      assert.are.equal("a!+b!", inputs.d)
      assert.are.same({ "a!", "b!", "d" }, { seen.a, seen.b, seen.step })
      assert.are.equal(seen.context.results, seen.results)
      assert.are.equal("opts", seen.context.workflow)
    end)

    it("hands each step a context with exactly workflow, step, attempt, input, results and execution", function()
      local seen, results_then, status_then
      plugin("peek", function(_, ctx)
        seen = ctx
        results_then = shallow(ctx.results)
        status_then = ctx.execution:status()
        return "peeked"
      end)
      local input = { run = 1 }
      local result = ok(orchestrator(manager):execute_workflow(Workflow("ctxflow"):add_step("a", "echo")
        :add_step("b", "peek"), input))
      assert.are.same({ "attempt", "execution", "input", "results", "step", "workflow" }, keys(seen))
      assert.are.equal("ctxflow", seen.workflow)
      assert.are.equal("b", seen.step)
      assert.are.equal(1, seen.attempt)
      assert.are.equal(input, seen.input)
      assert.are.same({ a = "a!" }, results_then)
      assert.are.equal("running", status_then)
      assert.are.equal("ctxflow", seen.execution:workflow())
      assert.are.equal(result, seen.execution:result())
      assert.are.equal("completed", seen.execution:status())
      assert.is_number(seen.execution:id())
    end)

    it("lets a step write to context.results for later steps without changing the run's results", function()
      local read
      plugin("scribble", function(_, ctx)
        ctx.results.a = "forged"
        ctx.results.extra = true
        return "s"
      end)
      plugin("reader", function(input, ctx)
        read = { a = ctx.results.a, extra = ctx.results.extra, input = input }
        return "r"
      end)
      local wf = Workflow():add_step("a", "echo"):add_step("b", "scribble")
        :add_step("c", "reader", { depends_on = { "a", "b" } })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ a = "a!", b = "s", c = "r" }, result.results)
      assert.are.same({ a = "forged", extra = true, input = { a = "a!", b = "s" } }, read)
    end)

    it("keeps a nil result: the next step gets nil and the run succeeds", function()
      plugin("nothing", function() end)
      local result = ok(orchestrator(manager):execute_workflow(Workflow():add_step("a", "nothing")
        :add_step("b", "echo"), "in"))
      assert.are.same({ "b" }, calls)
      assert.are.equal(NIL, inputs.b)
      assert.are.same({ b = "b!" }, result.results)
    end)

    it("lets depends_on name a step added after it", function()
      local wf = Workflow():add_step("save", "echo", { depends_on = "load" })
        :add_step("load", "echo", { depends_on = {} })
      assert.are.same({ success = true, order = { "load", "save" } }, wf:validate())
      ok(orchestrator(manager):execute_workflow(wf, "in"))
      assert.are.same({ "load", "save" }, calls)
      assert.are.equal("in", inputs.load)
      assert.are.equal("load!", inputs.save)
    end)

    it("counts a dependency named twice once: the step gets that step's result", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo", { depends_on = { "a", "a" } })
      ok(orchestrator(manager):execute_workflow(wf))
      assert.are.equal("a!", inputs.b)
    end)

    it("lets a step use coroutines of its own: their yields stay inside the step", function()
      plugin("gen", function(input)
        local gen = coroutine.wrap(function()
          for i = 1, 3 do
            coroutine.yield(i * input)
          end
        end)
        return gen() + gen() + gen()
      end)
      local o = orchestrator(manager)
      assert.are.equal(12, ok(o:execute_workflow(Workflow():add_step("g", "gen"), 2)).results.g)
      local exec = o:execute_workflow_async(Workflow():add_step("g", "gen"), 1)
      assert.are.equal(0, o:poll())
      assert.are.equal(6, ok(exec:result()).results.g)
    end)

    it("makes roots with depends_on = {}, each given the workflow's input", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo", { depends_on = {} }):add_step("c", "echo")
      ok(orchestrator(manager):execute_workflow(wf, "in"))
      assert.are.same({ "a", "b", "c" }, calls)
      assert.are.same({ a = "in", b = "in", c = "b!" }, inputs)
    end)
  end)

  describe("graphs", function()
    it("runs the docs' diamond: store gets { parse, thumbnail }", function()
      plugin("fetcher", function(url)
        return "page of " .. url
      end)
      plugin("parser", function(page)
        return "parsed " .. page
      end)
      plugin("thumbnailer", function(page)
        return "thumb of " .. page
      end)
      local stored
      plugin("store", function(input)
        stored = input
        return "stored"
      end)
      local chunk = assert(load(doc_block("a diamond") .. "\nreturn wf\n", "=docs/orchestration.md", "t",
        setmetatable({ qtforge = qtforge }, { __index = _G })))
      local wf = chunk()
      assert.are.equal("images", wf:name())
      local result = ok(orchestrator(manager):execute_workflow(wf, "x.png"))
      assert.are.same({ parse = "parsed page of x.png", thumbnail = "thumb of page of x.png" }, stored)
      assert.are.equal("stored", result.results.store)
    end)

    it("runs a diamond's join after both branches, with their results by name", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo", { depends_on = "a" })
        :add_step("c", "echo", { depends_on = "a" }):add_step("d", "echo", { depends_on = { "b", "c" } })
      assert.are.same({ "a", "b", "c", "d" }, wf:validate().order)
      ok(orchestrator(manager):execute_workflow(wf))
      assert.are.equal(4, #calls)
      for _, dependent in ipairs({ "b", "c" }) do
        assert.is_true(position(calls, "a") < position(calls, dependent))
        assert.is_true(position(calls, dependent) < position(calls, "d"))
      end
      assert.are.same({ b = "b!", c = "c!" }, inputs.d)
      assert.are.equal("a!", inputs.b)
      assert.are.equal("a!", inputs.c)
    end)

    it("runs every step of a wider graph once, after all its dependencies, with their results", function()
      local deps = {
        { "sink", { "join", "r2", "lone" } },
        { "r1", {} },
        { "r2", {} },
        { "m1", { "r1" } },
        { "m2", { "r1", "r2" } },
        { "m3", { "r2" } },
        { "join", { "m1", "m2", "m3" } },
        { "lone", {} },
        { "after_lone", { "lone" } },
      }
      local wf = Workflow("wide")
      for _, d in ipairs(deps) do
        wf:add_step(d[1], "echo", { depends_on = d[2] })
      end
      local order = wf:validate().order
      local result = ok(orchestrator(manager):execute_workflow(wf, "in"))
      assert.are.equal(#deps, #calls)
      assert.are.equal(#deps, #order)
      for _, d in ipairs(deps) do
        local name, mine = d[1], d[2]
        assert.are.equal(name .. "!", result.results[name])
        for _, dependency in ipairs(mine) do
          assert.is_true(position(calls, dependency) < position(calls, name), dependency .. " ran after " .. name)
          assert.is_true(position(order, dependency) < position(order, name), dependency .. " after " .. name)
        end
        if #mine == 0 then
          assert.are.equal("in", inputs[name])
        elseif #mine == 1 then
          assert.are.equal(mine[1] .. "!", inputs[name])
        else
          local expected = {}
          for _, dependency in ipairs(mine) do
            expected[dependency] = dependency .. "!"
          end
          assert.are.same(expected, inputs[name])
        end
      end
    end)

    describe("with branches that yield", function()
      local log
      before_each(function()
        log = {}
        plugin("slow", function(_, ctx)
          log[#log + 1] = "start " .. ctx.step
          coroutine.yield()
          coroutine.yield()
          log[#log + 1] = "end " .. ctx.step
          return ctx.step
        end)
      end)

      local function diamond()
        return Workflow():add_step("a", "echo"):add_step("b", "slow", { depends_on = "a" })
          :add_step("c", "slow", { depends_on = "a" }):add_step("d", "echo", { depends_on = { "b", "c" } })
      end

      local function started_side_by_side()
        for _, started in ipairs({ "start b", "start c" }) do
          for _, ended in ipairs({ "end b", "end c" }) do
            assert.is_true(position(log, started) < position(log, ended), started .. " after " .. ended)
          end
        end
      end

      it("runs them side by side in execute_workflow", function()
        ok(orchestrator(manager):execute_workflow(diamond()))
        assert.are.equal(4, #log)
        started_side_by_side()
        assert.are.same({ b = "b", c = "c" }, inputs.d)
      end)

      it("runs them side by side in an async run: both start at the first poll", function()
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(diamond())
        assert.are.equal(1, o:poll())
        assert.are.same({ "start b", "start c" }, log)
        assert.are.same({ "a" }, calls)
        local result = ok(finish(o, exec))
        started_side_by_side()
        assert.are.same({ b = "b", c = "c" }, inputs.d)
        assert.are.same({ a = "a!", b = "b", c = "c", d = "d!" }, result.results)
      end)
    end)
  end)

  describe("failures", function()
    it("stops the run at a critical step's failure: the rest is skipped and never called", function()
      plugin("bad", boom)
      local wf = Workflow("crit"):add_step("a", "echo"):add_step("b", "bad"):add_step("c", "echo")
        :add_step("d", "echo")
      local result = orchestrator(manager):execute_workflow(wf)
      local err = failed(result, "call_error")
      assert.are.equal("failed", result.status)
      assert.are.equal("b", result.failed_step)
      contains(err.message, 'step "b"', 'plugin "bad"', "boom")
      assert.are.equal(THIS_FILE .. ":" .. BOOM_LINE, err.details)
      assert.are.equal(err, result.errors.b)
      assert.are.same({ "b" }, keys(result.errors))
      assert.are.same({ "a" }, calls)
      assert.are.same({ a = "a!" }, result.results)
      assert.are.same({ "c", "d" }, result.skipped)
      assert.are.same({ c = 'the workflow stopped: step "b" failed', d = 'the workflow stopped: step "b" failed' },
        result.skip_reasons)
      assert.are.equal("crit", result.workflow)
    end)

    it("starts no other step after a critical failure, not even an independent root", function()
      plugin("bad", boom)
      local wf = Workflow():add_step("a", "bad"):add_step("lone", "echo", { depends_on = {} })
        :add_step("later", "echo", { depends_on = "lone" })
      local result = orchestrator(manager):execute_workflow(wf)
      failed(result, "call_error")
      assert.are.same({}, calls)
      assert.are.same({ "lone", "later" }, result.skipped)
    end)

    it("abandons a step yielded side by side when a critical step fails", function()
      local resumed = 0
      plugin("loop", function()
        while true do
          coroutine.yield()
          resumed = resumed + 1
        end
      end)
      plugin("bad", boom)
      local o = orchestrator(manager)
      local wf = Workflow():add_step("a", "echo"):add_step("b", "loop", { depends_on = "a" })
        :add_step("c", "bad", { depends_on = "a" }):add_step("d", "echo", { depends_on = { "b", "c" } })
      local exec = o:execute_workflow_async(wf)
      assert.are.equal(0, o:poll())
      local result = exec:result()
      failed(result, "call_error")
      assert.are.equal("c", result.failed_step)
      assert.are.same({ "b", "d" }, result.skipped)
      assert.are.same({ b = 'the workflow stopped: step "c" failed', d = 'the workflow stopped: step "c" failed' },
        result.skip_reasons)
      for _ = 1, 3 do
        o:poll()
      end
      assert.are.equal(0, resumed)
      assert.are.same({ "a" }, calls)
    end)

    it("records a non-critical failure, skips what depends on it and runs the rest", function()
      plugin("bad", boom)
      local wf = Workflow():add_step("a", "echo")
        :add_step("b", "bad", { critical = false })
        :add_step("c", "echo")
        :add_step("d", "echo")
        :add_step("e", "echo", { depends_on = "a" })
        :add_step("f", "echo", { depends_on = "e" })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.is_nil(result.failed_step)
      assert.is_nil(result.error)
      assert.are.same({ "b" }, keys(result.errors))
      assert.are.equal("call_error", result.errors.b.code)
      contains(result.errors.b.message, 'step "b"', "boom")
      assert.are.same({ "c", "d" }, result.skipped)
      assert.are.same({ c = 'step "b" failed', d = 'step "b" failed' }, result.skip_reasons)
      assert.are.same({ "a", "e", "f" }, calls)
      assert.are.same({ a = "a!", e = "e!", f = "f!" }, result.results)
    end)

    it("skips a join one of whose branches failed without being critical", function()
      plugin("bad", boom)
      local wf = Workflow():add_step("a", "echo"):add_step("b", "bad", { critical = false })
        :add_step("c", "echo", { depends_on = "a" }):add_step("d", "echo", { depends_on = { "b", "c" } })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ "a", "c" }, calls)
      assert.are.same({ "d" }, result.skipped)
      assert.are.same({ d = 'step "b" failed' }, result.skip_reasons)
    end)

    it("keeps the code of a qtforge.Error a step returns in a failed result", function()
      plugin("refuse", function()
        return { success = false, error = Error("denied", "not allowed", "rule 7") }
      end)
      local result = orchestrator(manager):execute_workflow(Workflow():add_step("a", "refuse"):add_step("b", "echo"))
      local err = failed(result, "denied")
      contains(err.message, 'step "a"', 'plugin "refuse"', "not allowed")
      assert.are.equal("rule 7", err.details)
      assert.are.equal("a", result.failed_step)
      assert.are.same({}, calls)
    end)

    it("fails a step whose failed result has no Error with step_failed", function()
      plugin("bare", function()
        return { success = false }
      end)
      plugin("worded", function()
        return { success = false, error = "out of paper" }
      end)
      local o = orchestrator(manager)
      contains(failed(o:execute_workflow(Workflow():add_step("a", "bare")), "step_failed").message, 'step "a"',
        "no error given")
      contains(failed(o:execute_workflow(Workflow():add_step("a", "worded")), "step_failed").message, "out of paper")
    end)

    it("keeps the code and details of a qtforge.Error a step raises", function()
      plugin("thrower", function()
        error(Error("custom_code", "custom failure", "my details"))
      end)
      local result = orchestrator(manager):execute_workflow(Workflow():add_step("a", "thrower"))
      local err = failed(result, "custom_code")
      contains(err.message, 'step "a"', "custom failure")
      assert.are.equal("my details", err.details)
    end)

    it("takes a table whose success is true as a result like any other", function()
      plugin("fine", function()
        return { success = true, value = 3 }
      end)
      local result = ok(orchestrator(manager):execute_workflow(Workflow():add_step("a", "fine")))
      assert.are.same({ success = true, value = 3 }, result.results.a)
    end)
  end)

  describe("conditions", function()
    it("skips a step whose condition is false, and runs one whose condition is true", function()
      local wf = Workflow():add_step("a", "echo"):add_step("no", "echo", { condition = false })
        :add_step("yes", "echo", { depends_on = "a", condition = true })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ "a", "yes" }, calls)
      assert.are.same({ "no" }, result.skipped)
      assert.are.same({ no = "condition" }, result.skip_reasons)
      assert.is_nil(result.results.no)
    end)

    it("does not block the dependents of a step skipped by its condition: they get nil for it", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo", { condition = false }):add_step("c", "echo")
        :add_step("d", "echo", { depends_on = { "a", "b" } })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ "a", "c", "d" }, calls)
      assert.are.equal(NIL, inputs.c)
      assert.are.same({ a = "a!" }, inputs.d)
      assert.are.same({ "b" }, result.skipped)
    end)

    it("decides by a step name: runs when that step's result is neither nil nor false", function()
      local value
      plugin("source", function()
        return value
      end)
      local wf = Workflow():add_step("s", "source"):add_step("t", "echo", { condition = "s" })
      local o = orchestrator(manager)
      for _, case in ipairs({ { true, true }, { 0, true }, { "", true }, { false, false }, { nil, false } }) do
        calls, value = {}, case[1]
        local result = ok(o:execute_workflow(wf))
        assert.are.equal(case[2], calls[1] == "t", "a result of " .. tostring(case[1]))
        assert.are.equal(case[2] and "t!" or nil, result.results.t)
      end
    end)

    it("calls a condition function with the results and the context", function()
      local seen
      local wf = Workflow("cond"):add_step("a", "echo")
        :add_step("b", "echo", { condition = function(results, context)
          seen = { a = results.a, step = context.step, attempt = context.attempt, same = results == context.results }
          return results.a == "a!"
        end })
        :add_step("c", "echo", { depends_on = "a", condition = function()
          return nil
        end })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ a = "a!", step = "b", attempt = 1, same = true }, seen)
      assert.are.same({ "a", "b" }, calls)
      assert.are.same({ c = "condition" }, result.skip_reasons)
    end)

    it("joins two branches with opposite conditions", function()
      local function choose(side)
        return function(results)
          return results.a == side
        end
      end
      plugin("pick", function()
        return "left"
      end)
      local wf = Workflow():add_step("a", "pick")
        :add_step("left", "echo", { condition = choose("left") })
        :add_step("right", "echo", { depends_on = "a", condition = choose("right") })
        :add_step("join", "echo", { depends_on = { "left", "right" } })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ "left", "join" }, calls)
      assert.are.same({ left = "left!" }, inputs.join)
      assert.are.same({ "right" }, result.skipped)
    end)

    it("fails a step whose condition raises, without retries and without calling it", function()
      local asked = 0
      local wf = Workflow():add_step("a", "echo", { retries = 3, backoff = 0, condition = function()
        asked = asked + 1
        boom()
      end }):add_step("b", "echo")
      local result = orchestrator(manager):execute_workflow(wf)
      local err = failed(result, "call_error")
      assert.are.equal(1, asked)
      assert.are.same({}, calls)
      assert.are.equal("a", result.failed_step)
      contains(err.message, 'step "a"', "in its condition", "boom")
      assert.are.equal(THIS_FILE .. ":" .. BOOM_LINE, err.details)
      assert.are.same({ "b" }, result.skipped)
    end)

    it("reports a string condition that names no dependency as a problem", function()
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo"):add_step("c", "echo", { condition = "a" })
      local check = wf:validate()
      assert.is_false(check.success)
      assert.are.equal(1, #check.problems)
      contains(check.problems[1], 'step "c"', 'condition "a"', "not one of the steps it depends on")
      local result = orchestrator(manager):execute_workflow(wf)
      failed(result, "invalid_workflow")
      assert.are.same(check.problems, result.problems)
      assert.are.same({}, calls)
    end)
  end)

  describe("retries", function()
    it("retries a failing step until it succeeds, with the attempt in the context and events", function()
      local attempts = {}
      plugin("flaky", function(input, ctx)
        attempts[#attempts + 1] = { ctx.attempt, input }
        if ctx.attempt < 3 then
          error("not yet " .. ctx.attempt)
        end
        return "made it"
      end)
      local o = orchestrator(manager)
      local events = {}
      o:on_event(function(event)
        if event.step == "f" then
          events[#events + 1] = event
        end
      end)
      local backoff = { delay = 0.001, factor = 3, max = 1 }
      local result = ok(o:execute_workflow(Workflow():add_step("a", "echo")
        :add_step("f", "flaky", { retries = 2, backoff = backoff }), "in"))
      assert.are.equal("made it", result.results.f)
      assert.are.same({ { 1, "a!" }, { 2, "a!" }, { 3, "a!" } }, attempts)
      assert.are.same({}, result.errors)
      local seen = {}
      for _, event in ipairs(events) do
        seen[#seen + 1] = event.type .. ":" .. tostring(event.attempt)
      end
      assert.are.same({ "step_started:1", "step_failed:1", "step_retrying:2", "step_started:2", "step_failed:2",
        "step_retrying:3", "step_started:3", "step_finished:3" }, seen)
      assert.is_true(events[2].will_retry)
      contains(events[2].error.message, "not yet 1")
      assert.are.equal(0.001, events[3].delay)
      assert.are.equal(events[2].error, events[3].error)
      assert.is_true(events[5].will_retry)
      assert.is_true(math.abs(events[6].delay - 0.003) < 1e-12, tostring(events[6].delay))
    end)

    it("gives up after its retries with the last error; delays grow by factor up to max", function()
      local tries = 0
      plugin("broken", function(_, ctx)
        tries = tries + 1
        error("failure " .. ctx.attempt)
      end)
      local o = orchestrator(manager)
      local delays, last_failed = {}, nil
      o:on_event(function(event)
        if event.type == "step_retrying" then
          delays[#delays + 1] = event.delay
        elseif event.type == "step_failed" then
          last_failed = event
        end
      end)
      local result = o:execute_workflow(Workflow():add_step("x", "broken", { retries = 4,
        backoff = { delay = 0.001, factor = 3, max = 0.005 } }))
      local err = failed(result, "call_error")
      assert.are.equal(5, tries)
      contains(err.message, "failure 5")
      assert.are.equal(err, result.errors.x)
      assert.are.equal(4, #delays)
      for i, expected in ipairs({ 0.001, 0.003, 0.005, 0.005 }) do
        assert.is_true(math.abs(delays[i] - expected) < 1e-12, "delay " .. i .. " is " .. delays[i])
      end
      assert.is_false(last_failed.will_retry)
      assert.are.equal(5, last_failed.attempt)
    end)

    it("reuses the first attempt's input: an input function runs once", function()
      local made, got = 0, {}
      plugin("flaky", function(input, ctx)
        got[#got + 1] = input
        if ctx.attempt < 3 then
          error("again")
        end
        return "ok"
      end)
      local wf = Workflow():add_step("f", "flaky", { retries = 2, backoff = 0, input = function()
        made = made + 1
        return { made = made }
      end })
      ok(orchestrator(manager):execute_workflow(wf))
      assert.are.equal(1, made)
      assert.are.equal(3, #got)
      assert.are.equal(got[1], got[2])
      assert.are.equal(got[1], got[3])
    end)

    it("waits out the backoff in execute_workflow", function()
      local at = {}
      plugin("flaky", function(_, ctx)
        at[ctx.attempt] = monotonic()
        if ctx.attempt < 3 then
          error("again")
        end
        return "ok"
      end)
      local started = monotonic()
      ok(orchestrator(manager):execute_workflow(Workflow():add_step("f", "flaky", { retries = 2,
        backoff = { delay = 0.02, factor = 2 } })))
      assert.is_true(monotonic() - started >= 0.06)
      assert.is_true(at[2] - at[1] >= 0.02, "the first retry came after " .. (at[2] - at[1]))
      assert.is_true(at[3] - at[2] >= 0.04, "the second retry came after " .. (at[3] - at[2]))
    end)

    it("calls the orchestrator's sleep option while every step waits", function()
      local slept = {}
      local o = orchestrator(manager, { sleep = function(seconds)
        slept[#slept + 1] = seconds
        spin(seconds)
      end })
      local tries = 0
      plugin("flaky", function()
        tries = tries + 1
        if tries == 1 then
          error("again")
        end
        return "ok"
      end)
      ok(o:execute_workflow(Workflow():add_step("f", "flaky", { retries = 1, backoff = 0.03 })))
      assert.are.equal(2, tries)
      assert.is_true(#slept >= 1)
      for _, seconds in ipairs(slept) do
        -- never more than what is left of the backoff
        assert.is_true(seconds > 0 and seconds <= 0.03, "asked to sleep " .. seconds)
      end
    end)

    it("does not resume a retry of an async run before its backoff is over", function()
      local tries = 0
      plugin("flaky", function()
        tries = tries + 1
        if tries == 1 then
          error("again")
        end
        return "ok"
      end)
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("f", "flaky", { retries = 1, backoff = 0.05 }))
      local started = monotonic()
      o:poll()
      assert.are.equal(1, tries)
      local polls = 0
      while monotonic() - started < 0.04 do
        assert.are.equal(1, o:poll())
        polls = polls + 1
      end
      assert.is_true(polls > 1)
      assert.are.equal(1, tries)
      ok(finish(o, exec))
      assert.are.equal(2, tries)
      assert.is_true(monotonic() - started >= 0.05)
    end)
  end)

  describe("timeouts", function()
    local spins
    before_each(function()
      spins = 0
      plugin("forever", function()
        while true do
          coroutine.yield()
          spins = spins + 1
        end
      end)
    end)

    it("fails a step that yields past its timeout in execute_workflow", function()
      local started = monotonic()
      local result = orchestrator(manager):execute_workflow(Workflow():add_step("f", "forever", { timeout = 0.05 })
        :add_step("g", "echo"))
      local err = failed(result, "timeout")
      assert.is_true(monotonic() - started >= 0.05)
      assert.is_true(spins > 0)
      contains(err.message, 'step "f"', 'plugin "forever"', "0.05 s")
      assert.are.equal("attempt 1", err.details)
      assert.are.equal("f", result.failed_step)
      assert.are.same({ "g" }, result.skipped)
    end)

    it("fails a step that yields past its timeout in an async run", function()
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("f", "forever", { timeout = 0.05 }))
      local started = monotonic()
      local result, polls = finish(o, exec)
      failed(result, "timeout")
      assert.is_true(monotonic() - started >= 0.05)
      assert.is_true(polls > 1)
      assert.are.equal("failed", exec:status())
    end)

    it("retries a step that timed out", function()
      local attempts = 0
      plugin("stuck", function(_, ctx)
        attempts = ctx.attempt
        while true do
          coroutine.yield()
        end
      end)
      local o = orchestrator(manager)
      local retrying = {}
      o:on_event(function(event)
        if event.type == "step_failed" then
          retrying[#retrying + 1] = event.will_retry
        end
      end)
      local result = o:execute_workflow(Workflow():add_step("s", "stuck", { timeout = 0.02, retries = 1, backoff = 0 }))
      local err = failed(result, "timeout")
      assert.are.equal(2, attempts)
      assert.are.equal("attempt 2", err.details)
      assert.are.same({ true, false }, retrying)
    end)

    it("times out a yielding step whose retry succeeds, and keeps the retry's result", function()
      plugin("once_stuck", function(_, ctx)
        while ctx.attempt == 1 do
          coroutine.yield()
        end
        return "second time"
      end)
      local result = ok(orchestrator(manager):execute_workflow(Workflow():add_step("s", "once_stuck",
        { timeout = 0.02, retries = 1, backoff = 0 })))
      assert.are.equal("second time", result.results.s)
    end)

    it("counts a step that does not yield but returns after its timeout as timed out", function()
      local returned = false
      plugin("late", function()
        spin(0.05)
        returned = true
        return "too late"
      end)
      local result = orchestrator(manager):execute_workflow(Workflow():add_step("l", "late", { timeout = 0.02 }))
      local err = failed(result, "timeout")
      assert.is_true(returned)
      assert.is_nil(result.results.l)
      assert.are.same({ "l" }, keys(result.errors))
      contains(err.message, 'step "l"')
    end)

    it("does not wait for a yield of seconds past the step's timeout", function()
      plugin("sleepy", function()
        coroutine.yield(30)
        return "woke"
      end)
      local result = orchestrator(manager):execute_workflow(Workflow():add_step("s", "sleepy", { timeout = 0.03 }))
      failed(result, "timeout")
    end)

    it("does not resume a step that yields seconds before that time, in execute_workflow", function()
      plugin("napper", function()
        local before = monotonic()
        coroutine.yield(0.05)
        return monotonic() - before
      end)
      local result = ok(orchestrator(manager):execute_workflow(Workflow():add_step("n", "napper")))
      assert.is_true(result.results.n >= 0.05, "resumed after " .. result.results.n)
    end)

    it("does not resume a step that yields seconds before that time, in an async run", function()
      local woke = false
      plugin("napper", function()
        coroutine.yield(0.05)
        woke = true
        return "woke"
      end)
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("n", "napper"))
      local started = monotonic()
      assert.are.equal(1, o:poll())
      local polls = 0
      while monotonic() - started < 0.04 do
        o:poll()
        polls = polls + 1
      end
      assert.is_true(polls > 1)
      assert.is_false(woke)
      ok(finish(o, exec))
      assert.is_true(woke)
      assert.is_true(monotonic() - started >= 0.05)
    end)

    if IS_54 then
      -- written through load, which LuaJIT would refuse to compile
      local make_guarded = assert(load([[
        local closed = ...
        return function()
          local guard <close> = setmetatable({}, { __close = function() closed.n = closed.n + 1 end })
          while true do
            coroutine.yield()
          end
        end
      ]], "=guarded"))

      it("closes a timed-out step's coroutine under Lua 5.4, so its to-be-closed variables run", function()
        local closed = { n = 0 }
        plugin("guarded", make_guarded(closed))
        local result = orchestrator(manager):execute_workflow(Workflow():add_step("g", "guarded", { timeout = 0.02 }))
        failed(result, "timeout")
        assert.are.equal(1, closed.n)
      end)

      it("closes the coroutine of a step abandoned by a cancel under Lua 5.4", function()
        local closed = { n = 0 }
        plugin("guarded", make_guarded(closed))
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("g", "guarded"))
        o:poll()
        assert.are.equal(0, closed.n)
        assert.is_true(exec:cancel())
        assert.are.equal(1, closed.n)
      end)
    end
  end)

  describe("async runs", function()
    it("returns a pending Execution and runs nothing, callback included, before the first poll", function()
      local o = orchestrator(manager)
      local heard = {}
      local exec = o:execute_workflow_async(Workflow("later"):add_step("a", "echo"):add_step("b", "echo"), "in",
        function(result, execution)
          heard[#heard + 1] = { result = result, execution = execution }
        end)
      assert.are.equal("pending", exec:status())
      assert.is_nil(exec:result())
      assert.are.equal("later", exec:workflow())
      assert.is_number(exec:id())
      assert.are.same({}, calls)
      assert.are.same({}, heard)
      assert.are.same({ exec }, o:executions())
      assert.are.equal(0, o:poll())
      assert.are.same({ "a", "b" }, calls)
      assert.are.equal(1, #heard)
      assert.are.equal(exec, heard[1].execution)
      assert.are.equal(exec:result(), heard[1].result)
      ok(heard[1].result)
      assert.are.equal("completed", exec:status())
      assert.are.same({}, o:executions())
      o:poll()
      assert.are.equal(1, #heard)
    end)

    it("gives each run its own id", function()
      local o = orchestrator(manager)
      local a = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      local b = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      assert.are_not.equal(a:id(), b:id())
      assert.are.same({ a, b }, o:executions())
    end)

    it("counts the runs under way in poll", function()
      plugin("ticks", function()
        for _ = 1, 3 do
          coroutine.yield()
        end
        return "ticked"
      end)
      local o = orchestrator(manager)
      local slow = o:execute_workflow_async(Workflow():add_step("t", "ticks"))
      local quick = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      assert.are.equal(2, #o:executions())
      assert.are.equal(1, o:poll())
      assert.are.equal("completed", quick:status())
      assert.are.same({ slow }, o:executions())
      assert.are.equal("running", slow:status())
      local counts = {}
      repeat
        counts[#counts + 1] = o:poll()
      until counts[#counts] == 0
      assert.are.same({ 1, 1, 0 }, counts)
      assert.are.equal("ticked", slow:result().results.t)
    end)

    describe("through update_all_plugins", function()
      local function ticking()
        plugin("ticks", function()
          coroutine.yield()
          coroutine.yield()
          return "ticked"
        end)
        return Workflow():add_step("t", "ticks"):add_step("a", "echo")
      end

      local function tick_until_done(m, exec)
        for _ = 1, 100 do
          if exec:result() then
            break
          end
          m:update_all_plugins(0.016)
        end
        return exec:result()
      end

      it("moves the runs of an orchestrator made with the manager", function()
        local wf = ticking()
        local o = orchestrator(manager)
        local first = o:execute_workflow_async(wf)
        ok(tick_until_done(manager, first))
        -- a second run after the first ended: the orchestrator polls itself again
        local second = o:execute_workflow_async(wf)
        manager:update_all_plugins(0.016)
        assert.are.equal("running", second:status())
        ok(tick_until_done(manager, second))
        assert.are.same({ "a", "a" }, calls)
      end)

      it("moves the runs of an orchestrator made without a manager in any manager's update", function()
        local wf = ticking()
        local o = orchestrator()
        ok(tick_until_done(manager, o:execute_workflow_async(wf)))
      end)

      it("does not move a run of an orchestrator made with another manager", function()
        local wf = ticking()
        local other = plugins.manager()
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(wf)
        for _ = 1, 5 do
          other:update_all_plugins(0.016)
        end
        other:shutdown()
        assert.are.equal("pending", exec:status())
        ok(tick_until_done(manager, exec))
      end)
    end)

    describe("cancel", function()
      it("from outside, while a step is yielded: the callback hears it and nothing goes on", function()
        local resumed = 0
        plugin("loop", function()
          while true do
            coroutine.yield()
            resumed = resumed + 1
          end
        end)
        local o = orchestrator(manager)
        local heard = {}
        local exec = o:execute_workflow_async(Workflow("stopme"):add_step("a", "echo"):add_step("b", "loop")
          :add_step("c", "echo"):add_step("d", "echo"), nil, function(result)
          heard[#heard + 1] = result
        end)
        o:poll()
        o:poll()
        assert.are.equal(1, resumed)
        assert.is_true(exec:cancel())
        assert.are.equal(1, #heard)
        local result = heard[1]
        local err = failed(result, "cancelled")
        contains(err.message, '"stopme"')
        assert.are.equal("cancelled", result.status)
        assert.is_nil(result.failed_step)
        assert.are.same({ a = "a!" }, result.results)
        assert.are.same({ "b", "c", "d" }, result.skipped)
        for _, name in ipairs({ "b", "c", "d" }) do
          assert.are.equal("the workflow was cancelled", result.skip_reasons[name])
        end
        assert.are.equal("cancelled", exec:status())
        assert.are.equal(result, exec:result())
        for _ = 1, 5 do
          assert.are.equal(0, o:poll())
        end
        assert.are.equal(1, resumed)
        assert.are.same({ "a" }, calls)
        assert.are.same({}, o:executions())
        assert.is_false(exec:cancel())
        assert.are.equal(1, #heard)
      end)

      it("before the first poll: nothing runs", function()
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"))
        assert.is_true(exec:cancel())
        failed(exec:result(), "cancelled")
        assert.are.same({ "a" }, exec:result().skipped)
        o:poll()
        assert.are.same({}, calls)
      end)

      it("from inside a step: that step finishes first, no other starts", function()
        local first, second
        plugin("quitter", function(_, ctx)
          first = ctx.execution:cancel()
          second = ctx.execution:cancel()
          return "quit"
        end)
        local wf = Workflow():add_step("a", "quitter"):add_step("b", "echo")
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(wf)
        assert.are.equal(0, o:poll())
        local result = exec:result()
        failed(result, "cancelled")
        assert.are.same({ true, false }, { first, second })
        assert.are.same({ a = "quit" }, result.results)
        assert.are.same({ b = "the workflow was cancelled" }, result.skip_reasons)
        assert.are.same({}, calls)
        -- the same in execute_workflow
        local sync = o:execute_workflow(wf)
        failed(sync, "cancelled")
        assert.are.equal("cancelled", sync.status)
        assert.are.same({ a = "quit" }, sync.results)
        assert.are.same({}, calls)
      end)

      it("returns false once the run has ended", function()
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"))
        o:poll()
        assert.is_false(exec:cancel())
        assert.are.equal("completed", exec:status())
      end)

      it("abandons a step waiting for a retry", function()
        local tries = 0
        plugin("flaky", function()
          tries = tries + 1
          error("again")
        end)
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("f", "flaky", { retries = 1, backoff = 0.02 }))
        o:poll()
        assert.is_true(exec:cancel())
        spin(0.03)
        o:poll()
        assert.are.equal(1, tries)
        assert.are.same({ "f" }, exec:result().skipped)
      end)
    end)

    describe("pause and resume", function()
      local resumed
      before_each(function()
        resumed = 0
        plugin("ticks", function()
          for _ = 1, 3 do
            coroutine.yield()
            resumed = resumed + 1
          end
          return "ticked"
        end)
      end)

      it("holds a paused run across polls and finishes it after resume", function()
        local o = orchestrator(manager)
        local seen = {}
        o:on_event(function(event)
          seen[#seen + 1] = event.type
        end)
        local exec = o:execute_workflow_async(Workflow():add_step("t", "ticks"):add_step("a", "echo"))
        o:poll()
        assert.are.equal("running", exec:status())
        assert.is_true(exec:pause())
        assert.is_false(exec:pause())
        assert.are.equal("paused", exec:status())
        for _ = 1, 10 do
          assert.are.equal(1, o:poll())
        end
        assert.are.equal(0, resumed)
        assert.are.same({}, calls)
        assert.is_true(exec:resume())
        assert.is_false(exec:resume())
        assert.are.equal("running", exec:status())
        local result = ok(finish(o, exec))
        assert.are.equal(3, resumed)
        assert.are.same({ "a" }, calls)
        assert.are.equal("ticked", result.results.t)
        assert.is_true(position(seen, "workflow_paused") < position(seen, "workflow_resumed"))
        assert.is_true(position(seen, "workflow_resumed") < position(seen, "workflow_finished"))
      end)

      it("holds a run paused before its first poll, which then starts at resume", function()
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"))
        assert.is_true(exec:pause())
        for _ = 1, 5 do
          o:poll()
        end
        assert.are.same({}, calls)
        assert.are.equal("paused", exec:status())
        assert.is_true(exec:resume())
        assert.are.equal("pending", exec:status())
        ok(finish(o, exec))
        assert.are.same({ "a" }, calls)
      end)

      it("lets a step pause its own async run", function()
        local paused
        plugin("pauser", function(_, ctx)
          paused = ctx.execution:pause()
          return "p"
        end)
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("p", "pauser"):add_step("a", "echo"))
        for _ = 1, 5 do
          o:poll()
        end
        assert.is_true(paused)
        assert.are.equal("paused", exec:status())
        assert.are.same({}, calls)
        exec:resume()
        ok(finish(o, exec))
        assert.are.same({ "a" }, calls)
      end)

      it("does not count the time paused toward a timeout", function()
        plugin("forever", function()
          while true do
            coroutine.yield()
          end
        end)
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("f", "forever", { timeout = 0.1 }))
        o:poll()
        exec:pause()
        spin(0.15)
        exec:resume()
        o:poll()
        assert.are.equal("running", exec:status())
        failed(finish(o, exec), "timeout")
      end)

      it("does not count the time paused toward a retry's backoff", function()
        local tries = 0
        plugin("flaky", function()
          tries = tries + 1
          if tries == 1 then
            error("again")
          end
          return "ok"
        end)
        local o = orchestrator(manager)
        local exec = o:execute_workflow_async(Workflow():add_step("f", "flaky", { retries = 1, backoff = 0.1 }))
        o:poll()
        exec:pause()
        spin(0.15)
        exec:resume()
        o:poll()
        assert.are.equal(1, tries)
        ok(finish(o, exec))
        assert.are.equal(2, tries)
      end)

      it("returns false from pause and resume once the run has ended", function()
        local o = orchestrator(manager)
        local done = o:execute_workflow_async(Workflow():add_step("a", "echo"))
        o:poll()
        assert.is_false(done:pause())
        assert.is_false(done:resume())
        local cancelled = o:execute_workflow_async(Workflow():add_step("a", "echo"))
        cancelled:cancel()
        assert.is_false(cancelled:pause())
        assert.are.equal("cancelled", cancelled:status())
      end)

      it("refuses to pause a run of execute_workflow", function()
        local message
        plugin("pauser", function(_, ctx)
          message = raised_at_caller(function() ctx.execution:pause() end)
          return "went on"
        end)
        local result = ok(orchestrator(manager):execute_workflow(Workflow():add_step("p", "pauser")))
        contains(message, "Execution:pause", "execute_workflow", "cannot be paused")
        assert.are.equal("went on", result.results.p)
      end)
    end)

    it("finishes an async run in wait(), calling the callback once", function()
      plugin("ticks", function()
        coroutine.yield()
        coroutine.yield(0.01)
        return "ticked"
      end)
      local o = orchestrator(manager)
      local heard = 0
      local exec = o:execute_workflow_async(Workflow():add_step("t", "ticks"):add_step("a", "echo"), nil, function()
        heard = heard + 1
      end)
      local result = ok(exec:wait())
      assert.are.equal(result, exec:result())
      assert.are.equal(1, heard)
      assert.are.equal("ticked", result.results.t)
      assert.are.same({}, o:executions())
      assert.are.equal(result, exec:wait())
      assert.are.equal(1, heard)
    end)

    it("runs a run never polled from its start in wait()", function()
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"):add_step("b", "echo"), "in")
      assert.are.equal("pending", exec:status())
      local result = ok(exec:wait())
      assert.are.same({ "a", "b" }, calls)
      assert.are.equal("in", inputs.a)
      assert.are.equal("completed", exec:status())
      assert.are.equal(result, exec:result())
      assert.are.equal(0, o:poll())
    end)

    it("logs a callback that raises, without raising from poll", function()
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"), nil, function()
        error("callback trouble")
      end)
      assert.is_true(pcall(o.poll, o))
      ok(exec:result())
      local lines = logged("workflow callback failed")
      assert.are.equal(1, #lines)
      assert.are.equal("error", lines[1].level)
      contains(lines[1].message, "callback trouble")
    end)

    it("does nothing in a poll called from a step of an async run", function()
      local o = orchestrator(manager)
      local seen
      local other
      plugin("poller", function()
        seen = { polled = o:poll(), other = other:status() }
        return "polled"
      end)
      o:execute_workflow_async(Workflow():add_step("p", "poller"))
      other = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      o:poll()
      assert.are.same({ polled = 2, other = "pending" }, seen)
      assert.are.equal("completed", other:status())
    end)

    it("polls the other runs from a step of execute_workflow, which is not one of them", function()
      local o = orchestrator(manager)
      local seen
      local other = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      plugin("poller", function()
        seen = { polled = o:poll(), other = other:status() }
        return "polled"
      end)
      local result = ok(o:execute_workflow(Workflow():add_step("p", "poller")))
      assert.are.equal("polled", result.results.p)
      assert.are.same({ polled = 0, other = "completed" }, seen)
    end)

    it("polls the other runs from a callback that a cancel ran, outside any poll", function()
      local o = orchestrator(manager)
      local other = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      local seen
      local exec = o:execute_workflow_async(Workflow():add_step("b", "echo"), nil, function()
        seen = { polled = o:poll(), other = other:status() }
      end)
      exec:cancel()
      assert.are.same({ polled = 0, other = "completed" }, seen)
    end)

    it("does nothing in a poll called from a callback that a poll ran", function()
      local o = orchestrator(manager)
      local seen
      o:execute_workflow_async(Workflow():add_step("b", "echo"), nil, function()
        seen = { polled = o:poll(), other = nil }
      end)
      local other = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      -- the first run ends first; its callback's poll must not run the second
      local poll_other_status
      o:on_event(function(event)
        if event.type == "workflow_finished" and event.execution ~= other then
          poll_other_status = other:status()
        end
      end)
      assert.are.equal(0, o:poll())
      assert.are.same({ polled = 1 }, seen)
      assert.are.equal("pending", poll_other_status)
      assert.are.equal("completed", other:status())
    end)
  end)

  describe("events", function()
    it("tells a small run with a retry and a skip, in order, with their fields", function()
      local tries = 0
      plugin("flaky", function()
        tries = tries + 1
        if tries == 1 then
          error("first try fails")
        end
        return "b done"
      end)
      local o = orchestrator(manager)
      local events = {}
      o:on_event(function(event)
        events[#events + 1] = event
      end)
      local input = { go = true }
      local wf = Workflow("small"):add_step("a", "echo")
        :add_step("b", "flaky", { retries = 1, backoff = 0 })
        :add_step("c", "echo", { depends_on = "a", condition = false })
        :add_step("d", "echo", { depends_on = "b" })
      local result = ok(o:execute_workflow(wf, input))
      local seen = {}
      for _, event in ipairs(events) do
        seen[#seen + 1] = event.type .. (event.step and (":" .. event.step) or "")
      end
      -- a retry without backoff is ready at once, and b comes before c in the order
      assert.are.same({ "workflow_started", "step_started:a", "step_finished:a", "step_started:b", "step_failed:b",
        "step_retrying:b", "step_started:b", "step_finished:b", "step_skipped:c", "step_started:d",
        "step_finished:d", "workflow_finished" }, seen)
      local exec = events[1].execution
      for _, event in ipairs(events) do
        assert.are.equal("small", event.workflow)
        assert.are.equal(exec, event.execution)
        if event.step then
          assert.are.equal(event.step == "b" and "flaky" or "echo", event.plugin_id)
        else
          assert.is_nil(event.plugin_id)
        end
      end
      assert.are.equal(input, events[1].input)
      assert.are.same({ 1, input }, { events[2].attempt, events[2].input })
      assert.are.same({ 1, "a!" }, { events[3].attempt, events[3].result })
      assert.is_true(events[3].duration_ms >= 0)
      assert.are.same({ 1, "a!" }, { events[4].attempt, events[4].input })
      local failure = events[5]
      assert.are.same({ 1, true }, { failure.attempt, failure.will_retry })
      assert.are.equal("call_error", failure.error.code)
      contains(failure.error.message, "first try fails")
      assert.is_true(failure.duration_ms >= 0)
      assert.are.same({ 2, 0 }, { events[6].attempt, events[6].delay })
      assert.are.equal(failure.error, events[6].error)
      assert.are.same({ 2, "a!" }, { events[7].attempt, events[7].input })
      assert.are.same({ 2, "b done" }, { events[8].attempt, events[8].result })
      assert.are.equal("condition", events[9].reason)
      assert.are.same({ "completed", result }, { events[12].status, events[12].result })
      assert.are.same({ "a", "d" }, calls)
    end)

    it("tells a step skipped for a failure, and a failed run", function()
      plugin("bad", boom)
      local o = orchestrator(manager)
      local seen = {}
      o:on_event(function(event)
        seen[#seen + 1] = event.type .. ":" .. tostring(event.step) .. ":" .. tostring(event.reason or event.status)
      end)
      o:execute_workflow(Workflow():add_step("a", "bad", { critical = false }):add_step("b", "echo")
        :add_step("c", "bad", { depends_on = {} }):add_step("d", "echo"))
      assert.are.same({ "workflow_started:nil:nil", "step_started:a:nil", "step_failed:a:nil",
        'step_skipped:b:step "a" failed', "step_started:c:nil", "step_failed:c:nil",
        'step_skipped:d:the workflow stopped: step "c" failed', "workflow_finished:nil:failed" }, seen)
    end)

    it("keeps telling the other listeners when one raises, and logs it", function()
      local o = orchestrator(manager)
      o:on_event(function()
        error("listener trouble")
      end)
      local heard = 0
      o:on_event(function()
        heard = heard + 1
      end)
      ok(o:execute_workflow(Workflow():add_step("a", "echo")))
      -- workflow_started, step_started, step_finished, workflow_finished
      assert.are.equal(4, heard)
      local lines = logged("event listener failed")
      assert.are.equal(4, #lines)
      contains(lines[1].message, "listener trouble")
    end)

    it("returns a function that removes the listener", function()
      local o = orchestrator(manager)
      local heard = 0
      local remove = o:on_event(function()
        heard = heard + 1
      end)
      assert.is_function(remove)
      ok(o:execute_workflow(Workflow():add_step("a", "echo")))
      assert.are.equal(4, heard)
      remove()
      ok(o:execute_workflow(Workflow():add_step("a", "echo")))
      assert.are.equal(4, heard)
    end)
  end)

  describe("validation", function()
    it("reports every problem together: duplicates, unknown dependencies, a cycle, plugins", function()
      plugin("sleepy", function()
        return "zz"
      end)
      assert.is_true(manager:stop_plugin("sleepy").success)
      local wf = Workflow("broken")
        :add_step("a", "echo", { depends_on = "c" })
        :add_step("b", "echo", { depends_on = "a" })
        :add_step("c", "echo", { depends_on = "b" })
        :add_step("dup", "echo", { depends_on = {} })
        :add_step("dup", "echo", { depends_on = {} })
        :add_step("lost", "echo", { depends_on = "nowhere" })
        :add_step("ghostly", "ghost", { depends_on = {} })
        :add_step("hollow", "echo", { depends_on = {}, method = "nothing" })
        :add_step("idle", "sleepy", { depends_on = {} })
      local o = orchestrator(manager)
      local check = o:validate(wf)
      assert.is_false(check.success)
      assert.are.equal("invalid_workflow", check.error.code)
      local problems = check.problems
      assert.are.equal(6, #problems, table.concat(problems, "\n"))
      local text = table.concat(problems, "\n")
      contains(text, '"dup"', '"lost"', '"nowhere"', "a -> b -> c -> a")
      contains(text, 'step "ghostly" calls plugin "ghost", which is not loaded')
      contains(text, 'step "hollow" calls plugin "echo", which has no export "nothing"')
      contains(text, 'step "idle" calls plugin "sleepy", which is stopped')
      assert.are.same(problems, wf:validate(manager).problems)
      assert.are.same(problems, wf:validate(o).problems)
      contains(tostring(check.error), 'workflow "broken" cannot run')
    end)

    it("names a cycle by its path in run order", function()
      local wf = Workflow():add_step("start", "echo"):add_step("a", "echo", { depends_on = "c" })
        :add_step("b", "echo", { depends_on = "a" }):add_step("c", "echo", { depends_on = "b" })
      local check = wf:validate()
      assert.are.equal(1, #check.problems)
      contains(check.problems[1], "a -> b -> c -> a")
      contains(Workflow():add_step("self", "echo", { depends_on = "self" }):validate().problems[1], "self -> self")
    end)

    it("runs no step of an invalid workflow: the result says invalid_workflow with the problems", function()
      local o = orchestrator(manager)
      local wf = Workflow("bad"):add_step("fine", "echo"):add_step("gone", "ghost")
        :add_step("lost", "echo", { depends_on = "nowhere" })
      local result = o:execute_workflow(wf)
      local err = failed(result, "invalid_workflow")
      assert.are.equal("failed", result.status)
      assert.are.equal(2, #result.problems)
      assert.are.same(wf:validate(o).problems, result.problems)
      contains(err.message, 'workflow "bad" cannot run')
      assert.are.same({}, calls)
      assert.are.same({}, result.results)
      assert.is_nil(result.failed_step)
    end)

    it("ends an invalid async run at its first poll with the same result, and calls the callback then", function()
      local o = orchestrator(manager)
      local heard
      local exec = o:execute_workflow_async(Workflow():add_step("gone", "ghost"), nil, function(result)
        heard = result
      end)
      assert.are.equal("pending", exec:status())
      assert.is_nil(heard)
      assert.are.equal(0, o:poll())
      failed(heard, "invalid_workflow")
      assert.are.equal(heard, exec:result())
      assert.are.equal("failed", exec:status())
      contains(heard.problems[1], '"ghost"', "not loaded")
    end)

    it("checks only the structure without a target, and gives the run order", function()
      local wf = Workflow():add_step("late", "ghost", { depends_on = "early" })
        :add_step("early", "ghost", { depends_on = {} }):add_step("mid", "ghost", { depends_on = "early" })
      assert.are.same({ success = true, order = { "early", "late", "mid" } }, wf:validate())
      local check = wf:validate(manager)
      assert.is_false(check.success)
      assert.are.equal(3, #check.problems)
    end)

    it("notices a plugin stopped or started since the last run", function()
      plugin("sleepy", function()
        return "zz"
      end)
      local o = orchestrator(manager)
      local wf = Workflow():add_step("s", "sleepy")
      ok(o:execute_workflow(wf))
      assert.is_true(manager:stop_plugin("sleepy").success)
      local stopped = o:execute_workflow(wf)
      failed(stopped, "invalid_workflow")
      contains(stopped.problems[1], 'step "s" calls plugin "sleepy", which is stopped')
      assert.is_true(manager:start_plugin("sleepy").success)
      ok(o:execute_workflow(wf))
    end)

    it("calls the steps of a run that does not yield in the order validate gives", function()
      -- validate's order is documented as the run order; a root added after
      -- a chain must then run after that chain
      local wf = Workflow():add_step("a", "echo"):add_step("b", "echo"):add_step("c", "echo", { depends_on = {} })
      local order = wf:validate().order
      assert.are.same({ "a", "b", "c" }, order)
      ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same(order, calls)
    end)

    it("takes a plugin from the oldest manager that holds it, without a manager of its own", function()
      local other = plugins.manager()
      plugin("both", function()
        return "newer"
      end, other)
      plugin("both", function()
        return "older"
      end)
      local result = ok(orchestrator():execute_workflow(Workflow():add_step("s", "both")))
      assert.are.equal("older", result.results.s)
      assert.are.equal("newer", ok(orchestrator(other):execute_workflow(Workflow():add_step("s", "both"))).results.s)
      other:shutdown()
    end)

    it("finds a plugin in any manager for an orchestrator made without one", function()
      local other = plugins.manager()
      plugin("elsewhere", function()
        return "there"
      end, other)
      local wf = Workflow():add_step("e", "elsewhere")
      assert.is_false(orchestrator(manager):validate(wf).success)
      local result = ok(orchestrator():execute_workflow(wf))
      assert.are.equal("there", result.results.e)
      other:shutdown()
    end)
  end)

  describe("workflows as tables", function()
    it("reads the docs' pipelines.toml and runs it against folder plugins", function()
      local toml = doc_block("[[etl.steps]]", "toml")
      local path = fs.write(root .. "/pipelines.toml", toml)
      local dir = root .. "/plugins"
      for _, spec in ipairs({
        { "csv_loader", "execute = function(path) return { path = path, rows = { ' a ', 'b ' } } end" },
        { "cleaner", "execute = function(data)\n local rows = {}\n"
          .. " for i, row in ipairs(data.rows) do rows[i] = row:match('^%s*(.-)%s*$') end\n return rows end" },
        { "saver", "write = function(rows) return 'wrote ' .. table.concat(rows, '|') end" },
      }) do
        local result = manager:load_plugin(plugins.folder(dir, spec[1], { source = "return { exports = { "
          .. spec[2] .. " } }\n" }))
        assert.is_true(result.success, tostring(result.error))
      end
      local code = doc_block("ConfigurationManager"):gsub('"pipelines.toml"', string.format("%q", path))
      local chunk = assert(load(code .. "\nreturn workflow\n", "=docs/orchestration.md", "t",
        setmetatable({ qtforge = qtforge }, { __index = _G })))
      local workflow = chunk()
      assert.are.equal("etl", workflow:name())
      local t = workflow:to_table()
      assert.are.same({ "load", "clean", "save" }, { t.steps[1].name, t.steps[2].name, t.steps[3].name })
      assert.are.equal("data/input.csv", t.steps[1].input)
      assert.are.same({}, t.steps[1].depends_on)
      assert.are.same({ "load" }, t.steps[2].depends_on)
      assert.are.equal(3, t.steps[2].retries)
      assert.are.same({ delay = 0.5, factor = 2, max = 5 }, t.steps[2].backoff)
      assert.are.same({ "save", "write", 10 }, { t.steps[3].name, t.steps[3].method, t.steps[3].timeout })
      local result = ok(orchestrator(manager):execute_workflow(workflow))
      assert.are.equal("wrote a|b", result.results.save)
      assert.are.same({ "a", "b" }, result.results.clean)
    end)

    it("gives every field with its default in to_table", function()
      local t = Workflow("defaults"):add_step("a", "p"):add_step("b", "q", { backoff = 0.25 }):to_table()
      assert.are.same({ name = "defaults", steps = {
        { name = "a", plugin_id = "p", method = "execute", depends_on = {}, retries = 0,
          backoff = { delay = 0.1, factor = 2, max = 30 }, critical = true },
        { name = "b", plugin_id = "q", method = "execute", depends_on = { "a" }, retries = 0,
          backoff = { delay = 0.25, factor = 2, max = 30 }, critical = true },
      } }, t)
    end)

    it("builds the same workflow back from to_table, functions included", function()
      local function pick(results)
        return results.a .. "?"
      end
      local function when(results)
        return results.a ~= nil
      end
      local wf = Workflow("round"):add_step("a", "echo")
        :add_step("b", "echo", { input = pick, condition = when, critical = false, timeout = 2, retries = 1,
          backoff = { delay = 0.01, factor = 1.5, max = 1 } })
        :add_step("c", "echo", { depends_on = { "a", "b" }, condition = "b", method = "execute" })
        :add_step("d", "echo", { depends_on = {}, input = { fixed = 1 }, condition = true })
      local t = wf:to_table()
      assert.are.equal(pick, t.steps[2].input)
      assert.are.equal(when, t.steps[2].condition)
      local back, err = Workflow.from_table(t)
      assert.is_nil(err)
      assert.are.same(t, back:to_table())
      assert.are.same(wf:steps(), back:steps())
      local result = ok(orchestrator(manager):execute_workflow(back, "in"))
      assert.are.same({ a = "a!", b = "b!", c = "c!", d = "d!" }, result.results)
      assert.are.same({ a = "in", b = "a!?", c = { a = "a!", b = "b!" }, d = { fixed = 1 } }, inputs)
    end)

    it("takes the defaults for fields not given, and an empty table as an empty workflow", function()
      local wf = assert(Workflow.from_table({ steps = { { name = "a", plugin_id = "echo" },
        { name = "b", plugin_id = "echo" } } }))
      assert.are.equal("workflow", wf:name())
      assert.are.same(Workflow():add_step("a", "echo"):add_step("b", "echo"):to_table(), wf:to_table())
      local empty = assert(Workflow.from_table({}))
      assert.are.same({}, empty:steps())
      ok(orchestrator(manager):execute_workflow(empty))
    end)

    it("returns nil and invalid_workflow naming the field at fault", function()
      local good = { name = "a", plugin_id = "echo" }
      local cases = {
        { { name = "etl", steps = { good, { name = "b", plugin_id = "echo", retries = -1 } } },
          "steps[2].retries must be a non-negative integer", 'workflow "etl"' },
        { { steps = { good, { name = "b", plugin_id = "echo", backoff = { delay = "x" } } } }, "steps[2].backoff" },
        { { steps = { { name = "a", plugin_id = "echo", timeout = 0 } } }, "steps[1].timeout" },
        { { steps = { { name = "a", plugin_id = "echo", condition = 5 } } }, "steps[1].condition" },
        { { steps = { { name = "a", plugin_id = "echo", depends_on = 5 } } }, "steps[1].depends_on" },
        { { steps = { { name = "a", plugin_id = "echo", method = "" } } }, "steps[1].method" },
        { { steps = { { name = "a", plugin_id = "echo", critical = "no" } } }, "steps[1].critical" },
        { { steps = { { plugin_id = "echo" } } }, "steps[1].name" },
        { { steps = { { name = "a" } } }, "steps[1].plugin_id" },
        { { steps = { good, { name = "b", plugin_id = "echo", colour = "red" } } }, "steps[2]", '"colour"' },
        { { steps = { good, "b" } }, "steps[2] must be a step table" },
        { { steps = "all" }, "steps must be a list" },
        { { steps = { good, extra = good } }, "steps must be a list", '"extra"' },
        { { name = 5 }, "name must be a non-empty string" },
        { { name = "x", stages = {} }, "unknown field", '"stages"' },
      }
      for _, case in ipairs(cases) do
        local wf, err = Workflow.from_table(case[1])
        assert.is_nil(wf)
        assert.is_true(Error.is(err))
        assert.are.equal("invalid_workflow", err.code)
        for k = 2, #case do
          contains(err.message, case[k])
        end
      end
    end)

    it("raises on a from_table argument that is not a table", function()
      contains(raised_at_caller(function() Workflow.from_table("steps") end),
        "Workflow.from_table: argument 't' must be a table", '"steps"')
      contains(raised_at_caller(function() Workflow.from_table() end), "argument 't'", "nil")
    end)
  end)

  describe("sandboxed plugins with quotas", function()
    local boxed
    before_each(function()
      boxed = plugins.manager({ security = qtforge.security.SecurityManager({
        limits = { instructions = 1e6, time_ms = 50 } }) })
      local path = plugins.folder(root, "boxed", { source = "return { exports = {\n"
        .. " execute = function(x) return x * 2 end,\n"
        .. " yielder = function() coroutine.yield() return 'never' end,\n"
        .. " spin = function() while true do end end,\n} }\n" })
      local result = boxed:load_plugin(path)
      assert.is_true(result.success, tostring(result.error))
      plugin("plain", function(x)
        return "plain " .. tostring(x)
      end, boxed)
    end)

    after_each(function()
      boxed:shutdown()
    end)

    it("calls one as a step", function()
      local result = ok(orchestrator(boxed):execute_workflow(Workflow():add_step("a", "boxed")
        :add_step("b", "boxed"), 3))
      assert.are.same({ a = 6, b = 12 }, result.results)
    end)

    it("fails the step of one that yields, saying that quotas forbid it", function()
      local o = orchestrator(boxed)
      local result = o:execute_workflow(Workflow():add_step("y", "boxed", { method = "yielder" }))
      local err = failed(result, "call_error")
      contains(err.message, 'step "y"', "quotas", "yield")
      local exec = o:execute_workflow_async(Workflow():add_step("y", "boxed", { method = "yielder" }))
      contains(failed(finish(o, exec), "call_error").message, "quotas", "yield")
    end)

    it("fails the step that runs past its quota, not the host, and the rest goes on", function()
      local wf = Workflow():add_step("hog", "boxed", { method = "spin", critical = false })
        :add_step("after", "plain", { depends_on = {} })
      local result = ok(orchestrator(boxed):execute_workflow(wf, 1))
      assert.are.equal("quota_exceeded", result.errors.hog.code)
      contains(result.errors.hog.message, 'step "hog"', "quota")
      assert.are.equal("plain 1", result.results.after)
      assert.are.equal(8, boxed:call("boxed", "execute", 4))
    end)
  end)

  it("counts each step's call in the plugin's metrics, retries included", function()
    local metrics = qtforge.monitoring.PluginMetricsCollector(manager)
    local tries = 0
    plugin("flaky", function()
      tries = tries + 1
      if tries < 3 then
        error("again")
      end
      return "ok"
    end)
    ok(orchestrator(manager):execute_workflow(Workflow():add_step("a", "echo"):add_step("b", "echo")
      :add_step("f", "flaky", { retries = 2, backoff = 0 })))
    local echo = metrics:get_plugin_metrics("echo")
    assert.are.equal(2, echo.calls)
    assert.are.equal(2, echo.exports.execute.calls)
    local flaky = metrics:get_plugin_metrics("flaky")
    assert.are.same({ 3, 2 }, { flaky.calls, flaky.errors })
    metrics:close()
  end)

  describe("a plugin unloaded under a run", function()
    before_each(function()
      plugin("victim", function()
        return "still here"
      end)
      plugin("killer", function()
        return manager:unload_plugin("victim").success
      end)
    end)

    it("fails its step cleanly when a previous step unloaded it", function()
      local o = orchestrator(manager)
      local wf = Workflow():add_step("k", "killer"):add_step("v", "victim"):add_step("after", "echo")
      assert.is_true(o:validate(wf).success)
      local result = o:execute_workflow(wf)
      local err = failed(result, "call_error")
      assert.are.equal("v", result.failed_step)
      contains(err.message, 'step "v"', 'plugin "victim"', "victim")
      assert.is_true(result.results.k)
      assert.are.same({ "after" }, result.skipped)
      -- the next run sees it is gone before it starts
      local again = o:execute_workflow(wf)
      failed(again, "invalid_workflow")
      contains(again.problems[1], 'step "v" calls plugin "victim", which is not loaded')
    end)

    it("lets the rest go on when that step is not critical", function()
      local wf = Workflow():add_step("k", "killer"):add_step("v", "victim", { critical = false })
        :add_step("after", "echo", { depends_on = "k" })
      local result = ok(orchestrator(manager):execute_workflow(wf))
      assert.are.same({ "v" }, keys(result.errors))
      assert.are.same({ "after" }, calls)
    end)
  end)

  describe("misuse", function()
    local function check(fn, ...)
      local message = raised_at_caller(fn)
      contains(message, ...)
      return message
    end

    it("names the Workflow constructor's bad name", function()
      check(function() Workflow(5) end, "Workflow: argument 'name'", "number")
      check(function() Workflow("") end, "Workflow: argument 'name'", '""')
      check(function() Workflow.new({}) end, "Workflow: argument 'name'", "table")
      assert.are.equal("workflow", Workflow():name())
      assert.are.equal("named", Workflow.new("named"):name())
    end)

    it("names each Workflow method called with '.' or on something else", function()
      local wf = Workflow()
      for _, name in ipairs({ "add_step", "name", "steps", "to_table", "validate" }) do
        local fn = wf[name]
        check(function() fn() end, "Workflow:" .. name, "call it with ':'", "got nil")
        check(function() fn({}) end, "Workflow:" .. name, "call it with ':'", "got table")
        check(function() fn(manager) end, "Workflow:" .. name, "call it with ':'")
      end
    end)

    it("names add_step's bad arguments and leaves the workflow as it was", function()
      local wf = Workflow():add_step("first", "echo")
      check(function() wf:add_step() end, "Workflow:add_step: argument 'name'", "nil")
      check(function() wf:add_step("", "echo") end, "Workflow:add_step: argument 'name'", '""')
      check(function() wf:add_step(5, "echo") end, "Workflow:add_step: argument 'name'", "number")
      check(function() wf:add_step("a") end, "Workflow:add_step: argument 'plugin_id'", "nil")
      check(function() wf:add_step("a", "") end, "Workflow:add_step: argument 'plugin_id'", '""')
      check(function() wf:add_step("a", {}) end, "Workflow:add_step: argument 'plugin_id'", "table")
      check(function() wf:add_step("a", "echo", 5) end, "Workflow:add_step: argument 'opts'", "number")
      check(function() wf:add_step("a", "echo", "fast") end, "Workflow:add_step: argument 'opts'", '"fast"')
      check(function() wf:add_step("a", "echo", { colour = "red" }) end, "Workflow:add_step: unknown option",
        '"colour"', "backoff", "condition", "critical", "depends_on", "input", "method", "retries", "timeout")
      check(function() wf:add_step("a", "echo", { [1] = "x" }) end, "Workflow:add_step: unknown option")
      assert.are.same({ "first" }, wf:steps())
    end)

    it("names every add_step option given a bad value", function()
      local wf = Workflow()
      local cases = {
        { "method", 5, "a non-empty export name string", "number" },
        { "method", "", "a non-empty export name string", '""' },
        { "depends_on", 5, "a step name or a list of step names", "number" },
        { "depends_on", "", "a step name or a list", '""' },
        { "depends_on", { 1 }, "a step name or a list", "table" },
        { "depends_on", { "" }, "a step name or a list", "table" },
        { "depends_on", { "a", also = "b" }, "a step name or a list", "table" },
        { "depends_on", { [2] = "a" }, "a step name or a list", "table" },
        { "depends_on", setmetatable({ "a" }, {}), "a step name or a list", "table" },
        { "retries", -1, "a non-negative integer", "number" },
        { "retries", 1.5, "a non-negative integer", "number" },
        { "retries", "2", "a non-negative integer", '"2"' },
        { "retries", math.huge, "a non-negative integer", "number" },
        { "retries", 0 / 0, "a non-negative integer", "number" },
        { "backoff", -1, "a non-negative number of seconds or a table { delay, factor, max }", "number" },
        { "backoff", math.huge, "a non-negative number of seconds", "number" },
        { "backoff", 0 / 0, "a non-negative number of seconds", "number" },
        { "backoff", "1", "a non-negative number of seconds", '"1"' },
        { "backoff", { delay = -1 }, "{ delay, factor, max }", "table" },
        { "backoff", { delay = "1" }, "{ delay, factor, max }", "table" },
        { "backoff", { factor = 0.5 }, "{ delay, factor, max }", "table" },
        { "backoff", { max = -1 }, "{ delay, factor, max }", "table" },
        { "backoff", { wait = 1 }, "{ delay, factor, max }", "table" },
        { "timeout", 0, "a positive number of seconds", "number" },
        { "timeout", -1, "a positive number of seconds", "number" },
        { "timeout", 0 / 0, "a positive number of seconds", "number" },
        { "timeout", "1", "a positive number of seconds", '"1"' },
        { "critical", "yes", "a boolean", '"yes"' },
        { "critical", 1, "a boolean", "number" },
        { "condition", 5, "a boolean, a step name or a function(results, context)", "number" },
        { "condition", "", "a boolean, a step name or a function", '""' },
        { "condition", {}, "a boolean, a step name or a function", "table" },
      }
      for _, case in ipairs(cases) do
        local message = check(function() wf:add_step("s", "echo", { [case[1]] = case[2] }) end,
          "Workflow:add_step: option '" .. case[1] .. "' must be ", case[3], "got " .. case[4])
        assert.is_string(message)
      end
      assert.are.same({}, wf:steps())
      assert.are.equal("Workflow:add_step: option 'retries' must be a non-negative integer, got number",
        check(function() wf:add_step("s", "echo", { retries = -1 }) end))
    end)

    it("names validate's bad target", function()
      local wf = Workflow():add_step("a", "echo")
      check(function() wf:validate(5) end, "Workflow:validate: argument 'target'", "number")
      check(function() wf:validate({}) end, "Workflow:validate: argument 'target'", "table")
      check(function() wf:validate(Workflow()) end, "Workflow:validate: argument 'target'", "table")
    end)

    it("names the PluginOrchestrator constructor's bad arguments", function()
      check(function() PluginOrchestrator(42) end, "PluginOrchestrator: argument 'manager'", "number")
      check(function() PluginOrchestrator(setmetatable({}, {})) end, "PluginOrchestrator: argument 'manager'",
        "table")
      check(function() PluginOrchestrator(manager, 5) end, "PluginOrchestrator: argument 'opts'", "number")
      check(function() PluginOrchestrator({ sleep = 5 }) end, "PluginOrchestrator: option 'sleep'", "number")
      check(function() PluginOrchestrator(manager, { sleep = "x" }) end, "option 'sleep'", '"x"')
      check(function() PluginOrchestrator({ nap = print }) end, "PluginOrchestrator: unknown option", '"nap"',
        "sleep")
      check(function() PluginOrchestrator.new(manager, { nap = print }) end, "unknown option", '"nap"')
    end)

    it("names each PluginOrchestrator method called with '.' or on something else", function()
      local o = orchestrator(manager)
      for _, name in ipairs({ "execute_workflow", "execute_workflow_async", "poll", "executions", "validate",
        "on_event" }) do
        local fn = o[name]
        check(function() fn() end, "PluginOrchestrator:" .. name, "call it with ':'", "got nil")
        check(function() fn({}) end, "PluginOrchestrator:" .. name, "call it with ':'", "got table")
        check(function() fn(Workflow()) end, "PluginOrchestrator:" .. name, "call it with ':'")
      end
    end)

    it("names the PluginOrchestrator methods' bad arguments and starts nothing", function()
      local o = orchestrator(manager)
      local wf = Workflow():add_step("a", "echo")
      check(function() o:execute_workflow() end, "PluginOrchestrator:execute_workflow: argument 'workflow'", "nil")
      check(function() o:execute_workflow(wf:to_table()) end, "execute_workflow: argument 'workflow'", "table")
      check(function() o:execute_workflow_async("wf") end, "PluginOrchestrator:execute_workflow_async: argument "
        .. "'workflow'", '"wf"')
      check(function() o:execute_workflow_async(wf, nil, 5) end,
        "PluginOrchestrator:execute_workflow_async: argument 'callback'", "number")
      check(function() o:validate() end, "PluginOrchestrator:validate: argument 'workflow'", "nil")
      check(function() o:on_event("f") end, "PluginOrchestrator:on_event: argument 'fn'", '"f"')
      check(function() o:on_event() end, "PluginOrchestrator:on_event: argument 'fn'", "nil")
      assert.are.same({}, o:executions())
      assert.are.same({}, calls)
    end)

    it("names each Execution method called with '.' or on something else", function()
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      for _, name in ipairs({ "id", "workflow", "status", "result", "cancel", "pause", "resume", "wait" }) do
        local fn = exec[name]
        check(function() fn() end, "Execution:" .. name, "call it with ':'", "got nil")
        check(function() fn({}) end, "Execution:" .. name, "call it with ':'", "got table")
        check(function() fn(o) end, "Execution:" .. name, "call it with ':'")
      end
      assert.are.equal("pending", exec:status())
    end)

    it("refuses wait() on a paused run and from a step of the run itself", function()
      local o = orchestrator(manager)
      local exec = o:execute_workflow_async(Workflow():add_step("a", "echo"))
      exec:pause()
      check(function() exec:wait() end, "Execution:wait", "paused", "resume")
      exec:resume()
      local message
      plugin("waiter", function(_, ctx)
        message = raised_at_caller(function() ctx.execution:wait() end)
        return "waited"
      end)
      local inner = o:execute_workflow_async(Workflow():add_step("w", "waiter"))
      o:poll()
      ok(inner:result())
      contains(message, "Execution:wait", "cannot wait for the run itself")
      ok(exec:result())
    end)
  end)
end)
