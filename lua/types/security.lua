---@meta qtforge.security

---@class qtforge.security
---@field PluginValidator qtforge.PluginValidator
---@field TrustManager qtforge.TrustManagerClass
---@field SecurityManager qtforge.SecurityManagerClass
---@field PermissionSystem qtforge.PermissionSystemClass
local security = {}

---@class qtforge.ValidationResult: qtforge.Result
---@field plugin_id? string
---@field integrity? boolean whether the plugin's files were checked against a list of hashes
---@field files? integer how many files were checked
---@field source? "manifest"|"lock" which list: the manifest's `[integrity]`, or the `qtforge.lock` beside the folder

---@class qtforge.LockResult: qtforge.Result
---@field path? string the lock file written, `<dir>/qtforge.lock`
---@field plugins? integer how many plugin folders it lists

---Checks a plugin without running it.
---@class qtforge.PluginValidator
local PluginValidator = {}

---Reads and checks the manifest as a load would, then compares the plugin's files with its
---`[integrity]` table or, without one, with its folder's entry in the `qtforge.lock` beside the
---folder: `integrity_mismatch` names every changed, missing or unlisted file; a lock that does not
---read is a `parse_error`.
---@param path string
---@return qtforge.ValidationResult
function PluginValidator.validate(path) end

---The sha256 of every file of a plugin folder (hidden ones and `plugin.sig` left out): what
---`[integrity]` should say.
---@param path string
---@return table<string, string>? hashes
---@return qtforge.Error? err
function PluginValidator.hash_files(path) end

---Writes `dir/qtforge.lock` (atomically): the sha256 of every file, manifest included, of every
---plugin folder directly in `dir`. Nothing is written when a plugin's manifest does not read.
---@param dir string
---@return qtforge.LockResult
function PluginValidator.lock(dir) end

---------------------------------------------------------------------------
-- TrustManager
---------------------------------------------------------------------------

---@class qtforge.VerifyResult: qtforge.Result
---@field plugin_id? string
---@field signed? boolean the plugin has a `plugin.sig` that matches its files
---@field trusted? boolean it was signed by a trusted key
---@field key? string the name of that trusted key
---@field public_key? string the key that signed, 64 hex digits

---@class qtforge.SignResult: qtforge.Result
---@field plugin_id? string
---@field public_key? string

---@class qtforge.TrustManagerClass
---@overload fun(): qtforge.TrustManager
local TrustManagerClass = {}

---@return qtforge.TrustManager
function TrustManagerClass.new() end

---A new ed25519 key pair from the system's random source, in lower-case hex.
---@return string public_key 64 hex digits: give it to `trust_key`
---@return string secret_key 64 hex digits (the seed): keep it secret
function TrustManagerClass.generate_keypair() end

---Signs a plugin folder: writes its `plugin.sig` (atomically) over the manifest and every file's hash.
---@param path string
---@param secret_key string 64 lower-case hex digits
---@return qtforge.SignResult
function TrustManagerClass.sign(path, secret_key) end

---The keys a host trusts, and what a plugin's `plugin.sig` says.
---@class qtforge.TrustManager
local TrustManager = {}

---Signatures by `public_key` count as trusted, under `name`; trusting a name again replaces its key.
---@param name string
---@param public_key string 64 lower-case hex digits
function TrustManager:trust_key(name, public_key) end

---Forgets a trusted key.
---@param name string
---@return boolean known whether there was one
function TrustManager:distrust_key(name) end

---The trusted keys by name (a copy).
---@return table<string, string>
function TrustManager:keys() end

---Checks the plugin's `plugin.sig` against its files: unsigned without one (and for single-file
---plugins), `signature_invalid` when it is malformed or does not match.
---@param path string
---@return qtforge.VerifyResult
function TrustManager:verify(path) end

---@alias qtforge.Capability "log"|"bus:publish"|"bus:subscribe"|"config:read"|"config:write"|"fs:read"|"fs:write"|"os:env"|"os:exec"|"require"|"debug"|"host"|"plugins"|"native"

---Quotas on each call into a sandboxed plugin.
---@class qtforge.Limits
---@field instructions? integer VM instructions per call
---@field time_ms? integer wall time per call, in milliseconds
---@field depth? integer Lua call depth below the call

---What the policy says about one plugin, beyond the general rules.
---@class qtforge.PluginRule
---@field trust? "trusted"|"sandboxed"
---@field grant? qtforge.Capability[] granted to this plugin besides the general grant
---@field deny? qtforge.Capability[] never granted to this plugin
---@field paths? { read?: string[], write?: string[] } absolute paths it may read or write besides its folder
---@field modules? string[] modules its `require` may load besides the general ones
---@field limits? qtforge.Limits caps for this plugin in place of the general ones

---A host's security policy.
---@class qtforge.SecurityPolicy
---@field trust? "trusted"|"sandboxed" how plugins from files are trusted (default "sandboxed")
---@field grant? qtforge.Capability[] what plugins that declare it may have (default: log, bus:publish, bus:subscribe, config:read, config:write, native)
---@field deny? qtforge.Capability[] never granted, whatever else says so
---@field paths? { read?: string[], write?: string[] } absolute paths `fs:read` / `fs:write` reach besides the plugin's folder
---@field modules? string[] the modules `require` may load
---@field host_globals? string[] the host globals `host` shows (default: every non-standard global)
---@field limits? qtforge.Limits caps on what a manifest's `[limits]` asks; a cap applies to plugins that ask for nothing
---@field max_quota_failures? integer quota failures after which a plugin is marked `failed` (default 3)
---@field require_integrity? boolean refuse folder plugins whose files no `[integrity]` or `qtforge.lock` vouches for
---@field plugins? table<string, qtforge.PluginRule> rules for single plugins
---@field trust_manager? qtforge.TrustManager plugins signed by one of its trusted keys load trusted

---What a plugin was granted.
---@class qtforge.Grant
---@field trust "trusted"|"sandboxed"
---@field capabilities qtforge.Capability[] sorted; every capability for a trusted plugin
---@field limits qtforge.Limits
---@field read string[] the paths `fs:read` reaches
---@field write string[] the paths `fs:write` reaches
---@field modules string[] the modules `require` may load
---@field signed boolean a trusted key signed it

---@class qtforge.SecurityManagerClass
---@overload fun(policy?: qtforge.SecurityPolicy): qtforge.SecurityManager
local SecurityManagerClass = {}

---@param policy? qtforge.SecurityPolicy
---@return qtforge.SecurityManager
function SecurityManagerClass.new(policy) end

---A host's policy: every plugin a PluginManager loads is admitted by it.
---@class qtforge.SecurityManager
local SecurityManager = {}

---What a plugin would get, without loading it: checks integrity and signature, then the capabilities.
---@param plan table a load plan or manifest table: id, capabilities, limits, kind, root
---@param origin "file"|"inline"|"native"
---@return qtforge.Grant? grant
---@return qtforge.Error? err `capability_denied`, `integrity_mismatch` or `signature_invalid`
function SecurityManager:admit(plan, origin) end

---What each loaded plugin holds.
---@return qtforge.PermissionSystem
function SecurityManager:permissions() end

---How a loaded plugin is trusted, or nil when no plugin of that id is loaded.
---@param plugin_id string
---@return "trusted"|"sandboxed"|nil
function SecurityManager:trust_level(plugin_id) end

---@class qtforge.PermissionSystemClass
---@overload fun(manager: qtforge.SecurityManager): qtforge.PermissionSystem
local PermissionSystemClass = {}

---The PermissionSystem of a SecurityManager.
---@param manager qtforge.SecurityManager
---@return qtforge.PermissionSystem
function PermissionSystemClass.new(manager) end

---What each loaded plugin holds.
---@class qtforge.PermissionSystem
local PermissionSystem = {}

---Whether the loaded plugin holds the capability (false for a plugin not loaded).
---@param plugin_id string
---@param capability qtforge.Capability
---@return boolean
function PermissionSystem:check(plugin_id, capability) end

---The capabilities the loaded plugin holds, sorted; nil when it is not loaded.
---@param plugin_id string
---@return qtforge.Capability[]?
function PermissionSystem:grants(plugin_id) end

return security
