-- luacheck: globals love
-- Headless LÖVE for scripts/host-love.sh, as spec/hosts/love/conf.lua: every
-- module that needs a display, a GPU or a sound card is off, so no DISPLAY or
-- xvfb is needed. main.lua puts a recording stand-in where love.graphics would
-- be, so the game's and the plugins' draw code and the error overlay run.
function love.conf(t)
  t.identity = "qtforge-love-game-test"
  t.window = false
  t.modules.audio = false
  t.modules.font = false
  t.modules.graphics = false
  t.modules.image = false
  t.modules.joystick = false
  t.modules.keyboard = false
  t.modules.mouse = false
  t.modules.physics = false
  t.modules.sound = false
  t.modules.thread = false
  t.modules.touch = false
  t.modules.video = false
  t.modules.window = false
  -- love.event (love.event.push, love.event.quit(code)) and love.timer stay on
end
