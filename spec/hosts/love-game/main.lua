-- luacheck: globals love QTFORGE_LOVE_TRACE
-- The LÖVE game test of scripts/host-love.sh. The script copies
-- examples/love2d to a temporary folder, its main.lua as game.lua, puts this
-- file and conf.lua (headless) beside it and the test plugins of plugins/ into
-- its plugins/, and runs `love` on the copy. This file runs the example's
-- main.lua unchanged, lets LÖVE's own love.run drive it, and at chosen frames
-- pushes events, edits plugin files and checks what happened. It prints a
-- plan line "1..N", then "ok - ..." or "not ok - ..." per check, and exits:
--   0 every check passed     2 QTFORGE_CPATH or QTFORGE_LUA_PATH not set
--   3 some check failed      4 the run took over QTFORGE_DEADLINE seconds (default 20)
-- LÖVE itself exits 1 on an uncaught error (the error handler below prints it).
local EXIT = { ok = 0, no_env = 2, failed = 3, deadline = 4 }
local PLAN = 14

local cpath, lua_path = os.getenv("QTFORGE_CPATH"), os.getenv("QTFORGE_LUA_PATH")
if not cpath or cpath == "" or not lua_path or lua_path == "" then
  function love.load()
    io.stderr:write("love game test: QTFORGE_CPATH and QTFORGE_LUA_PATH must be set\n")
    love.event.quit(EXIT.no_env)
  end
  return
end
package.cpath = cpath .. ";" .. package.cpath
package.path = lua_path .. ";" .. package.path
local DEADLINE = tonumber(os.getenv("QTFORGE_DEADLINE") or "") or 20

function love.errorhandler(message)
  io.stderr:write("love game test: uncaught error: ", tostring(message), "\n", debug.traceback(), "\n")
  io.stderr:flush()
  -- returning nothing: LÖVE exits with status 1
end

-- What the plugins and the game note as callbacks reach them.
QTFORGE_LOVE_TRACE = {}
local trace = QTFORGE_LOVE_TRACE

-- A recording stand-in for love.graphics (off: there is no display). LÖVE's
-- love.run draws a frame when love.graphics is there and active, so the game's
-- love.draw, the plugins' draw exports and the adapter's overlay all run.
local graphics = { depth = 0, printed = {} }
do
  local api = {
    isActive = function() return true end,
    getBackgroundColor = function() return 0, 0, 0, 1 end,
    getDimensions = function() return 800, 600 end,
    getWidth = function() return 800 end,
    getHeight = function() return 600 end,
    getFont = function() return { getHeight = function() return 14 end } end,
    getStackDepth = function() return graphics.depth end,
    push = function() graphics.depth = graphics.depth + 1 end,
    pop = function()
      assert(graphics.depth > 0, "love.graphics.pop: no matching push")
      graphics.depth = graphics.depth - 1
    end,
    print = function(text)
      local printed = graphics.printed
      printed[#printed + 1] = tostring(text)
    end,
  }
  love.graphics = love.graphics or setmetatable(api, {
    __index = function()
      return function() end -- clear, origin, present, setColor, rectangle, circle, ...
    end,
  })
end

-- The example's main.lua, as written.
assert(love.filesystem.load("game.lua"))()

-- The game's own callbacks note themselves: attach (in the example's
-- love.load) wraps these, so they show where the game's part runs.
for _, name in ipairs({ "keypressed", "draw" }) do
  local own = love[name]
  love[name] = function(...)
    trace[#trace + 1] = select("#", ...) > 0 and ("game:" .. name .. ":" .. tostring((...))) or ("game:" .. name)
    return own(...)
  end
end

---------------------------------------------------------------------------
-- checks

local passed, failed = 0, 0
local function check(ok, description, detail)
  if ok then
    passed = passed + 1
    io.stdout:write("ok - ", description, "\n")
  else
    failed = failed + 1
    io.stdout:write("not ok - ", description, detail and (": " .. tostring(detail)) or "", "\n")
  end
  io.stdout:flush()
end

local function clear(list)
  for i = #list, 1, -1 do
    list[i] = nil
  end
end

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then
      return true
    end
  end
  return false
end

-- the entries of `list` that `keep(entry)` keeps
local function only(list, keep)
  local out = {}
  for _, v in ipairs(list) do
    if keep(v) then
      out[#out + 1] = v
    end
  end
  return out
end

local function same(a, b)
  if #a ~= #b then
    return false
  end
  for i = 1, #a do
    if a[i] ~= b[i] then
      return false
    end
  end
  return true
end

local function show(list)
  return "{" .. table.concat(list, ", ") .. "}"
end

local frame = 0
local function wait_frames(n)
  for _ = 1, n do
    coroutine.yield()
  end
end

-- waits until pred() holds, `seconds` at most; the frames it took, or nil
local function wait_until(pred, seconds)
  local start, until_time = frame, love.timer.getTime() + seconds
  while not pred() do
    if love.timer.getTime() > until_time then
      return nil
    end
    coroutine.yield()
  end
  return frame - start
end

local function read(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local function write(path, text)
  local file = assert(io.open(path, "wb"))
  file:write(text)
  file:close()
end

-- replaces `old` (plain text, once) in the file at `path`
local function edit(path, old, new)
  local text = read(path)
  local at = text:find(old, 1, true)
  assert(at, path .. " no longer holds " .. old)
  write(path, text:sub(1, at - 1) .. new .. text:sub(at + #old))
end

local function error_of(attachment, id)
  for _, entry in ipairs(attachment:errors()) do
    if entry.plugin_id == id then
      return entry
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- the run

local function run(attachment)
  local manager = attachment.manager
  local dir = attachment.plugins_dir
  local function plugin(id)
    return manager:get_plugin(id)
  end
  local function state(id)
    local handle = plugin(id)
    return handle and handle:state() or "absent"
  end
  io.stdout:write("1..", PLAN, "\n")

  -- 1
  local order = manager:load_order()
  local position = {}
  for i, id in ipairs(order) do
    position[id] = i
  end
  local all_loaded = #attachment.results == 8
  for _, result in ipairs(attachment.results) do
    all_loaded = all_loaded and result.success and state(result.plugin_id) == "running"
  end
  check(all_loaded and position.player < position.spawner and position.zz_probe < position.aa_probe,
    "attach{plugins = \"plugins\", dev = true} loads the example's 3 plugins and the test's 5, running, "
      .. "dependencies first", show(order))

  -- 2
  wait_frames(10)
  clear(graphics.printed)
  wait_frames(1)
  local probe_frames = plugin("zz_probe"):frames()
  check(probe_frames >= 10 and contains(graphics.printed, "score 0   lives 3")
      and contains(trace, "game:draw"),
    "the game's own love.update and love.draw still run, and the plugins get frames and draw",
    ("probe frames %d, printed %s"):format(probe_frames, show(graphics.printed)))

  -- 3
  local x0 = plugin("player"):position()
  love.event.push("keypressed", "right", "right", false)
  wait_frames(20)
  local x1 = plugin("player"):position()
  love.event.push("keyreleased", "right", "right")
  wait_frames(2)
  local x2 = plugin("player"):position()
  wait_frames(10)
  local x3 = plugin("player"):position()
  check(x1 > x0 and x2 >= x1 and x3 == x2,
    "keypressed and keyreleased pushed with love.event.push reach the player plugin (it moves, then stops)",
    ("x %.2f -> %.2f -> %.2f -> %.2f"):format(x0, x1, x2, x3))

  -- 4
  local function not_draw(entry)
    return not entry:find(":draw", 1, true)
  end
  clear(trace)
  love.keypressed("space", "space", false)
  local expected = { "game:keypressed:space" }
  for _, id in ipairs(manager:load_order()) do
    if id == "zz_probe" or id == "aa_probe" or id == "fumble" then
      expected[#expected + 1] = id .. ":keypressed:space"
    end
  end
  local got = only(trace, not_draw)
  check(same(got, expected) and plugin("player"):shots() == 1,
    "love.keypressed runs the game's handler first, then the plugins' exports in load order",
    show(got) .. " shots " .. plugin("player"):shots())

  -- 5
  clear(trace)
  love.event.push("mousepressed", 10, 20, 1, false, 1)
  love.event.push("textinput", "q")
  wait_frames(2)
  check(contains(trace, "zz_probe:mousepressed:10:20:1") and contains(trace, "aa_probe:mousepressed:10:20:1")
      and contains(trace, "aa_probe:textinput:q"),
    "mousepressed and textinput pushed with love.event.push reach the plugins that export them",
    show(only(trace, not_draw)))

  -- 6
  clear(trace)
  wait_frames(1)
  local draws = only(trace, function(entry) return entry:find(":draw", 1, true) ~= nil end)
  check(same(draws, { "game:draw", "zz_probe:draw", "aa_probe:draw" }) and graphics.depth == 0,
    "plugins draw after the game, in load order, and an unbalanced love.graphics.push in one does not leak",
    show(draws) .. " depth " .. graphics.depth)

  -- 7
  local smudge = error_of(attachment, "smudge")
  local smudge_last = plugin("smudge"):last_error()
  check(state("smudge") == "failed" and smudge and smudge.stage == "draw"
      and smudge.message:find('plugin "smudge" failed in draw: smudged frame 5', 1, true)
      and smudge_last and smudge_last.message == 'plugin "smudge" failed in draw: smudged frame 5',
    "a plugin whose draw raises is failed (its last_error says why) and listed, its unbalanced push undone;"
      .. " the others keep drawing",
    ("smudge %s, error %s"):format(state("smudge"), smudge and smudge.message))

  -- 8
  local took = wait_until(function() return state("bomb") == "failed" end, 3)
  local before = plugin("zz_probe"):frames()
  wait_frames(30)
  local after = plugin("zz_probe"):frames()
  local bomb = error_of(attachment, "bomb")
  check(took and after - before == 30 and bomb and bomb.message:find("boom at update 30", 1, true),
    "a plugin whose update raises is failed and listed; the others keep getting every frame",
    ("bomb %s, probe frames %d -> %d, error %s"):format(state("bomb"), before, after, bomb and bomb.message))

  -- 9
  clear(trace)
  love.keypressed("f", "f", false)
  local fumble = error_of(attachment, "fumble")
  local both = contains(trace, "zz_probe:keypressed:f") and contains(trace, "aa_probe:keypressed:f")
  clear(trace)
  love.keypressed("g", "g", false)
  local skipped = not contains(trace, "fumble:keypressed:g") and contains(trace, "aa_probe:keypressed:g")
  check(state("fumble") == "failed" and both and skipped and fumble
      and fumble.message:find('plugin "fumble" failed in keypressed: fumbled the f key', 1, true),
    "a plugin whose export raises is failed and listed; the others still get that event and the next",
    ("fumble %s, error %s, trace %s"):format(state("fumble"), fumble and fumble.message, show(trace)))

  -- 10
  clear(graphics.printed)
  wait_frames(1)
  local overlay = table.concat(graphics.printed, "\n")
  check(overlay:find("qtforge: 3 plugin error(s)", 1, true) and overlay:find('plugin "bomb" failed in update', 1, true)
      and overlay:find('plugin "fumble" failed in keypressed', 1, true)
      and overlay:find('plugin "smudge" failed in draw', 1, true),
    "dev mode draws the plugins' errors over the game", overlay)

  -- 11
  manager:bus():publish("game.enemy_killed", { x = 0, y = 0 })
  local score = plugin("hud"):score()
  local edited_at = frame
  edit(dir .. "/hud/init.lua", '"score %d   lives %d"', '"SCORE %d   LIVES %d"')
  took = wait_until(function() return plugin("hud"):label():find("^SCORE") ~= nil end, 5)
  wait_frames(10)
  local label = plugin("hud"):label()
  manager:bus():publish("game.enemy_killed", { x = 0, y = 0 })
  local later = plugin("hud"):score()
  check(took and label:find("^SCORE 10 ") and score == 10 and later == 20,
    ("hot reload: hud/init.lua edited at frame %d, its new code answers from frame %s on, keeping the score"):format(
      edited_at, took and tostring(edited_at + took) or "?"),
    ("label %q, score %s -> %s"):format(label, tostring(score), tostring(later)))

  -- 12
  edit(dir .. "/fumble.lua", 'if key == "f" then error("fumbled the f key") end', "")
  took = wait_until(function() return state("fumble") == "running" end, 5)
  clear(trace)
  love.keypressed("f", "f", false)
  check(took and contains(trace, "fumble:keypressed:f") and state("fumble") == "running"
      and error_of(attachment, "fumble") == nil,
    "a reload of the fixed file brings back the plugin the adapter failed, running, and clears its error",
    ("fumble %s, trace %s"):format(state("fumble"), show(trace)))

  -- 13
  write(dir .. "/hud/init.lua", "local plugin = { exports = {} \n-- a typo\nreturn plugin\n")
  took = wait_until(function()
    local entry = error_of(attachment, "hud")
    return entry ~= nil and entry.stage == "reload"
  end, 5)
  local hud = error_of(attachment, "hud")
  check(took and state("hud") == "running" and plugin("hud"):label():find("^SCORE 20 "),
    "a reload that fails keeps the old version running, and lists why",
    ("hud %s, error %s"):format(state("hud"), hud and hud.message))

  -- 14
  before = plugin("zz_probe"):frames()
  local first = frame
  wait_frames(30)
  after = plugin("zz_probe"):frames()
  check(after - before == 30 and state("bomb") == "failed" and state("player") == "running",
    ("the game keeps running to the end (frame %d), the healthy plugins updated every frame"):format(frame),
    ("probe frames %d -> %d over frames %d -> %d"):format(before, after, first, frame))
end

---------------------------------------------------------------------------
-- driving it: after the game's love.load (which attaches), each frame of
-- LÖVE's love.run steps the run above once, after the game and the plugins

local game_load = love.load
function love.load(...)
  game_load(...)
  local attachment = require("qtforge.love").current()
  assert(attachment, "the example did not attach")
  local script = coroutine.create(run)
  local started = love.timer.getTime()
  local inner = love.update
  local done = false
  function love.update(dt)
    inner(dt)
    if done then
      return
    end
    frame = frame + 1
    local ok, problem = coroutine.resume(script, attachment)
    if not ok then
      check(false, "the run raised no error", problem .. "\n" .. debug.traceback(script))
    end
    if coroutine.status(script) == "dead" then
      done = true
      io.stdout:write(("# %d frames in %.2f s\n"):format(frame, love.timer.getTime() - started))
      love.event.quit(failed == 0 and passed == PLAN and EXIT.ok or EXIT.failed)
    elseif love.timer.getTime() - started > DEADLINE then
      done = true
      check(false, ("the run ends within %d s"):format(DEADLINE))
      love.event.quit(EXIT.deadline)
    end
  end
end
