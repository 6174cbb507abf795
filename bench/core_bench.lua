-- core: loading plugin folders, and calling exports, against plain Lua.
local qtforge = require("qtforge")
local harness = require("harness")
local sh, write, loop = harness.sh, harness.write, harness.loop

local PLUGIN_COUNT = 200

-- 200 plugin folders; plugin i depends on up to three earlier ones, so the
-- manager has a real graph to order
local function make_plugins()
  local root = os.tmpname()
  os.remove(root)
  assert(sh("mkdir -p '" .. root .. "'"))
  local order = {}
  for i = 1, PLUGIN_COUNT do
    local name = string.format("p%03d", i)
    local dir = root .. "/" .. name
    assert(sh("mkdir -p '" .. dir .. "'"))
    local deps = {}
    for _, back in ipairs({ 1, 7, 31 }) do
      if i - back >= 1 and (i + back) % 3 ~= 0 then
        deps[#deps + 1] = string.format('[[dependencies]]\nname = "p%03d"\nversion = "^1.0"\n', i - back)
      end
    end
    local manifest = 'name = "%s"\nversion = "1.0.%d"\napi-version = "1.0"\ntags = ["bench"]\n'
      .. 'exports = ["value"]\n%s[config]\nweight = %d\n'
    write(dir .. "/plugin.toml", string.format(manifest, name, i, table.concat(deps), i))
    write(dir .. "/init.lua", string.format([[
local plugin = { exports = {} }
local loaded = false
function plugin.on_load(ctx) loaded = ctx ~= nil end
function plugin.on_start() end
function plugin.on_stop() end
function plugin.on_unload() loaded = false end
function plugin.exports.value() return loaded and %d or 0 end
return plugin
]], i))
    order[#order + 1] = dir .. "/init.lua"
  end
  return root, order
end

local root, entries = make_plugins()

-- the baseline: what loading those plugins by hand costs, with the same hooks called
local function lua_load_all()
  local plugins = {}
  for i, path in ipairs(entries) do
    local file = assert(io.open(path, "rb"))
    local source = file:read("*a")
    file:close()
    local env = setmetatable({}, { __index = _G })
    local plugin = assert(load(source, "@" .. path, "t", env))()
    plugin.on_load({})
    plugin.on_start()
    plugins[i] = plugin
  end
  for i = #plugins, 1, -1 do
    plugins[i].on_stop()
    plugins[i].on_unload()
  end
  return plugins
end

local function qtforge_load_all()
  local manager = qtforge.core.PluginManager()
  local results = manager:load_directory(root)
  if not results[PLUGIN_COUNT].success then
    error("bench plugins did not load: " .. tostring(results[PLUGIN_COUNT].error))
  end
  manager:shutdown()
  return manager
end

-- one plugin for the call benchmarks
local manager = qtforge.core.PluginManager()
assert(manager:load_plugin(root .. "/p001").success)
local plugin = manager:get_plugin("p001")
local exports = plugin.exports

local function plain_value()
  return 1
end

local cleanup = setmetatable({}, {
  __gc = function()
    sh("rm -rf '" .. root .. "'")
  end,
})

return {
  title = "core",
  cleanup = cleanup,
  cases = {
    {
      name = "load_directory, 200 plugins with dependencies",
      run = function(n)
        for _ = 1, n do
          qtforge_load_all()
        end
      end,
      baseline = function(n)
        for _ = 1, n do
          lua_load_all()
        end
      end,
    },
    {
      name = "export call through plugin.exports.f",
      run = loop(function()
        return exports.value()
      end),
      baseline = loop(plain_value),
    },
    {
      name = "export call through plugin:f()",
      run = loop(function()
        return plugin:value()
      end),
      baseline = loop(plain_value),
    },
    {
      name = "export call through manager:call(id, f)",
      run = loop(function()
        return manager:call("p001", "value")
      end),
      baseline = loop(plain_value),
    },
  },
}
