-- qtforge verify PATH [--trust PUBLIC...]: checks PATH/plugin.sig.
local ipairs, pcall, tostring = ipairs, pcall, tostring

local qtforge = require("qtforge")
local keys = require("qtforge.cli.keys")
local plugins = require("qtforge.cli.plugins")

local verify = {
  synopsis = "verify PATH [--trust PUBLIC_HEX|@FILE...]",
  summary = "check a plugin folder's signature",
  positional = { 1, 1, name = "PATH" },
  options = { ["--trust"] = "list" },
  help = [[
Checks the signature in PATH/plugin.sig against the plugin's files and prints:

  plugin=<id>
  signed=true|false
  trusted=true|false
  key=<the public key that signed it>

  --trust KEY    a public key to trust (64 hex digits, or @FILE holding it, as
                 `qtforge keygen --out` writes); give it once per key

Exit status 0 when the signature matches the files and, with --trust, was made
by one of those keys; 1 when the plugin is unsigned, the signature does not
match (a file changed, was added or removed), or the key is not trusted.]],
}

-- A TrustManager that trusts each --trust key, or nil and the problem.
local function trust_manager(arguments)
  local trust = qtforge.security.TrustManager()
  for i, argument in ipairs(arguments or {}) do
    local key, message = keys.read(argument, "public_key")
    if key == nil then
      return nil, message
    end
    local ok, problem = pcall(trust.trust_key, trust, "trusted key #" .. i, key)
    if not ok then
      return nil, "--trust " .. argument .. ": " .. keys.refusal(problem)
    end
  end
  return trust
end

-- Why a plugin whose signature was read is not accepted, or nil when it is.
local function refusal(result, with_trust)
  if not result.signed then
    return "not signed (no plugin.sig)"
  elseif with_trust and not result.trusted then
    return "signed by a key not given with --trust"
  end
end

function verify.run(out, opts, words)
  local path = words[1]
  local trust, message = trust_manager(opts["--trust"])
  if trust == nil then
    out:error(message)
    return 1
  end
  local result = trust:verify(path)
  if not result.success then
    out:report(plugins.problem(result.error, path))
    return 1
  end
  out:line("plugin=" .. result.plugin_id)
  out:line("signed=" .. tostring(result.signed))
  out:line("trusted=" .. tostring(result.trusted))
  if result.public_key then
    out:line("key=" .. result.public_key)
  end
  local problem = refusal(result, opts["--trust"] ~= nil)
  if problem then
    out:report(path .. ": " .. problem)
    return 1
  end
  return 0
end

return verify
