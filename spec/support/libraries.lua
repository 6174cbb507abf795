-- The example native libraries (`make examples`) for the specs that load,
-- replace and reload them.
local fs = require("support.fs")

local libraries = {}

-- the build folder of the interpreter running the specs
libraries.DIR = "build/" .. (jit and "luajit" or "lua5.4") .. "/plugins/"

--- The path of an example library of this interpreter: lib("hello"), lib("broken/abi_v2").
function libraries.lib(name)
  local path = libraries.DIR .. name .. ".so"
  assert(fs.read(path), path .. " is missing: run `make examples`")
  return path
end

--- Puts `bytes` at `to` through a temporary name, as a build installs a
--- library: what was mapped from the old file stays as it was.
function libraries.install_bytes(bytes, to)
  fs.write(to .. ".tmp", bytes)
  assert(os.rename(to .. ".tmp", to))
  return to
end

--- Puts the bytes of the library `from` at `to`, as install_bytes does.
function libraries.install(from, to)
  return libraries.install_bytes(assert(fs.read(from), from .. " is missing: run `make examples`"), to)
end

return libraries
