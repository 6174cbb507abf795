-- Test plugin for scripts/host-love.sh: its update raises on its 30th frame.
local frames = 0

return {
  manifest = { name = "bomb", version = "1.0.0", description = "Fails in update on its 30th frame" },
  update = function()
    frames = frames + 1
    if frames == 30 then
      error("boom at update " .. frames)
    end
  end,
}
