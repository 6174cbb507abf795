-- Misuse raises at the caller's line, whatever path the call takes inside qtforge
-- (a wrapper, a __call, a metamethod): the message starts with "<file>:<line>:"
-- of the line that made the bad call.
local qtforge = require("qtforge")
local raised_at_caller = require("support.misuse").raised_at_caller
local Version = qtforge.utils.Version
local Error = qtforge.Error

-- each case is a one-line function, so the line it is defined on is the line of the call
local CASES = {
  { "Version.parse", function() Version.parse("x.y") end },
  { "Version.parse(nil)", function() Version.parse(nil) end },
  { "Version(-1)", function() Version(-1) end },
  { "Version(\"x.y\")", function() Version("x.y") end },
  { "Version.new(1.5)", function() Version.new(1.5) end },
  { "Version with a bad tag", function() Version(1, 0, 0, "a..b") end },
  { "Version.compare", function() Version.compare("1.0.0", {}) end },
  { "v:compare", function() Version(1):compare(42) end },
  { "v:compare with a bad string", function() Version(1):compare("nope") end },
  { "v:satisfies", function() Version(1):satisfies(">>1") end },
  { "v:satisfies(nil)", function() Version(1):satisfies(nil) end },
  { "v:is_compatible_with", function() Version(1):is_compatible_with(false) end },
  { "v.major()", function() Version(1).major() end },
  { "qtforge.Error", function() Error(nil, "m") end },
  { "qtforge.Error.new", function() Error.new("x", nil) end },
  { "qtforge.Error table form", function() Error({ code = "x" }) end },
  { "qtforge.Error.to_table", function() Error.to_table(1) end },
}

if not jit then
  -- Lua 5.4 calls __lt and __le with a string or number on one side
  CASES[#CASES + 1] = { "v < a number", function() return Version(1) < 5 end }
  CASES[#CASES + 1] = { "v <= a bad string", function() return Version(1) <= "x" end }
end

describe("misuse", function()
  for _, case in ipairs(CASES) do
    local name, fn = case[1], case[2]
    it("of " .. name .. " is reported at the caller's line", function()
      raised_at_caller(fn)
    end)
  end
end)
