-- qtforge sign PATH --key SECRET: writes PATH/plugin.sig.
local pcall = pcall

local qtforge = require("qtforge")
local keys = require("qtforge.cli.keys")
local plugins = require("qtforge.cli.plugins")

local sign = {
  synopsis = "sign PATH --key SECRET_HEX|@FILE",
  summary = "sign a plugin folder (writes plugin.sig)",
  positional = { 1, 1, name = "PATH" },
  options = { ["--key"] = "value" },
  required = { "--key" },
  help = [[
Signs the plugin folder PATH with an ed25519 secret key: writes PATH/plugin.sig,
which covers the manifest and every file of the folder (docs/security.md).
Sign after the last change: any change to the files breaks the signature.

  --key SECRET_HEX   the secret key, 64 hex digits (what `qtforge keygen` prints)
  --key @FILE        read it from FILE: a `secret_key=...` line or the key alone
                     (prefer this: a key on the command line stays in the
                     shell's history)

Prints the plugin id and the public key to trust it with. Single-file plugins
cannot be signed. Exit status 0, or 1 when the key or the plugin is refused.]],
}

function sign.run(out, opts, words)
  local path = words[1]
  local secret_key, message = keys.read(opts["--key"], "secret_key")
  if secret_key == nil then
    out:error(message)
    return 1
  end
  -- TrustManager.sign raises for a malformed key
  local ok, result = pcall(qtforge.security.TrustManager.sign, path, secret_key)
  if not ok then
    out:error("invalid secret key: " .. keys.refusal(result))
    return 1
  end
  if not result.success then
    out:report(plugins.problem(result.error, path))
    return 1
  end
  out:line("signed " .. result.plugin_id)
  out:line("public_key=" .. result.public_key)
  return 0
end

return sign
