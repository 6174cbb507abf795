-- Keys given on the command line: hex digits, or @FILE holding them, either
-- alone or as the `name=...` line `qtforge keygen` prints.
local tostring = tostring

local fs = require("qtforge.cli.fs")

local keys = {}

--- The key `argument` gives: its text, or for `@FILE` the file's `field=` line
--- (`public_key`, `secret_key`) or, without one, its whole text, trimmed.
--- Returns the key, or nil and a message. The key is not checked here:
--- qtforge checks it, and its messages never repeat a secret.
function keys.read(argument, field)
  if argument:sub(1, 1) ~= "@" then
    return argument
  end
  local path = argument:sub(2)
  local text, message = fs.read(path)
  if text == nil then
    return nil, "cannot read the key file: " .. message
  end
  local named = text:match("%f[%w_]" .. field .. "%s*=%s*(%x+)")
  return named or text:match("^%s*(.-)%s*$")
end

--- What qtforge said of a key it refused (an error it raised), without the
--- position Lua puts first. Its messages never repeat a key.
function keys.refusal(message)
  return (tostring(message):gsub("^[^:]*:%d+: ", ""))
end

return keys
