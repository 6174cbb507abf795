---@meta qtforge.monitoring

---@class qtforge.monitoring
---@field PluginHotReloadManager qtforge.PluginHotReloadManagerClass
---@field PluginMetricsCollector qtforge.PluginMetricsCollectorClass
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
---@field watch_errors integer watcher errors `poll` handed to the `on_watch_error` listeners
---@field watched integer folders watched
---@field pending integer changed paths still settling

---@class qtforge.PluginHotReloadManagerClass
---@overload fun(manager?: qtforge.PluginManager, opts?: qtforge.HotReloadOptions): qtforge.PluginHotReloadManager
---@overload fun(opts: qtforge.HotReloadOptions): qtforge.PluginHotReloadManager
local PluginHotReloadManagerClass = {}

---@param manager? qtforge.PluginManager without one, every manager of this Lua state
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

---`fn(message)` for each error the watcher met, heard at the next `poll`.
---@param fn fun(message: string)
---@return fun() remove
function PluginHotReloadManager:on_watch_error(fn) end

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

---@class qtforge.MetricsOptions
---@field enabled? boolean count from the start (default true)
---@field timing? boolean time calls and updates (default true); false only counts them, without reading the clock

---@class qtforge.ExportMetrics
---@field calls integer
---@field errors integer
---@field time number seconds
---@field avg_time number seconds

---@class qtforge.PluginMetrics
---@field plugin_id string
---@field state qtforge.PluginState
---@field version string
---@field load_time number seconds the last load took
---@field reloads integer reloads that took
---@field reload_failures integer reloads refused
---@field calls integer calls through manager:call, plugin:call and the method sugar
---@field errors integer of those, the ones that raised
---@field call_time number seconds
---@field avg_call_time number seconds
---@field exports table<string, qtforge.ExportMetrics>
---@field updates integer update() ticks
---@field update_errors integer
---@field update_time number seconds
---@field avg_update_time number seconds
---@field messages_sent integer published or posted on the plugin's bus
---@field messages_received integer delivered to the plugin's handlers
---@field last_error qtforge.Error? the latest call error, failure or refused reload
---@field managers? integer how many managers hold this id (collectors made without a manager)

---@class qtforge.AllMetrics
---@field plugins table<string, qtforge.PluginMetrics>
---@field plugin_count integer
---@field states table<string, integer> plugins by state
---@field updates integer update_all_plugins ticks
---@field update_errors integer
---@field enabled boolean

---@class qtforge.MemoryUsage
---@field total number MB: lua + rust
---@field plugins number MB: the sum of by_plugin
---@field by_plugin table<string, number> MB per plugin, estimated (docs/monitoring.md says how)
---@field lua number MB of Lua heap
---@field rust number MB the Rust side has allocated

---@class qtforge.PluginMetricsCollectorClass
---@overload fun(manager?: qtforge.PluginManager, opts?: qtforge.MetricsOptions): qtforge.PluginMetricsCollector
---@overload fun(opts: qtforge.MetricsOptions): qtforge.PluginMetricsCollector
local PluginMetricsCollectorClass = {}

---@param manager? qtforge.PluginManager without one, every manager of this Lua state
---@param opts? qtforge.MetricsOptions
---@return qtforge.PluginMetricsCollector
function PluginMetricsCollectorClass.new(manager, opts) end

---Counts and times what plugins do; estimates their memory; renders Prometheus text.
---@class qtforge.PluginMetricsCollector
local PluginMetricsCollector = {}

---Starts counting (again); counts so far are kept.
function PluginMetricsCollector:enable() end

---Stops counting, unless another collector of the manager still counts.
function PluginMetricsCollector:disable() end

---@return boolean
function PluginMetricsCollector:is_enabled() end

---Disables the collector for good.
function PluginMetricsCollector:close() end

---@param plugin_id string
---@return qtforge.PluginMetrics? metrics nil when no such plugin is loaded
function PluginMetricsCollector:get_plugin_metrics(plugin_id) end

---@return qtforge.AllMetrics
function PluginMetricsCollector:get_all_metrics() end

---Every count starts again from zero; load times stay.
function PluginMetricsCollector:reset() end

---@return qtforge.MemoryUsage
function PluginMetricsCollector:get_memory_usage() end

---The metrics in the Prometheus text exposition format 0.0.4, names prefixed `qtforge_`.
---@return string
function PluginMetricsCollector:to_prometheus() end

return monitoring
