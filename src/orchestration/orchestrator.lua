-- qtforge.orchestration: Workflow, a graph of plugin steps, and
-- PluginOrchestrator, which runs one.
--
-- A run (an Execution) keeps, per step, how many dependencies it still waits
-- for; a step whose count reaches zero joins the ready queue. Workers are
-- coroutines that take ready steps and call them one after another, so a
-- chain of steps that never yield runs in a single resume. A step that yields
-- keeps its worker, and the next ready step gets a new one. Nothing of a run
-- crosses into Rust but the clock (read once per poll, and around a step only
-- when it has a timeout or someone listens to events); Rust checks the shape
-- of a workflow once, when it first runs.
local native = ...

local error, getmetatable, ipairs, pairs, pcall, rawget, setmetatable, type = error, getmetatable, ipairs, pairs,
  pcall, rawget, setmetatable, type
local math_floor, math_huge, math_min = math.floor, math.huge, math.min
local string_format = string.format
local table_sort = table.sort
local coroutine_create, coroutine_resume, coroutine_status = coroutine.create, coroutine.resume, coroutine.status
local coroutine_close = coroutine.close -- Lua 5.4: runs what an abandoned step marked to-be-closed

local support = native.support
local describe, method_check, class, copy = support.describe, support.method_check, support.class, support.copy
local safe_tostring = support.safe_tostring
local Error = native.Error
local graph_order, invalid_workflow, thread_sleep, new_table = native.order, native.invalid_workflow, native.sleep,
  native.new_table
local core = native.core
local ManagerMeta, all_managers, callable_export, generation = core._Manager, core.managers, core.callable_export,
  core.generation
local add_ticker, add_global_ticker = core.add_ticker, core.add_global_ticker
local split_error, clock = core.split_error, core.clock
local call_export = ManagerMeta.call

local DEFAULT_NAME = "workflow"
local DEFAULT_METHOD = "execute"
local DEFAULT_BACKOFF = { delay = 0.1, factor = 2, max = 30 }

---------------------------------------------------------------------------
-- Workflow
---------------------------------------------------------------------------

local Workflow = { __name = "qtforge.orchestration.Workflow" }
local WorkflowMethods = {}
Workflow.__index = WorkflowMethods
local check_workflow = method_check(Workflow, "a Workflow")

-- The fields a step takes besides its name and plugin, with what each must be.
local STEP_OPTIONS = {
  method = "a non-empty export name string",
  depends_on = "a step name or a list of step names",
  input = "any value, or a function(results, context)",
  retries = "a non-negative integer",
  backoff = "a non-negative number of seconds or a table { delay, factor, max }",
  timeout = "a positive number of seconds",
  critical = "a boolean",
  condition = "a boolean, a step name or a function(results, context)",
}

local function option_names(with_identity)
  local names = with_identity and { "name", "plugin_id" } or {}
  for name in pairs(STEP_OPTIONS) do
    names[#names + 1] = name
  end
  table_sort(names)
  return table.concat(names, ", ")
end

local function is_name(value)
  return type(value) == "string" and value ~= ""
end

local function is_count(value)
  return type(value) == "number" and value >= 0 and value < math_huge and math_floor(value) == value
end

local function is_seconds(value)
  return type(value) == "number" and value == value and value >= 0
end

-- A list of strings, or nil: the positions 1..n and nothing else.
local function name_list(value)
  if type(value) == "string" then
    return value ~= "" and { value } or nil
  end
  if type(value) ~= "table" or getmetatable(value) ~= nil then
    return nil
  end
  local list, count = {}, 0
  for key, item in pairs(value) do
    if type(key) ~= "number" or not is_name(item) then
      return nil
    end
    count = count + 1
    list[key] = item
  end
  for i = 1, count do
    if list[i] == nil then
      return nil
    end
  end
  return list
end

local function backoff_of(value)
  if value == nil then
    return DEFAULT_BACKOFF
  end
  if is_seconds(value) and value < math_huge then
    return { delay = value, factor = DEFAULT_BACKOFF.factor, max = DEFAULT_BACKOFF.max }
  end
  if type(value) ~= "table" then
    return nil
  end
  for key in pairs(value) do
    if key ~= "delay" and key ~= "factor" and key ~= "max" then
      return nil
    end
  end
  local delay, factor, max = value.delay, value.factor, value.max
  if delay ~= nil and not (is_seconds(delay) and delay < math_huge) then
    return nil
  end
  if factor ~= nil and not (type(factor) == "number" and factor >= 1 and factor < math_huge) then
    return nil
  end
  if max ~= nil and not is_seconds(max) then
    return nil
  end
  return { delay = delay or DEFAULT_BACKOFF.delay, factor = factor or DEFAULT_BACKOFF.factor,
    max = max or DEFAULT_BACKOFF.max }
end

-- Builds a step definition from its name, plugin and options, or raises
-- `where.prefix .. what is wrong` at `where.level` (0: no position, for
-- from_table, which turns the message into an Error). `previous` is the name
-- of the step added before it, its dependency unless options say otherwise.
local function make_step(name, plugin_id, opts, previous, where)
  local function fail(field, value, expected)
    error(string_format("%s%s must be %s, got %s", where.prefix, where.field(field), expected, describe(value)),
      where.level and where.level + 2 or 0)
  end
  if not is_name(name) then
    fail("name", name, "a non-empty step name string")
  end
  if not is_name(plugin_id) then
    fail("plugin_id", plugin_id, "a plugin id string")
  end
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    fail("opts", opts, "a table or nil")
  end
  for key in pairs(opts) do
    if STEP_OPTIONS[key] == nil then
      error(string_format("%s%sunknown %s %s (known: %s)", where.prefix, where.level and "" or ": ", where.unknown,
        describe(key), option_names(where.level == nil)), where.level and where.level + 1 or 0)
    end
  end
  local step = { name = name, plugin_id = plugin_id, method = opts.method or DEFAULT_METHOD, critical = true,
    retries = opts.retries or 0, timeout = opts.timeout }
  if not is_name(step.method) then
    fail("method", opts.method, STEP_OPTIONS.method)
  end
  if opts.depends_on == nil then
    step.depends_on = { previous }
  else
    step.depends_on = name_list(opts.depends_on)
    if step.depends_on == nil then
      fail("depends_on", opts.depends_on, STEP_OPTIONS.depends_on)
    end
  end
  if opts.input ~= nil then
    step.has_input, step.input = true, opts.input
  end
  if not is_count(step.retries) then
    fail("retries", opts.retries, STEP_OPTIONS.retries)
  end
  step.backoff = backoff_of(opts.backoff)
  if step.backoff == nil then
    fail("backoff", opts.backoff, STEP_OPTIONS.backoff)
  end
  if step.timeout ~= nil and not (is_seconds(step.timeout) and step.timeout > 0) then
    fail("timeout", opts.timeout, STEP_OPTIONS.timeout)
  end
  if opts.critical ~= nil then
    if type(opts.critical) ~= "boolean" then
      fail("critical", opts.critical, STEP_OPTIONS.critical)
    end
    step.critical = opts.critical
  end
  local condition = opts.condition
  if condition ~= nil and type(condition) ~= "boolean" and type(condition) ~= "function" and not is_name(condition) then
    fail("condition", condition, STEP_OPTIONS.condition)
  end
  step.condition = condition
  return step
end

local function new_workflow(level, name)
  if name == nil then
    name = DEFAULT_NAME
  elseif not is_name(name) then
    error("Workflow: argument 'name' must be a non-empty string or nil, got " .. describe(name), level + 1)
  end
  return setmetatable({ _name = name, _steps = {}, _plan = nil, _problems = nil }, Workflow)
end

--- Adds a step that calls export `opts.method` (default "execute") of plugin
--- `plugin_id`; returns the workflow, so that calls chain.
function WorkflowMethods:add_step(name, plugin_id, opts)
  check_workflow("Workflow:add_step", self)
  local steps = self._steps
  local previous = steps[#steps]
  local step = make_step(name, plugin_id, opts, previous and previous.name, {
    prefix = "Workflow:add_step: ",
    field = function(field)
      if field == "name" or field == "plugin_id" or field == "opts" then
        return "argument '" .. field .. "'"
      end
      return "option '" .. field .. "'"
    end,
    unknown = "option",
    level = 2,
  })
  steps[#steps + 1] = step
  self._plan, self._problems = nil, nil
  return self
end

--- The workflow's name.
function WorkflowMethods:name()
  check_workflow("Workflow:name", self)
  return self._name
end

--- The names of the steps, in the order they were added.
function WorkflowMethods:steps()
  check_workflow("Workflow:steps", self)
  local names = {}
  for i, step in ipairs(self._steps) do
    names[i] = step.name
  end
  return names
end

-- A step as to_table gives it: every field, defaults filled in.
local function step_table(step)
  local t = { name = step.name, plugin_id = step.plugin_id, method = step.method, depends_on = copy(step.depends_on),
    retries = step.retries, backoff = copy(step.backoff), timeout = step.timeout, critical = step.critical,
    condition = step.condition }
  if step.has_input then
    t.input = step.input
  end
  return t
end

--- { name, steps = { { name, plugin_id, method, depends_on, input, retries,
--- backoff, timeout, critical, condition }... } }: what from_table takes back.
function WorkflowMethods:to_table()
  check_workflow("Workflow:to_table", self)
  local steps = {}
  for i, step in ipairs(self._steps) do
    steps[i] = step_table(step)
  end
  return { name = self._name, steps = steps }
end

-- The structure of a workflow, worked out once until a step is added: each
-- step's dependencies and dependents by index, and the order Rust found.
-- Or nil and the problems.
local function compile(wf)
  local plan = wf._plan
  if plan ~= nil then
    return plan
  end
  if wf._problems ~= nil then
    return nil, wf._problems
  end
  local steps = copy(wf._steps)
  local order, problems = graph_order(steps)
  problems = problems or {}
  local index = {}
  for i = #steps, 1, -1 do
    index[steps[i].name] = i
  end
  for _, step in ipairs(steps) do
    local condition = step.condition
    if type(condition) == "string" then
      local found = false
      for _, dependency in ipairs(step.depends_on) do
        found = found or dependency == condition
      end
      if not found then
        problems[#problems + 1] = string_format("step %q has condition %q, which is not one of the steps it depends on",
          step.name, condition)
      end
    end
  end
  if problems[1] ~= nil then
    wf._problems = problems
    return nil, problems
  end
  local deps, dependents, single = {}, {}, {}
  for i = 1, #steps do
    dependents[i] = {}
  end
  for i, step in ipairs(steps) do
    local mine, seen = {}, {}
    for _, name in ipairs(step.depends_on) do
      local d = index[name]
      if not seen[d] then
        seen[d] = true
        mine[#mine + 1] = d
        dependents[d][#dependents[d] + 1] = i
      end
    end
    deps[i] = mine
    if #mine == 1 and not step.has_input and step.condition == nil then
      single[i] = steps[mine[1]].name
    end
  end
  local rank = {}
  for position, i in ipairs(order) do
    rank[i] = position
  end
  plan = { n = #steps, steps = steps, deps = deps, dependents = dependents, order = order,
    single = single, rank = rank,
    -- where the plugins were found, by manager (EVERYWHERE without one), while
    -- no plugin anywhere has changed state since
    located = setmetatable({}, { __mode = "k" }) }
  wf._plan = plan
  return plan
end

-- Where each step's plugin is: the manager that holds it, for every step;
-- or nil and the problems. Without a manager of its own, an orchestrator
-- looks in every manager, oldest first.
local function locate(steps, manager)
  local managers, problems = {}, {}
  for i, step in ipairs(steps) do
    local fn, why
    if manager ~= nil then
      fn, why = callable_export(manager, step.plugin_id, step.method)
      managers[i] = manager
    else
      why = "is not loaded"
      for _, candidate in ipairs(all_managers()) do
        local found, reason = callable_export(candidate, step.plugin_id, step.method)
        if found ~= nil or reason ~= "is not loaded" then
          fn, why = found, reason
          managers[i] = candidate
          break
        end
      end
    end
    if fn == nil then
      problems[#problems + 1] = string_format("step %q calls plugin %q, which %s", step.name, step.plugin_id, why)
    end
  end
  if problems[1] ~= nil then
    return nil, problems
  end
  return managers
end

local EVERYWHERE = {}

local Orchestrator = { __name = "qtforge.orchestration.PluginOrchestrator" }
local OrchestratorMethods = {}
Orchestrator.__index = OrchestratorMethods
local check_orchestrator = method_check(Orchestrator, "a PluginOrchestrator")

-- The structure, and with a manager or orchestrator the plugins: the plan and
-- the managers, or nil, nil and the problems.
local function check(wf, target)
  local plan, problems = compile(wf)
  if target == nil then
    return plan, nil, problems
  end
  local manager = target
  if getmetatable(target) == Orchestrator then
    manager = target._manager
  end
  local located = plan and plan.located[manager or EVERYWHERE]
  if located ~= nil and located.generation == generation() then
    return plan, located.managers
  end
  local managers, missing = locate(plan and plan.steps or wf._steps, manager)
  if missing ~= nil then
    problems = copy(problems or {})
    for _, problem in ipairs(missing) do
      problems[#problems + 1] = problem
    end
  end
  if problems ~= nil then
    return nil, nil, problems
  end
  plan.located[manager or EVERYWHERE] = { generation = generation(), managers = managers }
  return plan, managers
end

local function validation(wf, target)
  local plan, _, problems = check(wf, target)
  if plan == nil then
    return { success = false, error = invalid_workflow(wf._name, problems), problems = problems }
  end
  local order = {}
  for k, i in ipairs(plan.order) do
    order[k] = plan.steps[i].name
  end
  return { success = true, order = order }
end

--- Checks the workflow without running it: step names given twice,
--- dependencies on no step, cycles (named by their path); with a PluginManager
--- or PluginOrchestrator, also that every step's plugin is loaded and has its
--- export. { success = true, order = { names } } or { success = false, error,
--- problems = { sentences } }.
function WorkflowMethods:validate(target)
  check_workflow("Workflow:validate", self)
  local meta = getmetatable(target)
  if target ~= nil and meta ~= ManagerMeta and meta ~= Orchestrator then
    error("Workflow:validate: argument 'target' must be a qtforge.core.PluginManager, a PluginOrchestrator or nil, got "
      .. describe(target), 2)
  end
  return validation(self, target)
end

local function from_table(t)
  if t.name ~= nil and not is_name(t.name) then
    error("name must be a non-empty string, got " .. describe(t.name), 0)
  end
  local steps = t.steps
  if steps == nil then
    steps = {}
  elseif type(steps) ~= "table" then
    error("steps must be a list of step tables, got " .. describe(steps), 0)
  end
  for key in pairs(t) do
    if key ~= "name" and key ~= "steps" then
      error(string_format("unknown field %s (known: name, steps)", describe(key)), 0)
    end
  end
  local count = 0
  for key in pairs(steps) do
    if type(key) ~= "number" then
      error("steps must be a list of step tables, got a table with key " .. describe(key), 0)
    end
    count = count + 1
  end
  local wf = new_workflow(1, t.name)
  local previous
  for i = 1, count do
    local spec = steps[i]
    if type(spec) ~= "table" then
      error(string_format("steps[%d] must be a step table, got %s", i, describe(spec)), 0)
    end
    local opts = {}
    for key, value in pairs(spec) do
      if key ~= "name" and key ~= "plugin_id" then
        opts[key] = value
      end
    end
    local step = make_step(spec.name, spec.plugin_id, opts, previous, {
      prefix = string_format("steps[%d]", i),
      field = function(field)
        return "." .. field
      end,
      unknown = "field",
    })
    wf._steps[i] = step
    previous = step.name
  end
  return wf
end

--- Workflow.from_table(t): the workflow `to_table` described (or a table read
--- from a configuration file); nil and an Error when `t` is not one.
local function workflow_from_table(t)
  if type(t) ~= "table" then
    error("Workflow.from_table: argument 't' must be a table, got " .. describe(t), 2)
  end
  local ok, result = pcall(from_table, t)
  if ok then
    return result
  end
  local name = is_name(t.name) and t.name or DEFAULT_NAME
  return nil, invalid_workflow(name, { safe_tostring(result) })
end

---------------------------------------------------------------------------
-- Execution: one run of a workflow
---------------------------------------------------------------------------

local Execution = { __name = "qtforge.orchestration.Execution" }
local ExecutionMethods = {}
Execution.__index = ExecutionMethods
local check_execution = method_check(Execution, "an Execution")

local last_id = 0

local function emit(exec, event_type, i, fields)
  local listeners = exec._orchestrator._listeners
  if listeners[1] == nil then
    return
  end
  local event = fields or {}
  event.type = event_type
  event.workflow = exec._name
  event.execution = exec
  if i ~= nil then
    local step = exec._plan.steps[i]
    event.step = step.name
    event.plugin_id = step.plugin_id
  end
  for k = 1, #listeners do
    local ok, problem = pcall(listeners[k], event)
    if not ok then
      exec._orchestrator._log("event listener failed: " .. safe_tostring(problem))
    end
  end
end

-- The ready steps are a binary heap on each step's place in the plan's order,
-- so that a run picks, among the steps free to run, the one the order puts
-- first: without yields, steps run in the order validate() gives.
local function push_ready(exec, i)
  local heap, rank = exec._ready, exec._plan.rank
  local at = exec._size + 1
  exec._size = at
  local mine = rank[i]
  while at > 1 do
    local parent = math_floor(at / 2)
    local above = heap[parent]
    if rank[above] <= mine then
      break
    end
    heap[at] = above
    at = parent
  end
  heap[at] = i
end

-- The ready step that comes first in the order, or nil.
local function pop_ready(exec)
  local size = exec._size
  if size == 0 then
    return nil
  end
  local heap, rank = exec._ready, exec._plan.rank
  local top = heap[1]
  local last = heap[size]
  heap[size] = nil
  size = size - 1
  exec._size = size
  if size > 0 then
    local at, mine = 1, rank[last]
    while true do
      local child = at * 2
      if child > size then
        break
      end
      if child < size and rank[heap[child + 1]] < rank[heap[child]] then
        child = child + 1
      end
      if rank[heap[child]] >= mine then
        break
      end
      heap[at] = heap[child]
      at = child
    end
    heap[at] = last
  end
  return top
end

local function resolve(exec, i, outcome)
  exec._resolved[i] = outcome
  exec._remaining = exec._remaining - 1
end

-- Step i is done or skipped by its condition: its dependents wait for one less.
local function release_dependents(exec, i)
  local dependents = exec._plan.dependents[i]
  local waiting, resolved = exec._waiting, exec._resolved
  for k = 1, #dependents do
    local d = dependents[k]
    local count = waiting[d] - 1
    waiting[d] = count
    if count == 0 and resolved[d] == nil then
      push_ready(exec, d)
    end
  end
end

-- Step i failed, or was skipped for a failure: whatever depends on it,
-- directly or not, is skipped.
local function skip_dependents(exec, i, reason)
  local plan = exec._plan
  local stack = { i }
  while stack[1] ~= nil do
    local top = stack[#stack]
    stack[#stack] = nil
    local dependents = plan.dependents[top]
    for k = 1, #dependents do
      local d = dependents[k]
      if exec._resolved[d] == nil then
        resolve(exec, d, "skipped")
        exec._reasons[d] = reason
        emit(exec, "step_skipped", d, { reason = reason })
        stack[#stack + 1] = d
      end
    end
  end
end

local function complete(exec, i, value, started)
  local name = exec._plan.steps[i].name
  exec._resolved[i] = "done"
  exec._remaining = exec._remaining - 1
  exec._results[name] = value
  exec._view[name] = value
  if started then
    emit(exec, "step_finished", i, { attempt = exec._attempts[i], result = value,
      duration_ms = (clock() - started) * 1000 })
  end
  release_dependents(exec, i)
end

-- Step i failed for good: recorded; a critical step stops the run, another
-- takes its dependents with it.
local function give_up(exec, i, err)
  local step = exec._plan.steps[i]
  resolve(exec, i, "failed")
  exec._errors[step.name] = err
  if step.critical then
    if exec._stopping == nil then
      exec._stopping = "failed"
      exec._failed_step, exec._error = step.name, err
    end
  else
    skip_dependents(exec, i, string_format("step %q failed", step.name))
  end
end

-- One attempt of step i failed with `err`: another attempt later, or give up.
local function attempt_failed(exec, i, err, started)
  local step = exec._plan.steps[i]
  local attempt = exec._attempts[i]
  local retry = attempt <= step.retries and exec._stopping == nil
  local fields = { attempt = attempt, error = err, will_retry = retry }
  if started then
    fields.duration_ms = (clock() - started) * 1000
  end
  emit(exec, "step_failed", i, fields)
  if not retry then
    give_up(exec, i, err)
    return
  end
  local backoff = step.backoff
  local delay = math_min(backoff.delay * backoff.factor ^ (attempt - 1), backoff.max)
  emit(exec, "step_retrying", i, { attempt = attempt + 1, delay = delay, error = err })
  if delay > 0 then
    exec._retry_at[i] = clock() + delay
    exec._retrying = exec._retrying + 1
  else
    push_ready(exec, i)
  end
end

-- The Error of an attempt that raised `value`; `where` says in what, when it
-- was not the export (" in its condition").
local function raised(step, value, where)
  local prefix = string_format("step %q (plugin %q) failed%s: ", step.name, step.plugin_id, where or "")
  if Error.is(value) then
    return Error(value.code, prefix .. value.message, value.details)
  end
  local message, location = split_error(value)
  return Error("call_error", prefix .. message, location)
end

-- The Error of an attempt that returned a failed result ({ success = false, error }).
local function returned_failure(step, result)
  local err = rawget(result, "error")
  if Error.is(err) then
    return Error(err.code, string_format("step %q (plugin %q) failed: %s", step.name, step.plugin_id, err.message),
      err.details)
  end
  return Error("step_failed", string_format("step %q (plugin %q) returned a failed result: %s", step.name,
    step.plugin_id, err == nil and "no error given" or safe_tostring(err)))
end

local function timed_out(step, attempt)
  return Error("timeout", string_format("step %q (plugin %q) did not finish within %g s", step.name, step.plugin_id,
    step.timeout), string_format("attempt %d", attempt))
end

-- What step i gets as input: its `input` option (a value, or what the
-- function makes of the results), else the result of its one dependency, a
-- table of results by name for several, the workflow's input for none.
-- Returns false and an Error when the input function raised.
local function input_of(exec, i, step, context)
  if step.has_input then
    local input = step.input
    if type(input) ~= "function" then
      return true, input
    end
    local ok, value = pcall(input, exec._view, context)
    if not ok then
      return false, raised(step, value, " in its input function")
    end
    return true, value
  end
  local deps = exec._plan.deps[i]
  local count = #deps
  if count == 0 then
    return true, exec._input
  end
  local steps, results = exec._plan.steps, exec._results
  if count == 1 then
    return true, results[steps[deps[1]].name]
  end
  local by_name = {}
  for k = 1, count do
    local name = steps[deps[k]].name
    by_name[name] = results[name]
  end
  return true, by_name
end

-- Whether step i runs: true, false, or nil and an Error when its condition raised.
local function condition_holds(exec, step, context)
  local condition = step.condition
  if condition == nil or condition == true then
    return true
  elseif condition == false then
    return false
  elseif type(condition) == "string" then
    return exec._results[condition] ~= nil and exec._results[condition] ~= false
  end
  local ok, value = pcall(condition, exec._view, context)
  if not ok then
    return nil, raised(step, value, " in its condition")
  end
  return value ~= nil and value ~= false
end

-- One attempt of step i, in `worker`. The first attempt decides whether the
-- step runs and what it gets; later ones reuse that input. `single` is the
-- name of the one step it takes its input from, when that is all there is to
-- decide (most steps): that path is kept short.
local function run_step(exec, worker, i, step, single)
  local attempt = exec._attempts[i] + 1
  exec._attempts[i] = attempt
  local context = { workflow = exec._name, step = step.name, attempt = attempt, input = exec._input,
    results = exec._view, execution = exec }
  local input
  if attempt > 1 then
    input = exec._inputs[i]
  elseif single then
    input = exec._results[single]
  else
    local go, err = condition_holds(exec, step, context)
    if go == nil then
      emit(exec, "step_failed", i, { attempt = attempt, error = err, will_retry = false })
      give_up(exec, i, err)
      return
    elseif not go then
      resolve(exec, i, "skipped")
      exec._reasons[i] = "condition"
      emit(exec, "step_skipped", i, { reason = "condition" })
      release_dependents(exec, i)
      return
    end
    local ok
    ok, input = input_of(exec, i, step, context)
    if not ok then
      emit(exec, "step_failed", i, { attempt = attempt, error = input, will_retry = false })
      give_up(exec, i, input)
      return
    end
  end
  if attempt == 1 and step.retries > 0 then
    exec._inputs[i] = input
  end
  local timeout = step.timeout
  local started = (timeout ~= nil or exec._orchestrator._listeners[1] ~= nil) and clock() or nil
  if started then
    emit(exec, "step_started", i, { attempt = attempt, input = input })
  end
  worker.step, worker.started = i, started
  worker.deadline = timeout and started + timeout
  local ok, value = pcall(call_export, exec._managers[i], step.plugin_id, step.method, input, context)
  worker.step = nil
  if not ok then
    attempt_failed(exec, i, raised(step, value), started)
  elseif timeout and clock() > worker.deadline then
    -- a result that came too late is a timeout, as if the step had yielded
    attempt_failed(exec, i, timed_out(step, attempt), started)
  elseif type(value) == "table" and rawget(value, "success") == false then
    attempt_failed(exec, i, returned_failure(step, value), started)
  else
    complete(exec, i, value, started)
  end
end

-- A worker: takes ready steps and runs them, one after another, until none
-- is ready (or the run stops or pauses).
local function work(exec, worker)
  local plan = exec._plan
  local steps, single = plan.steps, plan.single
  while exec._stopping == nil and not exec._paused do
    local i = pop_ready(exec)
    if i == nil then
      return
    end
    run_step(exec, worker, i, steps[i], single[i])
  end
end

local function abandon(worker)
  worker.abandoned = true
  if coroutine_close ~= nil and coroutine_status(worker.co) == "suspended" then
    pcall(coroutine_close, worker.co)
  end
end

-- Resumes `worker`; true while it waits (its step yielded), false once it
-- ended. A step's `coroutine.yield(seconds)` asks to wait that long.
local function resume_worker(exec, worker, ...)
  exec._active = worker
  local ok, signal = coroutine_resume(worker.co, ...)
  exec._active = nil
  if coroutine_status(worker.co) ~= "dead" then
    worker.wake = nil
    if type(signal) == "number" and signal > 0 and signal == signal then
      worker.wake = clock() + signal
    end
    return true
  end
  if not ok then
    -- not a step's error (those are caught around the call): qtforge's own
    -- code or a listener failed outside a protected call
    local i = worker.step
    local err = Error("call_error", "a workflow worker failed: " .. safe_tostring(signal))
    if i ~= nil and exec._resolved[i] == nil then
      give_up(exec, i, err)
    elseif exec._stopping == nil then
      exec._stopping, exec._error = "failed", err
    end
  end
  return false
end

local finish

-- What is due: retries whose time came, waiting workers whose step may go on
-- (or ran out of time), and new workers for ready steps.
local function advance(exec, now)
  if exec._finished or exec._paused or exec._active ~= nil then
    return
  end
  if exec._retrying > 0 then
    local due = {}
    for i, at in pairs(exec._retry_at) do
      if at <= now then
        due[#due + 1] = i
      end
    end
    table_sort(due)
    for _, i in ipairs(due) do
      exec._retry_at[i] = nil
      exec._retrying = exec._retrying - 1
      push_ready(exec, i)
    end
  end
  local waiting = exec._workers
  local kept = {}
  for _, worker in ipairs(waiting) do
    if exec._stopping ~= nil or exec._paused then
      kept[#kept + 1] = worker
    elseif worker.deadline and now >= worker.deadline then
      local i = worker.step
      abandon(worker)
      attempt_failed(exec, i, timed_out(exec._plan.steps[i], exec._attempts[i]), worker.started)
    elseif (worker.wake == nil or worker.wake <= now) and resume_worker(exec, worker) then
      kept[#kept + 1] = worker
    elseif worker.wake ~= nil and worker.wake > now then
      kept[#kept + 1] = worker
    end
  end
  while exec._stopping == nil and not exec._paused and exec._size > 0 do
    local worker = { co = coroutine_create(work) }
    if resume_worker(exec, worker, exec, worker) then
      kept[#kept + 1] = worker
    end
  end
  exec._workers = kept
  if exec._stopping ~= nil or exec._remaining == 0 then
    finish(exec)
  end
end

-- The soonest time something waits for (a worker's wake or deadline, a
-- retry), `now` when a worker may go on at once, nil when nothing waits.
local function next_due(exec, now)
  local soonest
  local function consider(at)
    if at ~= nil and (soonest == nil or at < soonest) then
      soonest = at
    end
  end
  for _, worker in ipairs(exec._workers) do
    consider(worker.wake or now)
    consider(worker.deadline)
  end
  for _, at in pairs(exec._retry_at) do
    consider(at)
  end
  if exec._size > 0 then
    consider(now)
  end
  return soonest
end

local function begin(exec)
  exec._started = clock()
  exec._status = "running"
  if exec._problems == nil then
    emit(exec, "workflow_started", nil, { input = exec._input })
  end
end

local function detach_if_idle(orchestrator)
  if orchestrator._active[1] == nil and orchestrator._remove_ticker ~= nil then
    orchestrator._remove_ticker()
    orchestrator._remove_ticker = nil
  end
end

function finish(exec)
  if exec._finished then
    return
  end
  exec._finished = true
  for _, worker in ipairs(exec._workers) do
    abandon(worker)
  end
  exec._workers = {}
  local plan = exec._plan
  local stopping = exec._stopping
  local reason
  if stopping == "cancelled" then
    reason = "the workflow was cancelled"
  elseif exec._failed_step ~= nil then
    reason = string_format("the workflow stopped: step %q failed", exec._failed_step)
  else
    reason = "the workflow stopped"
  end
  local skipped, reasons = {}, {}
  for _, i in ipairs(plan.order or {}) do
    if exec._resolved[i] == nil then
      resolve(exec, i, "skipped")
      exec._reasons[i] = reason
      emit(exec, "step_skipped", i, { reason = reason })
    end
    if exec._resolved[i] == "skipped" then
      local name = plan.steps[i].name
      skipped[#skipped + 1] = name
      reasons[name] = exec._reasons[i]
    end
  end
  local err = exec._error
  local status = "completed"
  if stopping == "cancelled" then
    status = "cancelled"
    err = Error("cancelled", string_format("workflow %q was cancelled", exec._name))
  elseif stopping ~= nil then
    status = "failed"
  end
  exec._status = status
  local result = { success = status == "completed", status = status, workflow = exec._name,
    results = exec._results, errors = exec._errors, failed_step = exec._failed_step, error = err,
    skipped = skipped, skip_reasons = reasons, problems = exec._problems,
    duration_ms = exec._started and (clock() - exec._started) * 1000 or 0 }
  exec._result = result
  local orchestrator = exec._orchestrator
  local active = orchestrator._active
  for k = #active, 1, -1 do
    if active[k] == exec then
      table.remove(active, k)
    end
  end
  detach_if_idle(orchestrator)
  emit(exec, "workflow_finished", nil, { result = result, status = status })
  local callback = exec._callback
  if callback ~= nil then
    local ok, problem = pcall(callback, result, exec)
    if not ok then
      orchestrator._log("workflow callback failed: " .. safe_tostring(problem))
    end
  end
end

-- Runs `exec` to its end in this thread: what execute_workflow and wait do.
-- While every step waits for a time, it sleeps; a step that yields without
-- a time is resumed at once.
local function drive(exec)
  local orchestrator = exec._orchestrator
  while not exec._finished do
    if exec._status == "pending" then
      begin(exec)
    end
    local now = clock()
    advance(exec, now)
    if exec._finished then
      break
    end
    now = clock()
    local due = next_due(exec, now)
    if due == nil then
      -- nothing runs and nothing waits, yet steps remain: cannot happen
      -- unless qtforge is wrong; end rather than spin
      exec._stopping = exec._stopping or "failed"
      exec._error = exec._error or Error("call_error", "the workflow has steps left but none can run")
      finish(exec)
    elseif due > now then
      orchestrator._sleep(due - now)
    end
  end
  return exec._result
end

local function new_execution(orchestrator, wf, input, callback, sync)
  last_id = last_id + 1
  local exec = setmetatable({
    _id = last_id, _orchestrator = orchestrator, _name = wf._name, _input = input, _callback = callback,
    _sync = sync, _status = "pending", _finished = false, _paused = false, _stopping = nil,
    _size = 0, _inputs = {}, _retry_at = {}, _retrying = 0, _workers = {}, _errors = {}, _reasons = {},
  }, Execution)
  local plan, managers, problems = check(wf, orchestrator)
  if plan == nil then
    -- nothing runs: the run ends as soon as it is driven or polled
    exec._plan = { n = 0, steps = {}, order = {}, single = {}, rank = {} }
    exec._ready, exec._waiting, exec._resolved, exec._attempts, exec._results, exec._view = {}, {}, {}, {}, {}, {}
    exec._remaining = 0
    exec._stopping = "failed"
    exec._error = invalid_workflow(wf._name, problems)
    exec._problems = problems
    return exec
  end
  exec._plan, exec._managers, exec._remaining = plan, managers, plan.n
  -- tables made at their final size: growing them step by step is a good
  -- part of what a run of small steps costs
  local n = plan.n
  exec._ready, exec._waiting, exec._resolved, exec._attempts = new_table(n, 0), new_table(n, 0), new_table(n, 0),
    new_table(n, 0)
  exec._results, exec._view = new_table(0, n), new_table(0, n)
  for i = 1, n do
    exec._waiting[i] = #plan.deps[i]
    exec._attempts[i] = 0
  end
  for _, i in ipairs(plan.order) do
    if exec._waiting[i] == 0 then
      push_ready(exec, i)
    end
  end
  return exec
end

--- The run's number, unique in this Lua state.
function ExecutionMethods:id()
  check_execution("Execution:id", self)
  return self._id
end

--- The name of the workflow it runs.
function ExecutionMethods:workflow()
  check_execution("Execution:workflow", self)
  return self._name
end

--- "pending" (not polled yet), "running", "paused", "completed", "failed" or "cancelled".
function ExecutionMethods:status()
  check_execution("Execution:status", self)
  return self._status
end

--- The result once the run has ended, nil before.
function ExecutionMethods:result()
  check_execution("Execution:result", self)
  return self._result
end

--- Stops the run: no step starts after it, steps waiting are abandoned (a
--- step that called it finishes first). The callback gets a result with
--- status "cancelled". False if the run had already ended.
function ExecutionMethods:cancel()
  check_execution("Execution:cancel", self)
  if self._finished or self._stopping ~= nil then
    return false
  end
  self._stopping = "cancelled"
  self._status = "cancelled"
  if self._active == nil then
    finish(self)
  end
  return true
end

--- Holds the run: no step starts or goes on until resume(); time spent
--- paused does not count toward timeouts or backoff. False if it is not
--- running or pending.
function ExecutionMethods:pause()
  check_execution("Execution:pause", self)
  if self._sync then
    error("Execution:pause: a run of execute_workflow cannot be paused; use execute_workflow_async", 2)
  end
  if self._finished or self._paused or self._stopping ~= nil then
    return false
  end
  self._paused, self._paused_at, self._paused_status = true, clock(), self._status
  self._status = "paused"
  emit(self, "workflow_paused")
  return true
end

--- Lets a paused run go on at the next poll. False if it is not paused.
function ExecutionMethods:resume()
  check_execution("Execution:resume", self)
  if not self._paused or self._finished then
    return false
  end
  local shift = clock() - self._paused_at
  for _, worker in ipairs(self._workers) do
    worker.wake = worker.wake and worker.wake + shift
    worker.deadline = worker.deadline and worker.deadline + shift
    worker.started = worker.started and worker.started + shift
  end
  for i, at in pairs(self._retry_at) do
    self._retry_at[i] = at + shift
  end
  self._paused = false
  self._status = self._paused_status
  emit(self, "workflow_resumed")
  return true
end

--- Runs the rest of the run in this thread (blocking, like execute_workflow)
--- and returns its result.
function ExecutionMethods:wait()
  check_execution("Execution:wait", self)
  if self._active ~= nil then
    error("Execution:wait: a step of the run cannot wait for the run itself", 2)
  end
  if self._paused then
    error("Execution:wait: the run is paused; resume() it first", 2)
  end
  return drive(self)
end

---------------------------------------------------------------------------
-- PluginOrchestrator
---------------------------------------------------------------------------

local function new_orchestrator(level, manager, opts)
  if opts == nil and type(manager) == "table" and getmetatable(manager) == nil then
    manager, opts = nil, manager
  end
  if manager ~= nil and getmetatable(manager) ~= ManagerMeta then
    error("PluginOrchestrator: argument 'manager' must be a qtforge.core.PluginManager or nil, got "
      .. describe(manager), level + 1)
  end
  opts = support.check_options("PluginOrchestrator", opts, { sleep = "function" }, level + 1)
  local log = function(message)
    local target = manager or all_managers()[1]
    if target ~= nil then
      target._log("error", "qtforge", message)
    else
      io.stderr:write("qtforge [error] qtforge: " .. message .. "\n")
    end
  end
  return setmetatable({ _manager = manager, _sleep = opts.sleep or thread_sleep, _listeners = {}, _active = {},
    _remove_ticker = nil, _polling = false, _log = log }, Orchestrator)
end

local function check_workflow_argument(fname, wf, level)
  if getmetatable(wf) ~= Workflow then
    error(fname .. ": argument 'workflow' must be a qtforge.orchestration.Workflow, got " .. describe(wf), level + 1)
  end
end

--- Runs the workflow to its end and returns { success, status, results,
--- errors, failed_step, error, skipped, skip_reasons, duration_ms }. Steps
--- that yield are resumed at once; a step that yields a number of seconds, or
--- a retry's backoff, makes it sleep (opts.sleep of the orchestrator).
function OrchestratorMethods:execute_workflow(wf, input)
  check_orchestrator("PluginOrchestrator:execute_workflow", self)
  check_workflow_argument("PluginOrchestrator:execute_workflow", wf, 2)
  local result = drive(new_execution(self, wf, input, nil, true))
  return result
end

--- Starts the workflow and returns its Execution at once; the run goes on in
--- poll() (and the manager's update_all_plugins), and calls
--- callback(result, execution) when it ends. Nothing runs before the first poll.
function OrchestratorMethods:execute_workflow_async(wf, input, callback)
  check_orchestrator("PluginOrchestrator:execute_workflow_async", self)
  check_workflow_argument("PluginOrchestrator:execute_workflow_async", wf, 2)
  if callback ~= nil and not support.is_callable(callback) then
    error("PluginOrchestrator:execute_workflow_async: argument 'callback' must be a function or nil, got "
      .. describe(callback), 2)
  end
  local exec = new_execution(self, wf, input, callback, false)
  local active = self._active
  active[#active + 1] = exec
  if self._remove_ticker == nil then
    local tick = function()
      self:poll()
    end
    self._remove_ticker = self._manager and add_ticker(self._manager, tick) or add_global_ticker(tick)
  end
  return exec
end

local function poll_all(self)
  local now = clock()
  for _, exec in ipairs(copy(self._active)) do
    if exec._status == "pending" and not exec._paused then
      begin(exec)
    end
    advance(exec, now)
  end
end

--- Moves every run under way as far as it goes without waiting; returns how
--- many are still under way. Called while a poll of this orchestrator is under
--- way (from a step or a callback it runs), it does nothing.
function OrchestratorMethods:poll()
  check_orchestrator("PluginOrchestrator:poll", self)
  if not self._polling and self._active[1] ~= nil then
    self._polling = true
    local ok, problem = pcall(poll_all, self)
    self._polling = false
    if not ok then
      error(problem, 0)
    end
  end
  return #self._active
end

--- The runs under way (started with execute_workflow_async, not ended).
function OrchestratorMethods:executions()
  check_orchestrator("PluginOrchestrator:executions", self)
  return copy(self._active)
end

--- Checks a workflow against this orchestrator's plugins; see Workflow:validate.
function OrchestratorMethods:validate(wf)
  check_orchestrator("PluginOrchestrator:validate", self)
  check_workflow_argument("PluginOrchestrator:validate", wf, 2)
  return validation(wf, self)
end

--- Registers fn(event) for the events of every run: workflow_started,
--- step_started, step_finished, step_failed, step_retrying, step_skipped,
--- workflow_paused, workflow_resumed, workflow_finished. Returns a function
--- that removes it.
function OrchestratorMethods:on_event(fn)
  check_orchestrator("PluginOrchestrator:on_event", self)
  if not support.is_callable(fn) then
    error("PluginOrchestrator:on_event: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  return support.listen(self, "_listeners", fn)
end

return {
  PluginOrchestrator = class("qtforge.orchestration.PluginOrchestrator", new_orchestrator),
  Workflow = class("qtforge.orchestration.Workflow", new_workflow, { from_table = workflow_from_table }),
  -- metatables, for specs that check every public method has a type stub
  _Orchestrator = Orchestrator,
  _Workflow = Workflow,
  _Execution = Execution,
}
