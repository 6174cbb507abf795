-- luacheck: globals QTFORGE_LOVE_TRACE love
-- Test plugin for scripts/host-love.sh: zz_probe's twin. It depends on zz_probe,
-- so it loads after it although its id sorts first: the order the adapter
-- calls exports in is the resolved load order, not the ids'.
local frames = 0

local function note(what, ...)
  local parts = { "aa_probe", what }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  local trace = QTFORGE_LOVE_TRACE
  trace[#trace + 1] = table.concat(parts, ":")
end

return {
  manifest = {
    name = "aa_probe",
    version = "1.0.0",
    description = "Notes the callbacks it gets",
    capabilities = { "host" },
    dependencies = { { name = "zz_probe", version = "^1.0" } },
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
