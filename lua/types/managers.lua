---@meta qtforge.managers

---@class qtforge.managers
---@field ConfigurationManager qtforge.ConfigurationManagerClass
---@field LoggingManager qtforge.LoggingManagerClass
---@field ResourceManager qtforge.ResourceManagerClass
local managers = {}

---------------------------------------------------------------------------
-- ConfigurationManager
---------------------------------------------------------------------------

---@class qtforge.ConfigurationManagerOptions
---@field env_prefix? string `APP`: `APP__SERVER__PORT=8080` sets `server.port` (typed by its form)
---@field env? table<string, string> the variables to read instead of the process environment
---@field defaults? table the lowest layer
---@field log? fun(level: string, source: string, message: string) where failed reloads and listener errors go (default: stderr)

---@class qtforge.ConfigurationManagerClass
---@overload fun(opts?: qtforge.ConfigurationManagerOptions): qtforge.ConfigurationManager
local ConfigurationManagerClass = {}

---@param opts? qtforge.ConfigurationManagerOptions
---@return qtforge.ConfigurationManager
function ConfigurationManagerClass.new(opts) end

---@class qtforge.ConfigResult: qtforge.Result
---@field changed? string[] the keys the load changed
---@field path? string
---@field violations? { path: string, message: string }[] `validate`: every violation

---Readers and writers shared by the manager and its scopes. Keys are dotted
---paths (`server.ports.1`, lists counted from 1).
---@class qtforge.ConfigView
local ConfigView = {}

---The string at `key`; `default` when missing; an error when it is another type.
---@param key string
---@param default? string
---@return string?
function ConfigView:get_string(key, default) end

---@param key string
---@param default? number
---@return number?
function ConfigView:get_number(key, default) end

---A number with an integral value.
---@param key string
---@param default? integer
---@return integer?
function ConfigView:get_int(key, default) end

---@param key string
---@param default? boolean
---@return boolean?
function ConfigView:get_bool(key, default) end

---A copy of the table at `key`.
---@param key string
---@param default? table
---@return table?
function ConfigView:get_table(key, default) end

---The value at `key` whatever its type (tables copied), or `default`.
---@param key string
---@param default? any
---@return any
function ConfigView:get(key, default) end

---@param key string
---@return boolean
function ConfigView:has(key) end

---Sets `key` in the run-time layer, above every other; raises on a bad key or a value that cannot be stored.
---@param key string
---@param value any
---@return true
function ConfigView:set(key, value) end

---Removes the value at `key`, whatever layer gave it, until it is set again.
---@param key string
---@return boolean had whether there was a value
function ConfigView:remove(key) end

---Every leaf key under `prefix`, sorted.
---@param prefix? string
---@return string[]
function ConfigView:keys(prefix) end

---@param key string
---@return string? source "default", "file:<path>", "env:<VAR>" or "runtime"
function ConfigView:source(key) end

---@return table copy
function ConfigView:to_table() end

---A plain table of the values, made once per change; read it, do not change it.
---@return table
function ConfigView:snapshot() end

---@param prefix string "" for every key
---@param fn fun(key: string, new_value: any, old_value: any)
---@return fun() remove
function ConfigView:on_change(prefix, fn) end

---A view of the values under `prefix`, keys relative to it.
---@param prefix string
---@return qtforge.ConfigScope
function ConfigView:scope(prefix) end

---@class qtforge.ConfigScope: qtforge.ConfigView
local ConfigScope = {}

---@class qtforge.ConfigurationManager: qtforge.ConfigView
local ConfigurationManager = {}

---Merges a `.json` or `.toml` file above the files loaded before (the same path again replaces its values).
---@param path string
---@return qtforge.ConfigResult
function ConfigurationManager:load_from_file(path) end

---@param text string
---@param format "json"|"toml"
---@param name? string the source name (default "string")
---@return qtforge.ConfigResult
function ConfigurationManager:load_from_string(text, format, name) end

---Writes the merged configuration atomically, in the format of the extension.
---@param path string
---@return qtforge.ConfigResult
function ConfigurationManager:save_to_file(path) end

---Checks the merged configuration against a JSON Schema (a table or JSON text).
---@param schema table|string
---@return qtforge.ConfigResult
function ConfigurationManager:validate(schema) end

---Reloads the file when it changes on disk, in `poll()`.
---@param path string
---@return qtforge.ConfigResult
function ConfigurationManager:watch(path) end

---@param path string
---@return boolean
function ConfigurationManager:unwatch(path) end

---Applies the changes of watched files; a bad edit is reported and the last good values stay.
---@return integer reloaded
function ConfigurationManager:poll() end

---@param fn fun(err: qtforge.Error)
---@return fun() remove
function ConfigurationManager:on_error(fn) end

-- the readers, for the types spec: each is ConfigView's
function ConfigurationManager:get_string(key, default) end
function ConfigurationManager:get_number(key, default) end
function ConfigurationManager:get_int(key, default) end
function ConfigurationManager:get_bool(key, default) end
function ConfigurationManager:get_table(key, default) end
function ConfigurationManager:get(key, default) end
function ConfigurationManager:has(key) end
function ConfigurationManager:set(key, value) end
function ConfigurationManager:remove(key) end
function ConfigurationManager:keys(prefix) end
function ConfigurationManager:source(key) end
function ConfigurationManager:to_table() end
function ConfigurationManager:snapshot() end
function ConfigurationManager:on_change(prefix, fn) end
function ConfigurationManager:scope(prefix) end
function ConfigScope:get_string(key, default) end
function ConfigScope:get_number(key, default) end
function ConfigScope:get_int(key, default) end
function ConfigScope:get_bool(key, default) end
function ConfigScope:get_table(key, default) end
function ConfigScope:get(key, default) end
function ConfigScope:has(key) end
function ConfigScope:set(key, value) end
function ConfigScope:remove(key) end
function ConfigScope:keys(prefix) end
function ConfigScope:source(key) end
function ConfigScope:to_table() end
function ConfigScope:snapshot() end
function ConfigScope:on_change(prefix, fn) end
function ConfigScope:scope(prefix) end

---------------------------------------------------------------------------
-- LoggingManager
---------------------------------------------------------------------------

---@alias qtforge.LogLevel "trace"|"debug"|"info"|"warn"|"error"

---@class qtforge.LogRecord
---@field level qtforge.LogLevel
---@field logger string
---@field message string
---@field fields table
---@field timestamp number seconds since the Unix epoch

---@class qtforge.LogSink
---@field type "stderr"|"file"|"callback"
---@field json? boolean JSON lines instead of plain text (stderr, file)
---@field path? string file sinks: appended to
---@field fn? fun(record: qtforge.LogRecord) callback sinks

---@class qtforge.LoggingManagerClass
---@overload fun(opts?: { level?: qtforge.LogLevel, sinks?: qtforge.LogSink[] }): qtforge.LoggingManager
local LoggingManagerClass = {}

---@param opts? { level?: qtforge.LogLevel, sinks?: qtforge.LogSink[] }
---@return qtforge.LoggingManager
function LoggingManagerClass.new(opts) end

---@class qtforge.LoggingManager
local LoggingManager = {}

---The logger of `name` (the same object each time): `log.info(message, fields)` or `log:info(...)`.
---@param name string
---@return qtforge.Logger
function LoggingManager:logger(name) end

---@param sink qtforge.LogSink
---@return integer? id
---@return qtforge.Error? err `io_error` for a file that cannot be opened
function LoggingManager:add_sink(sink) end

---@param id integer
---@return boolean
function LoggingManager:remove_sink(id) end

---The level of one logger and those below it in the dotted name, or with "*" or nil the default.
---@param name string?
---@param level qtforge.LogLevel
---@return true
function LoggingManager:set_level(name, level) end

---@param name? string
---@return qtforge.LogLevel
function LoggingManager:level(name) end

---Delivers to callback sinks what qtforge's own threads logged.
---@return integer
function LoggingManager:poll() end

---While on, qtforge's own Rust-side events on this thread (native library loads, watcher
---errors) go to this manager's sinks, as loggers "qtforge.native", "qtforge.watch"...
---A PluginManager turns it on for its LoggingManager.
---@param on? boolean default true
---@return true
function LoggingManager:capture(on) end

---@return { dropped: integer }
function LoggingManager:stats() end

---@class qtforge.Logger
---@field trace fun(message: any, fields?: table)
---@field debug fun(message: any, fields?: table)
---@field info fun(message: any, fields?: table)
---@field warn fun(message: any, fields?: table)
---@field error fun(message: any, fields?: table)

---------------------------------------------------------------------------
-- ResourceManager
---------------------------------------------------------------------------

---@class qtforge.ResourceManagerClass
---@overload fun(): qtforge.ResourceManager
local ResourceManagerClass = {}

---@return qtforge.ResourceManager
function ResourceManagerClass.new() end

---@class qtforge.ResourceManager
local ResourceManager = {}

---Puts a resource on the books; `release()` runs when it is released.
---@param owner string
---@param kind string
---@param release fun()
---@param opts? { label?: string }
---@return qtforge.Resource? handle
---@return qtforge.Error? err `quota_exceeded`
function ResourceManager:register(owner, kind, release, opts) end

---@param resource qtforge.Resource|integer
---@return boolean released
---@return qtforge.Error? err `release_error` when its release function failed (it is released all the same)
function ResourceManager:release(resource) end

---Releases everything `owner` holds, newest first.
---@param owner string
---@return { released: integer, errors: qtforge.Error[] }
function ResourceManager:release_all(owner) end

---@param owner string? nil: every owner without its own limit
---@param kind string
---@param limit integer? nil lifts the limit
---@return true
function ResourceManager:set_quota(owner, kind, limit) end

---@param owner string
---@param kind string
---@return integer?
function ResourceManager:quota(owner, kind) end

---@param owner string
---@param kind string
---@return integer
function ResourceManager:count(owner, kind) end

---@return { held: integer, released: integer, owners: table<string, table<string, integer>> }
function ResourceManager:stats() end

---What is still held, oldest first.
---@return { id: integer, owner: string, kind: string, label: string, age: number }[]
function ResourceManager:leak_report() end

---@class qtforge.Resource
---@field id integer
---@field owner string
---@field kind string
---@field label string
local Resource = {}

---@return boolean released
---@return qtforge.Error? err
function Resource:release() end

---@return boolean
function Resource:held() end

---A plugin's resources (`ctx.resources`): the owner is the plugin; released when it unloads.
---@class qtforge.PluginResources
local PluginResources = {}

---@param kind string
---@param release fun()
---@param opts? { label?: string }
---@return qtforge.Resource?, qtforge.Error?
function PluginResources:register(kind, release, opts) end

---@param resource qtforge.Resource|integer
---@return boolean, qtforge.Error?
function PluginResources:release(resource) end

---@param kind string
---@return integer
function PluginResources:count(kind) end

---@param kind string
---@return integer?
function PluginResources:quota(kind) end

return managers
