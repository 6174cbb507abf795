-- qtforge.managers.ConfigurationManager in memory: every typed getter with a
-- missing key, the right type and a wrong one; dotted keys into tables and
-- lists; copies; has/set/remove/keys/to_table/snapshot; the layers (defaults,
-- loaded text, environment, run time) and the source of each value; typed
-- environment overrides; scopes; change listeners; and misuse.
-- Files, watching and schemas are in 41-managers_config_files_spec.lua.
local qtforge = require("qtforge")
local misuse = require("support.misuse")

local ConfigurationManager = qtforge.managers.ConfigurationManager

-- The defaults most cases start from; a fresh table each time.
local function defaults()
  return {
    name = "demo",
    debug = false,
    pi = 3.5,
    server = {
      host = "localhost",
      port = 8080,
      ratio = 0.75,
      ports = { 80, 443 },
      tls = { enabled = true },
    },
    users = { { name = "ann" }, { name = "bob" } },
  }
end

-- A manager over defaults(); listener errors go to `logged` as { level, source, text }.
local function sample(logged, extra)
  local opts = {
    defaults = defaults(),
    log = function(level, source, text)
      if logged then
        logged[#logged + 1] = { level, source, text }
      end
    end,
  }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return ConfigurationManager(opts)
end

local strip_location = misuse.strip_location

-- Runs fn, which must raise; returns the message without its location.
local function raises(fn)
  local ok, message = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_string(message)
  return strip_location(message)
end

-- asserts that a text contains each of the plain strings that follow
local contains = require("support.plugins").contains

-- A listener that appends { key, new, old } to `log`.
local function recorder(log)
  return function(key, new, old)
    log[#log + 1] = { key, new, old }
  end
end

describe("ConfigurationManager getters", function()
  local cfg

  before_each(function()
    cfg = sample()
  end)

  -- { getter, a key holding its type, the value there, a key of another type
  -- and that type, a default of the right type, a default of a wrong type }
  local GETTERS = {
    { "get_string", "name", "demo", "server.port", "a number", "fallback", 5 },
    { "get_number", "server.ratio", 0.75, "name", "a string", 1.5, "1.5" },
    { "get_int", "server.port", 8080, "name", "a string", 7, 2.5 },
    { "get_bool", "server.tls.enabled", true, "server.port", "a number", true, "yes" },
    { "get_table", "server.tls", { enabled = true }, "server.host", "a string", { k = 1 }, "t" },
  }
  local WANTED = {
    get_string = "not a string",
    get_number = "not a number",
    get_int = "not an integer",
    get_bool = "not a boolean",
    get_table = "not a table",
  }

  for _, row in ipairs(GETTERS) do
    local method, key, value, other_key, other_type, default, bad_default =
      row[1], row[2], row[3], row[4], row[5], row[6], row[7]

    describe(method, function()
      it("returns the value at a key of its type", function()
        assert.are.same(value, cfg[method](cfg, key))
        -- a default does not replace a value that is there
        assert.are.same(value, cfg[method](cfg, key, default))
      end)

      it("returns the default, or nil, for a missing key", function()
        assert.is_nil(cfg[method](cfg, "missing"))
        assert.is_nil(cfg[method](cfg, "server.missing"))
        assert.are.same(default, cfg[method](cfg, "missing", default))
        assert.are.same(default, cfg[method](cfg, "server.nested.missing", default))
        if type(default) == "table" then
          -- a table default comes back as given
          assert.are.equal(default, cfg[method](cfg, "missing", default))
        end
      end)

      it("refuses a default of the wrong type for a missing key", function()
        local message = raises(function()
          local _ = cfg[method](cfg, "missing", bad_default)
        end)
        contains(message, "ConfigurationManager:" .. method .. ": argument 'default' must be")
      end)

      it("raises naming the key and both types for a value of another type, default or not", function()
        for _, with_default in ipairs({ false, true }) do
          local message = raises(function()
            if with_default then
              local _ = cfg[method](cfg, other_key, default)
            else
              local _ = cfg[method](cfg, other_key)
            end
          end)
          assert.are.equal(string.format("ConfigurationManager:%s: %q is %s, %s", method, other_key, other_type,
            WANTED[method]), message)
        end
      end)

      it("raises at the caller's line for a value of another type", function()
        misuse.raised_at_caller(function() local _ = cfg[method](cfg, other_key) end)
      end)

      it("answers the same again from its cache, and the new value after a change", function()
        assert.are.same(value, cfg[method](cfg, key))
        assert.are.same(value, cfg[method](cfg, key))
        cfg:remove(key)
        assert.are.same(default, cfg[method](cfg, key, default))
        cfg:set(key, value)
        assert.are.same(value, cfg[method](cfg, key, default))
      end)
    end)
  end

  it("get_bool returns a stored false, never the default", function()
    assert.is_false(cfg:get_bool("debug"))
    assert.is_false(cfg:get_bool("debug", true))
    assert.is_false(cfg:get("debug", true))
    assert.is_true(cfg:has("debug"))
  end)

  it("get_int takes integral numbers, floats included, and refuses 3.5", function()
    assert.are.equal(8080, cfg:get_int("server.port"))
    cfg:set("whole", 2.0)
    assert.are.equal(2, cfg:get_int("whole"))
    assert.are.equal(3.5, cfg:get_number("pi"))
    assert.are.equal('ConfigurationManager:get_int: "pi" is 3.5, not an integer',
      raises(function() local _ = cfg:get_int("pi") end))
    assert.are.equal('ConfigurationManager:get_int: "pi" is 3.5, not an integer',
      raises(function() local _ = cfg:get_int("pi", 3) end))
    contains(raises(function() local _ = cfg:get_int("missing", 2.5) end),
      "ConfigurationManager:get_int: argument 'default' must be an integer or nil")
    assert.are.equal(7, cfg:get_int("missing", 7))
  end)

  it("get_number and get_int give integers as integers under Lua 5.4", function()
    if math.type then
      assert.are.equal("integer", math.type(cfg:get_int("server.port")))
      assert.are.equal("integer", math.type(cfg:get_number("server.port")))
      assert.are.equal("float", math.type(cfg:get_number("server.ratio")))
    end
  end)

  it("get_string names a table at the key as a table", function()
    assert.are.equal('ConfigurationManager:get_string: "server" is a table, not a string',
      raises(function() local _ = cfg:get_string("server") end))
    assert.are.equal('ConfigurationManager:get_bool: "server.ports" is a table, not a boolean',
      raises(function() local _ = cfg:get_bool("server.ports", false) end))
  end)

  it("get returns any type, or the default whatever its type", function()
    assert.are.equal("demo", cfg:get("name"))
    assert.are.equal(8080, cfg:get("server.port"))
    assert.are.equal(0.75, cfg:get("server.ratio"))
    assert.is_true(cfg:get("server.tls.enabled"))
    assert.are.same({ 80, 443 }, cfg:get("server.ports"))
    assert.is_nil(cfg:get("missing"))
    assert.are.equal(5, cfg:get("missing", 5))
    assert.are.equal("x", cfg:get("missing", "x"))
    assert.is_false(cfg:get("missing", false))
    local t = {}
    assert.are.equal(t, cfg:get("missing", t))
  end)
end)

describe("ConfigurationManager dotted keys", function()
  local cfg

  before_each(function()
    cfg = sample()
  end)

  it("reach into nested tables", function()
    assert.are.equal("localhost", cfg:get_string("server.host"))
    assert.is_true(cfg:get_bool("server.tls.enabled"))
    assert.are.same({ enabled = true }, cfg:get_table("server.tls"))
  end)

  it("index lists from 1", function()
    assert.are.equal(80, cfg:get_int("server.ports.1"))
    assert.are.equal(443, cfg:get_int("server.ports.2"))
    assert.is_nil(cfg:get_int("server.ports.3"))
    assert.is_nil(cfg:get_int("server.ports.0"))
    assert.are.equal(-1, cfg:get_int("server.ports.3", -1))
    assert.are.equal("ann", cfg:get_string("users.1.name"))
    assert.are.equal("bob", cfg:get_string("users.2.name"))
    assert.are.same({ name = "bob" }, cfg:get_table("users.2"))
    assert.is_true(cfg:has("server.ports.2"))
    assert.is_false(cfg:has("server.ports.3"))
  end)

  it("find nothing through a value that is not a table", function()
    assert.is_nil(cfg:get("name.first"))
    assert.is_false(cfg:has("server.port.x"))
    assert.are.equal("d", cfg:get_string("server.port.x", "d"))
  end)

  it("set list items from 1, and one past the end appends", function()
    cfg:set("server.ports.1", 81)
    cfg:set("server.ports.3", 8443)
    assert.are.same({ 81, 443, 8443 }, cfg:get_table("server.ports"))
    cfg:set("users.2.name", "bea")
    assert.are.same({ { name = "ann" }, { name = "bea" } }, cfg:get("users"))
    contains(raises(function() cfg:set("server.ports.9", 1) end), "ConfigurationManager:set: ")
    assert.are.same({ 81, 443, 8443 }, cfg:get_table("server.ports"))
  end)
end)

describe("ConfigurationManager copies", function()
  local cfg

  before_each(function()
    cfg = sample()
  end)

  it("get_table returns a deep copy: changing it changes nothing", function()
    local server = cfg:get_table("server")
    server.port = 1
    server.ports[1] = 0
    server.tls.enabled = false
    server.extra = "x"
    assert.are.equal(8080, cfg:get_int("server.port"))
    assert.are.equal(80, cfg:get_int("server.ports.1"))
    assert.is_true(cfg:get_bool("server.tls.enabled"))
    assert.is_false(cfg:has("server.extra"))
    local again = cfg:get_table("server")
    assert.are_not.equal(server, again)
    assert.are.same(defaults().server, again)
  end)

  it("get and to_table return copies too", function()
    local ports = cfg:get("server.ports")
    ports[1] = 0
    local all = cfg:to_table()
    all.name = "changed"
    all.server.tls.enabled = false
    assert.are.same(defaults(), cfg:to_table())
    assert.are_not.equal(cfg:to_table(), cfg:to_table())
  end)

  it("set stores a copy of the value it is given", function()
    local t = { a = { b = 1 }, list = { 1, 2 } }
    cfg:set("t", t)
    t.a.b = 2
    t.list[3] = 3
    t.new = true
    assert.are.same({ a = { b = 1 }, list = { 1, 2 } }, cfg:get_table("t"))
  end)

  it("the defaults table given to the constructor is not kept", function()
    local given = defaults()
    local own = ConfigurationManager({ defaults = given })
    given.server.port = 1
    given.name = "x"
    assert.are.equal(8080, own:get_int("server.port"))
    assert.are.equal("demo", own:get_string("name"))
  end)
end)

describe("ConfigurationManager has, set, remove, keys, to_table, snapshot", function()
  local cfg

  before_each(function()
    cfg = sample()
  end)

  it("has answers whether a key holds a value", function()
    assert.is_true(cfg:has("name"))
    assert.is_true(cfg:has("server"))
    assert.is_true(cfg:has("server.tls.enabled"))
    assert.is_false(cfg:has("missing"))
    assert.is_false(cfg:has("server.missing"))
  end)

  it("set creates tables on the way and answers true", function()
    assert.is_true(cfg:set("a.b.c", "deep"))
    assert.are.equal("deep", cfg:get_string("a.b.c"))
    assert.are.same({ b = { c = "deep" } }, cfg:get_table("a"))
    assert.is_true(cfg:set("server.port", 9090))
    assert.are.equal(9090, cfg:get_int("server.port"))
    -- the rest of the table stays
    assert.are.equal("localhost", cfg:get_string("server.host"))
    -- a value of another type replaces
    cfg:set("server.port", "auto")
    assert.are.equal("auto", cfg:get_string("server.port"))
  end)

  it("set of a function or nil raises and changes nothing", function()
    local before = cfg:to_table()
    contains(raises(function() cfg:set("name", function() end) end), "ConfigurationManager:set: ", '"name"')
    contains(raises(function() cfg:set("name", nil) end), "ConfigurationManager:set: ", '"name"')
    contains(raises(function() cfg:set("fresh", nil) end), "ConfigurationManager:set: ")
    contains(raises(function() cfg:set("t", { f = print }) end), "ConfigurationManager:set: ")
    contains(raises(function() cfg:set("name.first", "x") end), "ConfigurationManager:set: ", "name is a string")
    assert.are.same(before, cfg:to_table())
    assert.is_false(cfg:has("fresh"))
  end)

  it("remove takes a value out, answers whether there was one, and masks a default until set again", function()
    assert.is_true(cfg:remove("server.host"))
    assert.is_false(cfg:has("server.host"))
    assert.is_nil(cfg:get_string("server.host"))
    assert.are.equal("d", cfg:get_string("server.host", "d"))
    assert.is_nil(cfg:source("server.host"))
    assert.is_false(cfg:remove("server.host"))
    assert.is_false(cfg:remove("never.there"))
    -- the other keys of the table stay
    assert.are.equal(8080, cfg:get_int("server.port"))
    cfg:set("server.host", "example.org")
    assert.are.equal("example.org", cfg:get_string("server.host"))
    assert.are.equal("runtime", cfg:source("server.host"))
  end)

  it("remove of a whole table masks every key in it", function()
    assert.is_true(cfg:remove("server"))
    assert.is_false(cfg:has("server.port"))
    assert.are.same({}, cfg:keys("server"))
    cfg:set("server.port", 1)
    assert.are.equal(1, cfg:get_int("server.port"))
  end)

  it("remove of a list item closes the gap", function()
    assert.is_true(cfg:remove("server.ports.1"))
    assert.are.same({ 443 }, cfg:get_table("server.ports"))
    assert.are.equal(443, cfg:get_int("server.ports.1"))
  end)

  it("keys lists the leaf keys under a prefix, sorted, lists as leaves", function()
    assert.are.same({ "debug", "name", "pi", "server.host", "server.port", "server.ports", "server.ratio",
      "server.tls.enabled", "users" }, cfg:keys())
    assert.are.same(cfg:keys(), cfg:keys(""))
    assert.are.same({ "server.host", "server.port", "server.ports", "server.ratio", "server.tls.enabled" },
      cfg:keys("server"))
    assert.are.same({ "server.tls.enabled" }, cfg:keys("server.tls"))
    assert.are.same({ "users.2.name" }, cfg:keys("users.2"))
    assert.are.same({}, cfg:keys("missing"))
    cfg:set("server.tls.cert", "c.pem")
    assert.are.same({ "server.tls.cert", "server.tls.enabled" }, cfg:keys("server.tls"))
  end)

  it("to_table is a copy of every value", function()
    assert.are.same(defaults(), cfg:to_table())
    cfg:set("extra", { 1, 2 })
    local expected = defaults()
    expected.extra = { 1, 2 }
    assert.are.same(expected, cfg:to_table())
  end)

  it("snapshot is the same table until a change, and a new one after", function()
    local first = cfg:snapshot()
    assert.are.same(defaults(), first)
    assert.are.equal(first, cfg:snapshot())
    -- reads do not make a new one
    local _ = cfg:get_int("server.port")
    assert.are.equal(first, cfg:snapshot())
    cfg:set("server.port", 1)
    local second = cfg:snapshot()
    assert.are_not.equal(first, second)
    assert.are.equal(1, second.server.port)
    -- the old snapshot keeps the values it had
    assert.are.equal(8080, first.server.port)
    assert.are.equal(second, cfg:snapshot())
    cfg:remove("name")
    local third = cfg:snapshot()
    assert.are_not.equal(second, third)
    assert.is_nil(third.name)
    assert.are.equal("demo", second.name)
  end)

  it("snapshot is a plain table: lists without metatables", function()
    local snapshot = cfg:snapshot()
    assert.is_nil(getmetatable(snapshot))
    assert.is_nil(getmetatable(snapshot.server.ports))
    assert.are.equal(2, #snapshot.server.ports)
  end)
end)

describe("ConfigurationManager layers", function()
  it("rank defaults < loaded text < environment < run time, and name each source", function()
    local cfg = ConfigurationManager({
      defaults = { a = "default", b = "default", c = "default", d = "default", nested = { x = 1, y = 1 } },
      env_prefix = "APP",
      env = { APP__C = "env", APP__D = "env", APP__NESTED__Y = "2" },
    })
    assert.are.equal("default", cfg:source("a"))
    assert.are.equal("env:APP__C", cfg:source("c"))
    assert.are.equal("default", cfg:get("b"))
    -- a file loaded after the environment still ranks below it
    local result = cfg:load_from_string('{"b": "file", "c": "file", "d": "file", "nested": {"x": 5}}', "json",
      "/etc/app/base.json")
    assert.is_true(result.success, tostring(result.error))
    cfg:set("d", "runtime")
    assert.are.equal("default", cfg:get("a"))
    assert.are.equal("file", cfg:get("b"))
    assert.are.equal("env", cfg:get("c"))
    assert.are.equal("runtime", cfg:get("d"))
    assert.are.equal(5, cfg:get_int("nested.x"))
    assert.are.equal(2, cfg:get_int("nested.y"))
    assert.are.equal("default", cfg:source("a"))
    assert.are.equal("file:/etc/app/base.json", cfg:source("b"))
    assert.are.equal("env:APP__C", cfg:source("c"))
    assert.are.equal("runtime", cfg:source("d"))
    assert.are.equal("file:/etc/app/base.json", cfg:source("nested.x"))
    assert.are.equal("env:APP__NESTED__Y", cfg:source("nested.y"))
    assert.is_nil(cfg:source("missing"))
    -- run time beats the environment too
    cfg:set("c", "runtime")
    assert.are.equal("runtime", cfg:get("c"))
    assert.are.equal("runtime", cfg:source("c"))
  end)

  it("load_from_string names its source \"string\" by default and merges tables key by key", function()
    local cfg = ConfigurationManager({ defaults = { server = { host = "h", port = 1 } } })
    local result = cfg:load_from_string('[server]\nport = 2\n', "toml")
    assert.is_true(result.success, tostring(result.error))
    assert.are.same({ "server.port" }, result.changed)
    assert.are.same({ host = "h", port = 2 }, cfg:get_table("server"))
    assert.are.equal("file:string", cfg:source("server.port"))
    assert.are.equal("default", cfg:source("server.host"))
  end)

  it("replace lists whole rather than merging them", function()
    local cfg = ConfigurationManager({ defaults = { ports = { 1, 2, 3 } } })
    cfg:load_from_string('{"ports": [9]}', "json", "over")
    assert.are.same({ 9 }, cfg:get_table("ports"))
  end)
end)

describe("ConfigurationManager environment overrides", function()
  local ENV = {
    APP__SERVER__PORT = "8080",
    APP__LOG_LEVEL = "debug",
    APP__FEATURES__BETA = "true",
    APP__FEATURES__OLD = "false",
    APP__RATIO = "0.5",
    APP__RETRIES = "-3",
    APP__HOSTS = '["a", "b"]',
    APP__LIMITS = '{"cpu": 2, "mem": "1G"}',
    APP__CODE = "01234",
    APP__GREETING = "hello world",
    APP__BROKEN = "[not json",
    APP__MiXeD__Key = "v",
    APP_SINGLE = "ignored",
    OTHER__X = "ignored",
  }

  local cfg
  before_each(function()
    cfg = ConfigurationManager({ env_prefix = "APP", env = ENV, defaults = { server = { host = "localhost" } } })
  end)

  it("turn APP__A__B into a.b, lower-cased, and ignore other variables", function()
    assert.are.same({ "broken", "code", "features.beta", "features.old", "greeting", "hosts", "limits.cpu",
      "limits.mem", "log_level", "mixed.key", "ratio", "retries", "server.host", "server.port" }, cfg:keys())
    assert.are.equal("v", cfg:get_string("mixed.key"))
    assert.are.equal("env:APP__MiXeD__Key", cfg:source("mixed.key"))
    assert.is_false(cfg:has("single"))
    assert.is_false(cfg:has("x"))
  end)

  it("type each value by its form", function()
    assert.are.equal(8080, cfg:get_int("server.port"))
    assert.are.equal("debug", cfg:get_string("log_level"))
    assert.is_true(cfg:get_bool("features.beta"))
    assert.is_false(cfg:get_bool("features.old"))
    assert.are.equal(0.5, cfg:get_number("ratio"))
    assert.are.equal(-3, cfg:get_int("retries"))
    assert.are.same({ "a", "b" }, cfg:get_table("hosts"))
    assert.are.same({ cpu = 2, mem = "1G" }, cfg:get_table("limits"))
    assert.are.equal("01234", cfg:get_string("code"))
    assert.are.equal("hello world", cfg:get_string("greeting"))
    assert.are.equal("[not json", cfg:get_string("broken"))
    if math.type then
      assert.are.equal("integer", math.type(cfg:get("server.port")))
      assert.are.equal("float", math.type(cfg:get("ratio")))
    end
  end)

  it("merge over the defaults and name their variable as the source", function()
    assert.are.equal("localhost", cfg:get_string("server.host"))
    assert.are.equal("default", cfg:source("server.host"))
    assert.are.equal("env:APP__SERVER__PORT", cfg:source("server.port"))
    assert.are.equal("env:APP__LOG_LEVEL", cfg:source("log_level"))
    assert.are.equal("env:APP__LIMITS", cfg:source("limits.cpu"))
  end)

  it("are not read without env_prefix, and another prefix reads its own", function()
    local none = ConfigurationManager({ env = ENV })
    assert.are.same({}, none:keys())
    local other = ConfigurationManager({ env_prefix = "OTHER", env = ENV })
    assert.are.same({ "x" }, other:keys())
    assert.are.equal("ignored", other:get_string("x"))
  end)
end)

describe("ConfigurationManager scopes", function()
  local cfg

  before_each(function()
    cfg = sample()
  end)

  it("read and write keys relative to their prefix", function()
    local server = cfg:scope("server")
    assert.are.equal("qtforge.managers.ConfigScope(server)", tostring(server))
    assert.are.equal(8080, server:get_int("port"))
    assert.are.equal(80, server:get_int("ports.1"))
    assert.is_true(server:get_bool("tls.enabled"))
    assert.is_true(server:has("host"))
    assert.is_false(server:has("name"))
    assert.are.same({ "host", "port", "ports", "ratio", "tls.enabled" }, server:keys())
    assert.are.same({ "tls.enabled" }, server:keys("tls"))
    assert.are.same(defaults().server, server:to_table())
    server:set("port", 9090)
    assert.are.equal(9090, cfg:get_int("server.port"))
    assert.are.equal(9090, server:get_int("port"))
    assert.are.equal("runtime", server:source("port"))
    assert.are.equal("default", server:source("host"))
    assert.is_true(server:remove("host"))
    assert.is_false(cfg:has("server.host"))
    -- a change through the manager shows in the scope
    cfg:set("server.host", "example.org")
    assert.are.equal("example.org", server:get_string("host"))
  end)

  it("read values as fields too, methods first, and follow changes", function()
    local server = cfg:scope("server")
    assert.are.equal(8080, server.port)
    assert.are.equal("localhost", server.host)
    assert.are.same({ 80, 443 }, server.ports)
    assert.is_true(server.tls.enabled)
    assert.is_nil(server.missing)
    assert.is_nil(server[1])
    -- a field read is a copy, like get
    server.ports[1] = 0
    assert.are.equal(80, cfg:get_int("server.ports.1"))
    cfg:set("server.port", 1)
    assert.are.equal(1, server.port)
    -- a key named like a method is read with get
    cfg:set("server.keys", "k")
    assert.is_function(server.keys)
    assert.are.equal("k", server:get("keys"))
  end)

  it("name the scope and the full key when a value has another type", function()
    local server = cfg:scope("server")
    assert.are.equal('ConfigScope:get_string: "server.port" is a number, not a string',
      raises(function() local _ = server:get_string("port") end))
  end)

  it("keep two plugins' values apart", function()
    local a, b = cfg:scope("plugins.a"), cfg:scope("plugins.b")
    a:set("level", 1)
    b:set("level", 2)
    a:set("only_a", true)
    b:set("nested.deep", "b")
    assert.are.equal(1, a:get_int("level"))
    assert.are.equal(2, b:get_int("level"))
    assert.are.same({ "level", "only_a" }, a:keys())
    assert.are.same({ "level", "nested.deep" }, b:keys())
    assert.is_false(a:has("nested.deep"))
    assert.is_false(b:has("only_a"))
    assert.are.same({ level = 1, only_a = true }, a:to_table())
    assert.are.same({ level = 2, nested = { deep = "b" } }, b:to_table())
    assert.is_true(a:remove("level"))
    assert.is_nil(a:get_int("level"))
    assert.are.equal(2, b:get_int("level"))
    assert.are.equal(2, cfg:get_int("plugins.b.level"))
    assert.are.same({ "plugins.a.only_a", "plugins.b.level", "plugins.b.nested.deep" }, cfg:keys("plugins"))
  end)

  it("nest, each level relative to the one it came from", function()
    local plugins = cfg:scope("plugins")
    local a = plugins:scope("a")
    local deep = a:scope("deep.er")
    assert.are.equal("qtforge.managers.ConfigScope(plugins.a)", tostring(a))
    assert.are.equal("qtforge.managers.ConfigScope(plugins.a.deep.er)", tostring(deep))
    deep:set("x", 5)
    assert.are.equal(5, cfg:get_int("plugins.a.deep.er.x"))
    assert.are.equal(5, a:get_int("deep.er.x"))
    assert.are.equal(5, plugins:get_int("a.deep.er.x"))
    assert.are.same({ "deep.er.x" }, a:keys())
    assert.are.same({ "x" }, deep:keys())
    assert.are.same({ x = 5 }, deep:to_table())
    -- a scope of the same prefix sees the same values
    assert.are.equal(5, cfg:scope("plugins.a.deep.er"):get_int("x"))
  end)

  it("over a prefix with nothing in it are empty until written", function()
    local empty = cfg:scope("nothing.here")
    assert.are.same({}, empty:keys())
    assert.are.same({}, empty:to_table())
    assert.is_nil(empty:get("x"))
    empty:set("x", 1)
    assert.are.same({ x = 1 }, empty:to_table())
  end)

  it("have snapshots of their own values, new after a change", function()
    local server = cfg:scope("server")
    local first = server:snapshot()
    assert.are.equal(8080, first.port)
    assert.are.equal(first, server:snapshot())
    cfg:set("name", "other")
    local second = server:snapshot()
    assert.are_not.equal(first, second)
    server:set("port", 1)
    assert.are.equal(1, server:snapshot().port)
    assert.are.equal(8080, first.port)
  end)
end)

describe("ConfigurationManager on_change", function()
  local cfg, logged

  before_each(function()
    logged = {}
    cfg = sample(logged)
  end)

  it("calls fn(key, new, old) for keys under its prefix, and not for others", function()
    local seen = {}
    cfg:on_change("server", recorder(seen))
    cfg:set("server.port", 9090)
    cfg:set("name", "other")
    cfg:set("serverx.a", 1)
    cfg:set("server.new", "n")
    cfg:remove("server.host")
    assert.are.same({
      { "server.port", 9090, 8080 },
      { "server.new", "n", nil },
      { "server.host", nil, "localhost" },
    }, seen)
  end)

  it("hands listeners copies: changing a list it was handed changes nothing", function()
    cfg:set("tags", { "a", "b" })
    cfg:on_change("tags", function(_, new, old)
      new[1] = "changed"
      old[1] = "changed"
    end)
    cfg:set("tags", { "c" })
    assert.are.same({ "c" }, cfg:get("tags"))
    assert.are.same({ "c" }, cfg:to_table().tags)
  end)

  it("with prefix \"\" sees every change, and a load's keys one by one", function()
    local seen = {}
    cfg:on_change("", recorder(seen))
    cfg:set("name", "other")
    cfg:load_from_string('{"debug": true, "server": {"port": 1}}', "json", "over")
    assert.are.same({
      { "name", "other", "demo" },
      { "debug", true, false },
      { "server.port", 1, 8080 },
    }, seen)
  end)

  it("is not called when a set leaves the value as it was", function()
    local seen = {}
    cfg:on_change("", recorder(seen))
    cfg:set("server.port", 8080)
    cfg:set("server.tls", { enabled = true })
    cfg:load_from_string('{"name": "demo"}', "json", "same")
    assert.are.same({}, seen)
  end)

  it("on an exact key sees that key only", function()
    local seen = {}
    cfg:on_change("server.port", recorder(seen))
    cfg:set("server.port", 1)
    cfg:set("server.ports.1", 2)
    cfg:set("server.host", "h")
    assert.are.same({ { "server.port", 1, 8080 } }, seen)
  end)

  it("sees the new value when it reads the configuration", function()
    local read
    cfg:on_change("server.port", function()
      read = cfg:get_int("server.port")
    end)
    cfg:set("server.port", 7)
    assert.are.equal(7, read)
  end)

  it("reports a listener's error to opts.log, and the other listeners still run", function()
    local before, after = {}, {}
    cfg:on_change("server", recorder(before))
    cfg:on_change("server", function()
      error("listener exploded")
    end)
    cfg:on_change("", recorder(after))
    assert.is_true(cfg:set("server.port", 1))
    assert.are.same({ { "server.port", 1, 8080 } }, before)
    assert.are.same({ { "server.port", 1, 8080 } }, after)
    assert.are.equal(1, #logged)
    assert.are.equal("error", logged[1][1])
    assert.are.equal("qtforge.config", logged[1][2])
    contains(logged[1][3], "server", "listener exploded")
    -- the change itself stands
    assert.are.equal(1, cfg:get_int("server.port"))
  end)

  it("stops when the returned function is called", function()
    local seen, kept = {}, {}
    local remove = cfg:on_change("", recorder(seen))
    cfg:on_change("", recorder(kept))
    cfg:set("a", 1)
    remove()
    cfg:set("a", 2)
    remove()
    assert.are.same({ { "a", 1, nil } }, seen)
    assert.are.same({ { "a", 1, nil }, { "a", 2, 1 } }, kept)
  end)

  it("through a scope sees only the scope's keys", function()
    local a_seen, b_seen = {}, {}
    local a, b = cfg:scope("plugins.a"), cfg:scope("plugins.b")
    a:on_change("", function(_, new, old)
      a_seen[#a_seen + 1] = { new, old }
    end)
    b:on_change("level", function(_, new, old)
      b_seen[#b_seen + 1] = { new, old }
    end)
    a:set("level", 1)
    b:set("level", 2)
    b:set("other", 3)
    cfg:set("plugins.a.level", 4)
    assert.are.same({ { 1, nil }, { 4, 1 } }, a_seen)
    assert.are.same({ { 2, nil } }, b_seen)
  end)

  it("through a scope passes keys relative to the scope, as its other methods take and give them", function()
    local seen = {}
    local a = cfg:scope("plugins.a")
    a:on_change("", recorder(seen))
    a:set("level", 1)
    a:set("nested.x", true)
    -- the key handed over works with the scope's own readers
    assert.are.same({ { "level", 1, nil }, { "nested.x", true, nil } }, seen)
    assert.are.equal(1, a:get(seen[1][1]))
  end)
end)

-- Misuse: each case is a one-line function, so the line it is defined on is
-- the line of the bad call (no tail calls: `local _ =` keeps the caller's line).
local cfg, scope
local function f() end

local CASES = {
  { "ConfigurationManager:get_string: argument 'key' must be a dotted key string, got number",
    function() local _ = cfg:get_string(5) end },
  { "ConfigurationManager:get_int: argument 'key' must be a dotted key string, got nil",
    function() local _ = cfg:get_int() end },
  { 'ConfigurationManager:get_string: "a..b" is not a dotted key', function() local _ = cfg:get_string("a..b") end },
  { 'ConfigurationManager:get: ".a" is not a dotted key', function() local _ = cfg:get(".a") end },
  { 'ConfigurationManager:has: "a." is not a dotted key', function() local _ = cfg:has("a.") end },
  { 'ConfigurationManager:get_table: "" is not a dotted key', function() local _ = cfg:get_table("") end },
  { "ConfigurationManager:get_bool: argument 'default' must be a boolean or nil, got \"yes\"",
    function() local _ = cfg:get_bool("missing", "yes") end },
  { "ConfigurationManager:set: argument 'key' must be a dotted key string, got number",
    function() local _ = cfg:set(1, 1) end },
  { 'ConfigurationManager:set: "a..b" is not a usable key', function() local _ = cfg:set("a..b", 1) end },
  { 'ConfigurationManager:set: the value at "x" cannot be stored', function() local _ = cfg:set("x", f) end,
    "a function" },
  { 'ConfigurationManager:set: the value at "x" cannot be stored', function() local _ = cfg:set("x", nil) end, "nil" },
  { 'ConfigurationManager:set: "name.x" is not a usable key', function() local _ = cfg:set("name.x", 1) end },
  { 'ConfigurationManager:remove: "a..b" is not a usable key', function() local _ = cfg:remove("a..b") end },
  { "ConfigurationManager:remove: argument 'key' must be a dotted key string, got table",
    function() local _ = cfg:remove({}) end },
  { "ConfigurationManager:keys: argument 'prefix' must be a dotted key string, got number",
    function() local _ = cfg:keys(1) end },
  { 'ConfigurationManager:keys: "a..b" is not a usable key', function() local _ = cfg:keys("a..b") end },
  { "ConfigurationManager:source: argument 'key' must be a dotted key string, got nil",
    function() local _ = cfg:source() end },
  { 'ConfigurationManager:scope: "" is not a dotted key', function() local _ = cfg:scope("") end },
  { 'ConfigurationManager:scope: "a..b" is not a dotted key', function() local _ = cfg:scope("a..b") end },
  { "ConfigurationManager:scope: argument 'prefix' must be a dotted key string, got nil",
    function() local _ = cfg:scope() end },
  { "ConfigurationManager:on_change: argument 'fn' must be a function, got number",
    function() local _ = cfg:on_change("a", 5) end },
  -- a listener on a key no change can name would never run: refused like a getter's bad key
  { 'ConfigurationManager:on_change: "a..b" is not a dotted key', function() local _ = cfg:on_change("a..b", f) end },
  { "ConfigurationManager:on_change: argument 'prefix' must be a dotted key string, got function",
    function() local _ = cfg:on_change(f) end },
  { "ConfigScope:get_string: argument 'key' must be a dotted key string, got number",
    function() local _ = scope:get_string(5) end },
  { 'ConfigScope:get_int: "a..b" is not a dotted key', function() local _ = scope:get_int("a..b") end },
  { 'ConfigScope:set: "server.a..b" is not a usable key', function() local _ = scope:set("a..b", 1) end },
  { 'ConfigScope:set: the value at "server.x" cannot be stored', function() local _ = scope:set("x", f) end },
  { 'ConfigScope:scope: "" is not a dotted key', function() local _ = scope:scope("") end },
  { 'ConfigScope:set: set values with :set("port", value)', function() scope.port = 1 end },
  { "ConfigurationManager:load_from_string: argument 'format' must be \"json\" or \"toml\", got \"yaml\"",
    function() local _ = cfg:load_from_string("a: 1", "yaml") end },
  { "ConfigurationManager:load_from_string: argument 'text' must be a string, got nil",
    function() local _ = cfg:load_from_string(nil, "json") end },
  { "ConfigurationManager:load_from_string: argument 'name' must be a string or nil, got number",
    function() local _ = cfg:load_from_string("{}", "json", 1) end },
  { "ConfigurationManager:load_from_file: argument 'path' must be a string, got nil",
    function() local _ = cfg:load_from_file() end },
  { "ConfigurationManager:save_to_file: argument 'path' must be a string, got number",
    function() local _ = cfg:save_to_file(1) end },
  { "ConfigurationManager:validate: argument 'schema' must be a table or JSON text, got number",
    function() local _ = cfg:validate(1) end },
  { "ConfigurationManager:watch: argument 'path' must be a string, got nil", function() local _ = cfg:watch() end },
  { "ConfigurationManager:unwatch: argument 'path' must be a string, got nil",
    function() local _ = cfg:unwatch() end },
  { "ConfigurationManager:on_error: argument 'fn' must be a function, got nil",
    function() local _ = cfg:on_error() end },
  { 'ConfigurationManager: unknown option "colour" (known: defaults, env, env_prefix, log)',
    function() local _ = ConfigurationManager({ colour = 1 }) end },
  { "ConfigurationManager: option 'defaults' must be a table, got number",
    function() local _ = ConfigurationManager({ defaults = 5 }) end },
  { "ConfigurationManager: option 'env_prefix' must be a string, got boolean",
    function() local _ = ConfigurationManager.new({ env_prefix = true }) end },
  { "ConfigurationManager: argument 'opts' must be a table or nil, got \"x\"",
    function() local _ = ConfigurationManager("x") end },
  { "ConfigurationManager: option 'defaults': ",
    function() local _ = ConfigurationManager({ defaults = { f = f } }) end },
  -- called with '.' instead of ':'
  { "ConfigurationManager:get_string: call it with ':' on a ConfigurationManager or a scope, got \"a\"",
    function() local _ = cfg.get_string("a") end },
  { "ConfigurationManager:get_string: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.get_string() end },
  { "ConfigurationManager:get_int: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.get_int() end },
  { "ConfigurationManager:get_bool: call it with ':' on a ConfigurationManager or a scope, got \"a\"",
    function() local _ = cfg.get_bool("a") end },
  { "ConfigurationManager:get_table: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.get_table() end },
  { "ConfigurationManager:get: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.get() end },
  { "ConfigurationManager:has: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.has() end },
  { "ConfigurationManager:set: call it with ':' on a ConfigurationManager or a scope, got \"a\"",
    function() local _ = cfg.set("a", 1) end },
  { "ConfigurationManager:keys: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.keys() end },
  { "ConfigurationManager:snapshot: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.snapshot() end },
  { "ConfigurationManager:to_table: call it with ':' on a ConfigurationManager or a scope, got nil",
    function() local _ = cfg.to_table() end },
  { "ConfigurationManager:scope: call it with ':' on a ConfigurationManager or a scope, got \"a\"",
    function() local _ = cfg.scope("a") end },
  { "ConfigurationManager:get_string: call it with ':' on a ConfigurationManager or a scope, got \"a\"",
    function() local _ = scope.get_string("a") end },
  { "ConfigurationManager:load_from_file: call it with ':' on a ConfigurationManager, got \"x.json\"",
    function() local _ = cfg.load_from_file("x.json") end },
  { "ConfigurationManager:poll: call it with ':' on a ConfigurationManager, got nil",
    function() local _ = cfg.poll() end },
  -- a scope has the readers and writers, not the file methods
  { "attempt to call", function() local _ = scope:load_from_file("x.json") end },
}

describe("ConfigurationManager misuse", function()
  local expected_state

  before_each(function()
    cfg = sample()
    scope = cfg:scope("server")
    expected_state = cfg:to_table()
  end)

  for _, case in ipairs(CASES) do
    local expected, fn, label = case[1], case[2], case[3]
    local name = "raises \"" .. expected .. "\" at the caller's line and changes nothing"
    it(name .. (label and " (" .. label .. ")" or ""), function()
      local stripped = misuse.raised_at_caller(fn)
      if expected == "attempt to call" then
        contains(stripped, expected)
      else
        assert.are.equal(expected, stripped:sub(1, #expected))
      end
      assert.are.same(expected_state, cfg:to_table())
      assert.are.equal(8080, cfg:get_int("server.port"))
    end)
  end
end)

describe("plugins' configuration", function()
  it("gives each plugin its own scope, defaulted from its manifest, overridden by the host", function()
    local config = ConfigurationManager()
    local plugin_manager = qtforge.core.PluginManager({ config = config })
    assert.are.equal(config, plugin_manager:config())
    local ok, message = pcall(qtforge.core.PluginManager, { config = {} })
    assert.is_false(ok)
    assert.truthy(message:find("option 'config' must be a qtforge.managers.ConfigurationManager", 1, true), message)
    local seen = {}
    for _, name in ipairs({ "a", "b" }) do
      assert.is_true(plugin_manager:register_plugin({
        manifest = { name = name, version = "1.0.0", config = { level = 1, label = name } },
        exports = {
          read = function()
            return seen[name]:get_int("level"), seen[name].label
          end,
        },
        on_load = function(ctx)
          seen[name] = ctx.config
        end,
      }).success)
    end
    assert.is_true(config:load_from_string('{"plugins": {"b": {"level": 7}}}', "json").success)
    assert.are.same({ 1, "a" }, { plugin_manager:call("a", "read") })
    assert.are.same({ 7, "b" }, { plugin_manager:call("b", "read") })
    assert.are.equal("file:string", config:source("plugins.b.level"))
    assert.are.equal("default", config:source("plugins.a.level"))
    -- a plugin's changes stay in its own scope
    assert.is_true(plugin_manager:configure_plugin("a", { label = "changed" }).success)
    assert.are.equal("changed", config:get_string("plugins.a.label"))
    assert.are.equal("b", config:get_string("plugins.b.label"))
    assert.are.same({ level = 1, label = "changed" }, plugin_manager:get_plugin("a"):config())
    -- an unloaded plugin's defaults go; the host's values stay
    plugin_manager:unload_plugin("b")
    assert.is_false(config:has("plugins.b.label"))
    assert.are.equal(7, config:get_int("plugins.b.level"))
    plugin_manager:shutdown()
  end)
end)
