-- luacheck: globals QTFORGE_LOVE_TRACE love
-- Test plugin for scripts/host-love.sh: its keypressed export raises for "f".
-- The test rewrites this file without the raise, and the reload must bring
-- the plugin back.
return {
  manifest = {
    name = "fumble",
    version = "1.0.0",
    description = "Fails in keypressed for the f key",
    capabilities = { "host" },
    exports = { "keypressed" },
  },
  exports = {
    keypressed = function(key)
      local trace = QTFORGE_LOVE_TRACE
      trace[#trace + 1] = "fumble:keypressed:" .. key
      if key == "f" then error("fumbled the f key") end
    end,
  },
}
