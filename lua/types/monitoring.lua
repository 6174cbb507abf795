---@meta qtforge.monitoring

---@class qtforge.monitoring
---@field PluginHotReloadManager qtforge.PluginHotReloadManagerClass
local monitoring = {}

---@class qtforge.HotReloadOptions
---@field mode? "events"|"poll" the system's notifications (default), or a scan every `interval`
---@field interval? number seconds between scans in "poll" mode (default 0.5)
---@field debounce? number seconds a changed path must be quiet before it counts (default 0.05)
---@field load_new? boolean load plugin folders that appear in a watched folder (default true)
---@field unload_removed? boolean unload plugins whose folder or file goes (default true)

---@class qtforge.HotReloadStats
---@field reloads integer reloads that took
---@field failures integer reloads refused, and new folders that did not load
---@field loads integer new plugin folders loaded
---@field unloads integer plugins unloaded because their files went
---@field watched integer folders watched
---@field pending integer changed paths still settling

---@class qtforge.PluginHotReloadManagerClass
---@overload fun(manager: qtforge.PluginManager, opts?: qtforge.HotReloadOptions): qtforge.PluginHotReloadManager
local PluginHotReloadManagerClass = {}

---@param manager qtforge.PluginManager
---@param opts? qtforge.HotReloadOptions
---@return qtforge.PluginHotReloadManager
function PluginHotReloadManagerClass.new(manager, opts) end

---Reloads a manager's plugins when their files change; nothing happens off the Lua thread.
---@class qtforge.PluginHotReloadManager
local PluginHotReloadManager = {}

---Watches a folder, recursively.
---@param dir string
---@return true? ok
---@return qtforge.Error? err `io_error`
function PluginHotReloadManager:watch_directory(dir) end

---Stops watching a folder.
---@param dir string
---@return boolean watched whether it was watched
function PluginHotReloadManager:unwatch_directory(dir) end

---While off, `poll` drops the changes it sees.
---@param enabled boolean
function PluginHotReloadManager:enable_auto_reload(enabled) end

---`fn(plugin_id)` after each reload that took.
---@param fn fun(plugin_id: string)
---@return fun() remove
function PluginHotReloadManager:on_plugin_reloaded(fn) end

---`fn(plugin_id, err)` after each reload refused (the old version still runs) and each new folder that did not load.
---@param fn fun(plugin_id: string?, err: qtforge.Error)
---@return fun() remove
function PluginHotReloadManager:on_reload_failed(fn) end

---Applies the changes that have settled: each changed plugin is reloaded once, dependencies
---first; new plugin folders load and removed ones unload. `update_all_plugins` calls it too.
---@return integer applied how many plugins were reloaded, loaded or unloaded
function PluginHotReloadManager:poll() end

---Reloads a plugin now, as a change would.
---@param plugin_id string
---@return qtforge.PluginResult
function PluginHotReloadManager:reload_now(plugin_id) end

---@return qtforge.HotReloadStats
function PluginHotReloadManager:stats() end

---Stops watching and leaves `update_all_plugins`.
function PluginHotReloadManager:close() end

return monitoring
