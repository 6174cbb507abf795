-- qtforge.utils beside Version: the monotonic clock.
local utils = require("qtforge").utils

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
