-- SecurityManager and PermissionSystem: what a policy grants, each capability
-- adding exactly its part, trust levels, and integrity and signatures checked
-- as plugins load.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local security = qtforge.security
local SecurityManager, PermissionSystem, TrustManager = security.SecurityManager, security.PermissionSystem,
  security.TrustManager
local PluginValidator = security.PluginValidator
local failed, contains = plugins.failed, plugins.contains

local raised = require("support.misuse").raised

local function caps(...)
  local names = {}
  for i = 1, select("#", ...) do
    names[i] = string.format("%q", (select(i, ...)))
  end
  return "capabilities = [" .. table.concat(names, ", ") .. "]\n"
end

describe("SecurityManager", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  -- a manager with `policy`, and a plugin `name` whose export `go` runs `body`
  local function setup(policy, name, lines, body)
    local manager = plugins.manager({ security = SecurityManager(policy) })
    local dir = plugins.folder(root, name, {
      lines = lines,
      source = "local ctx_ref\nreturn { on_load = function(ctx) ctx_ref = ctx end,\n"
        .. "exports = { go = function(...) local ctx = ctx_ref\n" .. (body or "return nil") .. "\nend } }\n",
    })
    return manager, dir, manager:load_plugin(dir)
  end

  describe("the policy", function()
    it("without one, grants the safe capabilities to a plugin that declares them", function()
      local manager, _, result = setup(nil, "safe", caps("log", "bus:publish", "bus:subscribe", "config:read",
        "config:write"), "return ctx.log ~= nil and ctx.bus ~= nil and ctx.config ~= nil")
      assert.is_true(result.success, tostring(result.error))
      assert.is_true(manager:call("safe", "go"))
      assert.are.equal("sandboxed", manager:security():trust_level("safe"))
      manager:shutdown()
    end)

    it("refuses a capability it does not grant, naming each, before the plugin's code runs", function()
      local manager, dir = setup(nil, "greedy", caps("log", "fs:read", "os:exec"))
      fs.write(dir .. "/init.lua", plugins.marker(root .. "/ran") .. "return {}\n")
      local err = failed(manager:load_plugin(dir), "capability_denied")
      contains(err.message, '"greedy"', "fs:read, os:exec")
      contains(err.details, "does not grant")
      assert.is_nil(fs.read(root .. "/ran"))
      assert.is_nil(manager:get_plugin("greedy"))
      manager:shutdown()
    end)

    it("deny wins over grant", function()
      local manager, _, result = setup({ grant = { "log", "os:env" }, deny = { "os:env" } }, "envy", caps("os:env"))
      failed(result, "capability_denied")
      manager:shutdown()
    end)

    it("grants per plugin, and denies per plugin", function()
      local policy = { grant = { "log" },
        plugins = { special = { grant = { "os:env" } }, mute = { deny = { "log" } } } }
      local manager, _, result = setup(policy, "special", caps("os:env", "log"), "return os.getenv('HOME')")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal(os.getenv("HOME"), manager:call("special", "go"))
      local dir = plugins.folder(root, "mute", { lines = caps("log") })
      failed(manager:load_plugin(dir), "capability_denied")
      manager:shutdown()
    end)

    it("runs trusted plugins in the host's globals with the whole ctx", function()
      local manager, _, result = setup({ plugins = { admin = { trust = "trusted" } } }, "admin", "",
        "return io ~= nil and ctx.log ~= nil and ctx.bus ~= nil and ctx.config ~= nil")
      assert.is_true(result.success, tostring(result.error))
      assert.is_true(manager:call("admin", "go"))
      assert.are.equal("trusted", manager:security():trust_level("admin"))
      manager:shutdown()
    end)

    it("trusts every plugin with trust = 'trusted'", function()
      local manager, _, result = setup({ trust = "trusted" }, "open", caps("os:exec"), "return os.execute ~= nil")
      assert.is_true(result.success, tostring(result.error))
      assert.is_true(manager:call("open", "go"))
      manager:shutdown()
    end)

    it("trusts inline plugins, which are the host's own code", function()
      local manager = plugins.manager({ security = SecurityManager({ grant = {} }) })
      local result = manager:register_plugin({
        manifest = { name = "inline", version = "1.0.0", capabilities = { "os:exec" } },
        exports = { go = function() return os.execute ~= nil end },
      })
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("trusted", manager:security():trust_level("inline"))
      manager:shutdown()
    end)

    it("raises on a malformed policy, naming the field", function()
      contains(raised(function() SecurityManager({ grant = { "teleport" } }) end), "policy.grant",
        "unknown capability")
      contains(raised(function() SecurityManager({ paths = { read = { "data" } } }) end),
        "policy.paths.read[1]", "absolute")
      contains(raised(function() SecurityManager({ trust = "maybe" }) end), "policy.trust")
      contains(raised(function() SecurityManager({ grnat = {} }) end), "grnat")
      contains(raised(function() SecurityManager({ limits = { instructions = -1 } }) end), "policy.limits.instructions")
      contains(raised(function() SecurityManager({ trust_manager = {} }) end), "policy.trust_manager")
      contains(raised(function() SecurityManager(42) end), "argument 'policy'")
      local sm = SecurityManager()
      contains(raised(function() sm:admit("plan", "file") end), "SecurityManager:admit", "argument 'plan'")
      contains(raised(function() sm:admit({ id = "x" }, "disk") end), "SecurityManager:admit", "argument 'origin'")
      contains(raised(function() sm:trust_level(7) end), "SecurityManager:trust_level", "argument 'plugin_id'")
      contains(raised(function() sm.permissions() end), "SecurityManager:permissions")
      contains(raised(function() qtforge.core.PluginManager({ security = {} }) end), "option 'security'")
    end)

    it("admit answers without loading anything", function()
      local sm = SecurityManager({ limits = { instructions = 500 } })
      local grant = assert(sm:admit({ id = "x", capabilities = { "log" }, limits = { instructions = 9000 } }, "file"))
      assert.are.same({ "log" }, grant.capabilities)
      assert.are.equal(500, grant.limits.instructions)
      assert.are.equal("sandboxed", grant.trust)
      local none, err = sm:admit({ id = "x", capabilities = { "debug" } }, "file")
      assert.is_nil(none)
      assert.are.equal("capability_denied", err.code)
      assert.is_nil(sm:trust_level("x"))
    end)
  end)

  describe("capabilities", function()
    it("log adds ctx.log; print goes to the plugin's logger either way", function()
      local manager, logs = plugins.manager()
      local dir = plugins.folder(root, "talker", {
        lines = caps("log"),
        source = "return { on_load = function(ctx) print('hello', 42); ctx.log.warn('careful') end }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      local seen = {}
      for _, line in ipairs(logs) do
        if line.plugin_id == "talker" then
          seen[#seen + 1] = line.level .. ":" .. line.message
        end
      end
      assert.are.same({ "info:hello\t42", "warn:careful" }, seen)
      manager:shutdown()
    end)

    it("bus:publish alone gives no subscribe, and bus:subscribe alone no publish", function()
      local manager, _, result = setup(nil, "pub", caps("bus:publish"),
        "return ctx.bus.publish ~= nil, ctx.bus.subscribe == nil, ctx.bus.respond == nil")
      assert.is_true(result.success)
      assert.are.same({ true, true, true }, { manager:call("pub", "go") })
      local dir = plugins.folder(root, "sub", {
        lines = caps("bus:subscribe"),
        source = "local b\nreturn { on_load = function(ctx) b = ctx.bus end,"
          .. " exports = { go = function() return b.subscribe ~= nil, b.publish == nil end } }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      assert.are.same({ true, true }, { manager:call("sub", "go") })
      manager:shutdown()
    end)

    it("bus messages carry the plugin's id, and handlers of a sandboxed plugin run", function()
      local manager = plugins.manager()
      local dir = plugins.folder(root, "echo", {
        lines = caps("bus:publish", "bus:subscribe"),
        source = "return { on_load = function(ctx) ctx.bus:subscribe('ping', function(m)"
          .. " ctx.bus:publish('pong', m.data + 1) end) end }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      local got
      manager:bus():subscribe("pong", function(message)
        got = { message.sender, message.data }
      end)
      manager:bus():publish("ping", 1)
      assert.are.same({ "echo", 2 }, got)
      manager:shutdown()
    end)

    it("config:read reads, and only config:write writes", function()
      local manager = plugins.manager()
      local dir = plugins.folder(root, "reader", {
        lines = caps("config:read"),
        config = 'greeting = "hi"\n',
        source = "local c\nreturn { on_load = function(ctx) c = ctx.config end,"
          .. " exports = { go = function() return c.greeting, c.set end } }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      local greeting, set = manager:call("reader", "go")
      assert.are.equal("hi", greeting)
      assert.is_nil(set)
      local writer = plugins.folder(root, "writer", {
        lines = caps("config:write", "config:read"),
        source = "local c\nreturn { on_load = function(ctx) c = ctx.config end,"
          .. " exports = { go = function() c:set('n', 5); return c:get('n') end } }",
      })
      assert.is_true(manager:load_plugin(writer).success)
      assert.are.equal(5, manager:call("writer", "go"))
      assert.are.equal(5, manager:config():get("plugins.writer.n"))
      manager:shutdown()
    end)

    describe("fs:read and fs:write", function()
      local outside

      before_each(function()
        outside = root .. "/outside"
        fs.mkdir(outside)
        fs.write(outside .. "/secret.txt", "secret")
      end)

      it("read the plugin's own folder, and nothing outside it", function()
        local manager, dir, result = setup({ grant = { "fs:read" } }, "reader", caps("fs:read"),
          "local path = ...\nlocal f, err = io.open(path)\nif not f then return nil, err end\n"
            .. "local text = f:read('a'); f:close(); return text")
        assert.is_true(result.success, tostring(result.error))
        fs.write(dir .. "/data.txt", "mine")
        assert.are.equal("mine", manager:call("reader", "go", "data.txt"))
        assert.are.equal("mine", manager:call("reader", "go", dir .. "/data.txt"))
        local text, err = manager:call("reader", "go", outside .. "/secret.txt")
        assert.is_nil(text)
        contains(err, "outside the paths")
        text = manager:call("reader", "go", "../outside/secret.txt")
        assert.is_nil(text)
        local linked = os.execute("ln -s '" .. outside .. "/secret.txt' '" .. dir .. "/link.txt'")
        assert.is_true(linked == true or linked == 0)
        text = manager:call("reader", "go", "link.txt")
        assert.is_nil(text)
        manager:shutdown()
      end)

      it("cannot write with fs:read alone", function()
        local manager, _, result = setup({ grant = { "fs:read" } }, "reader", caps("fs:read"),
          "return io.open('new.txt', 'w')")
        assert.is_true(result.success)
        local file, err = manager:call("reader", "go")
        assert.is_nil(file)
        contains(err, "fs:write")
        manager:shutdown()
      end)

      it("write the plugin's folder and the policy's paths, nowhere else", function()
        local policy = { grant = { "fs:write" }, paths = { write = { outside } } }
        local manager, dir, result = setup(policy, "writer", caps("fs:write"),
          "local path = ...\nlocal f, err = io.open(path, 'w')\nif not f then return nil, err end\n"
            .. "f:write('x'); f:close(); return true")
        assert.is_true(result.success, tostring(result.error))
        assert.is_true(manager:call("writer", "go", "out.txt"))
        assert.are.equal("x", fs.read(dir .. "/out.txt"))
        assert.is_true(manager:call("writer", "go", outside .. "/allowed.txt"))
        local ok, err = manager:call("writer", "go", root .. "/elsewhere.txt")
        assert.is_nil(ok)
        contains(err, "outside the paths")
        assert.is_nil(fs.read(root .. "/elsewhere.txt"))
        manager:shutdown()
      end)
    end)

    it("os:env adds os.getenv", function()
      local manager, _, result = setup({ grant = { "os:env" } }, "env", caps("os:env"), "return os.getenv('HOME')")
      assert.is_true(result.success)
      assert.are.equal(os.getenv("HOME"), manager:call("env", "go"))
      manager:shutdown()
    end)

    it("os:exec adds os.execute, never os.exit", function()
      local manager, _, result = setup({ grant = { "os:exec" } }, "exec", caps("os:exec"),
        "return os.execute('true'), os.exit")
      assert.is_true(result.success)
      local ran, exit = manager:call("exec", "go")
      assert.truthy(ran)
      assert.is_nil(exit)
      manager:shutdown()
    end)

    it("require loads only the modules the policy names, read-only", function()
      local manager, _, result = setup({ grant = { "require" }, modules = { "support.fs" } }, "req", caps("require"),
        "local name = ...\nreturn require(name)")
      assert.is_true(result.success)
      local module = manager:call("req", "go", "support.fs")
      assert.is_function(module.read)
      assert.is_false((pcall(function() module.read = nil end)))
      assert.is_function(fs.read)
      local ok, err = pcall(manager.call, manager, "req", "go", "os")
      assert.is_false(ok)
      contains(err, "may not load module \"os\"", "support.fs")
      manager:shutdown()
    end)

    it("host shows the host's own globals, never the standard ones", function()
      _G.qtforge_host_thing = { answer = 42 }
      local manager, _, result = setup({ grant = { "host" } }, "hosted", caps("host"),
        "return qtforge_host_thing and qtforge_host_thing.answer, io, debug")
      assert.is_true(result.success)
      assert.are.same({ 42, nil, nil }, { manager:call("hosted", "go") })
      _G.qtforge_host_thing = nil
      manager:shutdown()
    end)

    it("host_globals narrows what host shows", function()
      _G.qtforge_host_a, _G.qtforge_host_b = 1, 2
      local manager, _, result = setup({ grant = { "host" }, host_globals = { "qtforge_host_a" } }, "narrow",
        caps("host"), "return qtforge_host_a, qtforge_host_b")
      assert.is_true(result.success)
      assert.are.same({ 1, nil }, { manager:call("narrow", "go") })
      _G.qtforge_host_a, _G.qtforge_host_b = nil, nil
      manager:shutdown()
    end)

    it("plugins adds ctx.plugins: lifecycle operations, not the manager's fields", function()
      local manager, _, result = setup({ grant = { "plugins" } }, "admin", caps("plugins"),
        "return ctx.plugins:load_order(), ctx.plugins._slots, ctx.plugins.get_plugin")
      assert.is_true(result.success)
      local order, slots, get_plugin = manager:call("admin", "go")
      assert.are.same({ "admin" }, order)
      assert.is_nil(slots)
      assert.is_nil(get_plugin)
      manager:shutdown()
    end)

    it("native plugins need the native capability", function()
      local manager = plugins.manager({ security = SecurityManager({ grant = { "log" } }) })
      local sm = manager:security()
      local grant, err = sm:admit({ id = "n" }, "native")
      assert.is_nil(grant)
      assert.are.equal("capability_denied", err.code)
      contains(err.message, "native")
      manager:shutdown()
    end)
  end)

  describe("PermissionSystem", function()
    it("checks and lists what loaded plugins hold", function()
      local manager, _, result = setup(nil, "holder", caps("log", "bus:publish"))
      assert.is_true(result.success)
      local permissions = PermissionSystem(manager:security())
      assert.are.equal(manager:security():permissions(), permissions)
      assert.is_true(permissions:check("holder", "log"))
      assert.is_false(permissions:check("holder", "fs:read"))
      assert.is_false(permissions:check("nobody", "log"))
      assert.are.same({ "bus:publish", "log" }, permissions:grants("holder"))
      assert.is_nil(permissions:grants("nobody"))
      manager:unload_plugin("holder")
      assert.is_false(permissions:check("holder", "log"))
      assert.is_nil(permissions:grants("holder"))
      manager:shutdown()
    end)

    it("raises on misuse, naming the method and argument", function()
      local permissions = SecurityManager():permissions()
      contains(raised(function() permissions:check(1, "log") end), "PermissionSystem:check", "plugin_id")
      contains(raised(function() permissions:check("a", 2) end), "PermissionSystem:check", "capability")
      contains(raised(function() permissions.grants(nil, "a") end), "PermissionSystem:grants")
      contains(raised(function() PermissionSystem({}) end), "PermissionSystem", "security")
    end)
  end)

  describe("integrity and signatures at load", function()
    local function seal(dir, name)
      local hashes = assert(PluginValidator.hash_files(dir))
      hashes["plugin.toml"] = nil
      local lines = { fs.manifest(name, "1.0.0"), "[integrity]\n" }
      for file, hash in pairs(hashes) do
        lines[#lines + 1] = string.format("%q = %q\n", file, hash)
      end
      fs.write(dir .. "/plugin.toml", table.concat(lines))
    end

    it("loads a plugin whose files match its [integrity], and refuses a tampered one", function()
      local manager = plugins.manager()
      local dir = plugins.folder(root, "sealed", { source = "return { exports = { f = function() return 1 end } }" })
      seal(dir, "sealed")
      assert.is_true(manager:load_plugin(dir).success)
      manager:unload_plugin("sealed")
      fs.write(dir .. "/init.lua", "return { exports = { f = function() return 'evil' end } }")
      local err = failed(manager:load_plugin(dir), "integrity_mismatch")
      contains(err.details, "init.lua")
      assert.is_nil(manager:get_plugin("sealed"))
      manager:shutdown()
    end)

    it("refuses a reload whose files no longer match, keeping the old version", function()
      local manager = plugins.manager()
      local dir = plugins.folder(root, "sealed", { source = "return { exports = { f = function() return 1 end } }" })
      seal(dir, "sealed")
      assert.is_true(manager:load_plugin(dir).success)
      fs.write(dir .. "/init.lua", "return { exports = { f = function() return 2 end } }")
      failed(manager:reload_plugin("sealed"), "integrity_mismatch")
      assert.are.equal(1, manager:call("sealed", "f"))
      manager:shutdown()
    end)

    it("checks a qtforge.lock beside the folder at load", function()
      local manager = plugins.manager()
      local dir = plugins.folder(root, "locked", { source = "return { exports = { f = function() return 1 end } }" })
      assert.is_true(PluginValidator.lock(root).success)
      assert.is_true(manager:load_plugin(dir).success)
      manager:unload_plugin("locked")
      fs.write(dir .. "/extra.lua", "return 'unvouched'")
      local err = failed(manager:load_plugin(dir), "integrity_mismatch")
      contains(err.details, "extra.lua")
      manager:shutdown()
    end)

    it("require_integrity refuses plugins no list vouches for", function()
      local manager = plugins.manager({ security = SecurityManager({ require_integrity = true }) })
      local dir = plugins.folder(root, "loose")
      local err = failed(manager:load_plugin(dir), "integrity_mismatch")
      contains(err.details, "require")
      local file = root .. "/single.lua"
      fs.write(file, "return { manifest = { name = 'single', version = '1.0.0' } }")
      failed(manager:load_plugin(file), "integrity_mismatch")
      local sealed = plugins.folder(root, "sealed")
      seal(sealed, "sealed")
      assert.is_true(manager:load_plugin(sealed).success)
      manager:shutdown()
    end)

    describe("with a TrustManager", function()
      local trust, public, secret

      before_each(function()
        public, secret = TrustManager.generate_keypair()
        trust = TrustManager()
        trust:trust_key("release", public)
      end)

      local function manager_with_trust()
        return plugins.manager({ security = SecurityManager({ trust_manager = trust }) })
      end

      it("loads a plugin signed by a trusted key as trusted", function()
        local manager = manager_with_trust()
        local dir = plugins.folder(root, "signed", {
          source = "return { exports = { f = function() return io ~= nil end } }",
        })
        assert.is_true(TrustManager.sign(dir, secret).success)
        assert.is_true(manager:load_plugin(dir).success)
        assert.are.equal("trusted", manager:security():trust_level("signed"))
        assert.is_true(manager:call("signed", "f"))
        manager:shutdown()
      end)

      it("sandboxes an unsigned plugin, and one signed by a key it does not trust", function()
        local manager = manager_with_trust()
        local unsigned = plugins.folder(root, "unsigned", {
          source = "return { exports = { f = function() return io end } }",
        })
        assert.is_true(manager:load_plugin(unsigned).success)
        assert.are.equal("sandboxed", manager:security():trust_level("unsigned"))
        assert.is_nil(manager:call("unsigned", "f"))
        local _, other_secret = TrustManager.generate_keypair()
        local stranger = plugins.folder(root, "stranger")
        assert.is_true(TrustManager.sign(stranger, other_secret).success)
        assert.is_true(manager:load_plugin(stranger).success)
        assert.are.equal("sandboxed", manager:security():trust_level("stranger"))
        manager:shutdown()
      end)

      it("refuses a tampered signed plugin with signature_invalid", function()
        local manager = manager_with_trust()
        local dir = plugins.folder(root, "signed")
        assert.is_true(TrustManager.sign(dir, secret).success)
        fs.write(dir .. "/init.lua", plugins.marker(root .. "/ran") .. "return {}")
        failed(manager:load_plugin(dir), "signature_invalid")
        assert.is_nil(fs.read(root .. "/ran"))
        assert.is_nil(manager:get_plugin("signed"))
        manager:shutdown()
      end)
    end)
  end)
end)
