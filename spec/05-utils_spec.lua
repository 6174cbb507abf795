-- qtforge.utils beside Version: the monotonic clock and sleep.
local utils = require("qtforge").utils
local raised_at_caller = require("support.misuse").raised_at_caller

describe("utils.monotonic", function()
  it("returns seconds as a number that never goes back", function()
    local previous = utils.monotonic()
    assert.are.equal("number", type(previous))
    assert.is_true(previous >= 0)
    for _ = 1, 1000 do
      local now = utils.monotonic()
      assert.is_true(now >= previous)
      previous = now
    end
  end)

  it("advances with real time, at sub-second resolution", function()
    local started = utils.monotonic()
    local clock_started = os.clock()
    -- busy for about 20 ms of CPU time, which is at least as much wall time
    while os.clock() - clock_started < 0.02 do
    end
    local elapsed = utils.monotonic() - started
    assert.is_true(elapsed >= 0.015, "elapsed " .. elapsed)
    assert.is_true(elapsed < 60, "elapsed " .. elapsed)
  end)
end)

describe("utils.sleep", function()
  it("blocks for at least the time asked, without spinning the CPU", function()
    local started, cpu_started = utils.monotonic(), os.clock()
    utils.sleep(0.05)
    local elapsed, cpu = utils.monotonic() - started, os.clock() - cpu_started
    assert.is_true(elapsed >= 0.05, "elapsed " .. elapsed)
    -- a busy wait would spend about as much CPU time as wall time
    assert.is_true(cpu < elapsed / 2, "cpu " .. cpu .. " for elapsed " .. elapsed)
  end)

  it("returns at once for zero", function()
    local started = utils.monotonic()
    assert.is_nil(utils.sleep(0))
    assert.is_true(utils.monotonic() - started < 1)
  end)

  it("refuses what is not a non-negative number, at the caller's line", function()
    local message = raised_at_caller(function() utils.sleep(-1) end)
    assert.are.equal("utils.sleep: argument 'seconds' must be a non-negative number, got -1", message)
    assert.matches("got string", raised_at_caller(function() utils.sleep("1") end))
    assert.matches("got %-?nan", raised_at_caller(function() utils.sleep(0 / 0) end))
    assert.matches("got nil", raised_at_caller(function() utils.sleep() end))
  end)
end)
