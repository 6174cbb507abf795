---@meta qtforge.core

---@class qtforge.core
---@field API_VERSION string the plugin API this host offers, `"1.0"`: a plugin's `api-version` must have the same major and a minor no higher
---@field PluginManager qtforge.PluginManagerClass
---@field PluginLoader qtforge.PluginLoader
---@field PluginDependencyResolver qtforge.PluginDependencyResolverClass
---@field PluginLifecycleManager qtforge.PluginLifecycleManagerClass
local core = {}

---@alias qtforge.PluginState "loaded"|"running"|"stopped"|"failed"|"unloaded"

---The outcome of a plugin operation.
---@class qtforge.PluginResult: qtforge.Result
---@field plugin_id? string the plugin the operation concerned
---@field path? string the path given to `load_plugin`/`load_directory`
---@field unloaded? string[] `unload_plugin`: every plugin unloaded, in order
---@field errors? qtforge.Error[] `unload_plugin`: hook errors met on the way (the unload still completed)
---@field config? table `configure_plugin`: the configuration now in force
---@field plugin_ids? string[] `load_plugin` of a library: the plugins it loaded, in order
---@field results? qtforge.PluginResult[] `load_plugin` of a library: one result per plugin

---@class qtforge.PluginDependencyInfo
---@field name string
---@field version string a range such as `"^1.0"` (`"*"` when the manifest gives none)
---@field optional boolean

---What a manifest says about a plugin, read without running it.
---@class qtforge.PluginInfo
---@field id string
---@field name string
---@field version string
---@field description string
---@field api_version string
---@field kind "folder"|"file"|"inline"|"native"
---@field plugins? qtforge.PluginInfo[] `PluginLoader.inspect` of a library: every plugin in it
---@field path? string the folder or `.lua` file
---@field root? string the folder `ctx.require` loads modules from
---@field entry? string the Lua file that returns the plugin table
---@field manifest_file? string
---@field priority integer
---@field capabilities string[]
---@field exports string[]
---@field tags string[]
---@field before string[]
---@field after string[]
---@field authors string[]
---@field license? string
---@field homepage? string
---@field dependencies qtforge.PluginDependencyInfo[]
---@field config table the manifest's `[config]` defaults
---@field state? qtforge.PluginState `plugin:metadata()` only
---@field reloads? integer `plugin:metadata()` only
---@field load_order? integer `plugin:metadata()` only: 1 for the first plugin loaded
---@field uptime? number `plugin:metadata()` only: seconds since it was loaded or reloaded

---@class qtforge.PluginEvent
---@field type "loaded"|"started"|"stopped"|"unloaded"|"failed"|"reloaded"|"reload_failed"|"configured"
---@field plugin_id? string nil for a failure before the plugin's id was known
---@field error? qtforge.Error set for `"failed"`

---What a plugin's hooks receive (`on_load(ctx)`, `on_start(ctx)`...): annotate a
---plugin's hooks with `---@param ctx qtforge.PluginContext`.
---@class qtforge.PluginContext
---@field id string the plugin id
---@field name string the plugin id
---@field version qtforge.Version
---@field manifest table the plan of the load: id, version, kind, path, entry... (a copy for a sandboxed plugin)
---@field config? qtforge.ConfigScope its scope `plugins.<id>` of the manager's configuration; `ctx.config.key` reads a value (sandboxed: with `config:read`; `set`/`remove` with `config:write`)
---@field deps table<string, table> the exports of each declared dependency (read-only for a sandboxed plugin)
---@field log? qtforge.Logger `ctx.log.info(message, fields)` and the other levels (sandboxed: with `log`)
---@field require fun(name: string): any a module from the plugin's own folder; `"qtforge"` gives Version, Message, ServiceContract, STOP and Error
---@field bus? qtforge.PluginBus the manager's message bus, as this plugin (sandboxed: with `bus:publish` and/or `bus:subscribe`)
---@field plugins? table the manager's lifecycle operations and queries (sandboxed: with `plugins`)
---@field resources qtforge.PluginResources resources released when the plugin unloads

---@class qtforge.PluginManagerOptions
---@field autostart? boolean start plugins as they load (default true)
---@field log? fun(level: "trace"|"debug"|"info"|"warn"|"error", plugin_id: string, message: string, fields?: table) where plugin logs go (default: warnings and errors to stderr)
---@field config? qtforge.ConfigurationManager the configuration plugins read through `ctx.config` (their scope `plugins.<id>`, defaulted from the manifest's [config]; default: a new one)
---@field logging? qtforge.LoggingManager plugins' `ctx.log` and the manager's own lines go to its loggers (each plugin's named after it); instead of `log`
---@field resources? qtforge.ResourceManager where plugins' resources are kept (default: a new one); what a plugin holds is released when it unloads
---@field security? qtforge.SecurityManager the policy every load is admitted by (default: `SecurityManager()`: plugins from files sandboxed, the safe capabilities granted)
---@field bus? qtforge.MessageBus the bus plugins share through `ctx.bus` (default: a new one); `update_all_plugins` flushes it

---@class qtforge.PluginManager
local PluginManager = {}

---Loads the plugin at `path`: a folder with `plugin.toml` or `plugin.json`, the path to such a
---manifest, or a single `.lua` file returning a table with a `manifest` field.
---@param path string
---@param opts? { start?: boolean }
---@return qtforge.PluginResult
function PluginManager:load_plugin(path, opts) end

---Loads a plugin given as a table holding its `manifest` (an inline plugin).
---@param plugin table
---@param opts? { start?: boolean }
---@return qtforge.PluginResult
function PluginManager:register_plugin(plugin, opts) end

---Loads every plugin directly inside `dir`, in dependency order; one result per plugin.
---@param dir string
---@param opts? { start?: boolean }
---@return qtforge.PluginResult[]
function PluginManager:load_directory(dir, opts) end

---Info about every plugin in `dir` without running any of them, and the ones that cannot be read.
---@param dir string
---@return qtforge.PluginInfo[]? infos
---@return { path: string, error: qtforge.Error }[]|qtforge.Error failures, or the error when `dir` cannot be read
function PluginManager:discover(dir) end

---@param id string
---@return qtforge.PluginResult
function PluginManager:start_plugin(id) end

---@param id string
---@return qtforge.PluginResult
function PluginManager:stop_plugin(id) end

---Marks a plugin `failed` because the host found it broken (an export raised where the host
---called it): no hook runs; its error is kept as a hook's would be; start or reload brings it back.
---@param id string
---@param reason string|qtforge.Error|any the error value
---@param stage? string where it failed (default "host")
---@return qtforge.PluginResult result with `error`, the error recorded, on success
function PluginManager:fail_plugin(id, reason, stage) end

---Unloads a plugin: refused with `has_dependents` while loaded plugins depend on it, unless
---`cascade`, which unloads those first, latest loaded first.
---@param id string
---@param opts? { cascade?: boolean }
---@return qtforge.PluginResult
function PluginManager:unload_plugin(id, opts) end

---Reloads a plugin from its files; when the new version fails, the old one keeps running.
---@param id string
---@return qtforge.PluginResult
function PluginManager:reload_plugin(id) end

---Stops and unloads every plugin, latest loaded first. Also runs when the manager is collected.
---@return true
function PluginManager:shutdown() end

---Calls `update(dt, info)` on every running plugin that defines it. Without `dt` a monotonic
---clock measures it. Returns how many plugins were ticked.
---@param dt? number seconds since the last call
---@return integer
function PluginManager:update_all_plugins(dt) end

---Checks `config` against the manifest's `[config]`, merges it, then calls `on_configure`.
---@param id string
---@param config table
---@return qtforge.PluginResult
function PluginManager:configure_plugin(id, config) end

---The manager's ConfigurationManager; each plugin's `ctx.config` is its scope `plugins.<id>`.
---@return qtforge.ConfigurationManager
function PluginManager:config() end

---The manager's LoggingManager, or nil when it logs through a `log` function.
---@return qtforge.LoggingManager?
function PluginManager:logging() end

---The manager's ResourceManager; each plugin's `ctx.resources` registers with it.
---@return qtforge.ResourceManager
function PluginManager:resources() end

---The manager's MessageBus; each plugin's `ctx.bus` is a view of it.
---@return qtforge.MessageBus
function PluginManager:bus() end

---@class qtforge.PluginHealth
---@field healthy boolean
---@field state qtforge.PluginState
---@field details? table the plain fields (strings, numbers, booleans) of the table its health() returned
---@field error? qtforge.Error `unhealthy` when health() raised; the last error of a failed plugin

---@class qtforge.HealthReport
---@field healthy boolean every plugin is
---@field plugins table<string, qtforge.PluginHealth>

---Runs each loaded plugin's `health()` hook: `true`/`false`, or a table whose `ok` (or `healthy`)
---is not false. A failed plugin is unhealthy; one without the hook is healthy.
---@return qtforge.HealthReport
function PluginManager:health() end

---The manager's SecurityManager: the policy every load is admitted by.
---@return qtforge.SecurityManager
function PluginManager:security() end

---Registers a lifecycle event listener; returns a function that removes it.
---@param fn fun(event: qtforge.PluginEvent)
---@return fun()
function PluginManager:on_event(fn) end

---Calls export `name` of plugin `id`; raises when the plugin or export does not exist.
---@param id string
---@param name string
---@return any ...
function PluginManager:call(id, name, ...) end

---Calls export `name` on every running plugin that has it.
---@param name string
---@return table<string, any> results by plugin id
---@return table<string, qtforge.Error> errors by plugin id (code `"call_error"`)
function PluginManager:broadcast(name, ...) end

---Puts each loaded plugin's exports table under `tbl[plugin id]`.
---@param tbl table
---@return table tbl
function PluginManager:register_all_plugins(tbl) end

---The plugin with this id, or nil.
---@param id string
---@return qtforge.Plugin?
function PluginManager:get_plugin(id) end

---Every loaded plugin, in load order.
---@return qtforge.Plugin[]
function PluginManager:plugins() end

---Plugin ids in load order.
---@return string[]
function PluginManager:load_order() end

---@return { plugins: integer, loads: integer, load_failures: integer, unloads: integer, reloads: integer, reload_failures: integer, by_state: table<qtforge.PluginState, integer>, uptime: number, updates: integer, update_errors: integer, ticking: integer }
function PluginManager:stats() end

---@return qtforge.PluginRegistry
function PluginManager:registry() end

---@return qtforge.PluginLifecycleManager
function PluginManager:lifecycle() end

---@class qtforge.PluginManagerClass
---@overload fun(opts?: qtforge.PluginManagerOptions): qtforge.PluginManager
local PluginManagerClass = {}

---@param opts? qtforge.PluginManagerOptions
---@return qtforge.PluginManager
function PluginManagerClass.new(opts) end

---A handle on a loaded plugin. It resolves against its manager on each use: after an unload
---`state()` is `"unloaded"` and calls raise; after a reload it reaches the new version.
---Any export `f` can be called as `plugin:f(...)`.
---@class qtforge.Plugin
---@field exports table<string, function> the plugin's own exports table
local Plugin = {}

---@return string
function Plugin:id() end

---@return string
function Plugin:name() end

---@return qtforge.Version
function Plugin:version() end

---@return qtforge.PluginState
function Plugin:state() end

---@return boolean
function Plugin:is_loaded() end

---@return string
function Plugin:description() end

---@return qtforge.PluginInfo
function Plugin:metadata() end

---@return qtforge.PluginDependencyInfo[]
function Plugin:dependencies() end

---@return string[]
function Plugin:capabilities() end

---@return string?
function Plugin:path() end

---The configuration in force, or nil once unloaded.
---@return table?
function Plugin:config() end

---The error that made the plugin `failed`, or nil.
---@return qtforge.Error?
function Plugin:last_error() end

---Calls export `name`.
---@param name string
---@return any ...
function Plugin:call(name, ...) end

---@class qtforge.PluginRegistry
local PluginRegistry = {}

---@param tag string
---@return qtforge.Plugin[]
function PluginRegistry:find_by_tag(tag) end

---@param capability string
---@return qtforge.Plugin[]
function PluginRegistry:find_by_capability(capability) end

---@param state "loaded"|"running"|"stopped"|"failed"
---@return qtforge.Plugin[]
function PluginRegistry:find_by_state(state) end

---@param kind "folder"|"file"|"inline"|"native"
---@return qtforge.Plugin[]
function PluginRegistry:find_by_kind(kind) end

---@param id string
---@return qtforge.Plugin?
function PluginRegistry:get(id) end

---@return qtforge.Plugin[]
function PluginRegistry:list() end

---@return integer
function PluginRegistry:count() end

---@return qtforge.Plugin[]
function PluginRegistry:running() end

---@class qtforge.PluginLifecycleManager
local PluginLifecycleManager = {}

---@param id string
---@return qtforge.PluginResult
function PluginLifecycleManager:start(id) end

---@param id string
---@return qtforge.PluginResult
function PluginLifecycleManager:stop(id) end

---@param id string
---@return qtforge.PluginResult
function PluginLifecycleManager:restart(id) end

---@return qtforge.PluginResult[]
function PluginLifecycleManager:start_all() end

---@return qtforge.PluginResult[]
function PluginLifecycleManager:stop_all() end

---@param id string
---@return qtforge.PluginState
function PluginLifecycleManager:state(id) end

---@param id string
---@param operation "start"|"stop"|"unload"|"reload"|"configure"
---@return boolean allowed
---@return qtforge.Error? why not
function PluginLifecycleManager:can(id, operation) end

---@param id string
---@return { state: qtforge.PluginState, at: number }[]
function PluginLifecycleManager:history(id) end

---@class qtforge.PluginLifecycleManagerClass
---@overload fun(manager: qtforge.PluginManager): qtforge.PluginLifecycleManager
local PluginLifecycleManagerClass = {}

---@param manager qtforge.PluginManager
---@return qtforge.PluginLifecycleManager
function PluginLifecycleManagerClass.new(manager) end

---@class qtforge.PluginLoader
local PluginLoader = {}

---Info about the plugin at `path`, without running its code.
---@param path string
---@return qtforge.PluginInfo? info
---@return qtforge.Error? error
function PluginLoader.inspect(path) end

---Info about every plugin in `dir`, without running any, and the ones that cannot be read.
---@param dir string
---@return qtforge.PluginInfo[]? infos
---@return { path: string, error: qtforge.Error }[]|qtforge.Error failures
function PluginLoader.discover(dir) end

---@class qtforge.PluginDependencyResolver
local PluginDependencyResolver = {}

---Adds a plugin: a `qtforge.PluginInfo`, or `{ id, version, dependencies, before, after, priority }`.
---@param info table
---@return true? added
---@return qtforge.Error? error `already_loaded` for a second plugin with the same id
function PluginDependencyResolver:add(info) end

---Declares an already-loaded plugin that requirements may use.
---@param id string
---@param version string|qtforge.Version
---@return true
function PluginDependencyResolver:add_available(id, version) end

---@param id string
---@return boolean removed
function PluginDependencyResolver:remove(id) end

---@return integer
function PluginDependencyResolver:count() end

---@return { order: string[], failures: table<string, qtforge.Error> }
function PluginDependencyResolver:resolve() end

---The load order, or nil and the first failure.
---@return string[]? order
---@return qtforge.Error? error
function PluginDependencyResolver:order() end

---@class qtforge.PluginDependencyResolverClass
---@overload fun(): qtforge.PluginDependencyResolver
local PluginDependencyResolverClass = {}

---@return qtforge.PluginDependencyResolver
function PluginDependencyResolverClass.new() end

return core
