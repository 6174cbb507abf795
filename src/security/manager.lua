-- qtforge.security.SecurityManager and PermissionSystem: a host's policy, and
-- the record of what each loaded plugin was granted. Rust checks the policy
-- and decides each grant; this file keeps the grants as Lua tables, so that
-- PermissionSystem:check is a table read.
local native = ...

local error, getmetatable, ipairs, pairs, setmetatable, type = error, getmetatable, ipairs, pairs, setmetatable, type
local string_format = string.format
local table_concat = table.concat

local support = native.support
local describe, method_check, class = support.describe, support.method_check, support.class
local check_plugin_id = support.check_plugin_id
local Error = native.Error
local new_policy = native.new_policy
local validate, has_lock = native.validate, native.has_lock
local TrustManagerMeta = native.TrustManagerMeta

local SecurityManager = { __name = "qtforge.security.SecurityManager" }
local Methods = {}
SecurityManager.__index = Methods

local PermissionSystem = { __name = "qtforge.security.PermissionSystem" }
local PermissionMethods = {}
PermissionSystem.__index = PermissionMethods

local check_manager = method_check(SecurityManager, "a SecurityManager")
local check_permissions = method_check(PermissionSystem, "a PermissionSystem")

--- SecurityManager(policy): policy.trust ("sandboxed" or "trusted"), grant,
--- deny, paths = { read, write }, modules, host_globals, limits,
--- max_quota_failures, require_integrity, plugins = { [id] = rule }, and
--- trust_manager (a TrustManager: plugins its keys signed load trusted).
local function new_manager(level, policy)
  if policy ~= nil and type(policy) ~= "table" then
    error("SecurityManager: argument 'policy' must be a table or nil, got " .. describe(policy), level + 1)
  end
  local rules = {}
  local trust_manager
  for key, value in pairs(policy or {}) do
    if key == "trust_manager" then
      if getmetatable(value) ~= TrustManagerMeta then
        error("SecurityManager: policy.trust_manager must be a qtforge.security.TrustManager, got "
          .. describe(value), level + 1)
      end
      trust_manager = value
    else
      rules[key] = value
    end
  end
  local checked, problem = new_policy(rules)
  if checked == nil then
    error("SecurityManager: policy." .. problem, level + 1)
  end
  local permissions = setmetatable({ _grants = {} }, PermissionSystem)
  return setmetatable({
    _policy = checked,
    _trust_manager = trust_manager,
    _permissions = permissions,
    max_quota_failures = checked:max_quota_failures(),
    host_globals = checked:host_globals(),
  }, SecurityManager)
end

-- "capability_denied" naming the plugin and what it may not have
local function denied(id, refused)
  return Error("capability_denied", string_format("plugin %q asks for capabilities the host's policy refuses: %s", id,
    table_concat(refused.capabilities, ", ")), refused.reason)
end

--- admit(plan, origin): what the plugin of a load plan would get: a grant
--- table { trust, capabilities, limits, read, write, modules, signed }, or nil
--- and an Error (capability_denied, integrity_mismatch, signature_invalid).
--- `origin` is "file", "inline" or "native". Nothing is recorded: the
--- manager records the grant of a plugin that loads.
local ORIGINS = { file = true, inline = true, native = true }

function Methods:admit(plan, origin)
  check_manager("SecurityManager:admit", self)
  if type(plan) ~= "table" or type(plan.id) ~= "string" then
    error("SecurityManager:admit: argument 'plan' must be a load plan or manifest table with an id, got "
      .. describe(plan), 2)
  end
  if not ORIGINS[origin] then
    error("SecurityManager:admit: argument 'origin' must be \"file\", \"inline\" or \"native\", got "
      .. describe(origin), 2)
  end
  local id = plan.id
  local signed = false
  local folder = origin == "file" and plan.kind == "folder"
  local require_integrity = self._policy:require_integrity()
  -- a folder's files are hashed when a list vouches for them: reading the
  -- manifest again for a plugin with none would only cost time
  if folder and (require_integrity or plan.integrity or has_lock(plan.root)) then
    local checked = validate(plan.root)
    if not checked.success then
      return nil, checked.error
    end
    if not checked.integrity and require_integrity then
      return nil, Error("integrity_mismatch", string_format("plugin %q lists no hashes of its files", id),
        "the policy requires an [integrity] table or a qtforge.lock entry")
    end
  elseif origin == "file" and not folder and require_integrity then
    return nil, Error("integrity_mismatch", string_format("plugin %q is a single file, which cannot list hashes", id),
      "the policy requires an [integrity] table or a qtforge.lock entry")
  end
  if folder and self._trust_manager ~= nil then
    local verdict = self._trust_manager:verify(plan.root)
    if not verdict.success then
      return nil, verdict.error
    end
    signed = verdict.trusted == true
  end
  local grant, refused = self._policy:admit(id, origin, plan.capabilities or {}, plan.limits or {}, plan.root,
    signed)
  if grant == nil then
    return nil, denied(id, refused)
  end
  grant.signed = signed
  local held = {}
  for _, name in ipairs(grant.capabilities) do
    held[name] = true
  end
  grant.held = held
  return grant
end

-- the manager's record of what a loaded plugin holds (nil: it is gone)
local function record(self, id, grant)
  self._permissions._grants[id] = grant
end

-- ... and what it holds now, for a transaction to put back
local function recorded(self, id)
  return self._permissions._grants[id]
end

--- The PermissionSystem: what each loaded plugin holds.
function Methods:permissions()
  check_manager("SecurityManager:permissions", self)
  return self._permissions
end

--- trust_level(id): "trusted" or "sandboxed" for a loaded plugin, else nil.
function Methods:trust_level(id)
  check_manager("SecurityManager:trust_level", self)
  check_plugin_id("SecurityManager:trust_level", id, 2)
  local grant = self._permissions._grants[id]
  return grant and grant.trust
end

SecurityManager.__tostring = function()
  return "qtforge.security.SecurityManager"
end

--- check(plugin_id, capability): whether the loaded plugin holds it.
function PermissionMethods:check(id, capability)
  check_permissions("PermissionSystem:check", self)
  check_plugin_id("PermissionSystem:check", id, 2)
  if type(capability) ~= "string" then
    error("PermissionSystem:check: argument 'capability' must be a capability name, got " .. describe(capability), 2)
  end
  local grant = self._grants[id]
  return grant ~= nil and grant.held[capability] == true
end

--- grants(plugin_id): the capabilities the loaded plugin holds (sorted), or nil.
function PermissionMethods:grants(id)
  check_permissions("PermissionSystem:grants", self)
  check_plugin_id("PermissionSystem:grants", id, 2)
  local grant = self._grants[id]
  if grant == nil then
    return nil
  end
  local list = {}
  for i, name in ipairs(grant.capabilities) do
    list[i] = name
  end
  return list
end

PermissionSystem.__tostring = function()
  return "qtforge.security.PermissionSystem"
end

local function new_permissions(level, manager)
  if getmetatable(manager) ~= SecurityManager then
    error("PermissionSystem: argument 'security' must be a SecurityManager, got " .. describe(manager), level + 1)
  end
  return manager._permissions
end

return {
  SecurityManager = class("qtforge.security.SecurityManager", new_manager),
  PermissionSystem = class("qtforge.security.PermissionSystem", new_permissions),
  record = record,
  recorded = recorded,
  _Meta = SecurityManager,
  -- metatables, for specs that check every public method has a type stub
  _SecurityManager = Methods,
  _PermissionSystem = PermissionMethods,
}
