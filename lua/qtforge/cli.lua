-- qtforge.cli: the `qtforge` command for plugin authors. `bin/qtforge` calls
-- main(arg); specs call it in-process with recorders for the two streams.
-- Each command is a module qtforge.cli.<name> holding its usage, its options
-- and run(output, opts, words) -> exit status.
local error, ipairs, pcall, require, tostring, type = error, ipairs, pcall, require, tostring, type
local string_format, string_rep = string.format, string.rep

local args = require("qtforge.cli.args")
local output = require("qtforge.cli.output")

-- exit statuses
local OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

-- the commands in the order `qtforge --help` lists them
local COMMANDS = { "new", "validate", "inspect", "order", "lock", "keygen", "sign", "verify", "run" }

local cli = {
  _VERSION = "qtforge-cli 0.1.0",
  _DESCRIPTION = "The qtforge command: make, check, sign and run qtforge plugins",
  _LICENSE = "MIT",
  COMMANDS = COMMANDS,
}

local function is_command(name)
  for _, known in ipairs(COMMANDS) do
    if known == name then
      return true
    end
  end
  return false
end

local function load_command(name)
  return require("qtforge.cli." .. name)
end

local function overview()
  local lines = { "usage: qtforge COMMAND [ARGUMENTS...]", "",
    "Make, check, sign and run qtforge plugins.", "", "commands:" }
  local width = 0
  for _, name in ipairs(COMMANDS) do
    width = math.max(width, #load_command(name).synopsis)
  end
  for _, name in ipairs(COMMANDS) do
    local command = load_command(name)
    lines[#lines + 1] = "  " .. command.synopsis .. string_rep(" ", width - #command.synopsis + 2) .. command.summary
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "`qtforge COMMAND --help` describes a command. Exit status: 0 success, 1 failure,"
    .. " 2 usage error, 130 Ctrl-C."
  return table.concat(lines, "\n")
end

local function command_help(command)
  return "usage: qtforge " .. command.synopsis .. "\n\n" .. command.help
end

-- Misuse of cli.main raises, naming the argument at fault.
local function check_argv(argv)
  if type(argv) ~= "table" then
    error("cli.main: argv must be a list of strings, got " .. type(argv), 3)
  end
  for i, word in ipairs(argv) do
    if type(word) ~= "string" then
      error("cli.main: argv[" .. i .. "] must be a string, got " .. type(word), 3)
    end
  end
end

local function run_command(name, argv, out, err)
  local command = load_command(name)
  local out_stream = output.new(out, err, name)
  local opts, words = args.parse(command, args.slice(argv, 2))
  if opts == nil then
    out_stream:error(words)
    err:write("usage: qtforge ", command.synopsis, "\n")
    return USAGE
  end
  if opts.help then
    out:write(command_help(command), "\n")
    return OK
  end
  local ok, status = pcall(command.run, out_stream, opts, words)
  if ok then
    return status
  elseif output.is_interrupt(status) then
    out_stream:error("interrupted")
    return INTERRUPTED
  end
  -- a bug of the CLI's: its message, never a traceback, reaches the user
  out_stream:error("internal error: " .. tostring(status))
  return FAILED
end

local function dispatch(argv, out, err)
  local name = argv[1]
  if name == "help" and argv[2] ~= nil then
    -- `help COMMAND` is `COMMAND --help`, with the same usage errors
    name = argv[2]
    argv = { name, "--help" }
  end
  if name == "--help" or name == "-h" or name == "help" then
    out:write(overview(), "\n")
    return OK
  elseif name == "--version" then
    out:write(string_format("%s (module %s)\n", cli._VERSION, require("qtforge")._VERSION))
    return OK
  elseif name == nil or not is_command(name) then
    err:write(name and string_format("qtforge: unknown command %q\n", name) or "qtforge: missing command\n")
    err:write(overview(), "\n")
    return USAGE
  end
  return run_command(name, argv, out, err)
end

--- Runs the command `argv` names (argv[1] is the command, as in `arg`), writing
--- results to `out` and problems to `err` (default io.stdout and io.stderr).
--- Returns the exit status: 0 success, 1 failure, 2 usage error, 130 Ctrl-C.
function cli.main(argv, out, err)
  argv, out, err = argv or {}, out or io.stdout, err or io.stderr
  check_argv(argv)
  -- the commands load the native module: without it, say so rather than crash
  local loaded, problem = pcall(require, "qtforge")
  if not loaded then
    err:write("qtforge: cannot load the qtforge module: ", tostring(problem), "\n")
    return FAILED
  end
  return dispatch(argv, out, err)
end

cli.OK, cli.FAILED, cli.USAGE, cli.INTERRUPTED = OK, FAILED, USAGE, INTERRUPTED

return cli
