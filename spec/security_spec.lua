-- The sandbox holds: escape attempts by a plugin someone else wrote, each of
-- which must fail, and the host (and the other plugins) must not notice.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local SecurityManager = qtforge.security.SecurityManager
local failed, contains = plugins.failed, plugins.contains
local IS_JIT = type(rawget(_G, "jit")) == "table"

describe("the sandbox", function()
  local root, manager, logs

  before_each(function()
    root = fs.temp_dir()
    manager, logs = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
    _G.qtforge_leak = nil
  end)

  -- loads folder plugin `name` whose init.lua is `source`; asserts it loaded
  local function load(name, source, lines, into)
    local dir = plugins.folder(root, name, { source = source, lines = lines })
    local result = (into or manager):load_plugin(dir)
    assert.is_true(result.success, result.error and tostring(result.error))
    return dir
  end

  -- an escape attempt: `body` runs as export `go` of a fresh sandboxed plugin;
  -- returns what the call gave: true and results, or false and the error
  local attempts = 0
  local function attempt(body, lines)
    attempts = attempts + 1
    local name = "intruder" .. attempts
    load(name, "local ctx_ref\nreturn {\n  on_load = function(ctx) ctx_ref = ctx end,\n"
      .. "  exports = { go = function() local ctx = ctx_ref\n" .. body .. "\n end },\n}\n", lines)
    return pcall(manager.call, manager, name, "go")
  end

  -- the attempt raised, or gave back nothing
  local function foiled(ok, value)
    if ok then
      assert.is_nil(value)
    end
  end

  describe("escape attempts: host functions are absent", function()
    for _, name in ipairs({ "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname", "io",
      "require", "package", "dofile", "loadfile", "loadstring", "module", "debug", "collectgarbage", "newproxy",
      "getfenv", "setfenv", "ffi", "jit", "string.dump", "gcinfo" }) do
      it(name, function()
        foiled(attempt("return " .. name))
      end)
    end

    for _, call in ipairs({ "debug.getregistry()", "debug.getupvalue(print, 1)", "debug.sethook()",
      "debug.getmetatable('')", "debug.setmetatable(nil, {})" }) do
      it("the debug library: " .. call, function()
        assert.is_false((attempt("return " .. call)))
      end)
    end

    it("package.loaded and package.loadlib, through a global lookup", function()
      foiled(attempt("return _G.package and (_G.package.loaded or _G.package.loadlib)"))
    end)

    it("the host's globals, through _G", function()
      foiled(attempt("return _G.io or _G.os.execute or _G.debug"))
      assert.are.equal(_G.qtforge_leak, nil)
    end)

    it("setting a global: it stays the plugin's", function()
      assert.is_true((attempt("qtforge_leak = true; return qtforge_leak")))
      assert.is_nil(rawget(_G, "qtforge_leak"))
    end)
  end)

  describe("escape attempts: load", function()
    it("bytecode made by string.dump is not to be had", function()
      foiled(attempt("return string.dump(function() end)"))
    end)

    it("a hand-made binary chunk does not load", function()
      local ok, chunk, problem = attempt("return load('\\27Lua' .. string.rep('\\0', 40), 'x')")
      assert.is_true(ok)
      assert.is_nil(chunk)
      assert.is_string(problem)
    end)

    for _, mode in ipairs({ "b", "bt" }) do
      it("load in mode " .. mode .. " is refused", function()
        local ok, chunk, problem = attempt("return load('return 1', 'x', '" .. mode .. "')")
        assert.is_true(ok)
        assert.is_nil(chunk)
        contains(problem, "only text chunks")
      end)
    end

    it("load of text runs in the plugin's environment", function()
      foiled(attempt("return load('return io or debug or require')()"))
    end)

    it("load with an environment of its own gets nothing more", function()
      foiled(attempt("return load('return io or debug', 'x', 't', {})()"))
    end)

    it("a chunk name cannot pass for qtforge's own code", function()
      local ok, source = attempt("local f = load('return 1', '=qtforge/core/manager.lua'); return tostring(f)")
      assert.is_true(ok)
      assert.is_string(source)
    end)
  end)

  describe("escape attempts: metatables and shared libraries", function()
    it("getmetatable answers nothing for strings", function()
      foiled(attempt("return getmetatable('')"))
    end)

    it("the string metatable cannot be edited", function()
      foiled(attempt("getmetatable('').__index = { upper = function() return 'pwned' end }"))
      assert.are.equal("ABC", ("abc"):upper())
    end)

    it("string.rep = nil is refused, and another plugin still has string.rep", function()
      local ok, err = attempt("string.rep = nil")
      assert.is_false(ok)
      contains(tostring(err), "read-only")
      assert.are.equal("aaa", select(2, attempt("return string.rep('a', 3)")))
      assert.are.equal("function", type(string.rep))
    end)

    for _, lib in ipairs({ "string", "table", "math", "coroutine", "os" }) do
      it("rawset on the read-only view of " .. lib, function()
        local ok = attempt("rawset(" .. lib .. ", 'x', 1)")
        assert.is_false(ok)
      end)
    end

    it("pairs over a library view hands out no table to change", function()
      local ok = attempt("for _, v in pairs(string) do end\n"
        .. "local iter, state = pairs(string); rawset(state, 'rep', nil)")
      assert.is_false(ok)
      assert.are.equal("aaa", select(2, attempt("return string.rep('a', 3)")))
      local listed = select(2, attempt("local n = 0; for _ in pairs(math) do n = n + 1 end; return n"))
      if _VERSION == "Lua 5.4" then
        assert.is_true(listed > 10)
      end
    end)

    it("setmetatable on a library view", function()
      assert.is_false((attempt("setmetatable(string, { __index = function() return 'x' end })")))
    end)

    it("setmetatable(_G, ...)", function()
      assert.is_false((attempt("setmetatable(_G, { __index = function() return 'x' end })")))
    end)

    it("getmetatable of the environment and of the views", function()
      foiled(attempt("return getmetatable(_G) or getmetatable(string) or getmetatable(math)"))
    end)

    it("a plugin's change to its own tables' metatables works as in plain Lua", function()
      local ok, value = attempt("local t = setmetatable({}, { __index = function() return 7 end }); "
        .. "return getmetatable(t) and t.anything")
      assert.is_true(ok)
      assert.are.equal(7, value)
    end)

    it("a finalizer (__gc) cannot be set: it would run after unload, outside any quota", function()
      local ok, err = attempt("setmetatable({}, { __gc = function() end })")
      assert.is_false(ok)
      contains(tostring(err), "__gc")
    end)
  end)

  describe("escape attempts: host objects", function()
    it("ctx.bus hides the manager's bus", function()
      foiled(attempt("return rawget(ctx.bus or {}, '_bus') or (ctx.bus and ctx.bus._bus)",
        'capabilities = ["bus:publish"]\n'))
    end)

    it("getmetatable of ctx objects answers nothing", function()
      foiled(attempt("return getmetatable(ctx.bus) or getmetatable(ctx.log) or getmetatable(ctx.version) "
        .. "or getmetatable(ctx)", 'capabilities = ["bus:publish", "log"]\n'))
    end)

    it("rawset on ctx.bus to replace a method", function()
      assert.is_false((attempt("rawset(ctx.bus, 'publish', function() end)", 'capabilities = ["bus:publish"]\n')))
    end)

    it("ctx.config hides the configuration state", function()
      foiled(attempt("return ctx.config._state or rawget(ctx.config, '_state')", 'capabilities = ["config:read"]\n'))
    end)

    it("ctx.log hides the logging manager", function()
      foiled(attempt("return ctx.log._manager or rawget(ctx.log, '_manager')", 'capabilities = ["log"]\n'))
    end)

    it("ctx.resources hides the resource manager", function()
      foiled(attempt("return ctx.resources._manager"))
    end)

    it("a subscription record hides the bus", function()
      foiled(attempt("local s = ctx.bus:subscribe('x', function() end); return s.bus or s.owner or s.fn",
        'capabilities = ["bus:subscribe"]\n'))
    end)

    it("changing ctx.manifest.root does not move ctx.require", function()
      local dir = plugins.folder(root, "pathy", {
        source = "return { exports = { go = function() return nil end } }",
      })
      fs.write(root .. "/secret.lua", "return 'secret'\n")
      local ok, err = attempt("ctx.manifest.root = " .. string.format("%q", root)
        .. "; return ctx.require('secret')")
      assert.is_false(ok)
      contains(tostring(err), "secret")
      assert.is_string(dir)
    end)

    it("another plugin's exports are read-only through ctx.deps", function()
      load("victim", "return { exports = { f = function() return 'victim' end } }")
      local ok = attempt("ctx.deps.victim.f = function() return 'pwned' end", plugins.dep("victim"))
      assert.is_false(ok)
      assert.are.equal("victim", manager:call("victim", "f"))
    end)

    it("a handler that changes a message changes its own copy: the sender cannot be forged", function()
      load("forger", "return { on_load = function(ctx) ctx.bus:subscribe('deal', function(m)"
        .. " m.sender = 'admin'; m.data = 'forged' end, { priority = 10 }) end }", 'capabilities = ["bus:subscribe"]\n')
      local seen
      manager:bus():subscribe("deal", function(message)
        seen = { message.sender, message.data }
      end)
      manager:bus():publish(qtforge.communication.Message({ type = "deal", data = "real", sender = "host" }))
      assert.are.same({ "host", "real" }, seen)
    end)

    it("the classes of ctx.require('qtforge') are read-only, and still build objects", function()
      local ok = attempt("local q = ctx.require('qtforge'); q.Error.is = function() return true end")
      assert.is_false(ok)
      assert.is_false((attempt("local q = ctx.require('qtforge'); q.utils.Version.parse = nil")))
      assert.is_false((attempt("local q = ctx.require('qtforge'); q.communication.ServiceContract.new = nil")))
      assert.is_function(qtforge.Error.is)
      local built, version = attempt("local q = ctx.require('qtforge'); return q.utils.Version(1, 2, 3):to_string()")
      assert.is_true(built)
      assert.are.equal("1.2.3", version)
    end)

    it("a contract's metatable is not reachable through its fields", function()
      foiled(attempt("local q = ctx.require('qtforge')\n"
        .. "local c = q.communication.ServiceContract({ name = 'x', version = '1.0.0', methods = {} })\n"
        .. "return c.__index"))
    end)

    it("changing ctx.version does not change what the host reads", function()
      attempt("rawset(ctx.version, 'major', 99)")
      attempt("ctx.version.major = 99")
      assert.are.equal("1.0.0", manager:get_plugin("intruder" .. attempts):version():to_string())
    end)

    it("the manager is out of reach without the plugins capability", function()
      foiled(attempt("return ctx.plugins"))
    end)
  end)

  describe("errors a plugin raises", function()
    it("an error object whose __tostring and __index throw does not reach host code", function()
      local dir = plugins.folder(root, "thrower", {
        source = "local evil = setmetatable({}, { __tostring = function() error('gotcha') end,"
          .. " __index = function() error('gotcha') end, __concat = function() error('gotcha') end })\n"
          .. "return { on_load = function() error(evil) end }",
      })
      local result = manager:load_plugin(dir)
      local err = failed(result, "load_error")
      contains(err.message, "error value of type table")
    end)

    it("an error object that loops in __tostring does not hang the host", function()
      local dir = plugins.folder(root, "looper", {
        source = "local evil = setmetatable({}, { __tostring = function() while true do end end })\n"
          .. "return { on_load = function() error(evil) end }",
      })
      failed(manager:load_plugin(dir), "load_error")
    end)
  end)

  describe("quotas", function()
    local function limited(body, limits)
      local lines = "[limits]\n" .. (limits or "instructions = 100000\n")
      return attempt(body, lines)
    end

    local function quota(ok, err)
      assert.is_false(ok)
      assert.is_true(qtforge.Error.is(err), tostring(err))
      assert.are.equal("quota_exceeded", err.code)
      return err
    end

    it("an infinite loop", function()
      contains(quota(limited("while true do end")).message, "instruction quota")
    end)

    it("pcall around an infinite loop", function()
      quota(limited("while true do pcall(function() while true do end end) end"))
    end)

    it("xpcall with a handler that loops", function()
      quota(limited("xpcall(function() while true do end end, function() while true do end end)"))
    end)

    it("a loop in a coroutine", function()
      quota(limited("local co = coroutine.create(function() while true do end end); return coroutine.resume(co)"))
    end)

    it("a loop in coroutine.wrap", function()
      quota(limited("return coroutine.wrap(function() while true do end end)()"))
    end)

    it("deep recursion", function()
      quota(limited("local function f(n) return 1 + f(n + 1) end; return f(1)", "depth = 50\n"))
    end)

    it("a time quota", function()
      contains(quota(limited("while true do end", "time_ms = 20\n")).message, "time quota")
    end)

    it("debug.sethook to remove the quota is not there", function()
      quota(limited("if debug then debug.sethook() end; while true do end"))
    end)

    it("a loop inside load()ed code", function()
      quota(limited("load('while true do end')()"))
    end)

    it("a pathological pattern in string.find", function()
      local err = quota(limited("return string.find(string.rep('a', 30000), string.rep('a*', 20) .. 'b')"))
      contains(err.message, "pattern")
    end)

    it("a pathological pattern through a string method", function()
      quota(limited("local s = ('a'):rep(30000); return s:find(('a*'):rep(20) .. 'b')"))
    end)

    it("a pathological pattern in gsub, gmatch and match", function()
      quota(limited("return (('a'):rep(20000)):gsub(('a*'):rep(8) .. 'b', '')"))
      quota(limited("for _ in (('a'):rep(20000)):gmatch(('a*'):rep(8) .. 'b') do end"))
      quota(limited("return string.match(('a'):rep(20000), ('a-'):rep(8) .. 'b')"))
    end)

    it("a pathological pattern under a time quota alone", function()
      quota(limited("return string.find(string.rep('a', 30000), string.rep('a*', 20) .. 'b')", "time_ms = 50\n"))
    end)

    it("string.rep of a huge size, as a function and as a method", function()
      contains(quota(limited("return #string.rep('x', 1e9)")).message, "string")
      quota(limited("return #('x'):rep(1e9)"))
      quota(limited("return #string.rep('x', 1e6, ('y'):rep(1000))"))
    end)

    it("everyday patterns still work under a quota", function()
      local ok, text, count = limited("local s = ' ' .. string.rep('x', 10000) .. ' '\n"
        .. "local trimmed = s:match('^%s*(.-)%s*$')\n"
        .. "return #trimmed, select(2, ('a,b,c'):gsub('[^,]+', '%0%0'))")
      assert.is_true(ok, tostring(text))
      assert.are.equal(10000, text)
      assert.are.equal(3, count)
      assert.are.equal("ababab", ("ab"):rep(3))
      assert.are.equal(2, ("abc"):find("b"))
    end)

    it("a plugin without quotas is not slowed: its calls are the export itself", function()
      load("free", "return { exports = { f = function() return 1 end } }")
      local handle = manager:get_plugin("free")
      assert.are.equal(1, handle.exports.f())
      assert.are.equal(1, manager:call("free", "f"))
    end)

    it("the host goes on, and the plugin is failed after max_quota_failures", function()
      local security = SecurityManager({ max_quota_failures = 2 })
      local m = plugins.manager({ security = security })
      load("spinner", "return { exports = { spin = function() while true do end end, ok = function() return 1 end } }",
        "[limits]\ninstructions = 10000\n", m)
      local ok1, err1 = pcall(m.call, m, "spinner", "spin")
      assert.is_false(ok1)
      assert.are.equal("quota_exceeded", err1.code)
      assert.are.equal("running", m:get_plugin("spinner"):state())
      assert.are.equal(1, m:call("spinner", "ok"))
      pcall(m.call, m, "spinner", "spin")
      assert.are.equal("failed", m:get_plugin("spinner"):state())
      m:shutdown()
    end)

    it("a quota in update() fails the plugin, and the others still tick", function()
      load("ticker",
        "local n = 0\nreturn { update = function() n = n + 1 end, exports = { n = function() return n end } }")
      load("hog", "return { update = function() while true do end end }", "[limits]\ninstructions = 5000\n")
      manager:update_all_plugins(0.1)
      manager:update_all_plugins(0.1)
      assert.are.equal("failed", manager:get_plugin("hog"):state())
      assert.are.equal(2, manager:call("ticker", "n"))
    end)

    it("a plugin its quota fails inside update() is failed once", function()
      local m = plugins.manager({ security = SecurityManager({ max_quota_failures = 1 }) })
      local seen = plugins.record(m)
      load("hog", "return { update = function() while true do end end }", "[limits]\ninstructions = 5000\n", m)
      m:update_all_plugins(0.1)
      local failures = 0
      for _, event in ipairs(seen) do
        if event == "failed:hog" then
          failures = failures + 1
        end
      end
      assert.are.equal(1, failures)
      assert.are.equal("failed", m:get_plugin("hog"):state())
      m:shutdown()
    end)

    it("the policy caps what the manifest asks", function()
      local m = plugins.manager({ security = SecurityManager({ limits = { instructions = 5000 } }) })
      load("greedy", "return { exports = { spin = function() for _ = 1, 1e7 do end end } }",
        "[limits]\ninstructions = 100000000\n", m)
      local ok, err = pcall(m.call, m, "greedy", "spin")
      assert.is_false(ok)
      contains(err.message, "5000")
      m:shutdown()
    end)

    if IS_JIT then
      it("runs a plugin with quotas interpreted under LuaJIT (hooks fire in loops)", function()
        quota(limited("local x = 0; for i = 1, 1e9 do x = x + i end; return x"))
      end)
    end
  end)

  describe("revocation", function()
    it("closures and objects kept from before an unload lose their capabilities", function()
      local dir = plugins.folder(root, "keeper", {
        lines = 'capabilities = ["log", "bus:publish", "config:read"]\n',
        source = "return { on_load = function(ctx) kept = { ctx.log, ctx.bus, ctx.config, print } end,"
          .. " exports = { get = function() return kept end } }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      local kept = manager:call("keeper", "get")
      assert.is_true(manager:unload_plugin("keeper").success)
      local log, bus, config = kept[1], kept[2], kept[3]
      local ok, err = pcall(log.info, "after")
      assert.is_false(ok)
      contains(err, "revoked")
      ok, err = pcall(bus.publish, bus, "t", 1)
      assert.is_false(ok)
      contains(err, "revoked")
      ok, err = pcall(config.get, config, "x")
      assert.is_false(ok)
      contains(err, "revoked")
    end)

    it("after a reload, the old version's objects are revoked and the new ones work", function()
      local dir = plugins.folder(root, "phoenix", {
        lines = 'capabilities = ["bus:publish"]\n',
        source = "local bus\nreturn { on_load = function(ctx) bus = ctx.bus end,"
          .. " exports = { bus = function() return bus end } }",
      })
      assert.is_true(manager:load_plugin(dir).success)
      local old = manager:call("phoenix", "bus")
      assert.is_true(manager:reload_plugin("phoenix").success)
      local new = manager:call("phoenix", "bus")
      assert.is_false((pcall(old.publish, old, "t", 1)))
      assert.is_true((pcall(new.publish, new, "t", 1)))
    end)
  end)

  it("made at least 40 escape attempts", function()
    assert.is_true(attempts >= 40, "only " .. attempts .. " attempts")
  end)

  it("left the host's libraries as they were", function()
    assert.is_function(string.rep)
    assert.is_function(string.dump)
    assert.is_function(os.execute)
    assert.is_nil(rawget(_G, "qtforge_leak"))
    assert.is_table(logs)
  end)
end)
