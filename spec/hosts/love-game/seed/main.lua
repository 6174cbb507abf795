-- luacheck: globals love
-- The seed's LÖVE example, run as written: examples/love2d/seed/main.lua is
-- loaded unchanged, from a working directory holding audio_plugin.so and
-- graphics_plugin.so (scripts/host-love.sh builds them there), and driven by
-- LÖVE's own love.run for QTFORGE_FRAMES frames. Then each plugin must have been
-- updated once per frame. Exit status (LÖVE itself exits 1 on an uncaught error):
local EXIT = {
  ok = 0,
  no_env = 2,          -- QTFORGE_CPATH or QTFORGE_SEED not set
  seed_failed = 3,     -- the seed's main.lua did not load or run
  no_manager = 4,      -- its love.update has no `manager` upvalue
  not_loaded = 5,      -- audio_plugin or graphics_plugin is not running after love.load
  wrong_frames = 6,    -- a plugin's update did not run once per frame
}

local function fail(code, message)
  io.stderr:write("love seed test: ", message, "\n")
  io.stderr:flush()
  love.event.quit(code)
end

local cpath, seed = os.getenv("QTFORGE_CPATH"), os.getenv("QTFORGE_SEED")
local FRAMES = tonumber(os.getenv("QTFORGE_FRAMES") or "") or 30
local IDS = { "audio_plugin", "graphics_plugin" }

if not cpath or cpath == "" or not seed or seed == "" then
  function love.load()
    fail(EXIT.no_env, "QTFORGE_CPATH and QTFORGE_SEED must be set")
  end
  return
end
package.cpath = cpath .. ";" .. package.cpath

local chunk, problem = loadfile(seed)
local ran = chunk and { pcall(chunk) }
if not chunk or not ran[1] then
  function love.load()
    fail(EXIT.seed_failed, "the seed did not run: " .. tostring(problem or ran[2]))
  end
  return
end

-- what the seed defined
local seed_load, seed_update = love.load, love.update

local function upvalue(fn, wanted)
  for i = 1, math.huge do
    local name, value = debug.getupvalue(fn, i)
    if name == nil then
      return nil
    elseif name == wanted then
      return value
    end
  end
end

local manager
local frame = 0
local stopped = false

function love.load(...)
  seed_load(...)
  manager = upvalue(seed_update, "manager")
  if manager == nil then
    stopped = true
    return fail(EXIT.no_manager, "the seed's love.update has no upvalue 'manager'")
  end
  for _, id in ipairs(IDS) do
    local plugin = manager:get_plugin(id)
    if plugin == nil or plugin:state() ~= "running" then
      stopped = true
      local why = plugin and plugin:state() or "not loaded"
      return fail(EXIT.not_loaded, ("%s after love.load: %s (working directory: %s)"):format(id, why,
        os.getenv("PWD") or "?"))
    end
  end
end

function love.update(dt)
  if stopped then
    return
  end
  seed_update(dt)
  frame = frame + 1
  if frame < FRAMES then
    return
  end
  stopped = true
  local parts = {}
  for _, id in ipairs(IDS) do
    local plugin = manager:get_plugin(id)
    local frames, seconds = plugin:frames()
    if frames ~= FRAMES or type(seconds) ~= "number" or seconds <= 0 then
      return fail(EXIT.wrong_frames, ("%s counted %s frames (%s s) in %d frames"):format(id, tostring(frames),
        tostring(seconds), FRAMES))
    end
    parts[#parts + 1] = ("%s %s %s, %d updates"):format(id, plugin:version():to_string(), plugin:state(), frames)
  end
  io.stdout:write("seed: ", table.concat(parts, "; "), "\n")
  io.stdout:flush()
  love.event.quit(EXIT.ok)
end
