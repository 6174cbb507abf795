-- Native plugins in processes of their own: the seed's "Basic Plugin Management"
-- example run as written with a real library at ./plugins/example_plugin.so, and
-- scripts that end with native plugins loaded, unloaded and reloaded, so that the
-- manager's finalizer runs at lua_close (the regression tests of a crash there).
local fs = require("support.fs")
local plugins = require("support.plugins")
local child = require("support.child")

local FIXTURES = plugins.FIXTURES:match("^(.*)/plugins$")
local FLAVOR = jit and "luajit" or "lua5.4"
local LIBS = "build/" .. FLAVOR .. "/plugins/"

local function copy(from, to)
  fs.write(to, assert(fs.read(from), from .. " is missing: run `make examples`"))
  return to
end

local run = child.run

describe("the seed's Basic Plugin Management example with a native library", function()
  local root

  before_each(function()
    root = fs.temp_dir()
    copy(FIXTURES .. "/seed_basic_native.lua", root .. "/seed_basic_native.lua")
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("loads hello.so as ./plugins/example_plugin.so and prints its name, version and state", function()
    copy(LIBS .. "hello.so", root .. "/plugins/example_plugin.so")
    local lines, status = run(root, "seed_basic_native.lua")
    assert.are.same({
      "Plugin loaded successfully: hello",
      "Plugin name: hello",
      "Plugin version: 1.0.0",
      "Plugin state: running",
    }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("with c_hello.so, and with bundle.so, whose first plugin the result names", function()
    copy(LIBS .. "c_hello.so", root .. "/plugins/example_plugin.so")
    local lines, status = run(root, "seed_basic_native.lua")
    assert.are.same({
      "Plugin loaded successfully: c_hello",
      "Plugin name: c_hello",
      "Plugin version: 1.0.0",
      "Plugin state: running",
    }, lines)
    assert.are.equal("exit 0", status)
    copy(LIBS .. "bundle.so", root .. "/plugins/example_plugin.so")
    lines, status = run(root, "seed_basic_native.lua")
    assert.are.same("Plugin loaded successfully: bundle_base", lines[1])
    assert.are.equal("exit 0", status)
  end)

  it("with a library built for the other Lua, prints the refusal and exits cleanly", function()
    local other = jit and "lua5.4" or "luajit"
    copy("build/" .. other .. "/plugins/hello.so", root .. "/plugins/example_plugin.so")
    local lines, status = run(root, "seed_basic_native.lua")
    assert.are.equal(1, #lines)
    plugins.contains(lines[1], "Failed to load plugin: lua_mismatch: ")
    assert.are.equal("exit 0", status)
  end)
end)

describe("a process that ends with native plugins", function()
  local root, libs

  before_each(function()
    root = fs.temp_dir()
    -- the scripts run in `root`: they get the libraries' folder as an absolute path
    local pipe = assert(io.popen("pwd"))
    libs = pipe:read("*l") .. "/" .. LIBS
    pipe:close()
  end)

  after_each(function()
    fs.remove(root)
  end)

  local function script(text)
    return fs.write(root .. "/script.lua", "local qtforge = require('qtforge')\nlocal libs = ...\n" .. text)
  end

  it("exits cleanly after loads, unloads and a reload, without shutdown", function()
    script([[
local manager = qtforge.core.PluginManager()
manager:on_event(function(event)
  if event.type == "unloaded" then
    print("unloaded " .. event.plugin_id)
  end
end)
for _, name in ipairs({ "hello", "bundle", "c_hello" }) do
  print(name .. ".so " .. tostring(manager:load_plugin(libs .. name .. ".so").success))
end
print(manager:call("hello", "greet", "a"))
print(manager:call("bundle_extra", "add3", 1, 2, 3))
print(manager:call("c_hello", "greet", "b"))
manager:update_all_plugins(0.1)
print("frames " .. manager:call("bundle_extra", "frames"))
-- error values made by the plugins' own copy of mlua, alive until lua_close
KEPT = {
  select(2, pcall(manager.call, manager, "hello", "greet", {})),
  select(2, pcall(manager.call, manager, "bundle_base", "add", 1, "x")),
  manager:get_plugin("bundle_extra").exports,
}
print("unload " .. tostring(manager:unload_plugin("bundle_base", { cascade = true }).success))
print("reload " .. tostring(manager:reload_plugin("hello").success))
print("count " .. manager:call("hello", "count"))
print(table.concat(manager:load_order(), " "))
print("end of script")
]])
    local lines, status = run(root, "script.lua", child.quote(libs))
    assert.are.same({
      "hello.so true",
      "bundle.so true",
      "c_hello.so true",
      "Hello, a!",
      "6",
      "Hello from C, b!",
      "frames 1",
      "unloaded bundle_extra",
      "unloaded bundle_base",
      "unload true",
      "reload true",
      "count 1",
      "hello c_hello",
      "end of script",
      -- the manager's finalizer shuts it down at lua_close
      "unloaded c_hello",
      "unloaded hello",
    }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("exits cleanly after managers were collected mid-run and a new one loaded the same libraries", function()
    script([[
local first = qtforge.core.PluginManager()
first:on_event(function(event)
  if event.type == "unloaded" then
    print("first unloaded " .. event.plugin_id)
  end
end)
for _, name in ipairs({ "hello", "c_hello" }) do
  assert(first:load_plugin(libs .. name .. ".so").success, name)
end
print(first:call("hello", "greet", "first"))
-- bundle_extra keeps ctx.deps from Rust while it is loaded, which keeps its
-- manager reachable: it shuts down when collected or at lua_close
local pinned = qtforge.core.PluginManager()
assert(pinned:load_plugin(libs .. "bundle.so").success)
print(pinned:call("bundle_extra", "add3", 1, 2, 3))
first, pinned = nil, nil -- luacheck: ignore
collectgarbage()
collectgarbage()
print("collected")
local second = qtforge.core.PluginManager()
for _, name in ipairs({ "hello", "bundle", "c_hello" }) do
  assert(second:load_plugin(libs .. name .. ".so").success, name)
end
print(second:call("hello", "greet", "again"), second:call("hello", "count"))
print("reload " .. tostring(second:reload_plugin("c_hello").success))
print(second:call("c_hello", "greet", "again"))
second:unload_plugin("hello")
collectgarbage()
print("end of script")
]])
    local lines, status = run(root, "script.lua", child.quote(libs))
    assert.are.same({
      "Hello, first!",
      "6",
      "first unloaded c_hello",
      "first unloaded hello",
      "collected",
      "Hello, again!\t1",
      "reload true",
      "Hello from C, again!",
      "end of script",
    }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("exits cleanly with two managers holding the same libraries' plugins", function()
    script([[
local a = qtforge.core.PluginManager()
local b = qtforge.core.PluginManager()
for _, manager in ipairs({ a, b }) do
  for _, name in ipairs({ "hello", "bundle", "c_hello" }) do
    assert(manager:load_plugin(libs .. name .. ".so").success, name)
  end
end
a:call("hello", "greet", "a")
print(a:call("hello", "count"), b:call("hello", "count"))
for _ = 1, 3 do
  assert(b:reload_plugin("hello").success)
  assert(a:reload_plugin("bundle_extra").success)
end
b:unload_plugin("bundle_base", { cascade = true })
HANDLES = { a:get_plugin("hello"), b:get_plugin("c_hello"), a:get_plugin("bundle_extra").exports }
print("end of script")
]])
    local lines, status = run(root, "script.lua", child.quote(libs))
    assert.are.same({ "1\t0", "end of script" }, lines)
    assert.are.equal("exit 0", status)
  end)

  it("exits cleanly through os.exit(0, true), which closes the state", function()
    script([[
local manager = qtforge.core.PluginManager()
for _, name in ipairs({ "hello", "bundle", "c_hello" }) do
  assert(manager:load_plugin(libs .. name .. ".so").success, name)
end
manager:on_event(function(event)
  print(event.type .. " " .. event.plugin_id)
end)
print("exiting")
os.exit(0, true)
]])
    local lines, status = run(root, "script.lua", child.quote(libs))
    assert.are.same({
      "exiting",
      "unloaded c_hello",
      "unloaded bundle_extra",
      "unloaded bundle_base",
      "unloaded hello",
    }, lines)
    assert.are.equal("exit 0", status)
  end)
end)
