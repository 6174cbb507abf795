-- Where a command writes: results to `out`, problems to `err`. Both are
-- anything with a `write` method (io.stdout, or a spec's recorder).
local output = {}

local Output = {}
Output.__index = Output

--- An output for command `command` (its name prefixes error messages).
function output.new(out, err, command)
  return setmetatable({ out = out, err = err, command = command }, Output)
end

--- A result line on stdout.
function Output:line(text)
  self.out:write(text, "\n")
end

--- Pushes what was written so far to whoever reads it (`run` prints as it goes).
function Output:flush()
  if self.out.flush then
    self.out:flush()
  end
end

--- A line on stderr as it is: a finding (`file:line: message`).
function Output:report(text)
  self.err:write(text, "\n")
end

--- An error of the command on stderr: `qtforge <command>: <text>`.
function Output:error(text)
  self.err:write("qtforge ", self.command, ": ", text, "\n")
end

--- Whether `message` (an error, or an Error a plugin failed with) is Ctrl-C:
--- lua.c and luajit.c turn it into "interrupted!", raised where Lua runs next.
function output.is_interrupt(message)
  return tostring(message):find("interrupted!", 1, true) ~= nil
end

return output
