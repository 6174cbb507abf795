-- luacheck: globals love
function love.conf(t)
  t.identity = "qtforge-love2d-example"
  t.window.title = "qtforge: a game whose behaviours are plugins"
  t.window.width = 800
  t.window.height = 600
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
