-- The score: counts what the bus says happened and draws a line about it.
-- Try changing POINTS or the label's format while the game runs.
local plugin = { exports = {} }

local POINTS = 10
local score, lives = 0, 3

function plugin.on_load(ctx)
  ctx.bus:subscribe("game.enemy_killed", function()
    score = score + POINTS
  end)
  ctx.bus:subscribe("game.player_hit", function()
    lives = math.max(0, lives - 1)
  end)
end

-- a reload keeps the score
function plugin.on_unload()
  return { score = score, lives = lives }
end

function plugin.on_reload(old)
  if old then
    score, lives = old.score, old.lives
  end
end

function plugin.exports.label()
  return string.format("score %d   lives %d", score, lives)
end

function plugin.exports.score()
  return score, lives
end

function plugin.exports.draw()
  love.graphics.setColor(1, 1, 1)
  love.graphics.print(plugin.exports.label(), 16, 16)
end

return plugin
