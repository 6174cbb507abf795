-- qtforge keygen [--out PREFIX]: a new ed25519 keypair for signing plugins.
local ipairs = ipairs
local os_remove = os.remove

local qtforge = require("qtforge")
local fs = require("qtforge.cli.fs")

local keygen = {
  synopsis = "keygen [--out PREFIX]",
  summary = "make an ed25519 keypair for signing plugins",
  positional = { 0, 0, name = "nothing" },
  options = { ["--out"] = "value" },
  help = [[
Makes a new ed25519 keypair from the system's random source and prints it:

  public_key=<64 hex digits>
  secret_key=<64 hex digits>

  --out PREFIX   write the keys to PREFIX.pub and PREFIX.key instead (the secret
                 one readable by its owner only), print the public key and the
                 two paths. Existing files are never overwritten, and
                 both files are written or neither (exit status 1).

Give the public key to the hosts that should trust your plugins
(TrustManager:trust_key, or `qtforge verify --trust`); keep the secret key out
of the plugin and of version control.]],
}

-- Writes both key files, or neither: the public one is removed again when
-- the secret one cannot be written, so that a retry does not meet it.
local function write_files(out, prefix, public_key, secret_key)
  local public_path, secret_path = prefix .. ".pub", prefix .. ".key"
  for _, path in ipairs({ public_path, secret_path }) do
    if fs.exists(path) then
      out:error(path .. " exists; not overwriting a key")
      return 1
    end
  end
  local ok, message = fs.write(public_path, "public_key=" .. public_key .. "\n")
  if ok then
    ok, message = fs.write(secret_path, "secret_key=" .. secret_key .. "\n", "private")
    if not ok then
      os_remove(public_path)
    end
  end
  if not ok then
    out:error(message)
    return 1
  end
  out:line("public_key=" .. public_key)
  out:line("public_key_file=" .. public_path)
  out:line("secret_key_file=" .. secret_path)
  return 0
end

function keygen.run(out, opts)
  local public_key, secret_key = qtforge.security.TrustManager.generate_keypair()
  if opts["--out"] then
    return write_files(out, opts["--out"], public_key, secret_key)
  end
  out:line("public_key=" .. public_key)
  out:line("secret_key=" .. secret_key)
  return 0
end

return keygen
