-- Scripts run in a process of their own, under the interpreter busted runs
-- under (`lua5.4` or `luajit`), with LUA_CPATH (the fresh build) inherited.
local child = {}

--- `text` as one shell word.
function child.quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

local shell_quote = child.quote

--- The command busted runs under, so a child runs under the same one.
function child.interpreter()
  local i = -1
  while arg[i - 1] do
    i = i - 1
  end
  return arg[i] or (jit and "luajit" or "lua5.4")
end

--- Runs `script` (a path) in `dir` with `args` (already shell words, or nil).
--- Returns its output lines (stdout and stderr) and "exit <status>".
function child.run(dir, script, args)
  local command = string.format("cd %s && %s %s %s 2>&1; echo \"exit $?\"", shell_quote(dir),
    shell_quote(child.interpreter()), shell_quote(script), args or "")
  local pipe = assert(io.popen(command))
  local lines = {}
  for line in pipe:lines() do
    lines[#lines + 1] = line
  end
  pipe:close()
  local status = table.remove(lines)
  return lines, status
end

return child
