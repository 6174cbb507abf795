-- `make bench`: every benchmark under the running interpreter, as ratios to its baseline.
-- A ratio under 1 means qtforge is faster than the pure-Lua baseline.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/?.lua;" .. package.path

local harness = require("harness")

local BENCHMARKS = {
  "version_bench",
  "core_bench",
  "native_bench",
  "bus_bench",
  "managers_bench",
  "security_bench",
  "reload_bench",
  "metrics_bench",
  "transactions_bench",
  "orchestration_bench",
  -- last: it leaves stand-ins for the nginx and LÖVE globals behind
  "hosts_bench",
}

print("qtforge bench under " .. harness.interpreter())
for _, name in ipairs(BENCHMARKS) do
  local bench = require(name)
  if bench.report then
    -- a bench with figures of its own (latencies), not ratios
    bench.report()
  else
    harness.report(bench.title, bench.cases)
  end
end
