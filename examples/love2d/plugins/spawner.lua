-- Enemies: one spawns at the edge every second and chases the player; a shot
-- destroys the nearest one in range. A single-file plugin: its manifest is the
-- table below, written out (qtforge reads it without running the file).
local INTERVAL, SPEED, RANGE, RADIUS = 1.0, 60, 300, 10

local ctx
local enemies, timer, spawned = {}, 0, 0

local function arena()
  if love.graphics then
    return love.graphics.getDimensions()
  end
  return 800, 600
end

local function spawn()
  spawned = spawned + 1
  local width, height = arena()
  local angle = spawned * 2.4 -- a fixed walk around the arena, no randomness
  local radius = math.max(width, height) / 2
  enemies[#enemies + 1] = {
    x = width / 2 + math.cos(angle) * radius,
    y = height / 2 + math.sin(angle) * radius,
  }
end

local function nearest(x, y)
  local best, best_distance
  for i, enemy in ipairs(enemies) do
    local distance = math.sqrt((enemy.x - x) ^ 2 + (enemy.y - y) ^ 2)
    if best_distance == nil or distance < best_distance then
      best, best_distance = i, distance
    end
  end
  return best, best_distance
end

return {
  manifest = {
    name = "spawner",
    version = "1.0.0",
    description = "Spawns enemies that chase the player; a shot destroys the nearest one",
    capabilities = { "host", "bus:publish", "bus:subscribe" },
    dependencies = { { name = "player", version = "^1.0" } },
    exports = { "draw", "count" },
    tags = { "example", "love2d" },
  },

  on_load = function(context)
    ctx = context
    ctx.bus:subscribe("game.shot", function(message)
      local i, distance = nearest(message.data.x, message.data.y)
      if i and distance <= RANGE then
        local enemy = table.remove(enemies, i)
        ctx.bus:publish("game.enemy_killed", { x = enemy.x, y = enemy.y })
      end
    end)
  end,

  on_unload = function()
    return { enemies = enemies, timer = timer, spawned = spawned }
  end,

  on_reload = function(old)
    if old then
      enemies, timer, spawned = old.enemies, old.timer, old.spawned
    end
  end,

  update = function(dt)
    timer = timer + dt
    if timer >= INTERVAL then
      timer = timer - INTERVAL
      spawn()
    end
    -- ctx.deps.player reaches whichever version of the player is loaded
    local px, py = ctx.deps.player.position()
    for i = #enemies, 1, -1 do
      local enemy = enemies[i]
      local dx, dy = px - enemy.x, py - enemy.y
      local distance = math.sqrt(dx * dx + dy * dy)
      if distance < RADIUS + 12 then
        table.remove(enemies, i)
        ctx.bus:publish("game.player_hit", {})
      elseif distance > 0 then
        enemy.x = enemy.x + dx / distance * SPEED * dt
        enemy.y = enemy.y + dy / distance * SPEED * dt
      end
    end
  end,

  exports = {
    draw = function()
      love.graphics.setColor(1, 0.35, 0.3)
      for _, enemy in ipairs(enemies) do
        love.graphics.circle("fill", enemy.x, enemy.y, RADIUS)
      end
    end,
    count = function()
      return #enemies, spawned
    end,
  },
}
