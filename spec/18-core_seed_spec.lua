-- The seed's "Basic Plugin Management" example, run as written by the interpreter
-- running these specs, from spec/fixtures as its working directory.
local fs = require("support.fs")
local plugins = require("support.plugins")

local FIXTURES = plugins.FIXTURES:match("^(.*)/plugins$")

local function shell_quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

-- The command busted runs under (`lua5.4` or `luajit`), so the example runs under the same one.
local function interpreter()
  local i = -1
  while arg[i - 1] do
    i = i - 1
  end
  return arg[i] or (jit and "luajit" or "lua5.4")
end

-- Runs `script` in spec/fixtures; LUA_CPATH (the fresh build) is inherited.
-- Returns its output lines and whether it exited cleanly.
local function run(script)
  local command = string.format("cd %s && %s %s 2>&1; echo \"exit $?\"", shell_quote(FIXTURES),
    shell_quote(interpreter()), script)
  local pipe = assert(io.popen(command))
  local lines = {}
  for line in pipe:lines() do
    lines[#lines + 1] = line
  end
  pipe:close()
  local status = table.remove(lines)
  return lines, status
end

describe("the seed's Basic Plugin Management example", function()
  it("loads a Lua plugin folder and prints its name, version and state", function()
    local lines, status = run("seed_basic.lua")
    assert.are.same({
      "Plugin loaded successfully: example_plugin",
      "Plugin name: example_plugin",
      "Plugin version: 1.0.0",
      "Plugin state: running",
    }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("run exactly as written, with no library at its .so path, says so and raises nothing", function()
    local lines, status = run("seed_basic_native.lua")
    assert.are.same({ "Failed to load plugin: not_found: no plugin at ./plugins/example_plugin.so" }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("is the seed text itself, but for the plugin path", function()
    local lua_version = fs.read(FIXTURES .. "/seed_basic.lua")
    local native_version = fs.read(FIXTURES .. "/seed_basic_native.lua")
    local expected = native_version:gsub('"%./plugins/example_plugin%.so"', '"./plugins/example_plugin"')
    assert.are.equal(expected, lua_version)
    plugins.contains(native_version, 'manager:load_plugin("./plugins/example_plugin.so")',
      'print("Plugin version: " .. plugin:version():to_string())')
  end)
end)
