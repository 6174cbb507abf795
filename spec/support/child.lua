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

--- The checkout, as an absolute path (children run in temp folders).
child.ROOT = (function()
  local support_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/support"
  local pipe = assert(io.popen("cd " .. shell_quote(support_dir) .. "/../.. && pwd"))
  local dir = pipe:read("*l")
  pipe:close()
  return dir
end)()

--- Runs `env` (shell words: variables, or "") then the interpreter with
--- `words` (shell words) in `dir`, and waits. Returns the exit status,
--- stdout and stderr.
function child.capture(dir, env, words)
  local out_file, err_file = os.tmpname(), os.tmpname()
  local pipe = assert(io.popen(string.format("cd %s && %s %s %s >%s 2>%s; echo $?", shell_quote(dir), env,
    shell_quote(child.interpreter()), words, shell_quote(out_file), shell_quote(err_file))))
  local status = tonumber(pipe:read("*l"))
  pipe:close()
  local read = function(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    os.remove(path)
    return text
  end
  return status, read(out_file), read(err_file)
end

return child
