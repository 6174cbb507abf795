-- luacheck: globals QTFORGE_LOVE_TRACE love
-- Test plugin for scripts/host-love.sh: notes each callback it gets in the
-- host's QTFORGE_LOVE_TRACE (a host global, reached through `host`), counts
-- its frames, and leaves a love.graphics.push unbalanced in draw (the adapter
-- must not let that leak). aa_probe depends on it, so it loads first.
local frames = 0

local function note(what, ...)
  local parts = { "zz_probe", what }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  local trace = QTFORGE_LOVE_TRACE
  trace[#trace + 1] = table.concat(parts, ":")
end

return {
  manifest = {
    name = "zz_probe",
    version = "1.0.0",
    description = "Notes the callbacks it gets",
    capabilities = { "host" },
    exports = { "keypressed", "keyreleased", "mousepressed", "textinput", "draw", "frames" },
  },
  update = function()
    frames = frames + 1
  end,
  exports = {
    keypressed = function(key) note("keypressed", key) end,
    keyreleased = function(key) note("keyreleased", key) end,
    mousepressed = function(x, y, button) note("mousepressed", x, y, button) end,
    textinput = function(text) note("textinput", text) end,
    draw = function()
      note("draw")
      love.graphics.push()
      love.graphics.setColor(0, 1, 0)
    end,
    frames = function() return frames end,
  },
}
