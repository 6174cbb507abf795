-- qtforge.communication with real plugins: each plugin's ctx.bus on the
-- manager's bus, its id as the sender, everything it subscribed, answered and
-- provided removed when it unloads (or fails to load, or is replaced by a
-- reload), a closed bus after unload, delivery on update_all_plugins, and
-- handler errors kept to the plugin that raised them.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local communication = qtforge.communication
local MessageBus = communication.MessageBus
local Message = communication.Message
local ServiceContract = communication.ServiceContract
local Error = qtforge.Error

local contains, failed = plugins.contains, plugins.failed

local CALC = {
  name = "calc",
  version = "1.0.0",
  methods = { add = { params = { "number", "number" }, returns = { "number" } } },
}

local CALC_IMPL = {
  add = function(_, a, b)
    return a + b
  end,
}

-- An inline plugin `id` with the given hooks; `manifest` adds manifest fields.
local function inline(id, hooks, manifest)
  local plugin = { manifest = { name = id, version = "1.0.0" } }
  for k, v in pairs(manifest or {}) do
    plugin.manifest[k] = v
  end
  for k, v in pairs(hooks or {}) do
    plugin[k] = v
  end
  return plugin
end

-- Registers `plugin` on `manager` and asserts it loaded.
local function register(manager, plugin, opts)
  local result = manager:register_plugin(plugin, opts)
  assert.is_true(result.success, tostring(result.error))
  return result
end

-- Calls fn(...) expecting a qtforge.Error of `code`; returns it.
local function raises_error(code, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(Error.is(err), "not a qtforge.Error: " .. tostring(err))
  assert.are.equal(code, err.code, tostring(err))
  return err
end

-- What the bus holds, to compare before and after a plugin's life.
local function snapshot(bus)
  local rr = bus:request_response()
  local contracts = {}
  for i, entry in ipairs(rr:contracts()) do
    contracts[i] = { entry.name, entry.version:to_string(), entry.provided, entry.plugin_id }
  end
  return {
    subscriptions = bus:subscriber_count(),
    on_ab = bus:subscriber_count("a.b"),
    on_deep = bus:subscriber_count("a.x.y"),
    topics = bus:topics(),
    responders = rr:responders(),
    calc = bus:has_provider("calc"),
    contracts = contracts,
    stats_subscriptions = bus:stats().subscriptions,
  }
end

-- Publishes "ping" with a fresh log table on `bus` and returns the log: each
-- handler that runs appends to it.
local function ping(bus)
  local log = {}
  bus:publish("ping", log)
  return log
end

describe("ctx.bus", function()
  local manager, host

  before_each(function()
    manager = plugins.manager()
    host = manager:bus()
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("is each plugin's own view of the manager's bus", function()
    local seen = {}
    local function keep(ctx)
      seen[ctx.id] = ctx.bus
    end
    register(manager, inline("one", { on_load = keep }))
    register(manager, inline("two", { on_load = keep }))
    assert.are_not.equal(seen.one, seen.two)
    assert.are_not.equal(host, seen.one)
    assert.are.equal("qtforge.communication.PluginBus(one)", tostring(seen.one))
    assert.are.equal(communication.STOP, seen.one.STOP)
    assert.are.equal(host, manager:bus())
    assert.are.equal("qtforge.communication.MessageBus", getmetatable(host).__name)
  end)

  it("delivers what one plugin publishes in on_start to another's subscription from on_load", function()
    local got = {}
    local subscription
    register(manager, inline("listener", {
      on_load = function(ctx)
        subscription = ctx.bus:subscribe("news.#", function(message)
          got[#got + 1] = { message.type, message.data, message.sender }
        end)
      end,
    }))
    assert.are.equal("listener", subscription.owner_id)
    register(manager, inline("speaker", {
      on_start = function(ctx)
        assert.are.equal(1, ctx.bus:publish("news.today", "hello"))
      end,
    }))
    assert.are.same({ { "news.today", "hello", "speaker" } }, got)
    -- the host publishes without a sender
    host:publish("news.host", 1)
    assert.are.same({ "news.host", 1 }, { got[2][1], got[2][2] })
    assert.is_nil(got[2][3])
  end)

  it("sets the sender on publish(Message) and on post, and a plugin cannot forge it", function()
    local got = {}
    register(manager, inline("listener", {
      on_load = function(ctx)
        ctx.bus:subscribe("news.#", function(message)
          got[#got + 1] = { message.type, message.data, message.sender }
        end)
      end,
    }))
    register(manager, inline("speaker", {
      on_start = function(ctx)
        ctx.bus:publish(Message({ type = "news.object", data = 1, sender = "listener" }))
        assert.is_true(ctx.bus:post("news.posted", 2))
        assert.is_true(ctx.bus:post(Message({ type = "news.posted_object", data = 3, sender = "host" })))
        ctx.bus:publish("news.plain", 4)
      end,
    }))
    assert.are.same({ { "news.object", 1, "speaker" }, { "news.plain", 4, "speaker" } }, got)
    host:flush()
    assert.are.same({
      { "news.object", 1, "speaker" },
      { "news.plain", 4, "speaker" },
      { "news.posted", 2, "speaker" },
      { "news.posted_object", 3, "speaker" },
    }, got)
  end)

  it("gives a request the asking plugin's id as its sender", function()
    register(manager, inline("answerer", {
      on_load = function(ctx)
        ctx.bus:respond("who.asks", function(_, request)
          return request.sender
        end)
      end,
    }))
    local answers = {}
    register(manager, inline("asker", {
      on_start = function(ctx)
        answers.sync = ctx.bus:request("who.asks").value
        ctx.bus:request_async("who.asks", nil, function(result)
          answers.async = result.value
        end)
      end,
    }))
    manager:update_all_plugins(0)
    assert.are.same({ sync = "asker", async = "asker" }, answers)
    assert.is_nil(host:request("who.asks").value)
  end)

  it("reaches the same subscriptions, responders and services as the manager's bus", function()
    local view
    register(manager, inline("peer", {
      on_load = function(ctx)
        view = ctx.bus
      end,
    }))
    host:subscribe("x.y", function() end)
    host:provide(ServiceContract(CALC), CALC_IMPL)
    host:respond("host.ping", function()
      return "pong"
    end)
    assert.are.equal(1, view:subscriber_count())
    assert.are.equal(1, view:subscriber_count("x.y"))
    assert.are.same({ "x.y" }, view:topics())
    assert.is_true(view:has_provider("calc", "^1"))
    assert.are.equal(5, view:service("calc"):add(2, 3))
    assert.are.equal("pong", view:request("host.ping").value)
    assert.are.equal(host:stats().subscriptions, view:stats().subscriptions)
  end)
end)

describe("what a plugin made goes when it unloads", function()
  local manager, host

  before_each(function()
    manager = plugins.manager()
    host = manager:bus()
    -- the host has things of its own on the bus, which must stay
    host:subscribe("a.b", function() end)
    host:respond("host.ping", function()
      return "pong"
    end)
    host:register_contract(ServiceContract({ name = "host.svc", version = "3.0.0", methods = { go = {} } }))
  end)

  after_each(function()
    manager:shutdown()
  end)

  -- A plugin that subscribes (exact and wildcard), responds, provides calc and
  -- registers a contract of its own.
  local function owner(id, manifest, contract)
    return inline(id, {
      on_load = function(ctx)
        ctx.bus:subscribe("a.b", function() end)
        ctx.bus:subscribe("a.#", function() end)
        ctx.bus:subscribe("a.*.y", function() end, { priority = 5 })
        ctx.bus:respond(id .. ".ping", function()
          return id
        end)
        ctx.bus:provide(contract or ServiceContract(CALC), CALC_IMPL)
        ctx.bus:register_contract(ServiceContract({ name = id .. ".extra", version = "1.0.0", methods = { go = {} } }))
      end,
      on_start = function(ctx)
        ctx.bus:subscribe("a.b", function() end, { once = true })
      end,
    }, manifest)
  end

  -- A plugin that holds a proxy of calc ^1 from its on_load.
  local function consumer()
    local box = {}
    return inline("consumer", {
      on_load = function(ctx)
        box.calc = ctx.bus:service("calc", "^1")
      end,
    }), box
  end

  it("leaves subscriptions, responders, providers and contracts as they were before it loaded", function()
    local plugin, box = consumer()
    register(manager, plugin)
    local before = snapshot(host)
    register(manager, owner("owner"))
    local loaded = snapshot(host)
    assert.are.equal(before.subscriptions + 4, loaded.subscriptions)
    assert.are.equal(before.on_ab + 3, loaded.on_ab)
    assert.are.equal(before.on_deep + 2, loaded.on_deep)
    assert.are.same({ "host.ping", "owner.ping" }, loaded.responders)
    assert.is_true(loaded.calc)
    assert.are.same({
      { "calc", "1.0.0", true, "owner" },
      { "host.svc", "3.0.0", false, nil },
      { "owner.extra", "1.0.0", false, "owner" },
    }, loaded.contracts)
    assert.are.equal(3, box.calc:add(1, 2))
    assert.are.equal("owner", host:request("owner.ping").value)

    local result = manager:unload_plugin("owner")
    assert.is_true(result.success, tostring(result.error))
    assert.are.same(before, snapshot(host))
    assert.are.same({ "a.b" }, host:topics())
    raises_error("service_unavailable", function()
      return box.calc:add(1, 2)
    end)
    failed(host:request("owner.ping"), "no_responder")
    assert.are.equal("pong", host:request("host.ping").value)
    assert.are.equal(1, host:publish("a.b", nil))
  end)

  it("cleans up the same on shutdown", function()
    local before = snapshot(host)
    register(manager, owner("owner"))
    manager:shutdown()
    assert.are.same(before, snapshot(host))
  end)

  it("lets the next plugin take the same responder and service after an unload", function()
    register(manager, owner("owner"))
    manager:unload_plugin("owner")
    local result = manager:register_plugin(inline("heir", {
      on_load = function(ctx)
        ctx.bus:respond("owner.ping", function()
          return "heir"
        end)
        ctx.bus:provide(ServiceContract(CALC), CALC_IMPL)
      end,
    }))
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("heir", host:request("owner.ping").value)
    assert.are.equal(4, host:service("calc"):add(2, 2))
  end)

  it("keeps a contract listed while another plugin still provides it", function()
    -- both plugins use one contract object, as plugins sharing a contracts module do
    local contract = ServiceContract(CALC)
    register(manager, inline("declarer", {
      on_load = function(ctx)
        ctx.bus:register_contract(contract)
      end,
    }))
    register(manager, inline("provider", {
      on_load = function(ctx)
        ctx.bus:provide(contract, CALC_IMPL)
      end,
    }))
    manager:unload_plugin("declarer")
    assert.is_true(host:has_provider("calc"))
    local listed = {}
    for _, entry in ipairs(host:request_response():contracts()) do
      listed[#listed + 1] = { entry.name, entry.version:to_string(), entry.provided }
    end
    assert.are.same({ { "calc", "1.0.0", true }, { "host.svc", "3.0.0", false } }, listed)
  end)

  describe("with retain_contracts_on_unload", function()
    it("keeps the contract listed, not provided, while the provider is gone", function()
      local plugin, box = consumer()
      register(manager, plugin)
      register(manager, owner("owner", { retain_contracts_on_unload = true }))
      manager:unload_plugin("owner")
      local listed = {}
      for i, entry in ipairs(host:request_response():contracts()) do
        listed[i] = { entry.name, entry.version:to_string(), entry.provided }
      end
      assert.are.same({
        { "calc", "1.0.0", false },
        { "host.svc", "3.0.0", false },
        { "owner.extra", "1.0.0", false },
      }, listed)
      assert.is_false(host:has_provider("calc"))
      raises_error("service_unavailable", function()
        return box.calc:add(1, 2)
      end)
      -- subscriptions and responders go all the same
      assert.are.equal(1, host:subscriber_count())
      assert.are.same({ "host.ping" }, host:request_response():responders())
    end)

    it("brings the service back with a new provider of the retained contract", function()
      local plugin, box = consumer()
      register(manager, plugin)
      register(manager, owner("owner", { retain_contracts_on_unload = true }))
      manager:unload_plugin("owner")
      local retained = host:request_response():contracts()[1].contract
      register(manager, inline("heir", {
        on_load = function(ctx)
          ctx.bus:provide(retained, CALC_IMPL)
        end,
      }))
      assert.are.equal(9, box.calc:add(4, 5))
      assert.is_true(host:request_response():contracts()[1].provided)
    end)

    it("brings the service back with a new provider that builds the same contract itself", function()
      -- a plugin cannot reach the retained contract object through ctx.bus: it
      -- builds the contract from its definition, as the first provider did
      local plugin, box = consumer()
      register(manager, plugin)
      register(manager, owner("owner", { retain_contracts_on_unload = true }))
      manager:unload_plugin("owner")
      local result = manager:register_plugin(inline("heir", {
        on_load = function(ctx)
          ctx.bus:provide(ServiceContract(CALC), CALC_IMPL)
        end,
      }))
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal(9, box.calc:add(4, 5))
      assert.is_true(host:request_response():contracts()[1].provided)
    end)
  end)
end)

describe("failed loads and reloads", function()
  local root, manager, host

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    host = manager:bus()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  -- init.lua of a folder plugin whose on_load subscribes "ping" (each handler
  -- appends `tag` to the message's log) and `extra` more; `fail` names a hook that raises.
  local function source(tag, extra, fail)
    return string.format([[
local plugin = {}
function plugin.on_load(ctx)
  ctx.bus:subscribe("ping", function(message)
    local log = message.data
    log[#log + 1] = %q .. " " .. ctx.version:to_string()
  end)
  for _, pattern in ipairs(%s) do
    ctx.bus:subscribe(pattern, function() end)
  end
  ctx.bus:respond(%q, function() return %q end)
  if %q == "on_load" then error("on_load refused") end
end
function plugin.on_start(ctx)
  if %q == "on_start" then error("on_start refused") end
end
return plugin
]], tag, extra and ("{ " .. string.format("%q", extra) .. " }") or "{}", tag .. ".who", tag, tostring(fail),
      tostring(fail))
  end

  local function write(version, tag, extra, fail)
    return plugins.folder(root, "pinger", { version = version, source = source(tag, extra, fail),
      capabilities = { "bus:subscribe" } })
  end

  for _, hook in ipairs({ "on_load", "on_start" }) do
    it("leaves nothing subscribed when " .. hook .. " fails after subscribing", function()
      local path = write("1.0.0", "v1", "other.topic", hook)
      local result = manager:load_plugin(path)
      local err = failed(result, "load_error")
      contains(err.message, hook, hook .. " refused")
      assert.are.equal(0, host:subscriber_count())
      assert.are.same({}, host:topics())
      assert.are.same({}, host:request_response():responders())
      assert.are.same({}, ping(host))
    end)
  end

  it("leaves nothing of an inline plugin whose on_start fails after it subscribed, answered and provided", function()
    local result = manager:register_plugin(inline("flaky", {
      on_load = function(ctx)
        ctx.bus:subscribe("ping", function() end)
        ctx.bus:respond("flaky.who", function() end)
        ctx.bus:provide(ServiceContract(CALC), CALC_IMPL)
      end,
      on_start = function()
        error("no start")
      end,
    }))
    failed(result, "load_error")
    assert.are.equal(0, host:subscriber_count())
    assert.are.same({}, host:request_response():responders())
    assert.is_false(host:has_provider("calc"))
    assert.are.same({}, host:request_response():contracts())
  end)

  it("after a reload, has the new version's subscriptions and none of the old one's", function()
    write("1.0.0", "v1", "old.only")
    assert.is_true(manager:load_plugin(root .. "/pinger").success)
    assert.are.same({ "v1 1.0.0" }, ping(host))
    assert.are.same({ "v1.who" }, host:request_response():responders())
    write("2.0.0", "v2", "new.only")
    local result = manager:reload_plugin("pinger")
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("2.0.0", manager:get_plugin("pinger"):version():to_string())
    assert.are.same({ "v2 2.0.0" }, ping(host))
    assert.are.equal(1, host:subscriber_count("ping"))
    assert.are.equal(0, host:subscriber_count("old.only"))
    assert.are.equal(1, host:subscriber_count("new.only"))
    assert.are.same({ "new.only", "ping" }, host:topics())
    assert.are.same({ "v2.who" }, host:request_response():responders())
    manager:unload_plugin("pinger")
    assert.are.equal(0, host:subscriber_count())
  end)

  it("after a failed reload, has the old version's subscriptions working again, once", function()
    write("1.0.0", "v1", "old.only")
    assert.is_true(manager:load_plugin(root .. "/pinger").success)
    write("2.0.0", "v2", "new.only", "on_start")
    local result = manager:reload_plugin("pinger")
    contains(failed(result, "load_error").message, "on_start refused")
    local plugin = manager:get_plugin("pinger")
    assert.are.equal("running", plugin:state())
    assert.are.equal("1.0.0", plugin:version():to_string())
    assert.are.same({ "v1 1.0.0" }, ping(host))
    assert.are.equal(1, host:subscriber_count("ping"))
    assert.are.equal(1, host:subscriber_count("old.only"))
    assert.are.equal(0, host:subscriber_count("new.only"))
    assert.are.same({ "old.only", "ping" }, host:topics())
    assert.are.same({ "v1.who" }, host:request_response():responders())
    assert.are.equal("v1", host:request("v1.who").value)
    -- what the old version got back is its own: it goes when the plugin unloads
    manager:unload_plugin("pinger")
    assert.are.equal(0, host:subscriber_count())
    assert.are.same({}, host:request_response():responders())
  end)

  it("reloads a plugin that provides a service and retains its contracts", function()
    local provider_source = [[
local plugin = {}
function plugin.on_load(ctx)
  local ServiceContract = ctx.require("qtforge").communication.ServiceContract
  local contract = ServiceContract({ name = "calc", version = "1.0.0",
    methods = { add = { params = { "number", "number" }, returns = { "number" } } } })
  ctx.bus:provide(contract, { add = function(_, a, b) return a + b + %d end })
end
return plugin
]]
    local spec = { lines = "retain_contracts_on_unload = true\n", capabilities = { "bus:subscribe" },
      source = provider_source:format(0) }
    plugins.folder(root, "adder", spec)
    assert.is_true(manager:load_plugin(root .. "/adder").success)
    local calc = host:service("calc", "^1")
    assert.are.equal(3, calc:add(1, 2))
    spec.version, spec.source = "1.1.0", provider_source:format(100)
    plugins.folder(root, "adder", spec)
    local result = manager:reload_plugin("adder")
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal(103, calc:add(1, 2))
  end)

  it("after a reload whose new on_load fails, has the old version's subscriptions working again", function()
    write("1.0.0", "v1")
    assert.is_true(manager:load_plugin(root .. "/pinger").success)
    write("2.0.0", "v2", "new.only", "on_load")
    failed(manager:reload_plugin("pinger"), "load_error")
    assert.are.same({ "v1 1.0.0" }, ping(host))
    assert.are.same({ "ping" }, host:topics())
  end)
end)

describe("a closed bus", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  local calls = {
    { "publish", "x.y", 1 },
    { "post", "x.y", 1 },
    { "subscribe", "x.y", function() end },
    { "respond", "x.y", function() end },
    { "request", "x.y" },
    { "request_async", "x.y", nil, function() end },
    { "register_contract", ServiceContract(CALC) },
    { "provide", ServiceContract(CALC), CALC_IMPL },
    { "service", "calc" },
    { "has_provider", "calc" },
    { "topics" },
    { "subscriber_count" },
    { "stats" },
  }

  it("raises, saying the plugin is unloaded, for every use of an inline plugin's kept ctx.bus", function()
    local kept
    register(manager, inline("keeper", {
      on_load = function(ctx)
        kept = ctx.bus
        kept:subscribe("x.y", function() end)
        kept:publish("x.y", 0) -- the topic is routed: publish takes its fast path
      end,
    }))
    manager:unload_plugin("keeper")
    assert.are.equal("qtforge.communication.PluginBus(keeper, closed)", tostring(kept))
    for _, call in ipairs(calls) do
      local name = call[1]
      local ok, message = pcall(function()
        return kept[name](kept, table.unpack or unpack, call, 2)
      end)
      assert.is_false(ok, name .. " did not raise")
      contains(message, "bus:" .. name, 'plugin "keeper" is unloaded', "closed")
    end
    assert.are.equal(0, manager:bus():subscriber_count())
  end)

  -- a sandboxed plugin's ctx.bus is a facade, which unloading revokes; a
  -- trusted plugin's is its PluginBus, which unloading closes
  local KEPT = {
    { "sandboxed", nil, { 'plugin "keeper" was unloaded', "revoked" } },
    { "trusted", { trust = "trusted" }, { 'plugin "keeper" is unloaded', "closed" } },
  }

  for _, case in ipairs(KEPT) do
    local trust, policy, words = case[1], case[2], case[3]
    it("raises at the caller's line when a " .. trust .. " folder plugin's kept bus is used after unload", function()
      if policy then
        manager:shutdown()
        manager = plugins.manager({ security = qtforge.security.SecurityManager(policy) })
      end
      plugins.folder(root, "keeper", { capabilities = { "bus:publish" }, source = [[
local plugin = { exports = {} }
function plugin.on_load(ctx)
  KEPT_BUS = ctx.bus
end
function plugin.exports.kept()
  return KEPT_BUS
end
function plugin.exports.publish_later(topic)
  local ran = KEPT_BUS:publish(topic, "late")
  return ran
end
return plugin
]] })
      assert.is_true(manager:load_plugin(root .. "/keeper").success)
      assert.are.equal(trust, manager:security():trust_level("keeper"))
      local exports = manager:get_plugin("keeper").exports
      local kept = exports.kept()
      assert.are.equal(0, kept:publish("x.y", 1))
      manager:unload_plugin("keeper")
      local ok, message = pcall(function()
        local ran = kept:publish("x.y", 2) -- not a tail call: the error names this line
        return ran
      end)
      assert.is_false(ok)
      contains(message, "33-communication_plugins_spec.lua:", "bus:publish", words[1], words[2])
      ok, message = pcall(exports.publish_later, "x.y")
      assert.is_false(ok)
      contains(message, "init.lua:9:", words[1], words[2])
    end)
  end
end)

describe("update_all_plugins and the manager's bus", function()
  local manager, host

  before_each(function()
    manager = plugins.manager()
    host = manager:bus()
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("delivers what plugins posted", function()
    local got = {}
    register(manager, inline("listener", {
      on_load = function(ctx)
        ctx.bus:subscribe("tick", function(message)
          got[#got + 1] = message.data
        end)
      end,
    }))
    local bus
    register(manager, inline("poster", {
      on_start = function(ctx)
        bus = ctx.bus
        bus:post("tick", 1)
      end,
      update = function(dt)
        bus:post("tick", dt)
      end,
    }))
    assert.are.same({}, got)
    assert.are.equal(1, host:stats().queued)
    manager:update_all_plugins(0.5)
    -- what was queued before the tick and what the update posted during it
    assert.are.same({ 1, 0.5 }, got)
    assert.are.equal(0, host:stats().queued)
    manager:update_all_plugins(0.25)
    assert.are.same({ 1, 0.5, 0.25 }, got)
  end)

  it("runs the callbacks of asynchronous requests, answered at once or in an update", function()
    local waiting = {}
    register(manager, inline("answerer", {
      on_load = function(ctx)
        ctx.bus:respond("now", function(data)
          return data + 1
        end)
        ctx.bus:respond("later", function(_, request)
          waiting[#waiting + 1] = request:defer()
        end)
      end,
      update = function()
        for _, request in ipairs(waiting) do
          request:reply(request.data * 10)
        end
        waiting = {}
      end,
    }))
    local results = {}
    register(manager, inline("asker", {
      on_start = function(ctx)
        ctx.bus:request_async("now", 1, function(result)
          results[#results + 1] = { "now", result.value }
        end)
        ctx.bus:request_async("later", 2, function(result)
          results[#results + 1] = { "later", result.value }
        end)
      end,
    }))
    assert.are.same({}, results)
    assert.are.equal(2, host:stats().pending_requests)
    manager:update_all_plugins(0.1)
    assert.are.same({ { "now", 2 }, { "later", 20 } }, results)
    assert.are.equal(0, host:stats().pending_requests)
  end)

  it("does not call back into a plugin that unloaded with a request pending", function()
    local waiting
    register(manager, inline("answerer", {
      on_load = function(ctx)
        ctx.bus:respond("later", function(_, request)
          waiting = request:defer()
        end)
      end,
    }))
    local called = false
    register(manager, inline("asker", {
      on_start = function(ctx)
        ctx.bus:request_async("later", nil, function()
          called = true
        end)
      end,
    }))
    assert.are.equal(1, host:stats().pending_requests)
    manager:unload_plugin("asker")
    assert.are.equal(0, host:stats().pending_requests)
    waiting:reply("too late")
    manager:update_all_plugins(0)
    assert.is_false(called)
  end)

  it("uses the bus given as PluginManager{bus = ...}", function()
    local mine = MessageBus()
    local shared = plugins.manager({ bus = mine })
    assert.are.equal(mine, shared:bus())
    assert.are.equal(mine, shared:bus())
    local got = {}
    mine:subscribe("hello", function(message)
      got[#got + 1] = message.sender
    end)
    register(shared, inline("greeter", {
      on_load = function(ctx)
        ctx.bus:subscribe("hello.back", function() end)
      end,
      on_start = function(ctx)
        ctx.bus:publish("hello", nil)
        ctx.bus:post("hello", nil)
      end,
    }))
    assert.are.same({ "greeter" }, got)
    assert.are.equal(1, mine:subscriber_count("hello.back"))
    shared:update_all_plugins(0)
    assert.are.same({ "greeter", "greeter" }, got)
    shared:shutdown()
    assert.are.equal(0, mine:subscriber_count("hello.back"))
    assert.are.equal(1, mine:subscriber_count())
  end)

  it("lets two managers share one bus", function()
    local mine = MessageBus()
    local first, second = plugins.manager({ bus = mine }), plugins.manager({ bus = mine })
    local got = {}
    register(first, inline("ear", {
      on_load = function(ctx)
        ctx.bus:subscribe("shout", function(message)
          got[#got + 1] = message.sender
        end)
      end,
    }))
    register(second, inline("mouth", {
      on_start = function(ctx)
        ctx.bus:publish("shout", nil)
      end,
    }))
    assert.are.same({ "mouth" }, got)
    first:shutdown()
    second:shutdown()
  end)

  it("refuses a bus option that is not a MessageBus", function()
    for _, bad in ipairs({ 5, {}, "bus", setmetatable({}, { __index = MessageBus }) }) do
      local ok, message = pcall(qtforge.core.PluginManager, { bus = bad })
      assert.is_false(ok, "accepted " .. tostring(bad))
      contains(message, "PluginManager", "'bus'")
    end
  end)

  it("makes a MessageBus of its own without the option", function()
    local bus = manager:bus()
    assert.are.equal("qtforge.communication.MessageBus", getmetatable(bus).__name)
    assert.are.equal(bus, manager:bus())
    local other = plugins.manager()
    assert.are_not.equal(bus, other:bus())
    other:shutdown()
  end)
end)

describe("error isolation between plugins", function()
  local manager, logs, host

  before_each(function()
    manager, logs = plugins.manager()
    host = manager:bus()
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("runs the other plugins' handlers when one raises, and logs the error under the plugin's id", function()
    local got = {}
    register(manager, inline("bad", {
      on_load = function(ctx)
        ctx.bus:subscribe("event", function()
          error("bad handler")
        end, { priority = 10 })
      end,
    }))
    register(manager, inline("good", {
      on_load = function(ctx)
        ctx.bus:subscribe("event", function(message)
          got[#got + 1] = message.data
        end)
      end,
    }))
    local reported = {}
    host:on_error(function(err)
      reported[#reported + 1] = err
    end)
    register(manager, inline("speaker", {
      on_start = function(ctx)
        assert.are.equal(2, ctx.bus:publish("event", "first"))
        ctx.bus:post("event", "second")
      end,
    }))
    manager:update_all_plugins(0)
    assert.are.same({ "first", "second" }, got)
    local errors = {}
    for _, line in ipairs(logs) do
      if line.level == "error" then
        errors[#errors + 1] = line
      end
    end
    assert.are.equal(2, #errors)
    for _, line in ipairs(errors) do
      assert.are.equal("bad", line.plugin_id)
      contains(line.message, "bad handler", '"event"')
    end
    assert.are.equal(2, #reported)
    assert.are.equal("handler_error", reported[1].code)
    assert.are.equal("bad", reported[1].plugin_id)
    assert.are.equal(2, host:stats().errors)
    -- a handler error does not fail the plugin
    assert.are.equal("running", manager:get_plugin("bad"):state())
    assert.are.equal("running", manager:get_plugin("speaker"):state())
  end)

  it("logs a plugin's failing request_async callback under the plugin's id", function()
    register(manager, inline("answerer", {
      on_load = function(ctx)
        ctx.bus:respond("now", function()
          return 1
        end)
      end,
    }))
    local after = false
    register(manager, inline("asker", {
      on_start = function(ctx)
        ctx.bus:request_async("now", nil, function()
          error("callback broke")
        end)
        ctx.bus:request_async("now", nil, function()
          after = true
        end)
      end,
    }))
    manager:update_all_plugins(0)
    assert.is_true(after)
    local line = logs[#logs]
    assert.are.equal("error", line.level)
    contains(line.message, "callback broke")
    assert.are.equal("asker", line.plugin_id)
  end)

  it("logs a failing filter under its plugin's id too", function()
    local got = {}
    register(manager, inline("picky", {
      on_load = function(ctx)
        ctx.bus:subscribe("event", function() end, { filter = function()
          error("filter broke")
        end })
        ctx.bus:subscribe("event", function(message)
          got[#got + 1] = message.data
        end)
      end,
    }))
    host:publish("event", 1)
    assert.are.same({ 1 }, got)
    assert.are.equal("picky", logs[#logs].plugin_id)
    contains(logs[#logs].message, "filter broke")
  end)
end)
