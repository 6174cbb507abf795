-- transactions: what a rollback costs next to the work it undoes, and what
-- journaling costs next to the same operations outside a transaction.
local qtforge = require("qtforge")
local harness = require("harness")
local sh, write = harness.sh, harness.write

local PLUGINS = 100
local ROUNDS = 20
local clock = qtforge.utils.monotonic

-- 100 plugin folders, each subscribing to a topic and reading its config
local root = os.tmpname()
os.remove(root)
assert(sh("mkdir -p '" .. root .. "'"))
local folders = {}
for i = 1, PLUGINS do
  local dir = string.format("%s/p%03d", root, i)
  assert(sh("mkdir -p '" .. dir .. "'"))
  write(dir .. "/plugin.toml", string.format('name = "p%03d"\nversion = "1.0.0"\ncapabilities = ["bus:subscribe", '
    .. '"config:read"]\n[config]\nweight = %d\n', i, i))
  write(dir .. "/init.lua", [[
local plugin = { exports = {} }
function plugin.on_load(ctx)
  ctx.bus:subscribe("tick", function() end)
  plugin.weight = ctx.config:get_number("weight")
end
function plugin.exports.weight() return plugin.weight end
return plugin
]])
  folders[i] = dir
end

local function load_all(manager)
  for i = 1, PLUGINS do
    assert(manager:load_plugin(folders[i]).success)
  end
end

local function unload_all(manager)
  for i = PLUGINS, 1, -1 do
    assert(manager:unload_plugin(string.format("p%03d", i)).success)
  end
end

local function median(list)
  table.sort(list)
  return list[math.floor((#list + 1) / 2)]
end

-- per round: 100 loads inside a transaction, timed; then its rollback, timed
local function rollback_vs_loads()
  local manager = qtforge.core.PluginManager()
  local tm = qtforge.transactions.PluginTransactionManager(manager)
  local loads, rollbacks = {}, {}
  for round = 1, ROUNDS do
    tm:begin_transaction()
    local started = clock()
    load_all(manager)
    loads[round] = clock() - started
    started = clock()
    assert(tm:rollback().success)
    rollbacks[round] = clock() - started
    assert(#manager:load_order() == 0)
  end
  return median(rollbacks), median(loads)
end

local manager = qtforge.core.PluginManager()
local tm = qtforge.transactions.PluginTransactionManager(manager)

local function report()
  local rollback, loads = rollback_vs_loads()
  print(string.format("%-48s %12s %12s %9s", "transactions", "qtforge ns", "baseline ns", "ratio"))
  print(string.format("  %-46s %12.1f %12.1f %8.2fx", "rollback of 100 loads / the 100 loads", rollback * 1e9,
    loads * 1e9, rollback / loads))
  harness.report("transactions (journaled / plain)", {
    {
      name = "100 loads + 100 unloads, committed",
      run = function(n)
        for _ = 1, n do
          tm:begin_transaction()
          load_all(manager)
          unload_all(manager)
          assert(tm:commit().success)
        end
      end,
      baseline = function(n)
        for _ = 1, n do
          load_all(manager)
          unload_all(manager)
        end
      end,
    },
    {
      name = "config set, committed",
      run = function(n)
        local config = manager:config()
        for i = 1, n do
          tm:begin_transaction()
          config:set("bench.value", i)
          tm:commit()
        end
      end,
      baseline = function(n)
        local config = manager:config()
        for i = 1, n do
          config:set("bench.value", i)
        end
      end,
    },
  })
  sh("rm -rf '" .. root .. "'")
end

return { report = report }
