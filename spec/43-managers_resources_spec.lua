-- qtforge.managers.ResourceManager: handles, releasing one or all of an
-- owner's resources (newest first), release functions that raise, quotas,
-- stats and the leak report; and with a real PluginManager, each plugin's
-- ctx.resources released when it unloads, fails to start or is reloaded.
local qtforge = require("qtforge")
local misuse = require("support.misuse")
local fs = require("support.fs")
local plugins = require("support.plugins")

local ResourceManager = qtforge.managers.ResourceManager
local PluginManager = qtforge.core.PluginManager
local Error = qtforge.Error
local monotonic = qtforge.utils.monotonic

local contains = plugins.contains

-- A release function that appends `name` to `log`.
local function releaser(log, name)
  return function(...)
    assert(select("#", ...) == 0, "a release function is called without arguments")
    log[#log + 1] = name
  end
end

-- An inline plugin `id` with the given hooks.
local function inline(id, hooks)
  local plugin = { manifest = { name = id, version = "1.0.0" } }
  for k, v in pairs(hooks or {}) do
    plugin[k] = v
  end
  return plugin
end

-- The leak report as "owner/kind/label" strings, oldest first.
local function held(resources)
  local out = {}
  for i, entry in ipairs(resources:leak_report()) do
    out[i] = entry.owner .. "/" .. entry.kind .. "/" .. entry.label
  end
  return out
end

describe("ResourceManager", function()
  local rm, log

  before_each(function()
    rm = ResourceManager()
    log = {}
  end)

  it("register returns handles with an id, owner, kind and label", function()
    local a = rm:register("audio", "buffer", releaser(log, "a"), { label = "music" })
    local b = rm:register("audio", "buffer", releaser(log, "b"))
    local c = rm:register("video", "texture", releaser(log, "c"))
    assert.are.equal("audio", a.owner)
    assert.are.equal("buffer", a.kind)
    assert.are.equal("music", a.label)
    assert.are.equal("", b.label)
    assert.is_true(b.id > a.id)
    assert.is_true(c.id > b.id)
    assert.are.equal(string.format("qtforge.managers.Resource(%d, texture of video)", c.id), tostring(c))
    assert.is_true(a:held())
    assert.are.equal(2, rm:count("audio", "buffer"))
    assert.are.equal(0, rm:count("audio", "texture"))
    assert.are.equal("qtforge.managers.ResourceManager (3 held)", tostring(rm))
    -- nothing was released on the way
    assert.are.same({}, log)
  end)

  it("release_all(owner) releases that owner's resources newest first and counts them", function()
    rm:register("a", "k1", releaser(log, "a1"))
    rm:register("b", "k1", releaser(log, "b1"))
    rm:register("a", "k2", releaser(log, "a2"))
    rm:register("a", "k1", releaser(log, "a3"))
    rm:register("b", "k2", releaser(log, "b2"))
    local result = rm:release_all("a")
    assert.are.same({ released = 3, errors = {} }, result)
    assert.are.same({ "a3", "a2", "a1" }, log)
    assert.are.same({ "b/k1/", "b/k2/" }, held(rm))
    assert.are.equal(0, rm:count("a", "k1"))
    -- again: nothing left to release
    assert.are.same({ released = 0, errors = {} }, rm:release_all("a"))
    assert.are.same({ released = 0, errors = {} }, rm:release_all("nobody"))
    assert.are.same({ "a3", "a2", "a1" }, log)
  end)

  it("release(handle), release(id) and handle:release() release one, once", function()
    local a = rm:register("o", "k", releaser(log, "a"))
    local b = rm:register("o", "k", releaser(log, "b"))
    local c = rm:register("o", "k", releaser(log, "c"))
    assert.is_true(rm:release(b))
    assert.is_false(b:held())
    assert.is_true(a:held())
    assert.is_true(rm:release(c.id))
    assert.is_true(a:release())
    assert.are.same({ "b", "c", "a" }, log)
    -- releasing twice answers false and runs nothing
    assert.is_false(rm:release(b))
    assert.is_false(rm:release(c.id))
    assert.is_false(a:release())
    assert.is_false(rm:release(9999))
    assert.are.same({ "b", "c", "a" }, log)
    assert.are.same({ released = 0, errors = {} }, rm:release_all("o"))
    assert.are.same({}, rm:leak_report())
  end)

  it("a release function that raises gives a release_error, and the resource is gone all the same", function()
    local h = rm:register("o", "socket", function()
      error("close failed")
    end, { label = "upstream" })
    local ok, err = rm:release(h)
    assert.is_false(ok)
    assert.is_true(Error.is(err))
    assert.are.equal("release_error", err.code)
    contains(err.message, "socket", tostring(h.id), '"o"', "close failed")
    assert.are.equal("upstream", err.details)
    assert.is_false(h:held())
    assert.are.equal(0, rm:count("o", "socket"))
    assert.are.same({}, rm:leak_report())
    -- and it is not released a second time
    local again, again_err = rm:release(h)
    assert.is_false(again)
    assert.is_nil(again_err)
  end)

  it("release_all reports each failing release, counts it, and releases the rest", function()
    rm:register("o", "k", releaser(log, "first"))
    rm:register("o", "k", function()
      log[#log + 1] = "failing"
      error("boom")
    end, { label = "bad" })
    rm:register("o", "k", releaser(log, "last"))
    local result = rm:release_all("o")
    assert.are.equal(3, result.released)
    assert.are.equal(1, #result.errors)
    assert.are.equal("release_error", result.errors[1].code)
    contains(tostring(result.errors[1]), "boom", "bad")
    assert.are.same({ "last", "failing", "first" }, log)
    assert.are.same({}, rm:leak_report())
    assert.are.equal(3, rm:stats().released)
  end)

  it("handle:release() and rm:release() of a failing release give the same error shape", function()
    local h = rm:register("o", "k", function()
      error({ not_a_string = true })
    end)
    local ok, err = h:release()
    assert.is_false(ok)
    assert.are.equal("release_error", err.code)
    assert.is_string(err.message)
  end)

  describe("quotas", function()
    it("set_quota(nil, kind, n) limits every owner, and other kinds stay unlimited", function()
      assert.is_true(rm:set_quota(nil, "conn", 2))
      assert.are.equal(2, rm:quota("anyone", "conn"))
      assert.is_nil(rm:quota("anyone", "file"))
      for _, owner in ipairs({ "a", "b" }) do
        assert.is_table(rm:register(owner, "conn", releaser(log, owner .. "1")))
        assert.is_table(rm:register(owner, "conn", releaser(log, owner .. "2")))
        local handle, err = rm:register(owner, "conn", releaser(log, owner .. "3"))
        assert.is_nil(handle)
        assert.is_true(Error.is(err))
        assert.are.equal("quota_exceeded", err.code)
        contains(err.message, '"' .. owner .. '"', "2", '"conn"')
        assert.are.equal(2, rm:count(owner, "conn"))
      end
      for i = 1, 20 do
        assert.is_table(rm:register("a", "file", releaser(log, "f" .. i)))
      end
      assert.are.equal(20, rm:count("a", "file"))
      -- a refused register holds nothing
      assert.are.equal(24, rm:stats().held)
    end)

    it("a per-owner quota overrides the default, above or below it", function()
      rm:set_quota(nil, "conn", 2)
      rm:set_quota("vip", "conn", 3)
      rm:set_quota("tight", "conn", 1)
      assert.are.equal(3, rm:quota("vip", "conn"))
      assert.are.equal(1, rm:quota("tight", "conn"))
      assert.are.equal(2, rm:quota("plain", "conn"))
      for _ = 1, 3 do
        assert.is_table(rm:register("vip", "conn", releaser(log, "v")))
      end
      assert.is_nil(rm:register("vip", "conn", releaser(log, "v")))
      assert.is_table(rm:register("tight", "conn", releaser(log, "t")))
      assert.is_nil(rm:register("tight", "conn", releaser(log, "t")))
      -- lifting the owner's quota falls back to the default
      rm:set_quota("tight", "conn", nil)
      assert.are.equal(2, rm:quota("tight", "conn"))
      assert.is_table(rm:register("tight", "conn", releaser(log, "t")))
      assert.is_nil(rm:register("tight", "conn", releaser(log, "t")))
      -- lifting the default leaves the kind unlimited for owners without their own
      rm:set_quota(nil, "conn", nil)
      assert.is_nil(rm:quota("plain", "conn"))
      for _ = 1, 5 do
        assert.is_table(rm:register("plain", "conn", releaser(log, "p")))
      end
      assert.are.equal(3, rm:quota("vip", "conn"))
    end)

    it("release makes room, and a quota of 0 allows none", function()
      rm:set_quota("o", "conn", 1)
      local first = rm:register("o", "conn", releaser(log, "1"))
      assert.is_nil(rm:register("o", "conn", releaser(log, "2")))
      assert.is_true(first:release())
      local second = rm:register("o", "conn", releaser(log, "2"))
      assert.is_table(second)
      rm:release_all("o")
      assert.is_table(rm:register("o", "conn", releaser(log, "3")))
      rm:set_quota("none", "conn", 0)
      local handle, err = rm:register("none", "conn", releaser(log, "x"))
      assert.is_nil(handle)
      assert.are.equal("quota_exceeded", err.code)
    end)
  end)

  it("stats() counts what is held and released, by owner and kind", function()
    assert.are.same({ held = 0, released = 0, owners = {} }, rm:stats())
    rm:register("a", "conn", releaser(log, "1"))
    local h = rm:register("a", "conn", releaser(log, "2"))
    rm:register("a", "file", releaser(log, "3"))
    rm:register("b", "conn", releaser(log, "4"))
    assert.are.same({ held = 4, released = 0, owners = { a = { conn = 2, file = 1 }, b = { conn = 1 } } }, rm:stats())
    h:release()
    rm:release_all("b")
    assert.are.same({ held = 2, released = 2, owners = { a = { conn = 1, file = 1 } } }, rm:stats())
  end)

  it("leak_report() lists what is held, oldest first, with ids, owners, kinds, labels and ages", function()
    local a = rm:register("audio", "buffer", releaser(log, "a"), { label = "music" })
    local b = rm:register("net", "socket", releaser(log, "b"))
    -- a few milliseconds apart: each age is measured when the report is made,
    -- entry by entry, so resources registered microseconds apart may tie either way
    local until_time = monotonic() + 0.005
    repeat
    until monotonic() >= until_time
    local c = rm:register("audio", "stream", releaser(log, "c"), { label = "voice" })
    b:release()
    local report = rm:leak_report()
    assert.are.equal(2, #report)
    assert.are.equal(a.id, report[1].id)
    assert.are.equal("audio", report[1].owner)
    assert.are.equal("buffer", report[1].kind)
    assert.are.equal("music", report[1].label)
    assert.are.equal(c.id, report[2].id)
    assert.are.equal("stream", report[2].kind)
    assert.are.equal("voice", report[2].label)
    for _, entry in ipairs(report) do
      assert.is_number(entry.age)
      assert.is_true(entry.age >= 0 and entry.age < 60, tostring(entry.age))
    end
    -- the older one has been held longer
    assert.is_true(report[1].age > report[2].age, report[1].age .. " <= " .. report[2].age)
    assert.are.same({ "b" }, log)
  end)
end)

-- Misuse: each case is a one-line function, so the line it is defined on is
-- the line of the bad call.
local rm, handle
local function f() end

local CASES = {
  { "ResourceManager:register: argument 'owner' must be a non-empty string, got \"\"",
    function() local _ = rm:register("", "k", f) end },
  { "ResourceManager:register: argument 'owner' must be a non-empty string, got nil",
    function() local _ = rm:register(nil, "k", f) end },
  { "ResourceManager:register: argument 'kind' must be a non-empty string, got number",
    function() local _ = rm:register("o", 1, f) end },
  { "ResourceManager:register: argument 'release' must be a function, got nil",
    function() local _ = rm:register("o", "k") end },
  { 'ResourceManager:register: unknown option "lable" (known: label)',
    function() local _ = rm:register("o", "k", f, { lable = "x" }) end },
  { "ResourceManager:register: option 'label' must be a string, got number",
    function() local _ = rm:register("o", "k", f, { label = 1 }) end },
  { "ResourceManager:release: argument 'resource' must be a resource handle or id, got \"x\"",
    function() local _ = rm:release("x") end },
  { "ResourceManager:release: argument 'resource' must be a resource handle or id, got number",
    function() local _ = rm:release(1.5) end },
  { "ResourceManager:release_all: argument 'owner' must be a non-empty string, got nil",
    function() local _ = rm:release_all() end },
  { "ResourceManager:set_quota: argument 'limit' must be a non-negative integer or nil, got -1",
    function() local _ = rm:set_quota("o", "k", -1) end },
  { "ResourceManager:set_quota: argument 'limit' must be a non-negative integer or nil, got 1.5",
    function() local _ = rm:set_quota(nil, "k", 1.5) end },
  { "ResourceManager:set_quota: argument 'kind' must be a non-empty string, got nil",
    function() local _ = rm:set_quota("o") end },
  { "ResourceManager:quota: argument 'owner' must be a non-empty string, got nil",
    function() local _ = rm:quota(nil, "k") end },
  { "ResourceManager:count: argument 'kind' must be a non-empty string, got nil",
    function() local _ = rm:count("o") end },
  { 'ResourceManager: unknown option "x"', function() local _ = ResourceManager({ x = 1 }) end },
  -- called with '.' instead of ':'
  { "ResourceManager:register: call it with ':' on a ResourceManager, got \"o\"",
    function() local _ = rm.register("o", "k", f) end },
  { "ResourceManager:release: call it with ':' on a ResourceManager, got number",
    function() local _ = rm.release(1) end },
  { "ResourceManager:release_all: call it with ':' on a ResourceManager, got \"o\"",
    function() local _ = rm.release_all("o") end },
  { "ResourceManager:stats: call it with ':' on a ResourceManager, got nil", function() local _ = rm.stats() end },
  { "ResourceManager:leak_report: call it with ':' on a ResourceManager, got nil",
    function() local _ = rm.leak_report() end },
  { "Resource:release: call it with ':' on a resource, got nil", function() local _ = handle.release() end },
  { "Resource:held: call it with ':' on a resource, got table", function() local _ = handle.held({}) end },
}

describe("ResourceManager misuse", function()
  local log

  before_each(function()
    log = {}
    rm = ResourceManager()
    handle = rm:register("o", "k", releaser(log, "h"))
  end)

  for _, case in ipairs(CASES) do
    local expected, fn = case[1], case[2]
    it("raises \"" .. expected .. "\" at the caller's line and changes nothing", function()
      assert.are.equal(expected, misuse.raised_at_caller(fn):sub(1, #expected))
      assert.are.same({ "o/k/" }, held(rm))
      assert.are.same({}, log)
      assert.is_true(handle:held())
    end)
  end
end)

describe("ctx.resources with a PluginManager", function()
  local manager, resources, log

  before_each(function()
    manager = plugins.manager()
    resources = manager:resources()
    log = {}
  end)

  after_each(function()
    manager:shutdown()
  end)

  -- hooks that record themselves and register `n` resources in on_load
  local function holder(n, extra)
    local hooks = {
      on_load = function(ctx)
        for i = 1, n do
          assert(ctx.resources:register("timer", releaser(log, ctx.id .. ":" .. i), { label = "t" .. i }))
        end
      end,
      on_stop = function(ctx)
        log[#log + 1] = ctx.id .. ":on_stop"
      end,
      on_unload = function(ctx)
        log[#log + 1] = ctx.id .. ":on_unload"
      end,
    }
    for k, v in pairs(extra or {}) do
      hooks[k] = v
    end
    return hooks
  end

  it("is the manager's ResourceManager, with the plugin as the owner", function()
    assert.are.equal("qtforge.managers.ResourceManager", getmetatable(resources).__name)
    local seen
    manager:register_plugin(inline("p", holder(2, { on_start = function(ctx)
      seen = { ctx.resources:count("timer"), ctx.resources:quota("timer") }
    end })))
    assert.are.same({ 2 }, seen)
    assert.are.same({ "p/timer/t1", "p/timer/t2" }, held(resources))
    assert.are.same({ p = { timer = 2 } }, resources:stats().owners)
  end)

  it("releases a plugin's resources newest first when it unloads, after its hooks", function()
    assert.is_true(manager:register_plugin(inline("p", holder(3))).success)
    assert.is_true(manager:register_plugin(inline("q", holder(1))).success)
    local result = manager:unload_plugin("p")
    assert.is_true(result.success, tostring(result.error))
    assert.are.same({}, result.errors)
    assert.are.same({ "p:on_stop", "p:on_unload", "p:3", "p:2", "p:1" }, log)
    assert.are.same({ "q/timer/t1" }, held(resources))
    assert.is_nil(resources:stats().owners.p)
    assert.are.equal(0, resources:count("p", "timer"))
  end)

  it("releases what a plugin registered when its on_start fails", function()
    local result = manager:register_plugin(inline("p", holder(2, { on_start = function(ctx)
      assert(ctx.resources:register("socket", releaser(log, "p:socket")))
      error("cannot start")
    end })))
    local err = plugins.failed(result, "load_error")
    contains(err.message, "on_start", "cannot start")
    assert.are.same({ "p:on_unload", "p:socket", "p:2", "p:1" }, log)
    assert.are.same({}, resources:leak_report())
    assert.are.same({ held = 0, released = 3, owners = {} }, resources:stats())
    assert.is_nil(manager:get_plugin("p"))
  end)

  it("releases what a plugin registered when its on_load fails", function()
    local result = manager:register_plugin(inline("p", { on_load = function(ctx)
      ctx.resources:register("timer", releaser(log, "p:1"))
      ctx.resources:register("timer", releaser(log, "p:2"))
      error("cannot load")
    end }))
    plugins.failed(result, "load_error")
    assert.are.same({ "p:2", "p:1" }, log)
    assert.are.same({}, resources:leak_report())
  end)

  it("reports a failing release in the unload result and still unloads", function()
    manager:register_plugin(inline("p", { on_load = function(ctx)
      ctx.resources:register("timer", releaser(log, "p:1"))
      ctx.resources:register("timer", function()
        error("stuck timer")
      end, { label = "stuck" })
    end }))
    local result = manager:unload_plugin("p")
    assert.is_true(result.success)
    assert.are.equal(1, #result.errors)
    assert.are.equal("release_error", result.errors[1].code)
    contains(tostring(result.errors[1]), "stuck timer")
    assert.are.same({ "p:1" }, log)
    assert.are.same({}, resources:leak_report())
    assert.is_nil(manager:get_plugin("p"))
  end)

  it("lets a plugin release only its own resources", function()
    local mine, theirs, ctx_b
    manager:register_plugin(inline("a", { on_load = function(ctx)
      theirs = ctx.resources:register("timer", releaser(log, "a:1"))
    end }))
    manager:register_plugin(inline("b", { on_load = function(ctx)
      ctx_b = ctx
      mine = ctx.resources:register("timer", releaser(log, "b:1"))
    end }))
    assert.are.equal("b", mine.owner)
    assert.is_false(ctx_b.resources:release(theirs))
    assert.is_false(ctx_b.resources:release(theirs.id))
    assert.is_true(theirs:held())
    assert.are.same({}, log)
    assert.is_true(ctx_b.resources:release(mine))
    assert.is_false(ctx_b.resources:release(mine))
    assert.are.same({ "b:1" }, log)
    assert.are.same({ "a/timer/" }, held(resources))
  end)

  it("applies the manager's quotas to plugins", function()
    resources:set_quota(nil, "timer", 2)
    local answers
    local result = manager:register_plugin(inline("p", { on_load = function(ctx)
      answers = { ctx.resources:quota("timer") }
      for i = 1, 3 do
        local h, err = ctx.resources:register("timer", releaser(log, "p:" .. i))
        answers[#answers + 1] = h and "ok" or err.code
      end
      answers[#answers + 1] = ctx.resources:count("timer")
    end }))
    assert.is_true(result.success, tostring(result.error))
    assert.are.same({ 2, "ok", "ok", "quota_exceeded", 2 }, answers)
  end)

  it("leaves resources of other owners alone, and shutdown releases every plugin's", function()
    local host = resources:register("host", "window", releaser(log, "host"))
    manager:register_plugin(inline("p", holder(1)))
    manager:register_plugin(inline("q", holder(2)))
    manager:shutdown()
    assert.are.same({ "q:on_stop", "q:on_unload", "q:2", "q:1", "p:on_stop", "p:on_unload", "p:1" }, log)
    assert.are.same({ "host/window/" }, held(resources))
    assert.is_true(host:held())
  end)

  it("releases the old version's resources when a folder plugin is reloaded", function()
    local root = fs.temp_dir()
    local source = [[
      local plugin = { exports = {} }
      local journal = {}
      function plugin.on_load(ctx)
        for i = 1, 2 do
          ctx.resources:register("buffer", function() journal[#journal + 1] = i end, { label = "b" .. i })
        end
      end
      function plugin.exports.journal() return journal end
      return plugin
    ]]
    local path = plugins.folder(root, "live", { source = source })
    local result = manager:load_plugin(path)
    assert.is_true(result.success, tostring(result.error))
    local old_journal = manager:call("live", "journal")
    assert.are.same({ "live/buffer/b1", "live/buffer/b2" }, held(resources))
    local before = resources:leak_report()
    assert.is_true(manager:reload_plugin("live").success)
    assert.are.same({ 2, 1 }, old_journal)
    local after = resources:leak_report()
    assert.are.same({ "live/buffer/b1", "live/buffer/b2" }, held(resources))
    assert.is_true(after[1].id > before[2].id)
    local new_journal = manager:call("live", "journal")
    assert.is_true(manager:unload_plugin("live").success)
    assert.are.same({ 2, 1 }, new_journal)
    assert.are.same({}, resources:leak_report())
    fs.remove(root)
  end)

  it("can be a ResourceManager the host passes in", function()
    local shared = ResourceManager()
    local other = plugins.manager({ resources = shared })
    assert.are.equal(shared, other:resources())
    other:register_plugin(inline("p", holder(1)))
    assert.are.same({ "p/timer/t1" }, held(shared))
    other:shutdown()
    assert.are.same({}, shared:leak_report())
  end)

  it("PluginManager refuses a resources option that is not a ResourceManager", function()
    local ok, message = pcall(PluginManager, { resources = 5 })
    assert.is_false(ok)
    contains(message, "PluginManager: option 'resources' must be a table, got number")
    ok, message = pcall(PluginManager, { resources = {} })
    assert.is_false(ok)
    contains(message, "PluginManager: option 'resources' must be a qtforge.managers.ResourceManager, got table")
    ok, message = pcall(PluginManager, { resources = qtforge.managers.LoggingManager() })
    assert.is_false(ok)
    contains(message, "must be a qtforge.managers.ResourceManager")
  end)
end)
