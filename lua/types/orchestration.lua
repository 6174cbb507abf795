---@meta qtforge.orchestration

---@class qtforge.orchestration
---@field PluginOrchestrator qtforge.PluginOrchestratorClass
---@field Workflow qtforge.WorkflowClass
local orchestration = {}

---@class qtforge.StepBackoff
---@field delay? number seconds before the first retry (default 0.1)
---@field factor? number each retry waits this many times longer (default 2, at least 1)
---@field max? number the longest wait, in seconds (default 30)

---@class qtforge.StepContext
---@field workflow string the workflow's name
---@field step string this step's name
---@field attempt integer 1 for the first try, 2 for the first retry...
---@field input any the workflow's input
---@field results table<string, any> the results so far, by step name (a view: writing to it does not change the run's results)
---@field execution qtforge.Execution the run

---@class qtforge.StepOptions
---@field method? string the export called (default "execute")
---@field depends_on? string|string[] default: the step added before it
---@field input? any|fun(results: table<string, any>, context: qtforge.StepContext): any the step's input instead of its dependencies' results
---@field retries? integer more attempts after a failure (default 0)
---@field backoff? number|qtforge.StepBackoff the wait before each retry
---@field timeout? number seconds each attempt may take
---@field critical? boolean false: a failure skips its dependents and the others go on (default true)
---@field condition? boolean|string|fun(results: table<string, any>, context: qtforge.StepContext): any skip the step when false; a string names a step it depends on whose result decides

---@class qtforge.StepTable: qtforge.StepOptions
---@field name string
---@field plugin_id string

---@class qtforge.WorkflowTable
---@field name? string
---@field steps? qtforge.StepTable[]

---@class qtforge.WorkflowValidation
---@field success boolean
---@field order? string[] the step names in run order, when it passes
---@field error? qtforge.Error `invalid_workflow`
---@field problems? string[] every problem found, one sentence each

---@class qtforge.WorkflowResult
---@field success boolean
---@field status "completed"|"failed"|"cancelled"
---@field workflow string
---@field results table<string, any> each step's result, by step name
---@field errors table<string, qtforge.Error> each failed step's error, by step name
---@field failed_step? string the critical step that failed the run
---@field error? qtforge.Error
---@field skipped string[] the steps that did not run, in run order
---@field skip_reasons table<string, string> why each was skipped
---@field problems? string[] for `invalid_workflow`
---@field duration_ms number

---@class qtforge.WorkflowEvent
---@field type "workflow_started"|"step_started"|"step_finished"|"step_failed"|"step_retrying"|"step_skipped"|"workflow_paused"|"workflow_resumed"|"workflow_finished"
---@field workflow string
---@field execution qtforge.Execution
---@field step? string
---@field plugin_id? string
---@field attempt? integer
---@field input? any
---@field result? any a step's result, or the run's result for workflow_finished
---@field error? qtforge.Error
---@field will_retry? boolean
---@field delay? number
---@field reason? string
---@field status? string
---@field duration_ms? number

---@class qtforge.WorkflowClass
---@overload fun(name?: string): qtforge.Workflow
local WorkflowClass = {}

---@param name? string default "workflow"
---@return qtforge.Workflow
function WorkflowClass.new(name) end

---The workflow a table describes (what to_table gives, or a table read from a
---configuration file); nil and an `invalid_workflow` error naming the field at fault.
---@param t qtforge.WorkflowTable
---@return qtforge.Workflow? workflow
---@return qtforge.Error? error
function WorkflowClass.from_table(t) end

---Steps that call plugin exports, in the order their dependencies give.
---@class qtforge.Workflow
local Workflow = {}

---Adds a step; returns the workflow, so that calls chain.
---@param name string
---@param plugin_id string
---@param opts? qtforge.StepOptions
---@return qtforge.Workflow
function Workflow:add_step(name, plugin_id, opts) end

---Checks names, dependencies and cycles; with a manager or orchestrator, the plugins and exports too.
---@param target? qtforge.PluginManager|qtforge.PluginOrchestrator
---@return qtforge.WorkflowValidation
function Workflow:validate(target) end

---@return string
function Workflow:name() end

---The step names, in the order they were added.
---@return string[]
function Workflow:steps() end

---@return qtforge.WorkflowTable
function Workflow:to_table() end

---@class qtforge.OrchestratorOptions
---@field sleep? fun(seconds: number) what a synchronous run calls while every step waits (default: block the thread)

---@class qtforge.PluginOrchestratorClass
---@overload fun(manager?: qtforge.PluginManager, opts?: qtforge.OrchestratorOptions): qtforge.PluginOrchestrator
---@overload fun(opts: qtforge.OrchestratorOptions): qtforge.PluginOrchestrator
local PluginOrchestratorClass = {}

---@param manager? qtforge.PluginManager without one, plugins are looked up in every manager of this Lua state
---@param opts? qtforge.OrchestratorOptions
---@return qtforge.PluginOrchestrator
function PluginOrchestratorClass.new(manager, opts) end

---Runs workflows of plugin steps.
---@class qtforge.PluginOrchestrator
local PluginOrchestrator = {}

---Runs the workflow to its end (blocking) and returns the result.
---@param workflow qtforge.Workflow
---@param input? any
---@return qtforge.WorkflowResult
function PluginOrchestrator:execute_workflow(workflow, input) end

---Starts the workflow; it runs in poll() and the manager's update_all_plugins.
---@param workflow qtforge.Workflow
---@param input? any
---@param callback? fun(result: qtforge.WorkflowResult, execution: qtforge.Execution)
---@return qtforge.Execution
function PluginOrchestrator:execute_workflow_async(workflow, input, callback) end

---Moves every run under way as far as it goes without waiting; returns how many are still under way.
---@return integer
function PluginOrchestrator:poll() end

---The runs under way.
---@return qtforge.Execution[]
function PluginOrchestrator:executions() end

---Checks a workflow against this orchestrator's plugins.
---@param workflow qtforge.Workflow
---@return qtforge.WorkflowValidation
function PluginOrchestrator:validate(workflow) end

---Registers fn(event) for every run's events; returns a function that removes it.
---@param fn fun(event: qtforge.WorkflowEvent)
---@return fun()
function PluginOrchestrator:on_event(fn) end

---One run of a workflow.
---@class qtforge.Execution
local Execution = {}

---@return integer
function Execution:id() end

---The workflow's name.
---@return string
function Execution:workflow() end

---@return "pending"|"running"|"paused"|"completed"|"failed"|"cancelled"
function Execution:status() end

---The result once the run has ended.
---@return qtforge.WorkflowResult?
function Execution:result() end

---Stops the run; false if it had already ended.
---@return boolean
function Execution:cancel() end

---Holds an async run; false if there is nothing to pause.
---@return boolean
function Execution:pause() end

---Lets a paused run go on; false if it is not paused.
---@return boolean
function Execution:resume() end

---Runs the rest here, blocking, and returns the result.
---@return qtforge.WorkflowResult
function Execution:wait() end

return orchestration
