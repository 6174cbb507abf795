-- qtforge.monitoring.PluginHotReloadManager: reloads plugins when their files
-- change. A watcher thread in Rust notes changes and lets them settle
-- (debounce); nothing happens until poll(), on the Lua thread, maps the
-- settled paths to plugins and reloads each once, through the manager's
-- reload_plugin (which checks the whole new version before the swap and keeps
-- the old one running when anything fails).
local native = ...

local error, getmetatable, ipairs, pairs, pcall, setmetatable, type = error, getmetatable, ipairs, pairs, pcall,
  setmetatable, type
local string_format, string_sub = string.format, string.sub
local table_sort = table.sort

local support = native.support
local describe, method_check, check_options, class, listen, safe_tostring = support.describe, support.method_check,
  support.check_options, support.class, support.listen, support.safe_tostring
local check_plugin_id = support.check_plugin_id
local new_watcher, kind_of, resolve = native.new_watcher, native.kind_of, native.resolve
local core = native.core
local Error = native.Error
local ManagerMeta, add_poller, add_global_poller, all_managers = core._Manager, core.add_poller,
  core.add_global_poller, core.managers

local Reloader = { __name = "qtforge.monitoring.PluginHotReloadManager" }
local Methods = {}
Reloader.__index = Methods

local check_reloader = method_check(Reloader, "a PluginHotReloadManager")

local OPTIONS = {
  mode = "string",
  debounce = "number",
  interval = "number",
  load_new = "boolean",
  unload_removed = "boolean",
}
local DEFAULT_DEBOUNCE = 0.05
local DEFAULT_INTERVAL = 0.5

local function check_seconds(name, value, level)
  if value ~= nil and not (value >= 0 and value < math.huge) then
    error(string_format("PluginHotReloadManager: option '%s' must be a number of seconds, got %s", name,
      describe(value)), level + 1)
  end
end

--- PluginHotReloadManager([manager], [opts]): opts.mode "events" (default) or
--- "poll" (opts.interval seconds, default 0.5), opts.debounce (seconds a
--- path must be quiet, default 0.05), opts.load_new and opts.unload_removed
--- (plugin folders that appear in or leave a watched folder; default true).
--- Without a manager it serves every PluginManager of this Lua state.
local function new_reloader(level, manager, opts)
  if opts == nil and type(manager) == "table" and getmetatable(manager) ~= ManagerMeta then
    manager, opts = nil, manager
  end
  if manager ~= nil and getmetatable(manager) ~= ManagerMeta then
    error("PluginHotReloadManager: argument 'manager' must be a qtforge.core.PluginManager or nil, got "
      .. describe(manager), level + 1)
  end
  opts = check_options("PluginHotReloadManager", opts, OPTIONS, level + 1)
  local mode = opts.mode or "events"
  if mode ~= "events" and mode ~= "poll" then
    error("PluginHotReloadManager: option 'mode' must be \"events\" or \"poll\", got " .. describe(mode), level + 1)
  end
  check_seconds("debounce", opts.debounce, level + 1)
  check_seconds("interval", opts.interval, level + 1)
  local watcher, err = new_watcher(mode == "poll" and (opts.interval or DEFAULT_INTERVAL) or nil,
    opts.debounce or DEFAULT_DEBOUNCE)
  if watcher == nil then
    error("PluginHotReloadManager: " .. safe_tostring(err), level + 1)
  end
  local self = setmetatable({
    _manager = manager,
    _watcher = watcher,
    _dirs = {},
    _auto = true,
    _load_new = opts.load_new ~= false,
    _unload_removed = opts.unload_removed ~= false,
    _reloaded_listeners = {},
    _failed_listeners = {},
    _watch_error_listeners = {},
    _counts = { reloads = 0, failures = 0, loads = 0, unloads = 0, watch_errors = 0 },
  }, Reloader)
  -- update_all_plugins polls it too (every manager's, for one made without a manager)
  local function poller()
    Methods.poll(self)
  end
  if manager ~= nil then
    self._remove_poller = add_poller(manager, poller)
  else
    self._remove_poller = add_global_poller(poller)
  end
  return self
end

local function tell(listeners, ...)
  for i = 1, #listeners do
    pcall(listeners[i], ...)
  end
end

local function check_dir(fname, dir)
  if type(dir) ~= "string" or dir == "" then
    error(fname .. ": argument 'dir' must be a folder path string, got " .. describe(dir), 3)
  end
end

--- watch_directory(dir): watches the folder (recursively) whose plugins to
--- reload. true, or nil and an io_error.
function Methods:watch_directory(dir)
  check_reloader("PluginHotReloadManager:watch_directory", self)
  check_dir("PluginHotReloadManager:watch_directory", dir)
  local ok, err = self._watcher:watch_dir(dir)
  if not ok then
    return nil, err
  end
  -- changes are reported under `dir` as given; plugins are matched by real paths
  self._dirs[dir] = resolve(dir)
  return true
end

--- unwatch_directory(dir): stops watching it; false when it was not watched.
function Methods:unwatch_directory(dir)
  check_reloader("PluginHotReloadManager:unwatch_directory", self)
  check_dir("PluginHotReloadManager:unwatch_directory", dir)
  self._dirs[dir] = nil
  return self._watcher:unwatch(dir)
end

--- enable_auto_reload(on): while off, poll() drops the changes it sees.
function Methods:enable_auto_reload(on)
  check_reloader("PluginHotReloadManager:enable_auto_reload", self)
  if type(on) ~= "boolean" then
    error("PluginHotReloadManager:enable_auto_reload: argument 'enabled' must be a boolean, got " .. describe(on), 2)
  end
  self._auto = on
end

local function check_fn(fname, fn)
  if type(fn) ~= "function" then
    error(fname .. ": argument 'fn' must be a function, got " .. describe(fn), 3)
  end
end

--- on_plugin_reloaded(fn(plugin_id)): after each reload that took; returns a remover.
function Methods:on_plugin_reloaded(fn)
  check_reloader("PluginHotReloadManager:on_plugin_reloaded", self)
  check_fn("PluginHotReloadManager:on_plugin_reloaded", fn)
  return listen(self, "_reloaded_listeners", fn)
end

--- on_reload_failed(fn(plugin_id, err)): after each reload refused (the old
--- version still runs) and each load of a new folder that failed.
function Methods:on_reload_failed(fn)
  check_reloader("PluginHotReloadManager:on_reload_failed", self)
  check_fn("PluginHotReloadManager:on_reload_failed", fn)
  return listen(self, "_failed_listeners", fn)
end

--- on_watch_error(fn(message)): for each error the watcher met (a watched
--- folder gone in polling mode, events the system dropped); returns a remover.
function Methods:on_watch_error(fn)
  check_reloader("PluginHotReloadManager:on_watch_error", self)
  check_fn("PluginHotReloadManager:on_watch_error", fn)
  return listen(self, "_watch_error_listeners", fn)
end

local function managers_of(self)
  if self._manager ~= nil then
    return { self._manager }
  end
  return all_managers()
end

local function reload(self, manager, id)
  local result = manager:reload_plugin(id)
  if result.success then
    self._counts.reloads = self._counts.reloads + 1
    tell(self._reloaded_listeners, id)
  else
    self._counts.failures = self._counts.failures + 1
    tell(self._failed_listeners, id, result.error)
  end
  return result
end

--- reload_now(plugin_id): reloads it at once, as a change would; the result.
function Methods:reload_now(id)
  check_reloader("PluginHotReloadManager:reload_now", self)
  check_plugin_id("PluginHotReloadManager:reload_now", id, 2)
  local managers = managers_of(self)
  local result
  for _, manager in ipairs(managers) do
    if manager:get_plugin(id) ~= nil then
      local this = reload(self, manager, id)
      result = (result == nil or result.success) and this or result
    end
  end
  if result == nil then
    -- no manager holds it: what the manager says of an unknown plugin
    if managers[1] ~= nil then
      return reload(self, managers[1], id)
    end
    local err = Error("not_found", string_format("no plugin %q is loaded", id))
    result = { success = false, plugin_id = id, error = err }
    self._counts.failures = self._counts.failures + 1
    tell(self._failed_listeners, id, result.error)
  end
  return result
end

-- whether `path` is `root` or lies under it
local function under(path, root)
  return path == root or (string_sub(path, 1, #root + 1) == root .. "/")
end

-- Each loaded plugin's folder (or file, for single files and libraries), by id.
-- Not a file's root: that is the folder it sits in, beside other plugins.
local function plugin_places(manager)
  local places = {}
  for _, id in ipairs(manager:load_order()) do
    local plugin = manager:get_plugin(id)
    local info = plugin and plugin:metadata()
    local place = info and (info.kind == "folder" and info.root or info.path)
    if place then
      places[id] = resolve(place)
    end
  end
  return places
end

-- The plugin folder a changed path belongs to in a watched folder: the
-- first folder below it, when it holds a manifest.
local function new_folder(self, path)
  for _, dir in pairs(self._dirs) do
    if under(path, dir) and path ~= dir then
      local rest = string_sub(path, #dir + 2)
      local name = rest:match("^[^/]+")
      local folder = dir .. "/" .. name
      if kind_of(folder) == "dir" and (kind_of(folder .. "/plugin.toml") == "file"
        or kind_of(folder .. "/plugin.json") == "file") then
        return folder
      end
    end
  end
  return nil
end

-- Reloads (or unloads) the plugins of `manager` that the changed paths
-- belong to, in load order, so that a dependency's new version is in place
-- before its dependents'. Paths it finds an owner for leave `unowned`.
local function apply_changes(self, manager, paths, unowned)
  local places = plugin_places(manager)
  local touched = {}
  for _, path in ipairs(paths) do
    -- the innermost place holding the path; a library's plugins all share its file
    local owner_place
    for _, place in pairs(places) do
      if under(path, place) and (owner_place == nil or #place > #owner_place) then
        owner_place = place
      end
    end
    if owner_place ~= nil then
      unowned[path] = nil
      for id, place in pairs(places) do
        if place == owner_place then
          touched[id] = true
        end
      end
    end
  end
  local applied = 0
  for _, id in ipairs(manager:load_order()) do
    if touched[id] then
      local place = places[id]
      if kind_of(place) == nil then
        if self._unload_removed and manager:unload_plugin(id, { cascade = true }).success then
          self._counts.unloads = self._counts.unloads + 1
          applied = applied + 1
        end
      elseif reload(self, manager, id).success then
        applied = applied + 1
      end
    end
  end
  return applied
end

-- The managers a new plugin folder loads into: the reloader's; or, for one
-- made without a manager, each manager holding a plugin from the watched
-- folder the new one appeared in.
local function managers_for(self, folder)
  if self._manager ~= nil then
    return { self._manager }
  end
  local list = {}
  for _, manager in ipairs(all_managers()) do
    local holds = false
    for _, place in pairs(plugin_places(manager)) do
      for _, dir in pairs(self._dirs) do
        if under(folder, dir) and under(place, dir) then
          holds = true
        end
      end
    end
    if holds then
      list[#list + 1] = manager
    end
  end
  return list
end

local function load_new_folders(self, paths)
  local folders = {}
  for path in pairs(paths) do
    local folder = new_folder(self, path)
    if folder ~= nil then
      folders[folder] = true
    end
  end
  local list = {}
  for folder in pairs(folders) do
    list[#list + 1] = folder
  end
  table_sort(list)
  local applied = 0
  for _, folder in ipairs(list) do
    for _, manager in ipairs(managers_for(self, folder)) do
      local result = manager:load_plugin(folder)
      if result.success then
        self._counts.loads = self._counts.loads + 1
        applied = applied + 1
      else
        self._counts.failures = self._counts.failures + 1
        tell(self._failed_listeners, result.plugin_id, result.error)
      end
    end
  end
  return applied
end

--- poll(): applies the changes that have settled: each changed plugin is
--- reloaded once (dependencies first), new plugin folders load, removed ones
--- unload. Returns how many plugins it reloaded, loaded or unloaded.
function Methods:poll()
  check_reloader("PluginHotReloadManager:poll", self)
  local watcher = self._watcher
  local errors = watcher:errors()
  if errors ~= nil and errors[1] ~= nil then
    local counts = self._counts
    for i = 1, #errors do
      counts.watch_errors = counts.watch_errors + 1
      tell(self._watch_error_listeners, errors[i])
    end
  end
  local changed = watcher:poll()
  if changed == nil or not self._auto then
    return 0
  end
  local applied = 0
  local paths, unowned = {}, {}
  for i, given in ipairs(changed) do
    paths[i] = resolve(given)
    unowned[paths[i]] = true
  end
  for _, manager in ipairs(managers_of(self)) do
    applied = applied + apply_changes(self, manager, paths, unowned)
  end
  if self._load_new then
    applied = applied + load_new_folders(self, unowned)
  end
  return applied
end

--- stats(): reloads, failures, loads, unloads, watcher errors, watched folders
--- and pending changes.
function Methods:stats()
  check_reloader("PluginHotReloadManager:stats", self)
  local counts = self._counts
  local watched = 0
  for _ in pairs(self._dirs) do
    watched = watched + 1
  end
  return {
    reloads = counts.reloads,
    failures = counts.failures,
    loads = counts.loads,
    unloads = counts.unloads,
    watch_errors = counts.watch_errors,
    watched = watched,
    pending = self._watcher:pending(),
  }
end

--- close(): stops watching and leaves update_all_plugins.
function Methods:close()
  check_reloader("PluginHotReloadManager:close", self)
  for dir in pairs(self._dirs) do
    self._watcher:unwatch(dir)
  end
  self._dirs = {}
  self._remove_poller()
end

Reloader.__tostring = function()
  return "qtforge.monitoring.PluginHotReloadManager"
end

return {
  PluginHotReloadManager = class("qtforge.monitoring.PluginHotReloadManager", new_reloader),
  _PluginHotReloadManager = Methods,
}
