-- qtforge.love in-process, with a fake `love` table: what the wrappers call and
-- in which order, a plugin that raises in an export or in update (failed,
-- listed, skipped; brought back by start_plugin or a reload), draw's graphics
-- stack, quit, detach, the overlay, and the misuse of attach and of the
-- attachment's methods. scripts/host-love.sh runs the same adapter in LÖVE.
local fake_love = require("support.fake_love")
local fs = require("support.fs")
local misuse = require("support.misuse")
local plugins = require("support.plugins")
local qtforge = require("qtforge")
local qlove = require("qtforge.love")

-- an error's details: this file and a line
local SPEC_FILE = "^" .. (debug.getinfo(1, "S").short_src:gsub("%p", "%%%0")) .. ":%d+$"

-- An inline plugin `id` with `exports`, and hooks (update, on_unload, ...).
local function inline(id, exports, hooks)
  local plugin = { manifest = { name = id, version = "1.0.0" }, exports = exports or {} }
  for name, fn in pairs(hooks or {}) do
    plugin[name] = fn
  end
  return plugin
end

-- An export that appends "<id>.<name>[:args]" to `trail`.
local function step(trail, id, name)
  return function(...)
    local args = { ... }
    for i = 1, select("#", ...) do
      args[i] = tostring(args[i])
    end
    trail[#trail + 1] = id .. "." .. name .. (#args > 0 and (":" .. table.concat(args, ",")) or "")
  end
end

local function detach_current()
  local current = qlove.current()
  if current ~= nil then
    current:detach()
  end
end

describe("qtforge.love.attach", function()
  local lv, manager, trail, logged

  -- attach with the fake love, the spec's manager and a log recorder
  local function attach(opts)
    opts = opts or {}
    opts.love = opts.love or lv
    if opts.manager == nil and opts.security == nil then
      opts.manager = manager
    end
    opts.log = opts.log or function(level, message)
      logged[#logged + 1] = { level = level, message = message }
    end
    return qlove.attach(opts)
  end

  before_each(function()
    lv = fake_love.new()
    manager = plugins.manager()
    trail, logged = {}, {}
  end)

  after_each(function()
    detach_current()
    manager:shutdown()
  end)

  it("returns the attachment, which current() answers, with its fields", function()
    assert.is_nil(qlove.current())
    local a = attach()
    assert.are.equal(a, qlove.current())
    assert.are.equal(manager, a.manager)
    assert.is_nil(a.reloader)
    assert.is_nil(a.results)
    assert.is_nil(a.plugins_dir)
    assert.is_false(a.dev)
    assert.are.same({}, a:errors())
    assert.are.equal("qtforge.love.Attachment", getmetatable(a).__name)
  end)

  it("runs the game's callback first, then each running plugin's export in load order, with the arguments", function()
    lv.keypressed = step(trail, "game", "keypressed")
    -- registered zulu first: the load order is zulu, alpha, not the ids' order
    manager:register_plugin(inline("zulu", { keypressed = step(trail, "zulu", "keypressed") }))
    manager:register_plugin(inline("alpha", { keypressed = step(trail, "alpha", "keypressed") }))
    manager:register_plugin(inline("quiet", {}))
    attach()
    lv.keypressed("space", "space", false)
    assert.are.same({ "game.keypressed:space,space,false", "zulu.keypressed:space,space,false",
      "alpha.keypressed:space,space,false" }, trail)
    assert.are.same({ "zulu", "alpha", "quiet" }, manager:load_order())
  end)

  it("dispatches an event the game has no callback for, and wraps every LÖVE 11 callback by default", function()
    manager:register_plugin(inline("p", { mousepressed = step(trail, "p", "mousepressed") }))
    attach()
    for _, name in ipairs(qlove.CALLBACKS) do
      assert.is_function(lv[name], name)
    end
    assert.is_function(lv.update)
    assert.is_function(lv.draw)
    assert.is_nil(lv.load)
    lv.mousepressed(10, 20, 1)
    assert.are.same({ "p.mousepressed:10,20,1" }, trail)
  end)

  it("wraps only the callbacks given in opts.callbacks, besides update and draw", function()
    local own = step(trail, "game", "mousepressed")
    lv.mousepressed = own
    manager:register_plugin(inline("p", { keypressed = step(trail, "p", "keypressed"),
      mousepressed = step(trail, "p", "mousepressed") }))
    attach({ callbacks = { "keypressed" } })
    assert.are.equal(own, lv.mousepressed)
    assert.is_nil(lv.textinput)
    lv.keypressed("a")
    lv.mousepressed(1, 2, 1)
    assert.are.same({ "p.keypressed:a", "game.mousepressed:1,2,1" }, trail)
  end)

  it("leaves out plugins that are not running, and takes in one that starts later", function()
    manager:register_plugin(inline("p", { keypressed = step(trail, "p", "keypressed") }))
    manager:register_plugin(inline("later", { keypressed = step(trail, "later", "keypressed") }), { start = false })
    attach()
    lv.keypressed("a")
    manager:stop_plugin("p")
    lv.keypressed("b")
    manager:start_plugin("later")
    lv.keypressed("c")
    assert.are.same({ "p.keypressed:a", "later.keypressed:c" }, trail)
  end)

  it("runs the game's update, then update_all_plugins(dt)", function()
    lv.update = step(trail, "game", "update")
    manager:register_plugin(inline("p", {}, { update = function(dt)
      trail[#trail + 1] = "p.update:" .. tostring(dt)
    end }))
    attach()
    lv.update(0.25)
    lv.update(0.5)
    assert.are.same({ "game.update:0.25", "p.update:0.25", "game.update:0.5", "p.update:0.5" }, trail)
  end)

  it("does not tick the plugins with update = false", function()
    lv.update = step(trail, "game", "update")
    manager:register_plugin(inline("p", {}, { update = step(trail, "p", "update") }))
    attach({ update = false })
    lv.update(0.25)
    assert.are.same({ "game.update:0.25" }, trail)
  end)

  describe("a plugin whose export raises", function()
    local a

    before_each(function()
      manager:register_plugin(inline("first", { keypressed = step(trail, "first", "keypressed") }))
      manager:register_plugin(inline("broken", { keypressed = function(key)
        trail[#trail + 1] = "broken.keypressed:" .. key
        if key == "x" then
          error("no x here")
        end
      end }))
      manager:register_plugin(inline("last", { keypressed = step(trail, "last", "keypressed") }))
      a = attach()
    end)

    it("is failed, listed with the callback's name, and logged with its traceback", function()
      lv.keypressed("x")
      local handle = manager:get_plugin("broken")
      assert.are.equal("failed", handle:state())
      assert.are.equal('plugin "broken" failed in keypressed: no x here', handle:last_error().message)
      local errors = a:errors()
      assert.are.equal(1, #errors)
      local entry = errors[1]
      assert.are.equal("broken", entry.plugin_id)
      assert.are.equal("keypressed", entry.stage)
      assert.is_true(qtforge.Error.is(entry.error))
      assert.are.equal("load_error", entry.error.code)
      assert.are.equal('plugin "broken" failed in keypressed: no x here', entry.error.message)
      assert.matches(SPEC_FILE, entry.error.details)
      assert.are.equal(tostring(entry.error), entry.message)
      assert.matches("^load_error: plugin \"broken\" failed in keypressed: no x here %(", entry.message)
      assert.matches("stack traceback", entry.traceback)
      assert.are.equal(1, #logged)
      assert.are.equal("error", logged[1].level)
      plugins.contains(logged[1].message, 'plugin "broken" failed in keypressed: no x here', "(plugin failed)",
        "stack traceback")
    end)

    it("does not keep the others from that event, nor the next, and gets no more events itself", function()
      lv.keypressed("x")
      lv.keypressed("y")
      assert.are.same({ "first.keypressed:x", "broken.keypressed:x", "last.keypressed:x",
        "first.keypressed:y", "last.keypressed:y" }, trail)
    end)

    it("sends the manager's failed event with the same error", function()
      local seen, events = plugins.record(manager)
      lv.keypressed("x")
      assert.are.same({ "failed:broken" }, seen)
      assert.are.equal('plugin "broken" failed in keypressed: no x here', events[1].error.message)
      -- the adapter's own entry, not a second "failed" one
      assert.are.equal(1, #a:errors())
      assert.are.equal("keypressed", a:errors()[1].stage)
    end)

    it("keeps one entry per plugin, its latest, in the order they first went wrong", function()
      lv.keypressed("x")
      manager:fail_plugin("first", "host says no", "host")
      assert.is_true(manager:start_plugin("broken").success)
      lv.keypressed("x")
      local errors = a:errors()
      assert.are.equal(2, #errors)
      assert.are.equal("first", errors[1].plugin_id)
      assert.are.equal("failed", errors[1].stage)
      assert.are.equal('plugin "first" failed in host: host says no', errors[1].error.message)
      assert.are.equal("broken", errors[2].plugin_id)
      assert.are.equal("keypressed", errors[2].stage)
    end)

    it("is brought back running by start_plugin, which removes its entry", function()
      lv.keypressed("x")
      assert.is_true(manager:start_plugin("broken").success)
      assert.are.equal("running", manager:get_plugin("broken"):state())
      assert.are.same({}, a:errors())
      lv.keypressed("z")
      assert.are.same({ "first.keypressed:z", "broken.keypressed:z", "last.keypressed:z" },
        { trail[4], trail[5], trail[6] })
    end)

    it("loses its entry when it unloads, and clear_errors empties the list", function()
      lv.keypressed("x")
      assert.is_true(manager:unload_plugin("broken").success)
      assert.are.same({}, a:errors())
      manager:fail_plugin("first", "again")
      assert.are.equal(1, #a:errors())
      a:clear_errors()
      assert.are.same({}, a:errors())
    end)

    it("counts as called in dispatch's answer, and is left out of the next", function()
      assert.are.same({ 3, false }, { a:dispatch("keypressed", "x") })
      assert.are.same({ 2, false }, { a:dispatch("keypressed", "x") })
    end)
  end)

  it("shows what an export raised when the plugin is already gone, as a call_error", function()
    manager:register_plugin(inline("leaver", { keypressed = function()
      manager:unload_plugin("leaver")
      error("gone and broken")
    end }))
    local a = attach()
    lv.keypressed("a")
    local entry = a:errors()[1]
    assert.are.equal("leaver", entry.plugin_id)
    assert.are.equal("keypressed", entry.stage)
    assert.are.equal("call_error", entry.error.code)
    assert.are.equal('plugin "leaver" failed in keypressed: gone and broken', entry.error.message)
    assert.matches(SPEC_FILE, entry.error.details)
  end)

  it("lists a plugin whose update raises with stage failed, and ticks the others", function()
    local ticks = 0
    manager:register_plugin(inline("bad", {}, { update = function()
      error("update broke")
    end }))
    manager:register_plugin(inline("good", {}, { update = function()
      ticks = ticks + 1
    end }))
    local a = attach()
    lv.update(0.1)
    lv.update(0.1)
    assert.are.equal(2, ticks)
    assert.are.equal("failed", manager:get_plugin("bad"):state())
    local errors = a:errors()
    assert.are.equal(1, #errors)
    assert.are.equal("bad", errors[1].plugin_id)
    assert.are.equal("failed", errors[1].stage)
    plugins.contains(errors[1].message, "update broke")
    assert.is_true(manager:start_plugin("bad").success)
    assert.are.same({}, a:errors())
  end)

  describe("with a plugin from a folder", function()
    local root, path, a

    local function write(source)
      fs.write(path .. "/init.lua", source)
    end

    local function version_source(v)
      return string.format([[
return { exports = {
  keypressed = function(key) if key == "boom" then error("boom in %s") end end,
  which = function() return %q end,
} }
]], v, v)
    end

    before_each(function()
      root = fs.temp_dir()
      path = plugins.folder(root, "disk", { source = version_source("v1") })
      assert.is_true(manager:load_plugin(path).success)
      a = attach()
    end)

    after_each(function()
      fs.remove(root)
    end)

    it("comes back running through reload_plugin, which removes its entry", function()
      lv.keypressed("boom")
      assert.are.equal("failed", manager:get_plugin("disk"):state())
      assert.are.equal("keypressed", a:errors()[1].stage)
      write(version_source("v2"))
      assert.is_true(manager:reload_plugin("disk").success)
      assert.are.equal("running", manager:get_plugin("disk"):state())
      assert.are.same({}, a:errors())
      assert.are.same({ 1, true }, { a:dispatch("which") })
      assert.are.equal("v2", manager:call("disk", "which"))
      assert.are.equal("info", logged[#logged].level)
      assert.are.equal("reloaded disk", logged[#logged].message)
    end)

    it("keeps a failed reload's entry after start_plugin, until a reload succeeds", function()
      lv.keypressed("boom")
      write("return {")
      assert.is_false(manager:reload_plugin("disk").success)
      local entry = a:errors()[1]
      assert.are.equal("reload", entry.stage)
      assert.are.equal("disk", entry.plugin_id)
      plugins.contains(entry.message, "(the old version runs on)")
      assert.are.equal("warn", logged[#logged].level)
      plugins.contains(logged[#logged].message, "reload of disk failed, the old version runs on: ")
      assert.is_true(manager:start_plugin("disk").success)
      assert.are.equal("running", manager:get_plugin("disk"):state())
      assert.are.equal(1, #a:errors())
      assert.are.equal("reload", a:errors()[1].stage)
      write(version_source("v3"))
      assert.is_true(manager:reload_plugin("disk").success)
      assert.are.same({}, a:errors())
    end)
  end)

  describe("draw", function()
    local g

    before_each(function()
      g = lv.graphics
      lv.draw = function()
        trail[#trail + 1] = "game.draw"
        g.setColor(0.5, 0.5, 0.5, 1)
      end
    end)

    it("runs the game's draw, then each plugin's inside push('all') and pop", function()
      manager:register_plugin(inline("a", { draw = function()
        trail[#trail + 1] = "a.draw:" .. g.getStackDepth()
        g.push("all")
        g.push()
        g.setColor(1, 0, 0, 1)
      end }))
      manager:register_plugin(inline("b", { draw = function()
        trail[#trail + 1] = "b.draw:" .. g.getStackDepth()
        trail[#trail + 1] = "b.color:" .. table.concat({ g.getColor() }, ",")
      end }))
      attach()
      lv.draw()
      assert.are.same({ "game.draw", "a.draw:1", "b.draw:1", "b.color:0.5,0.5,0.5,1" }, trail)
      assert.are.same({ "push:all", "push:all", "push:transform", "pop", "pop", "pop", "push:all", "pop" }, g.ops)
      assert.are.equal(0, g.getStackDepth())
      assert.are.same({ 0.5, 0.5, 0.5, 1 }, g.color)
    end)

    it("fails a plugin whose draw raises with stage draw, leaving the stack as it was", function()
      manager:register_plugin(inline("a", { draw = function()
        g.push("all")
        error("cannot draw")
      end }))
      manager:register_plugin(inline("b", { draw = step(trail, "b", "draw") }))
      local a = attach()
      lv.draw()
      lv.draw()
      assert.are.equal(0, g.getStackDepth())
      assert.are.same({ "game.draw", "b.draw", "game.draw", "b.draw" }, trail)
      assert.are.equal("failed", manager:get_plugin("a"):state())
      assert.are.equal("draw", a:errors()[1].stage)
      assert.are.equal('plugin "a" failed in draw: cannot draw', a:errors()[1].error.message)
    end)

    it("calls the plugins' draw without a graphics stack when love.graphics is missing", function()
      lv = fake_love.new({ graphics = false })
      manager:register_plugin(inline("a", { draw = step(trail, "a", "draw") }))
      attach()
      lv.draw()
      assert.are.same({ "a.draw" }, trail)
    end)

    it("draws the error list when overlay is on, one line per plugin", function()
      manager:register_plugin(inline("a", { keypressed = function()
        error("bad key")
      end }))
      attach({ overlay = true })
      lv.draw()
      assert.are.same({}, g.printed)
      lv.keypressed("k")
      lv.draw()
      assert.are.equal(2, #g.printed)
      assert.are.equal("qtforge: 1 plugin error(s); save a fixed file to reload it", g.printed[1].text)
      assert.matches('^load_error: plugin "a" failed in keypressed: bad key %(', g.printed[2].text)
      assert.are.equal(0, g.getStackDepth())
      g.active = false
      lv.draw()
      assert.are.equal(2, #g.printed)
    end)

    it("shows the latest twelve errors when there are more", function()
      for i = 1, 13 do
        manager:register_plugin(inline(string.format("p%02d", i), { keypressed = function()
          error("broken " .. i)
        end }))
      end
      attach({ overlay = true })
      lv.keypressed("k")
      lv.draw()
      assert.are.equal(13, #g.printed)
      assert.are.equal("qtforge: 13 plugin error(s); save a fixed file to reload it", g.printed[1].text)
      plugins.contains(g.printed[2].text, 'plugin "p02" failed in keypressed: broken 2')
      plugins.contains(g.printed[13].text, 'plugin "p13" failed in keypressed: broken 13')
    end)

    it("draws no overlay by default, and one in dev mode unless overlay = false", function()
      manager:register_plugin(inline("a", { keypressed = function()
        error("bad key")
      end }))
      local a = attach()
      lv.keypressed("k")
      lv.draw()
      assert.are.same({}, g.printed)
      a:detach()
      manager:start_plugin("a")
      a = attach({ dev = true })
      assert.is_true(a.dev)
      assert.is_not_nil(a.reloader)
      lv.keypressed("k")
      lv.draw()
      assert.are.equal(2, #g.printed)
      a:detach()
      manager:start_plugin("a")
      attach({ dev = true, overlay = false })
      lv.keypressed("k")
      lv.draw()
      assert.are.equal(2, #g.printed)
    end)
  end)

  describe("quit", function()
    local unloaded, keep_open

    -- a plugin whose quit export answers `keep_open` and whose on_unload is recorded
    local function saver(target)
      target:register_plugin(inline("saver", { quit = function()
        trail[#trail + 1] = "saver.quit"
        return keep_open
      end }, { on_unload = function()
        unloaded[#unloaded + 1] = "saver"
      end }))
    end

    -- attach with a manager attach makes (the default policy)
    local function attach_made()
      local a = attach({ security = qtforge.security.SecurityManager() })
      saver(a.manager)
      return a
    end

    before_each(function()
      unloaded, keep_open = {}, nil
    end)

    it("is aborted by the game's own quit returning true, and plugins are not told", function()
      lv.quit = function()
        trail[#trail + 1] = "game.quit"
        return true
      end
      local made = attach_made().manager
      assert.is_true(lv.quit())
      assert.are.same({ "game.quit" }, trail)
      assert.are.equal("running", made:get_plugin("saver"):state())
      made:shutdown()
    end)

    it("is aborted by a plugin's quit returning true, and the manager stays", function()
      keep_open = true
      local made = attach_made().manager
      assert.is_true(lv.quit())
      assert.are.same({ "saver.quit" }, trail)
      assert.are.equal("running", made:get_plugin("saver"):state())
      assert.are.same({}, unloaded)
      made:shutdown()
    end)

    it("otherwise goes on after the game's quit, shutting down the manager attach made", function()
      lv.quit = function()
        trail[#trail + 1] = "game.quit"
        return false
      end
      local made = attach_made().manager
      assert.is_false(lv.quit())
      assert.are.same({ "game.quit", "saver.quit" }, trail)
      assert.are.same({ "saver" }, unloaded)
      assert.are.same({}, made:plugins())
    end)

    it("leaves a manager the game gave running", function()
      saver(manager)
      attach()
      assert.is_false(lv.quit())
      assert.are.same({ "saver.quit" }, trail)
      assert.are.same({}, unloaded)
      assert.are.equal("running", manager:get_plugin("saver"):state())
    end)
  end)

  describe("detach", function()
    it("puts back the callbacks still wrapped, and current() becomes nil", function()
      local own_key, own_update = step(trail, "game", "keypressed"), step(trail, "game", "update")
      lv.keypressed, lv.update = own_key, own_update
      manager:register_plugin(inline("p", { keypressed = step(trail, "p", "keypressed") }))
      local a = attach()
      local replaced = function() end
      lv.mousepressed = replaced
      assert.is_true(a:detach())
      assert.is_nil(qlove.current())
      assert.are.equal(own_key, lv.keypressed)
      assert.are.equal(own_update, lv.update)
      assert.are.equal(replaced, lv.mousepressed)
      assert.is_nil(lv.draw)
      assert.is_nil(lv.textinput)
      -- the plugins stay loaded; the adapter no longer hears the manager
      assert.are.equal("running", manager:get_plugin("p"):state())
      manager:fail_plugin("p", "after detach")
      assert.are.same({}, a:errors())
    end)

    it("answers false once detached, and lets a new attach in", function()
      local a = attach()
      assert.is_true(a:detach())
      assert.is_false(a:detach())
      local b = attach()
      assert.are.equal(b, qlove.current())
      assert.is_false(a:detach())
      assert.are.equal(b, qlove.current())
    end)

    it("closes dev mode's reloader", function()
      local root = fs.temp_dir()
      local a = attach({ dev = true, watch = { root } })
      local reloader = a.reloader
      assert.are.equal(1, reloader:stats().watched)
      assert.is_true(a:detach())
      assert.are.equal(0, reloader:stats().watched)
      fs.remove(root)
    end)
  end)

  it("dispatch returns how many plugins it called and whether any returned true", function()
    manager:register_plugin(inline("no", { ask = function(x)
      trail[#trail + 1] = "no:" .. x
      return nil
    end }))
    manager:register_plugin(inline("yes", { ask = function(x)
      trail[#trail + 1] = "yes:" .. x
      return 1
    end }))
    local a = attach()
    assert.are.same({ 2, true }, { a:dispatch("ask", "q") })
    assert.are.same({ 0, false }, { a:dispatch("nobody_exports_this") })
    manager:stop_plugin("yes")
    assert.are.same({ 1, false }, { a:dispatch("ask", "r") })
    assert.are.same({ "no:q", "yes:q", "no:r" }, trail)
  end)

  it("logs through the manager's LoggingManager by default, as logger qtforge.love", function()
    local records = {}
    local logging = qtforge.managers.LoggingManager({ sinks = { { type = "callback", fn = function(record)
      records[#records + 1] = record
    end } } })
    local logged_manager = qtforge.core.PluginManager({ logging = logging })
    logged_manager:register_plugin(inline("p", { keypressed = function()
      error("logged")
    end }))
    local a = qlove.attach({ love = lv, manager = logged_manager })
    lv.keypressed("k")
    a:detach()
    logged_manager:shutdown()
    local found
    for _, record in ipairs(records) do
      if record.logger == "qtforge.love" then
        found = record
      end
    end
    assert.is_table(found)
    assert.are.equal("error", found.level)
    plugins.contains(found.message, 'plugin "p" failed in keypressed: logged')
  end)

  it("uses the global love by default", function()
    -- busted runs a spec file in an environment of its own: the adapter reads _G's
    local saved = _G.love
    local global = fake_love.new()
    _G.love = global
    local ok, problem = pcall(function()
      local a = qlove.attach({ manager = manager })
      assert.is_function(global.keypressed)
      a:detach()
      assert.is_nil(global.keypressed)
    end)
    _G.love = saved
    assert.is_true(ok, problem)
  end)

  describe("plugins folder", function()
    local root

    before_each(function()
      root = fs.temp_dir()
      plugins.folder(root .. "/plugins", "good",
        { source = "return { exports = { hi = function() return 'hi' end } }" })
      plugins.folder(root .. "/plugins", "bad", { source = "error('does not load')" })
    end)

    after_each(function()
      fs.remove(root)
    end)

    it("loads it relative to the game's folder, keeping the results and listing the failures", function()
      lv = fake_love.new({ source = root })
      local a = attach({ plugins = "./plugins" })
      assert.are.equal(root .. "/plugins", a.plugins_dir)
      assert.are.equal(2, #a.results)
      assert.are.equal("hi", manager:call("good", "hi"))
      local errors = a:errors()
      assert.are.equal(1, #errors)
      assert.are.equal("bad", errors[1].plugin_id)
      assert.are.equal("load", errors[1].stage)
      plugins.contains(errors[1].message, "does not load")
      assert.are.equal("error", logged[1].level)
      plugins.contains(logged[1].message, "did not load bad: ")
    end)

    it("looks beside a .love file or a fused game, and keeps an absolute path", function()
      lv = fake_love.new({ source = "/games/x.love", base = root })
      local a = attach({ plugins = "plugins" })
      assert.are.equal(root .. "/plugins", a.plugins_dir)
      a:detach()
      manager:shutdown()
      manager = plugins.manager()
      lv = fake_love.new({ source = "/games/fused-binary", fused = true, base = root })
      a = attach({ plugins = "plugins" })
      assert.are.equal(root .. "/plugins", a.plugins_dir)
      a:detach()
      manager:shutdown()
      manager = plugins.manager()
      lv = fake_love.new({ source = "/elsewhere" })
      a = attach({ plugins = root .. "/plugins" })
      assert.are.equal(root .. "/plugins", a.plugins_dir)
      assert.are.equal("hi", manager:call("good", "hi"))
    end)

    it("lists a folder dev mode cannot watch with stage watch", function()
      local a = attach({ dev = true, watch = { root .. "/missing" } })
      local errors = a:errors()
      assert.are.equal(1, #errors)
      assert.are.equal("watch", errors[1].stage)
      plugins.contains(errors[1].message, "cannot watch " .. root .. "/missing: ")
    end)
  end)

  -- a callbacks list naming one callback twice would wrap it twice: each event
  -- would reach the plugins twice, and detach would put back a wrapper.
  it("refuses a callbacks list naming one callback twice, wrapping nothing", function()
    local own = step(trail, "game", "keypressed")
    lv.keypressed = own
    local ok, problem = pcall(attach, { callbacks = { "keypressed", "mousepressed", "keypressed" } })
    assert.is_false(ok)
    plugins.contains(problem, 'qtforge.love.attach: callbacks[3] names "keypressed" again')
    assert.is_nil(qlove.current())
    assert.are.equal(own, lv.keypressed)
  end)
end)

describe("qtforge.love misuse", function()
  local lv, manager

  before_each(function()
    lv = fake_love.new()
    manager = plugins.manager()
  end)

  after_each(function()
    detach_current()
    manager:shutdown()
  end)

  -- option, a value of another type, the type it must have, how the error names the value
  local WRONG = {
    { "manager", 1, "table", "number" },
    { "security", "open", "table", '"open"' },
    { "plugins", 3, "string", "number" },
    { "watch", "dir", "table", '"dir"' },
    { "dev", "yes", "boolean", '"yes"' },
    { "update", 0, "boolean", "number" },
    { "overlay", {}, "boolean", "table" },
    { "callbacks", "keypressed", "table", '"keypressed"' },
    { "reload", true, "table", "boolean" },
    { "log", false, "function", "boolean" },
    { "love", "love", "table", '"love"' },
  }

  for _, case in ipairs(WRONG) do
    local name = case[1]
    it("refuses option " .. name .. " of another type, at the caller, attaching nothing", function()
      local own = function() end
      lv.keypressed = own
      local message = misuse.raised_at_caller(function() qlove.attach({ love = lv, [name] = case[2] }) end)
      assert.are.equal(string.format("qtforge.love.attach: option '%s' must be a %s, got %s", name, case[3],
        case[4]), message)
      assert.is_nil(qlove.current())
      assert.are.equal(own, lv.keypressed)
    end)
  end

  local CASES = {
    { "qtforge.love.attach: argument 'opts' must be a table or nil, got \"lv\"", function() qlove.attach("lv") end },
    { "qtforge.love.attach: argument 'opts' must be a table or nil, got number", function() qlove.attach(1) end },
    { 'qtforge.love.attach: unknown option "plugin" (known: callbacks, dev, log, love, manager, overlay, '
      .. "plugins, reload, security, update, watch)", function() qlove.attach({ love = lv, plugin = "x" }) end },
    { "qtforge.love.attach: unknown option number (known: callbacks, dev, log, love, manager, overlay, "
      .. "plugins, reload, security, update, watch)", function() qlove.attach({ lv }) end },
    { "qtforge.love.attach: option 'manager' must be a qtforge.core.PluginManager, got table",
      function() qlove.attach({ love = lv, manager = {} }) end },
    { "qtforge.love.attach: option 'security' is for the manager attach makes; give it to your PluginManager instead",
      function() qlove.attach({ love = lv, manager = manager, security = qtforge.security.SecurityManager() }) end },
    { "qtforge.love.attach: callbacks[1] must be the name of an event callback, got number",
      function() qlove.attach({ love = lv, manager = manager, callbacks = { 1 } }) end },
    { 'qtforge.love.attach: callbacks[2] must be the name of an event callback, got "update"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "keypressed", "update" } }) end },
    { 'qtforge.love.attach: callbacks[1] must be the name of an event callback, got "draw"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "draw" } }) end },
    { 'qtforge.love.attach: callbacks[1] must be the name of an event callback, got "load"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "load" } }) end },
    { 'qtforge.love.attach: callbacks[1] must be the name of an event callback, got "run"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "run" } }) end },
    { 'qtforge.love.attach: callbacks[1] must be the name of an event callback, got "errorhandler"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "errorhandler" } }) end },
    { 'qtforge.love.attach: callbacks[1] must be the name of an event callback, got "errhand"',
      function() qlove.attach({ love = lv, manager = manager, callbacks = { "errhand" } }) end },
    { "qtforge.love.attach: no love table: run inside LÖVE, or pass opts.love",
      function() qlove.attach({ manager = manager }) end },
  }

  for _, case in ipairs(CASES) do
    it("raises at the caller: " .. case[1], function()
      assert.is_nil(_G.love)
      local own = function() end
      lv.keypressed = own
      assert.are.equal(case[1], misuse.raised_at_caller(case[2]))
      assert.is_nil(qlove.current())
      assert.are.equal(own, lv.keypressed)
      assert.is_nil(lv.update)
    end)
  end

  it("refuses a second attach until the first is detached, keeping the first", function()
    local first = qlove.attach({ love = lv, manager = manager })
    local wrapper = lv.update
    local other = fake_love.new()
    assert.are.equal("qtforge.love.attach: already attached; call detach() on the attachment first",
      misuse.raised_at_caller(function() qlove.attach({ love = other, manager = manager }) end))
    assert.are.equal(first, qlove.current())
    assert.are.equal(wrapper, lv.update)
    assert.is_nil(other.update)
  end)

  describe("of the attachment's methods", function()
    local a

    before_each(function()
      a = qlove.attach({ love = lv, manager = manager })
    end)

    local METHOD_CASES = {
      { "attachment:errors: call it with ':' on an attachment, got nil", function() a.errors() end },
      { "attachment:errors: call it with ':' on an attachment, got table", function() a.errors({}) end },
      { "attachment:clear_errors: call it with ':' on an attachment, got nil", function() a.clear_errors() end },
      { 'attachment:clear_errors: call it with \':\' on an attachment, got "x"', function() a.clear_errors("x") end },
      { "attachment:detach: call it with ':' on an attachment, got nil", function() a.detach() end },
      { "attachment:detach: call it with ':' on an attachment, got number", function() a.detach(1) end },
      { 'attachment:dispatch: call it with \':\' on an attachment, got "keypressed"',
        function() a.dispatch("keypressed") end },
      { "attachment:dispatch: argument 'name' must be an export name, got nil", function() a:dispatch() end },
      { "attachment:dispatch: argument 'name' must be an export name, got number", function() a:dispatch(7) end },
      { "attachment:dispatch: argument 'name' must be an export name, got table", function() a:dispatch({}) end },
    }

    for _, case in ipairs(METHOD_CASES) do
      it("raise at the caller: " .. case[1], function()
        assert.are.equal(case[1], misuse.raised_at_caller(case[2]))
        -- nothing changed: still attached, still wrapped
        assert.are.equal(a, qlove.current())
        assert.is_function(lv.update)
      end)
    end
  end)
end)
