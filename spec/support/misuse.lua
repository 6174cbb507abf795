-- What every misuse spec checks of an error: that it is a string, raised at
-- the right place in the spec file.
local assert = require("luassert")

local misuse = {}

-- "path/spec.lua:12: message" -> "message"
local function strip_location(message)
  return (message:gsub("^[^:]*:%d+: ", "", 1))
end
misuse.strip_location = strip_location

--- Runs fn, which must raise a string error located in fn's own file (the
--- spec, not qtforge); returns the whole message.
function misuse.raised(fn)
  local ok, message = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_string(message)
  local file = message:match("^([^:]*):%d+: ")
  assert.are.equal(debug.getinfo(fn, "S").short_src, file, message)
  return message
end

--- Runs fn, which must raise a string error located at the line where fn is
--- written (the caller's line); returns the message without its location.
function misuse.raised_at_caller(fn)
  local message = misuse.raised(fn)
  local line = tonumber(message:match("^[^:]*:(%d+): "))
  assert.are.equal(debug.getinfo(fn, "S").linedefined, line, message)
  return strip_location(message)
end

return misuse
