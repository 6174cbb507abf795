-- monitoring: hot reload latency, from the write of a plugin's entry to its
-- new code answering, with poll() called every millisecond (as a host's loop
-- would), over 100 edits; percentiles rather than a ratio, since pure Lua has
-- no file watcher to compare with.
local qtforge = require("qtforge")
local harness = require("harness")
local write = harness.write

local EDITS = 100
local clock = qtforge.utils.monotonic

local function source(n)
  return string.format("return { exports = { version = function() return %d end } }\n", n)
end

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

local function report()
  local root = os.tmpname()
  os.remove(root)
  assert(os.execute("mkdir -p '" .. root .. "/plugins/live'"))
  local dir = root .. "/plugins/live"
  write(dir .. "/plugin.toml", 'name = "live"\nversion = "1.0.0"\n')
  write(dir .. "/init.lua", source(0))
  local manager = qtforge.core.PluginManager()
  assert(manager:load_plugin(dir).success)
  local reloader = qtforge.monitoring.PluginHotReloadManager(manager)
  assert(reloader:watch_directory(root .. "/plugins"))
  local latencies = {}
  for n = 1, EDITS do
    local written = clock()
    write(dir .. "/init.lua", source(n))
    local next_poll = written
    while manager:call("live", "version") ~= n do
      if clock() - written > 5 then
        error("bench: edit " .. n .. " was not reloaded within 5 s")
      end
      -- a poll every millisecond
      while clock() < next_poll do
      end
      next_poll = next_poll + 0.001
      reloader:poll()
    end
    latencies[#latencies + 1] = (clock() - written) * 1000
  end
  reloader:close()
  manager:shutdown()
  os.execute("rm -rf '" .. root .. "'")
  table.sort(latencies)
  print(string.format("%-48s %12s %12s %9s", "monitoring (hot reload, debounce 50 ms)", "p50 ms", "p99 ms", "max ms"))
  print(string.format("  %-46s %12.1f %12.1f %9.1f", EDITS .. " edits, write to new code answering",
    percentile(latencies, 0.5), percentile(latencies, 0.99), latencies[#latencies]))
end

return { title = "monitoring", report = report }
