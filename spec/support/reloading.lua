-- What the hot reload specs share: waiting for the watcher, and a reloader
-- whose reloads and failures are recorded.
local qtforge = require("qtforge")

local monotonic = qtforge.utils.monotonic

local reloading = {}

function reloading.sleep(seconds)
  os.execute("sleep " .. seconds)
end

--- Polls `reloader` until `done()` or 5 s; returns how many plugins the polls applied.
function reloading.poll_until(reloader, done)
  local applied = 0
  local deadline = monotonic() + 5
  while monotonic() < deadline do
    applied = applied + reloader:poll()
    if done() then
      return applied
    end
    reloading.sleep(0.02)
  end
  error("timed out waiting for the reload", 2)
end

--- A PluginHotReloadManager of `manager` (debounce 0.05 s), and the lists its
--- listeners fill: ids reloaded, and { id, err } of each failure.
function reloading.recorded(manager)
  local reloader = qtforge.monitoring.PluginHotReloadManager(manager, { debounce = 0.05 })
  local reloaded, failures = {}, {}
  reloader:on_plugin_reloaded(function(id)
    reloaded[#reloaded + 1] = id
  end)
  reloader:on_reload_failed(function(id, err)
    failures[#failures + 1] = { id = id, err = err }
  end)
  return reloader, reloaded, failures
end

return reloading
