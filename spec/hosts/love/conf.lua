-- luacheck: globals love
-- LÖVE config for the headless host test in scripts/host-tests.sh.
-- Only what the test needs is on, so it runs with no display, GPU or sound card:
-- love.mouse would initialise SDL's video subsystem (which probes for a
-- display), so it is off along with everything that draws, plays or reads input.
function love.conf(t)
  t.identity = "qtforge-host-test"
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
  -- love.event stays on: love.event.quit(code) sets the exit status
end
