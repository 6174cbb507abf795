-- `make demo` runs examples/quickstart.lua: run it as a user would, under the
-- interpreter running the specs, and check that each part shows what it says.
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or ".")
local INTERPRETER = jit and "luajit" or "lua5.4"

local function run_demo()
  local command = string.format("cd '%s' && %s examples/quickstart.lua 2>&1; echo \"exit=$?\"", ROOT, INTERPRETER)
  local pipe = assert(io.popen(command))
  local output = pipe:read("*a")
  pipe:close()
  return output
end

describe("make demo (examples/quickstart.lua)", function()
  local output = run_demo()

  local function shows(pattern, what)
    assert.truthy(output:find(pattern), "the demo does not show " .. what .. ":\n" .. output)
  end

  it("exits 0 and fits in one screen", function()
    shows("exit=0\n$", "a clean exit")
    local lines = select(2, output:gsub("\n", "\n"))
    assert.is_true(lines <= 45, lines .. " lines")
  end)

  it("names the version and the interpreter", function()
    local qtforge = require("qtforge")
    shows("^qtforge " .. qtforge.version:gsub("%p", "%%%0") .. " %(" .. qtforge.lua_flavor .. "%) under ", "its header")
  end)

  it("loads the example plugins in dependency order", function()
    local logbook, greeter = output:find("ok       logbook", 1, true), output:find("ok       greeter", 1, true)
    assert.truthy(logbook and greeter and logbook < greeter, output)
  end)

  it("shows a call, the bus message it sent, and the sandbox grant", function()
    shows("message greeter%.greeted from greeter: Hello, world!\n  Hello, world!", "the greeting and its message")
    shows("greeter 1%.2%.0 is sandboxed, granted bus:publish, config:read, log", "the grant")
  end)

  it("applies a configuration and refuses a wrong one", function()
    shows("event: configured greeter", "the configured event")
    shows("refused: invalid_config:", "the refused configuration")
  end)

  it("reloads the edited plugin, keeping its configuration", function()
    shows("event: reloaded   greeter", "the reload event")
    shows("\n  Hi, again%?!\n", "the new punctuation with the configured greeting")
  end)

  it("counts what the greeter did", function()
    shows("greeter: 2 calls, 2 messages sent, 1 reload", "the metrics")
    shows('qtforge_plugin_calls_total{plugin="greeter"} 2', "the Prometheus line")
  end)

  it("runs a workflow whose second step reads what the first wrote", function()
    shows('completed: logbook keeps %d+ lines, the last "Hi, workflow%?!"', "the workflow")
  end)

  it("reports failures as results and unloads with dependents", function()
    shows("missing plugin: not_found", "the missing plugin")
    shows("unload logbook: has_dependents", "the refused unload")
    shows("event: unloaded   greeter\n  event: unloaded   logbook", "the cascade")
  end)
end)
