-- qtforge.security.TrustManager: the keys a host trusts, and what a plugin's
-- plugin.sig says about its files. The keys are a plain Lua table here;
-- hashing, signing and checking signatures are Rust's (security/trust.rs).
local native = ...

local error, pairs, setmetatable, type = error, pairs, setmetatable, type

local support = native.support
local describe, method_check, check_options, class =
  support.describe, support.method_check, support.check_options, support.class
local native_verify, native_sign, native_generate_keypair = native.verify, native.sign, native.generate_keypair
local public_key_problem = native.public_key_problem

local TrustManager = { __name = "qtforge.security.TrustManager" }
TrustManager.__index = TrustManager

local check_manager = method_check(TrustManager, "a TrustManager")

local function check_path(fname, path, level)
  if type(path) ~= "string" then
    error(fname .. ": argument 'path' must be a path string, got " .. describe(path), level + 1)
  end
end

local function new_manager(level, opts)
  check_options("TrustManager", opts, {}, level + 1)
  return setmetatable({ _keys = {} }, TrustManager) -- name -> public key hex
end

--- trust_key(name, public_key): signatures by this key count as trusted, under
--- this name; trusting a name again replaces its key.
function TrustManager:trust_key(name, public_key)
  check_manager("TrustManager:trust_key", self)
  if type(name) ~= "string" or name == "" then
    error("TrustManager:trust_key: argument 'name' must be a non-empty string, got " .. describe(name), 2)
  end
  local problem = type(public_key) ~= "string" and "is not a string" or public_key_problem(public_key)
  if problem then
    error("TrustManager:trust_key: argument 'public_key' must be an ed25519 public key (64 lower-case hex digits), got "
      .. describe(public_key) .. ", which " .. problem, 2)
  end
  self._keys[name] = public_key
end

--- distrust_key(name): forgets the key; whether there was one.
function TrustManager:distrust_key(name)
  check_manager("TrustManager:distrust_key", self)
  if type(name) ~= "string" then
    error("TrustManager:distrust_key: argument 'name' must be a string, got " .. describe(name), 2)
  end
  local known = self._keys[name] ~= nil
  self._keys[name] = nil
  return known
end

--- keys(): { [name] = public_key }, a copy.
function TrustManager:keys()
  check_manager("TrustManager:keys", self)
  local copy = {}
  for name, key in pairs(self._keys) do
    copy[name] = key
  end
  return copy
end

--- verify(path): what the plugin's plugin.sig says. A result: { success,
--- plugin_id, signed, trusted, key = the trusted key's name, public_key }
--- (signed = false without a plugin.sig, and for single-file plugins), or
--- success = false with signature_invalid (malformed, or not matching the
--- files), invalid_manifest, not_found...
function TrustManager:verify(path)
  check_manager("TrustManager:verify", self)
  check_path("TrustManager:verify", path, 2)
  return native_verify(path, self._keys)
end

--- generate_keypair(): public_key, secret_key, in hex. Keep the secret one secret.
local function generate_keypair()
  local public_key, secret_key = native_generate_keypair()
  if public_key == nil then
    error("TrustManager.generate_keypair: " .. secret_key, 2)
  end
  return public_key, secret_key
end

--- sign(path, secret_key): writes the plugin folder's plugin.sig. A result:
--- { success, plugin_id, public_key }, or success = false (invalid_manifest,
--- io_error, signature_invalid for a single-file plugin).
local function sign(path, secret_key)
  check_path("TrustManager.sign", path, 2)
  if type(secret_key) ~= "string" or #secret_key ~= 64 or secret_key:find("[^0-9a-f]") then
    -- a secret, even a mistyped one, stays out of error messages and logs
    local got = type(secret_key) == "string" and "a string of " .. #secret_key .. " characters" or type(secret_key)
    error("TrustManager.sign: argument 'secret_key' must be 64 lower-case hex digits "
      .. "(as TrustManager.generate_keypair gives), got " .. got, 2)
  end
  return native_sign(path, secret_key)
end

return {
  TrustManager = class("qtforge.security.TrustManager", new_manager, {
    generate_keypair = generate_keypair,
    sign = sign,
  }),
  -- the metatable of its objects: for other chunks that recognise a
  -- TrustManager, and specs that check every method has a type stub
  _TrustManager = TrustManager,
}
