-- Lua here runs under Lua 5.4 and LuaJIT alike.
std = "max"
max_line_length = 120
-- `jit` exists only under LuaJIT; code that uses it checks for it first
read_globals = { "jit" }

files["spec"] = { std = "+busted" }
files["spec/hosts/nginx"] = { read_globals = { "ngx" } }
files["spec/hosts/love"] = { globals = { "love" } }
files["examples/love2d"] = { globals = { "love" } }
files["examples/openresty"] = { read_globals = { "ngx" } }
-- LuaLS definition files declare signatures: their arguments and tables are never used
files["lua/types"] = { unused = false, unused_args = false, max_line_length = false }
