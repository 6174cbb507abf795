-- Timing for bench/: each case runs beside a pure-Lua baseline of the same work,
-- in the same process, and is reported as a ratio (qtforge time / baseline time).
-- wall time: work qtforge spreads over threads must not count twice, as it
-- would in os.clock's CPU time
local clock = require("qtforge").utils.monotonic

local SAMPLES = 5
local WARMUP = 200
local TARGET_SECONDS = 0.05 -- per sample: long enough for the clock, short enough for CI

local harness = {}

-- Time per iteration of `run(n)` (which loops n times), in nanoseconds: median of SAMPLES.
local function time_per_op(run)
  -- a first run long enough for the loop in `run` to become hot, so that under
  -- LuaJIT the trace starts at that loop, as in a program that runs the work
  -- many times, rather than at a function entered from the harness
  run(WARMUP)
  local n = 1
  -- grow n until one sample takes long enough to measure; this also warms up the JIT
  while true do
    local started = clock()
    run(n)
    local elapsed = clock() - started
    if elapsed >= TARGET_SECONDS or n >= 2 ^ 30 then
      break
    end
    n = n * (elapsed < TARGET_SECONDS / 10 and 10 or 2)
  end
  local samples = {}
  for i = 1, SAMPLES do
    local started = clock()
    run(n)
    samples[i] = (clock() - started) / n * 1e9
  end
  table.sort(samples)
  return samples[math.floor((SAMPLES + 1) / 2)]
end

--- Runs a shell command; whether it succeeded (5.1 and 5.4 answer differently).
function harness.sh(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

--- Writes `text` to `path`, replacing it.
function harness.write(path, text)
  local file = assert(io.open(path, "wb"))
  file:write(text)
  file:close()
end

--- A case's `run(n)`: calls `call` n times, summing what it returns (so
--- that the calls cannot be optimised away).
function harness.loop(call)
  return function(n)
    local sum = 0
    for _ = 1, n do
      sum = sum + call()
    end
    return sum
  end
end

function harness.interpreter()
  if jit then
    return string.format("%s (JIT %s)", jit.version, jit.status() and "on" or "off")
  end
  return _VERSION
end

--- Runs each case {name, run, baseline} and prints one row per case.
function harness.report(title, cases)
  print(string.format("%-48s %12s %12s %9s", title, "qtforge ns", "baseline ns", "ratio"))
  for _, case in ipairs(cases) do
    local ours = time_per_op(case.run)
    local base = time_per_op(case.baseline)
    print(string.format("  %-46s %12.1f %12.1f %8.2fx", case.name, ours, base, ours / base))
  end
end

return harness
