---@meta qtforge.openresty
-- LuaLS definitions for `require('qtforge.openresty')`, the pure-Lua adapter for
-- nginx with lua-nginx-module (lua/qtforge/openresty.lua; docs/openresty.md).

---One PluginManager per nginx worker, driven by a timer; plugin exports named after
---phases run from `*_by_lua` blocks; broadcasts cross workers through a `lua_shared_dict`.
---@class qtforge.openresty
---@field PHASES qtforge.OpenRestyPhase[] the phases `run_phase` knows, in request order
local openresty = {}

---@alias qtforge.OpenRestyPhase "rewrite"|"access"|"content"|"header_filter"|"body_filter"|"log"

---@class qtforge.OpenRestyOptions
---@field plugins? string|string[] a folder of plugins, or a list of folders: each loaded with `load_directory` and watched
---@field shared_dict? string the `lua_shared_dict` of the bus bridge, used by nothing else (default: no bridge)
---@field interval? number the timer's period in seconds (default 0.1)
---@field ring? integer how many broadcasts the bridge keeps for workers to read (default 1024)
---@field hot_reload? boolean watch `plugins` and reload what changes (default true)
---@field reload? qtforge.HotReloadOptions options of the worker's `PluginHotReloadManager`
---@field grant? string[] capabilities granted beyond the default policy's (qtforge's defaults plus `host`)
---@field host_globals? string[] the host globals a plugin with `host` sees (default `{ "ngx" }`)
---@field security? qtforge.SecurityManager replaces the default policy; not with `grant` or `host_globals`
---@field log_level? "trace"|"debug"|"info"|"warn"|"error" the lowest qtforge level passed to `ngx.log` (default "info")
---@field autostart? boolean passed to `PluginManager`
---@field bus? qtforge.MessageBus passed to `PluginManager`
---@field config? qtforge.ConfigurationManager passed to `PluginManager`
---@field resources? qtforge.ResourceManager passed to `PluginManager`
---@field logging? qtforge.LoggingManager passed to `PluginManager`; the adapter adds a sink writing to `ngx.log`

---@class qtforge.OpenRestyPublishOptions
---@field broadcast? boolean the other workers' buses get the message too, within one `interval` (needs `shared_dict`)
---@field headers? table headers added to the message

---@class qtforge.OpenRestyBridgeStats
---@field sent integer broadcasts this worker wrote to the shared dict
---@field received integer broadcasts from other workers delivered here
---@field lost integer broadcasts overwritten or never written before this worker read them
---@field errors integer broadcasts that could not be written or read
---@field seq integer the last sequence number this worker has seen

---@class qtforge.OpenRestyStats
---@field ticks integer timer ticks so far
---@field interval number the timer's period in seconds
---@field worker integer `ngx.worker.id()`, or -1
---@field bridge? qtforge.OpenRestyBridgeStats set when `shared_dict` was given

---Makes this worker's PluginManager, loads `plugins`, watches them and starts the timer.
---Call it from `init_worker_by_lua`; raises outside nginx, in `init_by_lua` and on a second call.
---@param opts? qtforge.OpenRestyOptions
---@return qtforge.PluginManager manager
---@return qtforge.PluginResult[] results one per plugin found, failures logged at `[error]`
function openresty.init_worker(opts) end

---This worker's PluginManager, or nil before `init_worker`.
---@return qtforge.PluginManager?
function openresty.manager() end

---This worker's PluginHotReloadManager, or nil before `init_worker` or with `hot_reload = false`.
---@return qtforge.PluginHotReloadManager?
function openresty.reloader() end

---Calls the `phase` export of every running plugin, in load order, with `ngx.ctx`. In rewrite,
---access and content a number returned ends the phase with `ngx.exit(number)` and an error with 500;
---`required` plugin ids not running with this export end the request with 503.
---@param phase qtforge.OpenRestyPhase
---@param required? string[]
function openresty.run_phase(phase, required) end

---Publishes on this worker's bus now; raises before any delivery when a broadcast cannot cross.
---@param topic string
---@param data? any
---@param opts? qtforge.OpenRestyPublishOptions
---@return integer handlers how many handlers ran in this worker
function openresty.publish(topic, data, opts) end

---One timer tick now: other workers' broadcasts, `reloader:poll()`, `update_all_plugins`.
function openresty.poll() end

---@return qtforge.OpenRestyStats? stats nil before `init_worker`
function openresty.stats() end

---From `exit_worker_by_lua`: stops watching, then stops and unloads the plugins, latest loaded first.
function openresty.exit_worker() end

---The bridge's serializer: `value` as a Lua table constructor, exact for numbers and any bytes.
---@param value any nil, booleans, numbers, strings and tables of them, nested up to 32 levels
---@param name? string what the error calls the value (default "value")
---@return string? text
---@return string? problem what cannot cross, and where (`data.f is a function, ...`)
function openresty.encode(value, name) end

---Reads back what `encode` wrote, in an empty environment.
---@param text string
---@return any value
---@return string? problem set when `text` does not read
function openresty.decode(text) end

return openresty
