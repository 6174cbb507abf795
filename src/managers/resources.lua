-- qtforge.managers.ResourceManager: resources released when their owner goes.
-- Rust keeps the books (ids in order, owners, kinds, quotas); this file keeps
-- each resource's release function, which is a Lua value.
local native = ...

local error, getmetatable, ipairs, pcall, setmetatable, tostring, type = error, getmetatable, ipairs, pcall,
  setmetatable, tostring, type
local math_floor, math_huge = math.floor, math.huge
local string_format = string.format

local support = native.support
local describe, method_check, safe_tostring = support.describe, support.method_check, support.safe_tostring
local check_options, class, is_callable = support.check_options, support.class, support.is_callable
local Error = native.Error
local new_books = native.new_books

local ResourceManager = { __name = "qtforge.managers.ResourceManager" }
ResourceManager.__index = ResourceManager

local Resource = { __name = "qtforge.managers.Resource" }
local ResourceMethods = {}
Resource.__index = ResourceMethods

local check_manager = method_check(ResourceManager, "a ResourceManager")
local check_resource = method_check(Resource, "a resource")

local function check_name(fname, what, value, level)
  if type(value) ~= "string" or value == "" then
    error(string_format("%s: argument '%s' must be a non-empty string, got %s", fname, what, describe(value)),
      level + 1)
  end
end

local function new_manager(level, opts)
  check_options("ResourceManager", opts, {}, level + 1)
  return setmetatable({
    _books = new_books(),
    _release = {}, -- id -> release function
    _handles = {}, -- id -> handle
  }, ResourceManager)
end

local function register(self, fname, owner, kind, release, opts, level)
  check_name(fname, "owner", owner, level + 1)
  check_name(fname, "kind", kind, level + 1)
  if not is_callable(release) then
    error(fname .. ": argument 'release' must be a function, got " .. describe(release), level + 1)
  end
  opts = check_options(fname, opts, { label = "string" }, level + 1)
  local label = opts.label or ""
  local id, err = self._books:register(owner, kind, label)
  if id == nil then
    return nil, err
  end
  local handle = setmetatable({ id = id, owner = owner, kind = kind, label = label, _manager = self }, Resource)
  self._release[id] = release
  self._handles[id] = handle
  return handle
end

-- Takes the resource off the books, then runs its release function: a failing
-- release is reported, and the resource is gone all the same.
local function release_one(self, id)
  local release = self._release[id]
  if release == nil or not self._books:release(id) then
    return false
  end
  local handle = self._handles[id]
  self._release[id], self._handles[id] = nil, nil
  local ok, problem = pcall(release)
  if not ok then
    return false, Error("release_error", string_format("releasing %s resource %d of %q failed: %s", handle.kind, id,
      handle.owner, safe_tostring(problem)), handle.label)
  end
  return true
end

--- register(owner, kind, release, opts): puts a resource on the books; `release()`
--- runs when it is released. Returns a handle, or nil and a quota_exceeded Error.
function ResourceManager:register(owner, kind, release, opts)
  check_manager("ResourceManager:register", self)
  local handle, err = register(self, "ResourceManager:register", owner, kind, release, opts, 2)
  return handle, err
end

local function id_of(fname, target, level)
  if getmetatable(target) == Resource then
    return target.id
  end
  if type(target) ~= "number" or target ~= math_floor(target) or target < 1 or target == math_huge then
    error(fname .. ": argument 'resource' must be a resource handle or id, got " .. describe(target), level + 1)
  end
  return target
end

--- Releases one resource: true; false when it was not held; false and an Error
--- when its release function failed (it is released all the same).
function ResourceManager:release(resource)
  check_manager("ResourceManager:release", self)
  local ok, err = release_one(self, id_of("ResourceManager:release", resource, 2))
  return ok, err
end

local function release_all(self, owner)
  local ids = self._books:owned_by(owner)
  local errors = {}
  local released = 0
  for _, id in ipairs(ids) do
    local ok, err = release_one(self, id)
    if ok then
      released = released + 1
    elseif err then
      released = released + 1
      errors[#errors + 1] = err
    end
  end
  return { released = released, errors = errors }
end

--- Releases everything `owner` holds, newest first: { released = n, errors = { Error... } }.
function ResourceManager:release_all(owner)
  check_manager("ResourceManager:release_all", self)
  check_name("ResourceManager:release_all", "owner", owner, 2)
  return release_all(self, owner)
end

--- set_quota(owner, kind, limit): at most `limit` resources of `kind` for
--- `owner` (nil: every owner without its own limit); a nil limit lifts it.
function ResourceManager:set_quota(owner, kind, limit)
  check_manager("ResourceManager:set_quota", self)
  if owner ~= nil then
    check_name("ResourceManager:set_quota", "owner", owner, 2)
  end
  check_name("ResourceManager:set_quota", "kind", kind, 2)
  if limit ~= nil and (type(limit) ~= "number" or limit ~= math_floor(limit) or limit < 0 or limit == math_huge) then
    error("ResourceManager:set_quota: argument 'limit' must be a non-negative integer or nil, got "
      .. tostring(limit), 2)
  end
  self._books:set_quota(owner, kind, limit)
  return true
end

function ResourceManager:quota(owner, kind)
  check_manager("ResourceManager:quota", self)
  check_name("ResourceManager:quota", "owner", owner, 2)
  check_name("ResourceManager:quota", "kind", kind, 2)
  return self._books:quota(owner, kind)
end

function ResourceManager:count(owner, kind)
  check_manager("ResourceManager:count", self)
  check_name("ResourceManager:count", "owner", owner, 2)
  check_name("ResourceManager:count", "kind", kind, 2)
  return self._books:count(owner, kind)
end

--- { held, released, owners = { [owner] = { [kind] = count } } }
function ResourceManager:stats()
  check_manager("ResourceManager:stats", self)
  return self._books:stats()
end

--- What is still held, oldest first: { { id, owner, kind, label, age }, ... }
--- (age in seconds): at shutdown, each entry is a leak.
function ResourceManager:leak_report()
  check_manager("ResourceManager:leak_report", self)
  return self._books:leaks()
end

ResourceManager.__tostring = function(self)
  return string_format("qtforge.managers.ResourceManager (%d held)", self._books:stats().held)
end

function ResourceMethods.release(handle)
  check_resource("Resource:release", handle)
  local ok, err = release_one(handle._manager, handle.id)
  return ok, err
end

function ResourceMethods.held(handle)
  check_resource("Resource:held", handle)
  return handle._manager._release[handle.id] ~= nil
end

Resource.__tostring = function(handle)
  return string_format("qtforge.managers.Resource(%d, %s of %s)", handle.id, handle.kind, handle.owner)
end

---------------------------------------------------------------------------
-- A plugin's resources (ctx.resources): the owner is the plugin.
---------------------------------------------------------------------------

local PluginResources = { __name = "qtforge.managers.PluginResources" }
PluginResources.__index = PluginResources

local check_plugin_resources = method_check(PluginResources, "a plugin's resources (ctx.resources)")

local function plugin_resources(manager, plugin_id)
  return setmetatable({ _manager = manager, _id = plugin_id }, PluginResources)
end

function PluginResources:register(kind, release, opts)
  check_plugin_resources("resources:register", self)
  local handle, err = register(self._manager, "resources:register", self._id, kind, release, opts, 2)
  return handle, err
end

function PluginResources:release(resource)
  check_plugin_resources("resources:release", self)
  local id = id_of("resources:release", resource, 2)
  local handle = self._manager._handles[id]
  if handle == nil or handle.owner ~= self._id then
    return false
  end
  local ok, err = release_one(self._manager, id)
  return ok, err
end

function PluginResources:count(kind)
  check_plugin_resources("resources:count", self)
  check_name("resources:count", "kind", kind, 2)
  return self._manager._books:count(self._id, kind)
end

function PluginResources:quota(kind)
  check_plugin_resources("resources:quota", self)
  check_name("resources:quota", "kind", kind, 2)
  return self._manager._books:quota(self._id, kind)
end

return {
  ResourceManager = class("qtforge.managers.ResourceManager", new_manager),
  -- for manager.lua
  plugin_resources = plugin_resources,
  release_all = release_all,
  -- metatables, for specs that check every public method has a type stub
  _ResourceManager = ResourceManager,
  _Resource = ResourceMethods,
  _PluginResources = PluginResources,
}
