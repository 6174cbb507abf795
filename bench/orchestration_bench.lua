-- orchestration: a 100-step linear workflow of trivial exports, run by the
-- orchestrator, next to a pure-Lua loop calling the same functions in the same
-- order with the same data flow.
local qtforge = require("qtforge")
local harness = require("harness")
local runs = harness.loop

local STEPS = 100

local manager = qtforge.core.PluginManager()
local functions = {}
local workflow = qtforge.orchestration.Workflow("linear")
for i = 1, STEPS do
  local id = string.format("step%03d", i)
  local fn = function(input)
    return input + 1
  end
  functions[i] = fn
  assert(manager:register_plugin({ manifest = { name = id, version = "1.0.0" }, exports = { execute = fn } }).success)
  workflow:add_step(id, id)
end
local orchestrator = qtforge.orchestration.PluginOrchestrator(manager)
assert(orchestrator:execute_workflow(workflow, 0).results.step100 == STEPS)

local function loop_once()
  local value = 0
  for i = 1, STEPS do
    value = functions[i](value)
  end
  return value
end

local last = "step" .. string.format("%03d", STEPS)

return {
  title = "orchestration (100-step workflow / Lua loop)",
  cases = {
    {
      name = "execute_workflow, linear",
      run = runs(function()
        return orchestrator:execute_workflow(workflow, 0).results[last]
      end),
      baseline = runs(loop_once),
    },
    {
      name = "execute_workflow_async + poll, linear",
      run = runs(function()
        local execution = orchestrator:execute_workflow_async(workflow, 0)
        orchestrator:poll()
        return execution:result().results[last]
      end),
      baseline = runs(loop_once),
    },
  },
}
