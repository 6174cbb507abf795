-- qtforge.transactions: each operation's undo, mixed sequences rolled back at
-- every position, run() failing at every step, savepoints and nested
-- transactions, held events and bus messages, the commit-time invariant,
-- timeouts, deferred saves, failing undos, the seed's example as documented,
-- and misuse of every public method.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local misuse = require("support.misuse")
local snapshot = require("support.snapshot")

local PluginTransactionManager = qtforge.transactions.PluginTransactionManager
local ConfigurationManager = qtforge.managers.ConfigurationManager
local contains, failed = plugins.contains, plugins.failed
local raised_at_caller = misuse.raised_at_caller
local take = snapshot.take

-- what the folder plugins declare: they subscribe in on_load
local BUS = { "bus:subscribe" }

local THIS_FILE = debug.getinfo(1, "S").short_src
local DOCS = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or ".") .. "/docs/transactions.md"

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- An inline plugin `name`: a counter in an upvalue (exports bump and count),
-- a subscription on "<name>.#" made in on_load. spec: version, deps (a list
-- of { name, range }), config, and hooks to add.
local function inline(name, spec)
  spec = spec or {}
  local count = 0
  local deps
  for _, d in ipairs(spec.deps or {}) do
    deps = deps or {}
    deps[#deps + 1] = { name = d[1], version = d[2] or "*" }
  end
  local plugin = {
    manifest = { name = name, version = spec.version or "1.0.0", dependencies = deps, config = spec.config },
    on_load = function(ctx)
      ctx.bus:subscribe(name .. ".#", function() end)
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
  for hook, fn in pairs(spec.hooks or {}) do
    plugin[hook] = fn
  end
  return plugin
end

-- The entry of a folder plugin: a counter in an upvalue, and `which`, the
-- version of the file that answers.
local function counter_source(which)
  return string.format("local n = 0\nreturn {\n  on_load = function(ctx) ctx.bus:subscribe(%q, function() end) end,\n"
    .. "  exports = {\n    bump = function() n = n + 1; return n end,\n    count = function() return n end,\n"
    .. "    which = function() return %q end,\n  },\n}\n", "file." .. which .. ".#", which)
end

describe("transactions", function()
  local root, manager, tm

  local function register(name, spec, opts)
    local result = manager:register_plugin(inline(name, spec), opts)
    assert.is_true(result.success, tostring(result.error))
    return manager:get_plugin(name)
  end

  -- the folder plugin root/<name>, version `version`, answering `which`
  local function write_folder(name, version, which)
    return plugins.folder(root, name, { version = version, source = counter_source(which), capabilities = BUS })
  end

  local function load_folder(name, version, which)
    local result = manager:load_plugin(write_folder(name, version, which))
    assert.is_true(result.success, tostring(result.error))
    return manager:get_plugin(name)
  end

  local function ok(result)
    assert.is_true(result.success, tostring(result.error))
    return result
  end

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    tm = PluginTransactionManager(manager)
  end)

  after_each(function()
    while tm:current() ~= nil do
      tm:rollback()
    end
    manager:shutdown()
    fs.remove(root)
  end)

  describe("each operation's undo", function()
    it("unloads a plugin that load_plugin loaded, with its configuration", function()
      local dir = plugins.folder(root, "filed", { version = "1.2.0", source = counter_source("v1"),
        capabilities = BUS, config = "size = 3\n" })
      local before = take(manager)
      local tx = tm:begin_transaction()
      ok(manager:load_plugin(dir))
      assert.are.equal("running", manager:get_plugin("filed"):state())
      assert.are.equal(3, manager:config():get_number("plugins.filed.size"))
      assert.are.same({ { name = "load_plugin", plugin_id = "filed" } }, tx:operations())
      ok(tx:rollback())
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(manager:get_plugin("filed"))
      assert.is_nil(manager:config():get("plugins.filed.size"))
      assert.are.same(before, take(manager))
    end)

    it("unloads a plugin that register_plugin registered, and its subscription goes", function()
      register("base")
      local before = take(manager)
      local tx = tm:begin_transaction()
      register("extra", { deps = { { "base", "^1" } } })
      assert.are.same({ "base", "extra" }, manager:load_order())
      ok(tx:rollback())
      assert.is_nil(manager:get_plugin("extra"))
      assert.are.same({ "base|base.#|0" }, snapshot.subscriptions(manager:bus()))
      assert.are.same(before, take(manager))
    end)

    it("unloads every plugin load_directory loaded", function()
      local dir = root .. "/dir"
      plugins.folder(dir, "lower", { source = counter_source("lower"), capabilities = BUS })
      plugins.folder(dir, "upper", { source = counter_source("upper"), capabilities = BUS,
        deps = { { "lower", "^1" } } })
      local before = take(manager)
      local tx = tm:begin_transaction()
      local results = manager:load_directory(dir)
      assert.are.equal(2, #results)
      ok(results[1])
      ok(results[2])
      assert.are.same({ "lower", "upper" }, manager:load_order())
      assert.are.same({ { name = "load_plugin", plugin_id = "lower" }, { name = "load_plugin", plugin_id = "upper" } },
        tx:operations())
      ok(tx:rollback())
      assert.are.same({}, manager:load_order())
      assert.are.same(before, take(manager))
    end)

    it("brings back the same instance unload_plugin took out, with its Lua state, configuration and place", function()
      register("first")
      local middle = register("middle", { config = { size = 1 } })
      register("last")
      ok(manager:configure_plugin("middle", { size = 7 }))
      middle:call("bump")
      middle:call("bump")
      local exports = manager:register_all_plugins({}).middle
      local before = take(manager)
      local tx = tm:begin_transaction()
      local result = ok(manager:unload_plugin("middle"))
      assert.are.same({ "middle" }, result.unloaded)
      assert.is_nil(manager:get_plugin("middle"))
      assert.is_nil(manager:config():get("plugins.middle"))
      ok(tx:rollback())
      assert.are.same({ "first", "middle", "last" }, manager:load_order())
      assert.are.equal(exports, manager:register_all_plugins({}).middle)
      assert.are.equal(2, manager:call("middle", "count"))
      assert.are.equal(3, manager:call("middle", "bump"))
      assert.are.equal(7, manager:get_plugin("middle"):config().size)
      before.plugins.middle.count = 3
      assert.are.same(before, take(manager))
    end)

    it("brings a stopped plugin back stopped, without starting it", function()
      local started = 0
      register("quiet", { hooks = { on_start = function()
        started = started + 1
      end } })
      ok(manager:stop_plugin("quiet"))
      local before = take(manager)
      local tx = tm:begin_transaction()
      ok(manager:unload_plugin("quiet"))
      ok(tx:rollback())
      assert.are.equal("stopped", manager:get_plugin("quiet"):state())
      assert.are.equal(1, started)
      assert.are.same(before, take(manager))
    end)

    it("brings back a plugin and every dependent a cascading unload took, in their order and states", function()
      register("base")
      register("mid", { deps = { { "base" } } })
      register("top", { deps = { { "mid" } } })
      register("aside")
      ok(manager:stop_plugin("top"))
      manager:call("base", "bump")
      local before = take(manager)
      local tx = tm:begin_transaction()
      local result = ok(manager:unload_plugin("base", { cascade = true }))
      assert.are.same({ "top", "mid", "base" }, result.unloaded)
      assert.are.same({ "aside" }, manager:load_order())
      assert.are.equal(3, #tx:operations())
      ok(tx:rollback())
      assert.are.same({ "base", "mid", "top", "aside" }, manager:load_order())
      assert.are.equal("stopped", manager:get_plugin("top"):state())
      assert.are.same(before, take(manager))
    end)

    it("brings the old version of a reloaded plugin back, with its Lua state, without reading the files", function()
      local dir = root .. "/counter"
      local plugin = load_folder("counter", "1.0.0", "v1")
      plugin:call("bump")
      plugin:call("bump")
      local before = take(manager)
      local tx = tm:begin_transaction()
      fs.write(dir .. "/plugin.toml", fs.manifest("counter", "2.0.0", plugins.capabilities(BUS)))
      fs.write(dir .. "/init.lua", counter_source("v2"))
      ok(manager:reload_plugin("counter"))
      assert.are.equal("v2", manager:call("counter", "which"))
      assert.are.equal(0, manager:call("counter", "count"))
      assert.are.equal("2.0.0", plugin:version():to_string())
      assert.are.same({ { name = "reload_plugin", plugin_id = "counter" } }, tx:operations())
      ok(tx:rollback())
      assert.are.equal("v1", manager:call("counter", "which"))
      assert.are.equal(2, manager:call("counter", "count"))
      assert.are.equal("1.0.0", plugin:version():to_string())
      assert.are.equal("running", plugin:state())
      assert.are.same(before, take(manager))
      -- the old version keeps working: its Lua state goes on from where it was
      assert.are.equal(3, manager:call("counter", "bump"))
    end)

    it("keeps the new version of a reloaded plugin when the transaction commits", function()
      local dir = root .. "/counter"
      load_folder("counter", "1.0.0", "v1")
      local tx = tm:begin_transaction()
      fs.write(dir .. "/init.lua", counter_source("v2"))
      ok(manager:reload_plugin("counter"))
      local committed = ok(tx:commit())
      assert.are.equal(1, committed.operations)
      assert.are.equal("committed", tx:state())
      assert.are.equal("v2", manager:call("counter", "which"))
      assert.are.same({ "counter|file.v2.#|0" }, snapshot.subscriptions(manager:bus()))
    end)

    -- (a regression test: the undo once left such a plugin "stopped")
    it("puts a plugin start_plugin started back as it was before: loaded, not stopped", function()
      local stops = 0
      register("idle", { hooks = { on_stop = function()
        stops = stops + 1
      end } }, { start = false })
      local before = take(manager)
      assert.are.equal("loaded", before.plugins.idle.state)
      local tx = tm:begin_transaction()
      ok(manager:start_plugin("idle"))
      assert.are.equal("running", manager:get_plugin("idle"):state())
      ok(tx:rollback())
      assert.are.equal("loaded", manager:get_plugin("idle"):state())
      -- on_stop undid what on_start did
      assert.are.equal(1, stops)
      assert.are.same(before, take(manager))
    end)

    it("starts a plugin stop_plugin stopped again, and stops one start_plugin started after a stop", function()
      local hooks = {}
      register("worker", { hooks = {
        on_start = function()
          hooks[#hooks + 1] = "start"
        end,
        on_stop = function()
          hooks[#hooks + 1] = "stop"
        end,
      } })
      local before = take(manager)
      local tx = tm:begin_transaction()
      ok(manager:stop_plugin("worker"))
      assert.are.equal("stopped", manager:get_plugin("worker"):state())
      ok(tx:rollback())
      assert.are.equal("running", manager:get_plugin("worker"):state())
      assert.are.same(before, take(manager))
      ok(manager:stop_plugin("worker"))
      local stopped = take(manager)
      tx = tm:begin_transaction()
      ok(manager:start_plugin("worker"))
      ok(tx:rollback())
      assert.are.equal("stopped", manager:get_plugin("worker"):state())
      assert.are.same(stopped, take(manager))
      assert.are.same({ "start", "stop", "start", "stop", "start", "stop" }, hooks)
    end)

    it("configures a plugin back to the configuration before configure_plugin, through on_configure", function()
      local seen = {}
      register("tuned", { config = { level = 1, name = "a" }, hooks = { on_configure = function(cfg)
        seen[#seen + 1] = cfg.level
      end } })
      ok(manager:configure_plugin("tuned", { level = 2 }))
      local before = take(manager)
      local tx = tm:begin_transaction()
      ok(manager:configure_plugin("tuned", { level = 5, name = "b" }))
      assert.are.same({ level = 5, name = "b" }, manager:get_plugin("tuned"):config())
      ok(tx:rollback())
      assert.are.same({ level = 2, name = "a" }, manager:get_plugin("tuned"):config())
      assert.are.same({ 2, 5, 2 }, seen)
      assert.are.same(before, take(manager))
    end)

    it("puts the configuration back after set, remove and load_from_string", function()
      local config = manager:config()
      ok(config:load_from_string('{"app": {"mode": "relaxed", "size": 3}, "keep": true}', "json", "base"))
      local before = take(manager)
      local tx = tm:begin_transaction()
      assert.is_true(config:set("app.mode", "strict"))
      assert.is_true(config:remove("app.size"))
      ok(config:load_from_string('[app]\nextra = "yes"\n', "toml", "override"))
      assert.is_true(config:set("new.key", { 1, 2 }))
      assert.are.same({ mode = "strict", extra = "yes" }, config:get_table("app"))
      -- one snapshot per transaction: the first change takes it
      assert.are.same({ { name = "configuration" } }, tx:operations())
      ok(tx:rollback())
      assert.are.same({ mode = "relaxed", size = 3 }, config:get_table("app"))
      assert.is_nil(config:get("new.key"))
      assert.are.same(before, take(manager))
    end)

    it("runs the undo of tx:add_operation, and returns what apply returned", function()
      local value = "old"
      local tx = tm:begin_transaction()
      local a, b = tx:add_operation({
        name = "swap",
        apply = function()
          value = "new"
          return 1, "two"
        end,
        undo = function()
          value = "old"
        end,
      })
      assert.are.same({ 1, "two" }, { a, b })
      assert.are.equal("new", value)
      assert.are.same({ { name = "swap" } }, tx:operations())
      ok(tx:rollback())
      assert.are.equal("old", value)
    end)

    it("raises apply's error from tx:add_operation and journals nothing", function()
      local undone = false
      local tx = tm:begin_transaction()
      local ok_call, message = pcall(tx.add_operation, tx, {
        name = "broken",
        apply = function()
          error("cannot apply", 0)
        end,
        undo = function()
          undone = true
        end,
      })
      assert.is_false(ok_call)
      assert.are.equal("cannot apply", message)
      assert.are.same({}, tx:operations())
      ok(tx:rollback())
      assert.is_false(undone)
    end)

    -- a file plugin that keeps its ctx: `speak` logs through it, which stops
    -- working once the instance's capabilities are revoked
    local function speaker(name, which)
      local source = "local ctx\nreturn { on_load = function(c) ctx = c end,\n"
        .. "  exports = { which = function() return " .. string.format("%q", which) .. " end,\n"
        .. "    speak = function() ctx.log.info('hello'); return true end } }\n"
      local result = manager:load_plugin(plugins.folder(root, name, { source = source, capabilities = { "log" } }))
      assert.is_true(result.success, tostring(result.error))
      return manager:register_all_plugins({})[name]
    end

    it("keeps what an unloaded instance was given until the commit, then revokes it", function()
      local exports = speaker("talker", "v1")
      local tx = tm:begin_transaction()
      ok(manager:unload_plugin("talker"))
      assert.is_true(exports.speak())
      ok(tx:commit())
      local ok_call, message = pcall(exports.speak)
      assert.is_false(ok_call)
      contains(message, "talker", "revoked")
    end)

    it("leaves what an instance brought back by a rollback was given working", function()
      local exports = speaker("talker", "v1")
      local tx = tm:begin_transaction()
      ok(manager:unload_plugin("talker"))
      ok(tx:rollback())
      assert.is_true(exports.speak())
      assert.are.equal(exports, manager:register_all_plugins({}).talker)
    end)

    it("revokes the old version of a reload at commit, and the new one at rollback", function()
      local old = speaker("talker", "v1")
      local dir = root .. "/talker"
      local source = fs.read(dir .. "/init.lua")
      local tx = tm:begin_transaction()
      fs.write(dir .. "/init.lua", (source:gsub('"v1"', '"v2"')))
      ok(manager:reload_plugin("talker"))
      local new = manager:register_all_plugins({}).talker
      assert.are.equal("v2", new.which())
      assert.is_true(old.speak())
      ok(tx:rollback())
      assert.is_true(old.speak())
      assert.is_false(pcall(new.speak))
      tx = tm:begin_transaction()
      ok(manager:reload_plugin("talker"))
      new = manager:register_all_plugins({}).talker
      ok(tx:commit())
      assert.is_true(new.speak())
      local ok_call, message = pcall(old.speak)
      assert.is_false(ok_call)
      contains(message, "revoked")
    end)

    it("brings every plugin back after a shutdown inside the transaction", function()
      register("base")
      register("user", { deps = { { "base" } } })
      load_folder("filed", "1.0.0", "v1")
      local before = take(manager)
      local tx = tm:begin_transaction()
      manager:shutdown()
      assert.are.same({}, manager:load_order())
      ok(tx:rollback())
      assert.are.same(before, take(manager))
    end)

    it("records nothing for an operation that fails", function()
      register("base")
      local tx = tm:begin_transaction()
      failed(manager:unload_plugin("ghost"), "not_found")
      failed(manager:register_plugin(inline("base")), "already_loaded")
      failed(manager:start_plugin("base"), "invalid_state")
      assert.are.same({}, tx:operations())
      ok(tx:rollback())
      assert.are.equal("running", manager:get_plugin("base"):state())
    end)
  end)

  -- A fixed world and a fixed sequence of operations on it: rolled back after
  -- each prefix, and failed inside run() after each prefix.
  describe("a mixed sequence", function()
    local custom

    local function build_world()
      custom = { value = 0 }
      local config = manager:config()
      ok(config:load_from_string('{"app": {"mode": "relaxed", "size": 3}}', "json", "base"))
      register("base", { config = { level = 1 } })
      register("user", { deps = { { "base", "^1" } } })
      load_folder("filed", "1.0.0", "v1")
      register("idle", { config = { mood = "asleep" } }, { start = false })
      manager:bus():subscribe("host.#", function() end, { priority = 5 })
      manager:call("base", "bump")
      manager:call("filed", "bump")
      local dir = root .. "/dir"
      plugins.folder(dir, "dir_a", { source = counter_source("a"), capabilities = BUS })
      plugins.folder(dir, "dir_b", { source = counter_source("b"), capabilities = BUS, deps = { { "dir_a" } } })
    end

    local SEQUENCE = {
      { "register extra", function()
        register("extra", { deps = { { "base" } } })
      end },
      { "set app.mode", function()
        assert.is_true(manager:config():set("app.mode", "strict"))
      end },
      { "configure base", function()
        ok(manager:configure_plugin("base", { level = 5 }))
      end },
      { "stop user", function()
        ok(manager:stop_plugin("user"))
      end },
      { "reload filed", function()
        fs.write(root .. "/filed/plugin.toml", fs.manifest("filed", "1.1.0", plugins.capabilities(BUS)))
        fs.write(root .. "/filed/init.lua", counter_source("v2"))
        ok(manager:reload_plugin("filed"))
      end },
      { "unload base with its dependents", function()
        assert.are.same({ "extra", "user", "base" }, ok(manager:unload_plugin("base", { cascade = true })).unloaded)
      end },
      { "load_from_string", function()
        ok(manager:config():load_from_string('{"app": {"size": 9}}', "json", "override"))
      end },
      { "register base again", function()
        register("base", { version = "2.0.0", config = { level = 9 } })
      end },
      { "custom operation", function(tx)
        tx:add_operation({
          name = "custom",
          apply = function()
            custom.value = custom.value + 1
          end,
          undo = function()
            custom.value = custom.value - 1
          end,
        })
      end },
      { "stop filed", function()
        ok(manager:stop_plugin("filed"))
      end },
      { "start filed", function()
        ok(manager:start_plugin("filed"))
      end },
      { "remove app.size", function()
        assert.is_true(manager:config():remove("app.size"))
      end },
      { "load_directory", function()
        for _, result in ipairs(manager:load_directory(root .. "/dir")) do
          ok(result)
        end
      end },
      { "unload filed", function()
        ok(manager:unload_plugin("filed"))
      end },
      { "start idle", function()
        ok(manager:start_plugin("idle"))
      end },
      { "configure idle", function()
        ok(manager:configure_plugin("idle", { mood = "awake" }))
      end },
    }

    before_each(build_world)

    for k = 0, #SEQUENCE do
      local last = k > 0 and SEQUENCE[k][1] or "nothing"
      it(string.format("is undone by a rollback after %d operation(s), up to %s", k, last), function()
        local before = take(manager)
        local tx = tm:begin_transaction()
        for i = 1, k do
          SEQUENCE[i][2](tx)
        end
        if k > 0 then
          assert.are_not.same(before, take(manager))
        end
        ok(tx:rollback())
        assert.are.same(before, take(manager))
        assert.are.equal(0, custom.value)
      end)

      it(string.format("is undone when run's function raises after %d operation(s), up to %s", k, last), function()
        local before = take(manager)
        local line
        local result = tm:run(function(tx)
          for i = 1, k do
            SEQUENCE[i][2](tx)
          end
          line = debug.getinfo(1, "l").currentline + 1
          error("stopped after " .. k)
        end)
        local err = failed(result, "transaction_failed")
        contains(err.message, "stopped after " .. k)
        assert.are.equal(THIS_FILE .. ":" .. line, err.details)
        ok(result.rollback)
        assert.is_nil(tm:current())
        assert.are.same(before, take(manager))
        assert.are.equal(0, custom.value)
      end)
    end

    it("all happens when the transaction commits", function()
      local tx = tm:begin_transaction()
      for i = 1, #SEQUENCE do
        SEQUENCE[i][2](tx)
      end
      local committed = ok(tx:commit())
      assert.are.equal(#tx:operations(), committed.operations)
      assert.are.same({ "idle", "base", "dir_a", "dir_b" }, manager:load_order())
      assert.are.equal("2.0.0", manager:get_plugin("base"):version():to_string())
      assert.are.same({ mode = "strict" }, manager:config():get_table("app"))
      assert.are.equal("awake", manager:get_plugin("idle"):config().mood)
      assert.are.equal(1, custom.value)
    end)
  end)

  describe("run", function()
    it("commits when fn returns and returns fn's results", function()
      local seen
      local a, b = tm:run(function(tx)
        seen = tx
        register("kept")
        assert.are.equal(tx, tm:current())
        return "done", 2
      end)
      assert.are.same({ "done", 2 }, { a, b })
      assert.are.equal("committed", seen:state())
      assert.is_nil(tm:current())
      assert.are.equal("running", manager:get_plugin("kept"):state())
    end)

    it("runs nested in an open transaction as a savepoint, undoing only its part when fn raises", function()
      local outer = tm:begin_transaction()
      register("outer")
      local kept = take(manager)
      local result = tm:run(function(tx)
        assert.are_not.equal(outer, tx)
        register("inner")
        error("inner failed")
      end)
      failed(result, "transaction_failed")
      ok(result.rollback)
      assert.are.equal(outer, tm:current())
      assert.are.same(kept, take(manager))
      assert.are.equal("done", tm:run(function()
        register("second")
        return "done"
      end))
      assert.are.equal(outer, tm:current())
      ok(outer:rollback())
      assert.are.same({}, manager:load_order())
    end)

    it("returns fn's results when fn ended the transaction itself", function()
      local result = tm:run(function(tx)
        register("gone")
        ok(tx:rollback())
        return "rolled back by hand"
      end)
      assert.are.equal("rolled back by hand", result)
      assert.is_nil(manager:get_plugin("gone"))
    end)

    it("returns the failed commit's result when the commit refuses", function()
      local save_to = root .. "/a_file"
      fs.write(save_to, "not a folder")
      local result = tm:run(function()
        register("gone")
        ok(manager:config():save_to_file(save_to .. "/saved.json"))
        return "unreached"
      end)
      assert.is_false(result.success)
      ok(result.rollback)
      assert.is_nil(manager:get_plugin("gone"))
    end)
  end)

  describe("savepoints", function()
    it("rolls back to a savepoint and keeps what came before it, and the transaction stays open", function()
      local config = manager:config()
      register("early")
      config:set("x", 1)
      local before_all = take(manager)
      local tx = tm:begin_transaction()
      register("kept", { config = { extra = false } })
      config:set("x", 2)
      local at_savepoint = take(manager)
      assert.is_true(tx:savepoint("middle"))
      register("dropped", { deps = { { "kept" } } })
      config:set("x", 3)
      ok(manager:unload_plugin("early"))
      ok(manager:configure_plugin("kept", { extra = true }))
      ok(tx:rollback_to("middle"))
      assert.are.equal("active", tx:state())
      assert.are.same(at_savepoint, take(manager))
      -- the savepoint stays: a second round goes back to it again
      config:set("x", 4)
      ok(manager:stop_plugin("kept"))
      ok(tx:rollback_to("middle"))
      assert.are.same(at_savepoint, take(manager))
      ok(tx:rollback())
      assert.are.same(before_all, take(manager))
    end)

    it("commits what is left after a rollback_to", function()
      local config = manager:config()
      local tx = tm:begin_transaction()
      config:set("x", 1)
      tx:savepoint("s")
      config:set("x", 2)
      register("later")
      ok(tx:rollback_to("s"))
      ok(tx:commit())
      assert.are.equal(1, config:get("x"))
      assert.is_nil(manager:get_plugin("later"))
    end)

    it("drops the savepoints set after the one rolled back to", function()
      local tx = tm:begin_transaction()
      register("a")
      tx:savepoint("first")
      register("b")
      tx:savepoint("second")
      register("c")
      ok(tx:rollback_to("first"))
      assert.are.same({ "a" }, manager:load_order())
      local message = raised_at_caller(function() tx:rollback_to("second") end)
      contains(message, "Transaction:rollback_to", 'no savepoint "second"')
      -- the target itself stays
      register("d")
      ok(tx:rollback_to("first"))
      assert.are.same({ "a" }, manager:load_order())
      ok(tx:rollback())
      assert.are.same({}, manager:load_order())
    end)

    it("moves a savepoint whose name is used again", function()
      local tx = tm:begin_transaction()
      register("a")
      tx:savepoint("s")
      register("b")
      tx:savepoint("s")
      register("c")
      ok(tx:rollback_to("s"))
      assert.are.same({ "a", "b" }, manager:load_order())
      ok(tx:rollback())
    end)

    it("keeps a nested transaction's changes in the enclosing one when it commits", function()
      local before = take(manager)
      local outer = tm:begin_transaction()
      register("outer")
      local inner = tm:begin_transaction()
      assert.are_not.equal(outer, inner)
      assert.are.equal(inner, tm:current())
      register("inner")
      ok(inner:commit())
      assert.are.equal("committed", inner:state())
      assert.are.equal(outer, tm:current())
      assert.are.same({ "outer", "inner" }, manager:load_order())
      ok(outer:rollback())
      assert.are.same(before, take(manager))
    end)

    it("undoes only a nested transaction's part when it rolls back", function()
      local outer = tm:begin_transaction()
      register("outer")
      manager:config():set("level", 1)
      local kept = take(manager)
      local inner = tm:begin_transaction()
      register("inner")
      manager:config():set("level", 2)
      ok(manager:stop_plugin("outer"))
      ok(tm:rollback())
      assert.are.equal("rolled_back", inner:state())
      assert.are.equal("active", outer:state())
      assert.are.same(kept, take(manager))
      ok(tm:commit())
      assert.are.equal("committed", outer:state())
      assert.are.same(kept, take(manager))
    end)

    it("ends the nested transactions still open when the enclosing one ends", function()
      local outer = tm:begin_transaction()
      local inner = tm:begin_transaction()
      register("a")
      ok(outer:rollback())
      assert.are.equal("rolled_back", inner:state())
      assert.is_nil(tm:current())
      assert.is_nil(manager:get_plugin("a"))
    end)
  end)

  describe("a PluginTransactionManager made without a manager", function()
    it("covers every PluginManager there is when the transaction begins", function()
      local second = plugins.manager()
      local everyone = PluginTransactionManager()
      register("first_one")
      local before, before_second = take(manager), take(second)
      local seen = plugins.record(second)
      local tx = everyone:begin_transaction()
      ok(manager:unload_plugin("first_one"))
      ok(second:register_plugin(inline("second_one")))
      second:config():set("x", 1)
      assert.are.same({}, seen)
      ok(tx:rollback())
      assert.are.same(before, take(manager))
      assert.are.same(before_second, take(second))
      assert.are.same({}, seen)
      tx = everyone:begin_transaction()
      ok(second:register_plugin(inline("second_one")))
      ok(tx:commit())
      assert.are.same({ "loaded:second_one", "started:second_one" }, seen)
      second:shutdown()
    end)
  end)

  describe("held events and messages", function()
    it("lets the manager's listeners hear nothing while open, and every event in order after commit", function()
      local seen = plugins.record(manager)
      local tx = tm:begin_transaction()
      register("a", { config = { level = 1 } })
      ok(manager:stop_plugin("a"))
      ok(manager:configure_plugin("a", { level = 2 }))
      register("b")
      ok(manager:unload_plugin("b"))
      assert.are.same({}, seen)
      ok(tx:commit())
      assert.are.same({ "loaded:a", "started:a", "stopped:a", "configured:a", "loaded:b", "started:b",
        "unloaded:b" }, seen)
    end)

    it("lets the listeners hear nothing of a transaction rolled back, nor of its undos", function()
      register("a")
      local seen = plugins.record(manager)
      local tx = tm:begin_transaction()
      register("b")
      ok(manager:unload_plugin("a"))
      ok(tx:rollback())
      assert.are.same({}, seen)
      ok(manager:stop_plugin("a"))
      assert.are.same({ "stopped:a" }, seen)
    end)

    it("drops the events of a part rolled back to a savepoint and delivers the rest", function()
      local seen = plugins.record(manager)
      local tx = tm:begin_transaction()
      register("a")
      tx:savepoint("s")
      register("b")
      ok(tx:rollback_to("s"))
      local inner = tm:begin_transaction()
      register("c")
      ok(inner:rollback())
      register("d")
      ok(tx:commit())
      assert.are.same({ "loaded:a", "started:a", "loaded:d", "started:d" }, seen)
    end)

    it("delivers what the host and plugins publish and post inside after commit, in order", function()
      local bus = manager:bus()
      local got = {}
      bus:subscribe("news.#", function(message)
        got[#got + 1] = message.type .. "=" .. tostring(message.data) .. "@" .. tostring(message.sender)
      end)
      local tx = tm:begin_transaction()
      bus:publish("news.one", 1)
      assert.is_true(bus:post("news.posted", 2))
      register("speaker", { hooks = { on_start = function(ctx)
        ctx.bus:publish("news.two", 3)
        ctx.bus:post("news.later", 4)
      end } })
      bus:publish("news.three", 5)
      bus:flush()
      manager:update_all_plugins(0.01)
      assert.are.same({}, got)
      ok(tx:commit())
      assert.are.same({ "news.one=1@nil", "news.two=3@speaker", "news.three=5@nil" }, got)
      bus:flush()
      assert.are.same({ "news.one=1@nil", "news.two=3@speaker", "news.three=5@nil", "news.posted=2@nil",
        "news.later=4@speaker" }, got)
    end)

    it("broadcasts what was published or posted inside with headers only after commit, headers kept", function()
      local bus = manager:bus()
      local out = {}
      bus:on_broadcast(function(message)
        out[#out + 1] = message.type .. "#" .. tostring(message.headers.n)
      end)
      local tx = tm:begin_transaction()
      bus:publish("cast.now", 1, { broadcast = true, n = 1 })
      bus:post("cast.later", 2, { broadcast = true, n = 2 })
      bus:flush()
      assert.are.same({}, out)
      ok(tx:commit())
      assert.are.same({ "cast.now#1" }, out)
      bus:flush()
      assert.are.same({ "cast.now#1", "cast.later#2" }, out)
    end)

    it("never delivers what was published or posted inside a transaction rolled back", function()
      local bus = manager:bus()
      local got = {}
      bus:subscribe("news.#", function(message)
        got[#got + 1] = message.type
      end)
      local tx = tm:begin_transaction()
      bus:publish("news.one", 1)
      bus:post("news.two", 2)
      register("speaker", { hooks = { on_start = function(ctx)
        ctx.bus:publish("news.three", 3)
      end } })
      ok(tx:rollback())
      bus:flush()
      manager:update_all_plugins(0.01)
      assert.are.same({}, got)
      bus:publish("news.after", 4)
      assert.are.same({ "news.after" }, got)
    end)

    it("drops the messages of a part rolled back to a savepoint", function()
      local bus = manager:bus()
      local got = {}
      bus:subscribe("news.#", function(message)
        got[#got + 1] = message.type
      end)
      local tx = tm:begin_transaction()
      bus:publish("news.kept", 1)
      tx:savepoint("s")
      bus:publish("news.dropped", 2)
      bus:post("news.dropped_post", 3)
      ok(tx:rollback_to("s"))
      bus:publish("news.also_kept", 4)
      ok(tx:commit())
      bus:flush()
      assert.are.same({ "news.kept", "news.also_kept" }, got)
    end)

    it("delivers what a plugin published before it was unloaded in the same transaction", function()
      local got = {}
      manager:bus():subscribe("news.#", function(message)
        got[#got + 1] = message.type .. "@" .. tostring(message.sender)
      end)
      local tx = tm:begin_transaction()
      register("brief", { hooks = { on_start = function(ctx)
        ctx.bus:publish("news.brief", 1)
      end } })
      ok(manager:unload_plugin("brief"))
      assert.are.same({}, got)
      ok(tx:commit())
      assert.are.same({ "news.brief@brief" }, got)
    end)

    it("still answers a synchronous request inside the transaction", function()
      local bus = manager:bus()
      bus:respond("math.double", function(x)
        return x * 2
      end)
      local tx = tm:begin_transaction()
      local answer
      register("asker", { hooks = { on_start = function(ctx)
        answer = ctx.bus:request("math.double", 4)
      end } })
      local result = bus:request("math.double", 21)
      ok(result)
      assert.are.equal(42, result.value)
      ok(answer)
      assert.are.equal(8, answer.value)
      ok(tx:rollback())
    end)
  end)

  describe("the commit-time invariant", function()
    it("refuses a commit that would leave a running plugin beside a failed dependency, and rolls back", function()
      local broken = false
      register("dep", { hooks = { update = function()
        if broken then
          error("dep broke")
        end
      end } })
      register("app", { deps = { { "dep", "^1" } } })
      local tx = tm:begin_transaction()
      register("extra")
      broken = true
      manager:update_all_plugins(0.01)
      assert.are.equal("failed", manager:get_plugin("dep"):state())
      assert.are.equal("running", manager:get_plugin("app"):state())
      local result = tx:commit()
      local err = failed(result, "invariant_violated")
      contains(err.details, "app", "dep")
      assert.are.equal(1, #result.violations)
      ok(result.rollback)
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(tm:current())
      assert.is_nil(manager:get_plugin("extra"))
    end)

    it("commits when the dependency was already failed before the transaction began", function()
      local broken = false
      register("dep", { hooks = { update = function()
        if broken then
          error("dep broke")
        end
      end } })
      register("app", { deps = { { "dep", "^1" } } })
      broken = true
      manager:update_all_plugins(0.01)
      assert.are.equal("failed", manager:get_plugin("dep"):state())
      local tx = tm:begin_transaction()
      register("extra")
      ok(tx:commit())
      assert.are.equal("running", manager:get_plugin("extra"):state())
    end)
  end)

  describe("timeouts", function()
    it("rolls back a transaction open past its timeout on the next update, and says so in an event", function()
      tm = PluginTransactionManager(manager, { timeout = 0.05 })
      local before = take(manager)
      local tx = tm:begin_transaction()
      register("late")
      manager:config():set("x", 1)
      sleep(0.3)
      -- nothing happens without a poll
      assert.are.equal("active", tx:state())
      local _, events = plugins.record(manager)
      manager:update_all_plugins(0.3)
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(tm:current())
      assert.are.same(before, take(manager))
      assert.are.equal(1, #events)
      local event = events[1]
      assert.are.equal("transaction_timeout", event.type)
      assert.are.equal(tx.id, event.transaction)
      ok(event.rollback)
      assert.are.equal("timeout", event.error.code)
      local message = raised_at_caller(function() tx:commit() end)
      contains(message, "Transaction:commit", "rolled_back")
    end)

    it("takes begin_transaction's timeout over the manager's", function()
      local tx = tm:begin_transaction({ timeout = 0.05, name = "quick" })
      assert.are.equal("quick", tx.name)
      register("late")
      sleep(0.3)
      manager:update_all_plugins(0.3)
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(manager:get_plugin("late"))
    end)

    it("leaves a transaction within its timeout open through updates", function()
      local tx = tm:begin_transaction({ timeout = 3600 })
      register("kept")
      manager:update_all_plugins(0.3)
      manager:update_all_plugins(0.3)
      assert.are.equal("active", tx:state())
      ok(tx:commit())
      assert.are.equal("running", manager:get_plugin("kept"):state())
    end)
  end)

  describe("durability", function()
    it("defers save_to_file to the commit, which writes what it commits", function()
      local config = manager:config()
      local path = root .. "/saved.json"
      local tx = tm:begin_transaction()
      config:set("app.mode", "first")
      local saved = ok(config:save_to_file(path))
      assert.is_true(saved.deferred)
      assert.is_nil(fs.read(path))
      config:set("app.mode", "committed")
      ok(tx:commit())
      local written = ConfigurationManager()
      ok(written:load_from_file(path))
      assert.are.equal("committed", written:get_string("app.mode"))
      -- after the transaction, a save is written at once
      local direct = ok(config:save_to_file(root .. "/direct.json"))
      assert.is_nil(direct.deferred)
      assert.is_string(fs.read(root .. "/direct.json"))
    end)

    it("never writes a save made inside a transaction rolled back", function()
      local path = root .. "/saved.json"
      local tx = tm:begin_transaction()
      manager:config():set("app.mode", "never")
      assert.is_true(ok(manager:config():save_to_file(path)).deferred)
      ok(tx:rollback())
      assert.is_nil(fs.read(path))
    end)

    it("rolls the transaction back when a deferred save cannot be written", function()
      fs.write(root .. "/a_file", "not a folder")
      local tx = tm:begin_transaction()
      register("gone")
      manager:config():set("app.mode", "never")
      ok(manager:config():save_to_file(root .. "/a_file/saved.json"))
      local result = tx:commit()
      assert.is_false(result.success)
      assert.is_true(qtforge.Error.is(result.error))
      ok(result.rollback)
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(manager:get_plugin("gone"))
      assert.is_nil(manager:config():get("app.mode"))
    end)
    -- (a regression test: the files written before the one that failed stayed)
    it("writes none of the saves when one of them cannot be written, and leaves older files as they were", function()
      fs.write(root .. "/a_file", "not a folder")
      local new, old = root .. "/new.json", root .. "/old.json"
      fs.write(old, '{"app": {"mode": "old"}}\n')
      local tx = tm:begin_transaction()
      manager:config():set("app.mode", "never")
      ok(manager:config():save_to_file(new))
      ok(manager:config():save_to_file(old))
      ok(manager:config():save_to_file(root .. "/a_file/saved.json"))
      assert.is_false(tx:commit().success)
      assert.are.equal("rolled_back", tx:state())
      assert.is_nil(fs.read(new))
      assert.are.equal('{"app": {"mode": "old"}}\n', fs.read(old))
    end)

    -- (a regression test: such saves were once written at commit)
    it("never writes a save made in a part rolled back to a savepoint or by a nested rollback", function()
      local config = manager:config()
      local first, second = root .. "/first.json", root .. "/second.json"
      local tx = tm:begin_transaction()
      config:set("app.mode", "kept")
      tx:savepoint("s")
      ok(config:save_to_file(first))
      ok(tx:rollback_to("s"))
      local inner = tm:begin_transaction()
      ok(config:save_to_file(second))
      ok(inner:rollback())
      ok(tx:commit())
      assert.are.equal("kept", config:get_string("app.mode"))
      assert.is_nil(fs.read(first))
      assert.is_nil(fs.read(second))
    end)
  end)

  describe("failing undos", function()
    it("reports each failing undo with its operation and error, and still runs the others", function()
      local before = take(manager)
      local undone = {}
      local tx = tm:begin_transaction()
      register("a")
      tx:add_operation({ name = "raising", apply = function() end, undo = function()
        error("undo exploded", 0)
      end })
      manager:config():set("x", 1)
      tx:add_operation({ name = "refusing", apply = function() end, undo = function()
        return nil, "not today"
      end })
      tx:add_operation({ name = "fine", apply = function() end, undo = function()
        undone[#undone + 1] = "fine"
        return true
      end })
      local result = tx:rollback()
      local err = failed(result, "rollback_incomplete")
      contains(err.message, "2 of the undos failed")
      contains(err.details, "refusing", "not today", "raising", "undo exploded")
      assert.are.equal(2, #result.failures)
      assert.are.equal("refusing", result.failures[1].operation)
      contains(tostring(result.failures[1].error), "not today")
      assert.are.equal("raising", result.failures[2].operation)
      contains(tostring(result.failures[2].error), "undo exploded")
      assert.are.same({ "fine" }, undone)
      assert.are.equal("rolled_back", tx:state())
      assert.are.same(before, take(manager))
    end)

    it("reports a start or stop undo that fails, not only one that raises", function()
      local refuse = false
      register("moody", { hooks = { on_start = function()
        if refuse then
          error("will not start", 0)
        end
      end } })
      local tx = tm:begin_transaction()
      ok(manager:stop_plugin("moody"))
      refuse = true
      local result = tx:rollback()
      failed(result, "rollback_incomplete")
      assert.are.equal(1, #result.failures)
      assert.are.equal("stop_plugin", result.failures[1].operation)
      assert.are.equal("moody", result.failures[1].plugin_id)
      contains(tostring(result.failures[1].error), "will not start")
      assert.are.equal("failed", manager:get_plugin("moody"):state())
    end)

    it("names the plugin of an undo that failed, and leaves that plugin failed", function()
      local loads = 0
      register("once", { hooks = { on_load = function()
        loads = loads + 1
        if loads > 1 then
          error("only once", 0)
        end
      end } })
      register("other")
      local tx = tm:begin_transaction()
      ok(manager:unload_plugin("once"))
      ok(manager:unload_plugin("other"))
      local result = tx:rollback()
      local err = failed(result, "rollback_incomplete")
      contains(err.details, "unload_plugin once", "only once")
      assert.are.equal(1, #result.failures)
      assert.are.equal("unload_plugin", result.failures[1].operation)
      assert.are.equal("once", result.failures[1].plugin_id)
      contains(tostring(result.failures[1].error), "only once")
      assert.are.same({ "once", "other" }, manager:load_order())
      assert.are.equal("failed", manager:get_plugin("once"):state())
      assert.are.equal("running", manager:get_plugin("other"):state())
    end)
  end)

  describe("the seed's example", function()
    -- the first ```lua block of docs/transactions.md, in three parts: the
    -- setup, the begin/pcall/commit/rollback example, the run example
    local function doc_parts()
      local text = assert(fs.read(DOCS), "cannot read " .. DOCS)
      local block = assert(text:match("```lua\n(.-)```"), "no lua block in " .. DOCS)
      local seed_at = assert(block:find("-- the seed's example", 1, true))
      local run_at = assert(block:find("-- or, instead, with run", 1, true))
      local paths = '"' .. root .. '/plugins/'
      local function fix(part)
        return (part:gsub('"plugins/', paths))
      end
      return fix(block:sub(1, seed_at - 1)), fix(block:sub(seed_at, run_at - 1)), fix(block:sub(run_at))
    end

    local function run_doc(code)
      local printed = {}
      local env = setmetatable({ manager = manager, print = function(...)
        printed[#printed + 1] = table.concat({ ... }, " ")
      end }, { __index = _G })
      local chunk = assert(load(code, "=docs/transactions.md", "t", env))
      return printed, chunk()
    end

    local function write_plugins(refuse)
      plugins.folder(root .. "/plugins", "auth", {})
      plugins.folder(root .. "/plugins", "ratelimit", {
        config = "per_minute = 60\n",
        source = refuse and "return { on_configure = function() error('refused') end }\n" or nil,
      })
    end

    it("commits both loads and the configuration, with a PluginTransactionManager made without a manager", function()
      write_plugins(false)
      local setup, seed = doc_parts()
      contains(setup, "PluginTransactionManager()")
      local printed = run_doc(setup .. seed)
      assert.are.same({}, printed)
      assert.are.same({ "auth", "ratelimit" }, manager:load_order())
      assert.are.equal(600, manager:get_plugin("ratelimit"):config().per_minute)
    end)

    it("rolls back and prints the failure when a step fails", function()
      write_plugins(true)
      local setup, seed = doc_parts()
      local seen = plugins.record(manager)
      local printed = run_doc(setup .. seed)
      assert.are.equal(1, #printed)
      contains(printed[1], "Transaction failed: ")
      assert.are.same({}, manager:load_order())
      assert.are.same({}, seen)
    end)

    it("runs the run() form, which commits and returns fn's result", function()
      write_plugins(false)
      local setup, _, run = doc_parts()
      local printed, result = run_doc(setup .. run .. "\nreturn result\n")
      assert.are.same({}, printed)
      assert.are.equal("done", result)
      assert.are.same({ "auth" }, manager:load_order())
      assert.are.equal("strict", manager:config():get_string("gateway.mode"))
    end)
  end)

  describe("misuse", function()
    local function check(fn, ...)
      local message = raised_at_caller(fn)
      contains(message, ...)
      return message
    end

    it("names the PluginTransactionManager constructor's bad arguments", function()
      check(function() PluginTransactionManager(42) end, "PluginTransactionManager", "argument 'manager'", "number")
      check(function() PluginTransactionManager(manager, 5) end, "PluginTransactionManager", "'opts'", "number")
      check(function() PluginTransactionManager(manager, { timeout = "1" }) end, "option 'timeout'", '"1"')
      check(function() PluginTransactionManager({ timeout = 0 }) end, "option 'timeout'", "positive number")
      check(function() PluginTransactionManager({ timeout = -1 }) end, "option 'timeout'", "positive number")
      check(function() PluginTransactionManager({ timeout = 0 / 0 }) end, "option 'timeout'", "positive number")
      check(function() PluginTransactionManager({ wait = 1 }) end, "unknown option", '"wait"', "timeout")
      check(function() PluginTransactionManager.new(manager, { timeout = false }) end, "option 'timeout'", "boolean")
      assert.are.equal("qtforge.transactions.PluginTransactionManager(0 open)", tostring(PluginTransactionManager()))
    end)

    it("names each PluginTransactionManager method called with '.' or on something else", function()
      for _, name in ipairs({ "begin_transaction", "commit", "rollback", "run", "current" }) do
        local fn = tm[name]
        check(function() fn() end, "PluginTransactionManager:" .. name, "call it with ':'", "got nil")
        check(function() fn({}) end, "PluginTransactionManager:" .. name, "call it with ':'", "got table")
        check(function() fn(manager) end, "PluginTransactionManager:" .. name, "call it with ':'")
      end
    end)

    it("names begin_transaction's bad options", function()
      check(function() tm:begin_transaction(1) end, "PluginTransactionManager:begin_transaction", "'opts'", "number")
      check(function() tm:begin_transaction({ timeout = -2 }) end, "begin_transaction", "option 'timeout'",
        "positive number")
      check(function() tm:begin_transaction({ name = 3 }) end, "begin_transaction", "option 'name'", "number")
      check(function() tm:begin_transaction({ nested = true }) end, "begin_transaction", "unknown option")
      assert.is_nil(tm:current())
    end)

    it("refuses commit and rollback with no transaction open", function()
      check(function() tm:commit() end, "PluginTransactionManager:commit", "no transaction is open")
      check(function() tm:rollback() end, "PluginTransactionManager:rollback", "no transaction is open")
      local tx = tm:begin_transaction()
      ok(tx:commit())
      check(function() tm:commit() end, "PluginTransactionManager:commit", "no transaction is open")
    end)

    -- (a regression test: run once raised these from inside transaction.lua,
    -- naming begin_transaction)
    it("names run's bad arguments", function()
      check(function() tm:run() end, "PluginTransactionManager:run", "argument 'fn'", "nil")
      check(function() tm:run("fn") end, "PluginTransactionManager:run", "argument 'fn'", '"fn"')
      check(function() tm:run(function() end, 7) end, "PluginTransactionManager:run", "'opts'", "number")
      check(function() tm:run(function() end, { timeout = 0 }) end, "PluginTransactionManager:run", "'timeout'")
      assert.is_nil(tm:current())
    end)

    it("refuses to begin on a manager whose transaction belongs to another transaction manager", function()
      local other = PluginTransactionManager(manager)
      local everyone = PluginTransactionManager()
      local tx = tm:begin_transaction()
      check(function() other:begin_transaction() end, "PluginTransactionManager:begin_transaction",
        "another PluginTransactionManager")
      check(function() everyone:begin_transaction() end, "PluginTransactionManager:begin_transaction",
        "another PluginTransactionManager")
      assert.is_nil(other:current())
      assert.are.equal(tx, tm:current())
      ok(tx:rollback())
      -- once it ends, the other may begin
      local next_tx = other:begin_transaction()
      ok(next_tx:rollback())
    end)

    it("refuses run on a manager whose transaction belongs to another transaction manager", function()
      local other = PluginTransactionManager(manager)
      tm:begin_transaction()
      check(function() other:run(function() end) end, "PluginTransactionManager:run",
        "another PluginTransactionManager")
    end)

    it("names each Transaction method called with '.' or on something else", function()
      local tx = tm:begin_transaction()
      for _, name in ipairs({ "commit", "rollback", "state", "savepoint", "rollback_to", "add_operation",
        "operations" }) do
        local fn = tx[name]
        check(function() fn() end, "Transaction:" .. name, "call it with ':'", "got nil")
        check(function() fn(tm) end, "Transaction:" .. name, "call it with ':'", "got table")
      end
      assert.are.equal("active", tx:state())
    end)

    it("names the bad arguments of savepoint, rollback_to and add_operation", function()
      local tx = tm:begin_transaction()
      check(function() tx:savepoint() end, "Transaction:savepoint", "argument 'name'", "nil")
      check(function() tx:savepoint("") end, "Transaction:savepoint", "argument 'name'", "non-empty")
      check(function() tx:rollback_to(1) end, "Transaction:rollback_to", "argument 'name'", "number")
      check(function() tx:rollback_to("nowhere") end, "Transaction:rollback_to", 'no savepoint "nowhere"')
      check(function() tx:add_operation() end, "Transaction:add_operation", "argument 'operation'", "nil")
      check(function() tx:add_operation({ apply = print, undo = print }) end, "Transaction:add_operation",
        "field 'name'")
      check(function() tx:add_operation({ name = "x", undo = print }) end, "Transaction:add_operation",
        "field 'apply'", "nil")
      check(function() tx:add_operation({ name = "x", apply = print, undo = "no" }) end,
        "Transaction:add_operation", "field 'undo'", '"no"')
      assert.are.same({}, tx:operations())
    end)

    it("refuses every change to a transaction that has ended: committing twice, rolling back after", function()
      local tx = tm:begin_transaction()
      ok(tx:commit())
      check(function() tx:commit() end, "Transaction:commit", "is committed")
      check(function() tx:rollback() end, "Transaction:rollback", "is committed")
      check(function() tx:savepoint("s") end, "Transaction:savepoint", "is committed")
      check(function() tx:rollback_to("s") end, "Transaction:rollback_to", "is committed")
      check(function() tx:add_operation({ name = "x", apply = print, undo = print }) end,
        "Transaction:add_operation", "is committed")
      assert.are.equal("committed", tx:state())
      local rolled = tm:begin_transaction()
      ok(rolled:rollback())
      check(function() rolled:rollback() end, "Transaction:rollback", "is rolled_back")
      check(function() rolled:commit() end, "Transaction:commit", "is rolled_back")
    end)

    it("names a Transaction and a PluginTransactionManager in tostring", function()
      local tx = tm:begin_transaction()
      contains(tostring(tx), "qtforge.transactions.Transaction(", "active")
      contains(tostring(tm), "qtforge.transactions.PluginTransactionManager(1 open)")
      ok(tx:rollback())
      contains(tostring(tx), "rolled_back")
    end)
  end)
end)
