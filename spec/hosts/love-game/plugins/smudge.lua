-- luacheck: globals love
-- Test plugin for scripts/host-love.sh: its draw raises on its 5th frame,
-- after a love.graphics.push it never pops.
local draws = 0

return {
  manifest = {
    name = "smudge",
    version = "1.0.0",
    description = "Fails in draw on its 5th frame",
    capabilities = { "host" },
    exports = { "draw" },
  },
  exports = {
    draw = function()
      draws = draws + 1
      if draws == 5 then
        love.graphics.push()
        error("smudged frame " .. draws)
      end
    end,
  },
}
