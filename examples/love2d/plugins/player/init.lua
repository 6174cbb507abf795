-- The player: movement from the keys it is told about (keypressed/keyreleased
-- exports, called by qtforge.love), shots published on the bus.
local plugin = { exports = {} }

local DIRECTIONS = {
  left = { -1, 0 }, a = { -1, 0 }, right = { 1, 0 }, d = { 1, 0 },
  up = { 0, -1 }, w = { 0, -1 }, down = { 0, 1 }, s = { 0, 1 },
}
local RADIUS = 12

local ctx
local x, y, shots, speed = 400, 300, 0, 220
local held = {}

local function arena()
  if love.graphics then
    return love.graphics.getDimensions()
  end
  return 800, 600
end

local function clamp(value, low, high)
  return math.max(low, math.min(high, value))
end

function plugin.on_load(context)
  ctx = context
  speed = ctx.config.speed
end

-- a reload keeps where the player is
function plugin.on_unload()
  return { x = x, y = y, shots = shots, held = held }
end

function plugin.on_reload(old)
  if old then
    x, y, shots, held = old.x, old.y, old.shots, old.held
  end
end

function plugin.update(dt)
  local dx, dy = 0, 0
  for key in pairs(held) do
    dx, dy = dx + DIRECTIONS[key][1], dy + DIRECTIONS[key][2]
  end
  local width, height = arena()
  x = clamp(x + dx * speed * dt, RADIUS, width - RADIUS)
  y = clamp(y + dy * speed * dt, RADIUS, height - RADIUS)
end

function plugin.exports.keypressed(key)
  if DIRECTIONS[key] then
    held[key] = true
  elseif key == "space" then
    shots = shots + 1
    ctx.bus:publish("game.shot", { x = x, y = y })
  end
end

function plugin.exports.keyreleased(key)
  held[key] = nil
end

function plugin.exports.draw()
  love.graphics.setColor(0.35, 0.8, 1)
  love.graphics.circle("fill", x, y, RADIUS)
end

function plugin.exports.position()
  return x, y
end

function plugin.exports.shots()
  return shots
end

return plugin
