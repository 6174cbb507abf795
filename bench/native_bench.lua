-- Native plugins: calling a native export, and opening and inspecting a library,
-- against the same work done by a Lua plugin and by plain Lua.
local qtforge = require("qtforge")
local harness = require("harness")
local write = harness.write

local flavor = jit and "luajit" or "lua5.4"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local plugins_dir = here .. "/../build/" .. flavor .. "/plugins/"
local bundle = plugins_dir .. "bundle.so"
local hello = plugins_dir .. "hello.so"

-- a Lua plugin folder doing what hello.so does, for the load and inspect baselines
local lua_dir = os.tmpname()
os.remove(lua_dir)
assert(os.execute("mkdir -p '" .. lua_dir .. "/lua_hello'"))
write(lua_dir .. "/lua_hello/plugin.toml", 'name = "lua_hello"\nversion = "1.0.0"\nexports = ["greet", "count"]\n')
write(lua_dir .. "/lua_hello/init.lua", [[
local greeted = 0
return { exports = {
  greet = function(name) greeted = greeted + 1 return "Hello, " .. name .. "!" end,
  count = function() return greeted end,
} }
]])

local manager = qtforge.core.PluginManager()
assert(manager:load_plugin(bundle).success, "run `make examples` first")
local native_add = manager:get_plugin("bundle_base").exports.add
assert(manager:register_plugin({
  manifest = { name = "lua_add", version = "1.0.0" },
  exports = { add = function(a, b) return a + b end },
}).success)
local lua_add = manager:get_plugin("lua_add").exports.add

local function plain_add(a, b)
  return a + b
end

local function calling(add)
  return function(n)
    local sum = 0
    for i = 1, n do
      sum = add(sum, i) % 1000
    end
    return sum
  end
end

local function repeat_n(fn)
  return function(n)
    for _ = 1, n do
      fn()
    end
  end
end

local cleanup = setmetatable({}, {
  __gc = function()
    os.execute("rm -rf '" .. lua_dir .. "'")
  end,
})

return {
  title = "native plugins",
  cleanup = cleanup,
  cases = {
    {
      name = "native export add(a, b) vs plain Lua",
      run = calling(native_add),
      baseline = calling(plain_add),
    },
    {
      name = "Lua export add(a, b) vs plain Lua",
      run = calling(lua_add),
      baseline = calling(plain_add),
    },
    {
      name = "inspect hello.so vs a Lua plugin folder",
      run = repeat_n(function()
        qtforge.core.PluginLoader.inspect(hello)
      end),
      baseline = repeat_n(function()
        qtforge.core.PluginLoader.inspect(lua_dir .. "/lua_hello")
      end),
    },
    {
      name = "load + unload hello.so vs a Lua folder",
      run = repeat_n(function()
        local m = qtforge.core.PluginManager()
        m:load_plugin(hello)
        m:unload_plugin("hello")
      end),
      baseline = repeat_n(function()
        local m = qtforge.core.PluginManager()
        m:load_plugin(lua_dir .. "/lua_hello")
        m:unload_plugin("lua_hello")
      end),
    },
  },
}
