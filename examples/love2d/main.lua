-- luacheck: globals love
-- A small LÖVE game whose behaviours are qtforge plugins, in plugins/: the
-- player (arrow keys or WASD to move, space to shoot), an enemy spawner, and the
-- score. The game itself only draws the arena. It runs in dev mode: save a
-- plugin's file while the game runs and that plugin reloads; a plugin that
-- raises is failed and its error drawn over the game. README.md says how to run it.
local found, qtforge_love = pcall(require, "qtforge.love")
if not found then
  error("qtforge is not on the Lua paths: see examples/love2d/README.md\n" .. tostring(qtforge_love), 0)
end

local plugins -- the attachment: plugins.manager, plugins:errors()
local time = 0

function love.load()
  -- after the game's own callbacks are defined: attach wraps them
  plugins = qtforge_love.attach({ plugins = "plugins", dev = true })
end

-- the game's own callbacks run first, then the plugins'
function love.update(dt)
  time = time + dt
end

function love.draw()
  local width, height = love.graphics.getDimensions()
  love.graphics.clear(0.07, 0.08, 0.11)
  love.graphics.setColor(0.22, 0.25, 0.32)
  love.graphics.rectangle("line", 8, 8, width - 16, height - 16)
  love.graphics.print(("%d plugins, %.0f s"):format(#plugins.manager:load_order(), time), 16, height - 28)
end

function love.keypressed(key)
  if key == "escape" then
    love.event.quit()
  end
end
