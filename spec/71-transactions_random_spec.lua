-- qtforge.transactions, randomized: over a thousand random sequences of
-- operations, each applied inside a transaction (sometimes with a savepoint
-- or a nested transaction rolled back in the middle) and then rolled back;
-- the manager's full snapshot must be what it was before, and nobody may have
-- heard an event or a message. Set QTFORGE_TX_SEED to replay a seed,
-- QTFORGE_TX_STATS=1 to see how many operations of each kind succeeded.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local snapshot = require("support.snapshot")

local PluginTransactionManager = qtforge.transactions.PluginTransactionManager
local take = snapshot.take

local SEED = tonumber(os.getenv("QTFORGE_TX_SEED")) or os.time()
local SEQUENCES = 1000
-- a new world (manager, plugins, configuration) every so many sequences
local WORLD_EVERY = 50
local INLINE_IDS = { "p1", "p2", "p3", "p4", "p5", "p6", "p7" }
local FOLDER_IDS = { "f1", "f2", "f3" }
local KEYS = { "app.a", "app.b", "app.deep.c", "other", "plugins.p1.level" }
local LAYERS = { "base", "override", "extra" }
-- what a plugin reads and may be configured with
local PLUGIN_CONFIG = { level = 0, name = "none" }
-- capabilities the folder plugins declare: they subscribe and publish
local BUS = { "bus:subscribe", "bus:publish" }

local random = math.random

local function pick(list)
  return list[random(#list)]
end

local function chance(p)
  return random() < p
end

local function random_value()
  local kind = random(4)
  if kind == 1 then
    return random(100)
  elseif kind == 2 then
    return "s" .. random(100)
  elseif kind == 3 then
    return chance(0.5)
  end
  return { x = random(9), list = { random(9), random(9) } }
end

-- An inline plugin `id`: a counter in an upvalue, a subscription on
-- "<id>.#" in on_load, a publish when it starts.
local function inline(id, deps)
  local count = 0
  local manifest_deps = {}
  for i, dep in ipairs(deps) do
    manifest_deps[i] = { name = dep, version = "*" }
  end
  return {
    manifest = { name = id, version = "1.0." .. random(0, 9), dependencies = manifest_deps,
      config = snapshot.deep_copy(PLUGIN_CONFIG) },
    on_load = function(ctx)
      ctx.bus:subscribe(id .. ".#", function() end, { priority = #id })
    end,
    on_start = function(ctx)
      ctx.bus:publish("started." .. id, true)
    end,
    exports = {
      bump = function()
        count = count + 1
        return count
      end,
      count = function()
        return count
      end,
    },
  }
end

local function folder_source(id, which)
  return string.format("local n = 0\nreturn {\n"
    .. "  on_load = function(ctx) ctx.bus:subscribe(%q, function() end) end,\n"
    .. "  on_start = function(ctx) ctx.bus:publish(%q, true) end,\n"
    .. "  exports = {\n    bump = function() n = n + 1; return n end,\n    count = function() return n end,\n"
    .. "    which = function() return %q end,\n  },\n}\n", id .. "." .. which .. ".#", "started." .. id, which)
end

describe("transactions, randomized", function()
  local root, dir, manager, tm, custom, heard, stats

  local function loaded_ids()
    return manager:load_order()
  end

  local function any_id()
    if chance(0.5) then
      local ids = loaded_ids()
      if #ids > 0 then
        return pick(ids)
      end
    end
    return chance(0.7) and pick(INLINE_IDS) or pick(FOLDER_IDS)
  end

  local function random_deps(id)
    local deps = {}
    for _, other in ipairs(loaded_ids()) do
      if other ~= id and #deps < 2 and chance(0.3) then
        deps[#deps + 1] = other
      end
    end
    return deps
  end

  -- a new version of folder plugin `id`; with `major`, now and then one out
  -- of the range f2 asks of f1
  local function rewrite_folder(id, major)
    local version = (major and chance(0.15) and "2." or "1.") .. random(0, 5) .. ".0"
    fs.write(dir .. "/" .. id .. "/plugin.toml", fs.manifest(id, version, plugins.capabilities(BUS)
      .. (id == "f2" and plugins.dep("f1", "^1") or "")))
    fs.write(dir .. "/" .. id .. "/init.lua", folder_source(id, "w" .. random(1000)))
  end

  -- The operations: each returns true when it did something, false when it
  -- failed (and so recorded nothing).
  local OPERATIONS = {
    register = function()
      local id = pick(INLINE_IDS)
      return manager:register_plugin(inline(id, random_deps(id)), { start = chance(0.7) }).success
    end,
    load_folder = function()
      return manager:load_plugin(dir .. "/" .. pick(FOLDER_IDS), { start = chance(0.8) }).success
    end,
    load_directory = function()
      local any = false
      for _, result in ipairs(manager:load_directory(dir)) do
        any = any or result.success
      end
      return any
    end,
    unload = function()
      return manager:unload_plugin(any_id(), { cascade = chance(0.5) }).success
    end,
    start = function()
      return manager:start_plugin(any_id()).success
    end,
    stop = function()
      return manager:stop_plugin(any_id()).success
    end,
    configure = function()
      local changes = chance(0.85) and { level = random(50) } or { unknown = 1 }
      return manager:configure_plugin(any_id(), changes).success
    end,
    config_set = function()
      return manager:config():set(pick(KEYS), random_value())
    end,
    config_remove = function()
      return manager:config():remove(pick(KEYS))
    end,
    config_load = function()
      local text = string.format('{"app": {"a": %d, "deep": {"c": "l%d"}}, "other": %d}', random(9), random(9),
        random(9))
      return manager:config():load_from_string(text, "json", pick(LAYERS)).success
    end,
    config_load_file = function()
      return manager:config():load_from_file(root .. "/layer.toml").success
    end,
    custom = function(tx)
      local fails = chance(0.1)
      local ok = pcall(tx.add_operation, tx, {
        name = "custom",
        apply = function()
          if fails then
            error("apply refused", 0)
          end
          custom.value = custom.value + 1
        end,
        undo = function()
          custom.value = custom.value - 1
        end,
      })
      return ok
    end,
    -- not journaled, but held: nobody may hear them after the rollback
    publish = function()
      local bus = manager:bus()
      if chance(0.5) then
        bus:publish("started.host", random(9))
        return true
      end
      return bus:post("started.host", random(9))
    end,
    -- the update loop runs the transaction's poller and flushes the bus
    tick = function()
      manager:update_all_plugins(0.3)
      return true
    end,
    reload = function()
      local id = pick(FOLDER_IDS)
      rewrite_folder(id, true)
      return manager:reload_plugin(id).success
    end,
  }
  local NAMES = {}
  for name in pairs(OPERATIONS) do
    NAMES[#NAMES + 1] = name
  end
  table.sort(NAMES)

  -- A new manager with random plugins in random states (loaded without
  -- starting, running, stopped), a random configuration, and counters bumped.
  local function new_world()
    if manager ~= nil then
      manager:shutdown()
    end
    manager = plugins.manager()
    tm = PluginTransactionManager(manager)
    custom = { value = 0 }
    for _, id in ipairs(FOLDER_IDS) do
      rewrite_folder(id)
    end
    for _, id in ipairs(FOLDER_IDS) do
      if chance(0.6) then
        manager:load_plugin(dir .. "/" .. id, { start = chance(0.8) })
      end
    end
    for _, id in ipairs(INLINE_IDS) do
      if chance(0.5) then
        assert(manager:register_plugin(inline(id, random_deps(id)), { start = chance(0.8) }).success)
      end
    end
    local exports = manager:register_all_plugins({})
    for _, id in ipairs(loaded_ids()) do
      for _ = 1, random(0, 3) do
        exports[id].bump()
      end
      if chance(0.3) then
        manager:configure_plugin(id, { level = random(9), name = "n" .. random(9) })
      end
      if chance(0.25) then
        manager:stop_plugin(id)
      end
    end
    OPERATIONS.config_load()
    for _ = 1, random(0, 3) do
      OPERATIONS.config_set()
    end
    manager:bus():subscribe("host.#", function() end, { priority = random(-5, 5) })
    heard = {}
    manager:on_event(function(event)
      heard[#heard + 1] = "event " .. event.type .. ":" .. tostring(event.plugin_id)
    end)
    manager:bus():subscribe("started.#", function(message)
      heard[#heard + 1] = "message " .. message.type
    end)
  end

  setup(function()
    root = fs.temp_dir()
    dir = root .. "/plugins"
    fs.write(root .. "/layer.toml", '[app]\na = 100\nb = "from file"\n')
    stats = { done = 0, failed = 0, savepoints = 0, nested = 0, by_name = {} }
    for _, name in ipairs(NAMES) do
      stats.by_name[name] = 0
    end
  end)

  teardown(function()
    if manager ~= nil then
      if tm:current() ~= nil then
        tm:rollback()
      end
      manager:shutdown()
    end
    fs.remove(root)
  end)

  -- Applies `n` random operations inside `tx`; appends their names to `log`.
  local function apply_random(tx, n, log)
    for _ = 1, n do
      local name = pick(NAMES)
      local did = OPERATIONS[name](tx)
      log[#log + 1] = name .. (did and "" or " (failed)")
      if did then
        stats.done = stats.done + 1
        stats.by_name[name] = stats.by_name[name] + 1
      else
        stats.failed = stats.failed + 1
      end
    end
  end

  local function sequence(i, log)
    if (i - 1) % WORLD_EVERY == 0 then
      new_world()
    end
    local before = take(manager)
    local tx = tm:begin_transaction()
    local n = random(1, 8)
    local middle = chance(0.35) and random(0, n)
    local first = middle or n
    apply_random(tx, first, log)
    if middle then
      local at_mark = take(manager)
      local custom_at = custom.value
      local nested = chance(0.4)
      local inner
      if nested then
        stats.nested = stats.nested + 1
        log[#log + 1] = "begin nested"
        inner = tm:begin_transaction()
      else
        stats.savepoints = stats.savepoints + 1
        log[#log + 1] = "savepoint"
        tx:savepoint("middle")
      end
      apply_random(tx, n - middle, log)
      if nested and chance(0.3) then
        -- a nested commit keeps its part in the enclosing transaction
        log[#log + 1] = "commit nested"
        local kept = inner:commit()
        assert.is_true(kept.success, tostring(kept.error))
        assert.are.equal(tx, tm:current())
      else
        log[#log + 1] = nested and "rollback nested" or "rollback_to"
        local back = nested and inner:rollback() or tx:rollback_to("middle")
        assert.is_true(back.success, tostring(back.error))
        assert.are.same(at_mark, take(manager), "after the rollback to the middle")
        assert.are.equal(custom_at, custom.value)
      end
      apply_random(tx, random(0, 2), log)
    end
    log[#log + 1] = "rollback"
    local rolled = tx:rollback()
    assert.is_true(rolled.success, tostring(rolled.error))
    assert.are.equal("rolled_back", tx:state())
    assert.are.same(before, take(manager), "after the rollback")
    assert.are.equal(0, custom.value)
    manager:bus():flush()
    assert.are.same({}, heard, "events or messages were let out")
  end

  it("rolls every random sequence back to the snapshot before it", function()
    math.randomseed(SEED)
    for i = 1, SEQUENCES do
      local log = {}
      local ok, problem = pcall(sequence, i, log)
      if not ok then
        print(string.format("\n71-transactions_random: seed %d failed at sequence %d; replay with QTFORGE_TX_SEED=%d",
          SEED, i, SEED))
        print("  operations: " .. table.concat(log, ", "))
        error(problem, 0)
      end
    end
    -- the sequences did exercise every operation, and the savepoints
    for _, name in ipairs(NAMES) do
      assert.is_true(stats.by_name[name] > 0, name .. " never succeeded (seed " .. SEED .. ")")
    end
    assert.is_true(stats.done > stats.failed, string.format("%d done, %d failed", stats.done, stats.failed))
    assert.is_true(stats.savepoints > 0 and stats.nested > 0)
    -- QTFORGE_TX_STATS=1 prints what the sequences did
    if os.getenv("QTFORGE_TX_STATS") then
      local parts = {}
      for _, name in ipairs(NAMES) do
        parts[#parts + 1] = name .. "=" .. stats.by_name[name]
      end
      print(string.format("\nseed %d: %d done, %d failed, %d savepoints, %d nested; %s", SEED, stats.done,
        stats.failed, stats.savepoints, stats.nested, table.concat(parts, " ")))
    end
  end)
end)
