---@meta qtforge.cli
-- LuaLS definitions for `require('qtforge.cli')`, the `qtforge` command as a module
-- (lua/qtforge/cli.lua; docs/cli.md). Its commands, qtforge.cli.<name>, are not public.

---Where `main` writes: `io.stdout`, `io.stderr`, or anything with a `write` method.
---@alias qtforge.CliStream file*|{ write: fun(self: any, ...: string): any }

---The `qtforge` command: make, check, sign and run plugins.
---@class qtforge.cli
---@field _VERSION string `"qtforge-cli <version>"`
---@field _DESCRIPTION string
---@field _LICENSE string
---@field COMMANDS string[] the commands, in the order `qtforge --help` lists them
---@field OK 0 exit status: success
---@field FAILED 1 exit status: failure (a plugin that does not validate, a signature that does not match...)
---@field USAGE 2 exit status: usage error (unknown command or option, missing argument)
---@field INTERRUPTED 130 exit status: stopped by Ctrl-C
local cli = {}

---Runs the command `argv` names, as `bin/qtforge` does with `arg`: results to `out`, problems to `err`.
---Raises when `argv` is not a list of strings.
---@param argv? string[] `argv[1]` is the command (`{ "validate", "plugins" }`)
---@param out? qtforge.CliStream default `io.stdout`
---@param err? qtforge.CliStream default `io.stderr`
---@return 0|1|2|130 status the exit status
function cli.main(argv, out, err) end

return cli
