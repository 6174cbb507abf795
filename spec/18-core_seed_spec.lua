-- The seed's "Basic Plugin Management" example, run as written by the interpreter
-- running these specs, from spec/fixtures as its working directory.
local fs = require("support.fs")
local plugins = require("support.plugins")
local child = require("support.child")

local FIXTURES = plugins.FIXTURES:match("^(.*)/plugins$")

-- Runs `script` in spec/fixtures.
local function run(script)
  return child.run(FIXTURES, script)
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
