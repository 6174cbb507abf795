-- security: a sandboxed plugin's export, without and with an instruction
-- quota, against the same export of the same plugin loaded trusted (in the
-- host's globals, as any Lua module runs).
local qtforge = require("qtforge")
local harness = require("harness")
local sh, write = harness.sh, harness.write

local SecurityManager = qtforge.security.SecurityManager

-- the work: what a plugin's export typically does per call, with the
-- standard libraries (string, math, table) it reads through its sandbox
local SOURCE = [[
local plugin = { exports = {} }
function plugin.exports.score(items)
  local total = 0
  for i = 1, #items do
    local item = items[i]
    total = total + math.floor(item.weight * 10 + 0.5) + #string.format("%s:%d", item.name, i)
  end
  return total
end
return plugin
]]

-- a plugin that publishes on its bus, and counts what its own handler receives
local BUS_SOURCE = [[
local plugin = { exports = {} }
local bus, received = nil, 0
function plugin.on_load(ctx)
  bus = ctx.bus
  bus:subscribe("bench.tick", function(message) received = received + message.data end)
end
function plugin.exports.ping()
  bus:publish("bench.tick", 1)
  return received
end
return plugin
]]

local root = os.tmpname()
os.remove(root)
local function plugin_folder(name, extra, source)
  local dir = root .. "/" .. name
  assert(sh("mkdir -p '" .. dir .. "'"))
  write(dir .. "/plugin.toml", string.format('name = "%s"\nversion = "1.0.0"\n%s', name, extra or ""))
  write(dir .. "/init.lua", source or SOURCE)
  return dir
end

local function loaded(manager, dir, id, export)
  local result = manager:load_plugin(dir)
  if not result.success then
    error("bench plugin did not load: " .. tostring(result.error))
  end
  return manager:get_plugin(id).exports[export or "score"]
end

local trusted = qtforge.core.PluginManager({ security = SecurityManager({ trust = "trusted" }) })
local sandboxed = qtforge.core.PluginManager()
local outside = loaded(trusted, plugin_folder("outside"), "outside")
local inside = loaded(sandboxed, plugin_folder("inside"), "inside")
local limited = loaded(sandboxed, plugin_folder("limited", "[limits]\ninstructions = 1000000\n"), "limited")
local BUS_CAPS = 'capabilities = ["bus:publish", "bus:subscribe"]\n'
local bus_outside = loaded(trusted, plugin_folder("bus_outside", BUS_CAPS, BUS_SOURCE), "bus_outside", "ping")
local bus_inside = loaded(sandboxed, plugin_folder("bus_inside", BUS_CAPS, BUS_SOURCE), "bus_inside", "ping")

local ITEMS = {}
for i = 1, 8 do
  ITEMS[i] = { name = "item" .. i, weight = i / 3 }
end

local function loop(score)
  return function(n)
    local sum = 0
    for _ = 1, n do
      sum = sum + score(ITEMS)
    end
    return sum
  end
end

local function ping_loop(ping)
  return function(n)
    local last = 0
    for _ = 1, n do
      last = ping()
    end
    return last
  end
end

assert(inside(ITEMS) == outside(ITEMS) and limited(ITEMS) == outside(ITEMS))

local cleanup = setmetatable({}, {
  __gc = function()
    trusted:shutdown()
    sandboxed:shutdown()
    sh("rm -rf '" .. root .. "'")
  end,
})

return {
  title = "security",
  cleanup = cleanup,
  cases = {
    {
      name = "sandboxed export, no quota, vs trusted",
      run = loop(inside),
      baseline = loop(outside),
    },
    {
      name = "sandboxed export, instruction quota, vs trusted",
      run = loop(limited),
      baseline = loop(outside),
    },
    {
      name = "ctx.bus publish to own handler, sandboxed vs trusted",
      run = ping_loop(bus_inside),
      baseline = ping_loop(bus_outside),
    },
  },
}
