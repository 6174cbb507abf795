---@meta qtforge.love
-- LuaLS definitions for `require('qtforge.love')`, the pure-Lua adapter for LÖVE
-- games (lua/qtforge/love.lua; docs/love.md).

---Plugs a PluginManager into a LÖVE game: frames, events, isolated plugin errors, and in
---dev mode hot reload with the errors drawn over the game.
---@class qtforge.love
---@field CALLBACKS string[] the LÖVE 11 event callbacks dispatched to plugins by default
---@field GRANT string[] what a manager made by `attach` grants: qtforge's default grant and `host`
local qtforge_love = {}

---@class qtforge.LoveOptions
---@field manager? qtforge.PluginManager the manager to drive (default: a new one, whose policy is `security`)
---@field security? qtforge.SecurityManager the policy of the manager `attach` makes; not with `manager` (default: one granting `GRANT`)
---@field plugins? string a folder to load now, relative to the game's folder (or to the folder holding the `.love` file)
---@field dev? boolean hot reload and the error overlay (default false)
---@field watch? string[] in dev mode, more folders to watch (relative as `plugins`)
---@field reload? qtforge.HotReloadOptions options of the PluginHotReloadManager dev mode makes
---@field update? boolean `love.update` calls `manager:update_all_plugins(dt)` (default true)
---@field overlay? boolean draw the error list over the game (default: `dev`)
---@field callbacks? string[] the event callbacks dispatched to plugins (default `CALLBACKS`)
---@field log? fun(level: "trace"|"debug"|"info"|"warn"|"error", message: string) the adapter's lines (default: the manager's LoggingManager, else warnings and errors to stderr)
---@field love? table the `love` table (default: the global)

---One entry of the error list, the latest of its plugin.
---@class qtforge.LoveError
---@field plugin_id? string nil for the watcher's troubles and loads that failed before the id was known
---@field stage string the callback that raised (`"draw"`, `"keypressed"`...), or `"failed"`, `"reload"`, `"load"`, `"watch"`
---@field message string one readable line (and more), as the overlay shows it
---@field error? qtforge.Error
---@field traceback string `""` when there is none

---What `attach` returns: the game's callbacks wrapped, until `detach`.
---@class qtforge.LoveAttachment
---@field manager qtforge.PluginManager the manager it drives
---@field reloader? qtforge.PluginHotReloadManager dev mode's, else nil
---@field results? qtforge.PluginResult[] what `load_directory(plugins)` returned, or nil without `plugins`
---@field plugins_dir? string the resolved `plugins` folder
---@field dev boolean
local LoveAttachment = {}

---The list the overlay shows, oldest first, one entry per plugin (its latest error).
---@return qtforge.LoveError[]
function LoveAttachment:errors() end

---Empties the list.
function LoveAttachment:clear_errors() end

---Calls export `name` of every running plugin that has it, in load order, as the wrappers do;
---a plugin that raises is failed (`manager:fail_plugin`) and listed, the others still run.
---@param name string
---@param ... any the callback's arguments
---@return integer called how many plugins were called
---@return boolean any whether any returned a true value
function LoveAttachment:dispatch(name, ...) end

---Puts back the callbacks it wrapped (those still its wrappers), stops listening to the manager
---and closes the reloader; the plugins stay loaded.
---@return boolean detached false when this attachment is no longer the live one
function LoveAttachment:detach() end

---Wraps `love.update`, `love.draw` and the event callbacks as they are now; loads `plugins`.
---Raises while another attachment is live, and on unknown options.
---@param opts? qtforge.LoveOptions
---@return qtforge.LoveAttachment
function qtforge_love.attach(opts) end

---The live attachment, or nil.
---@return qtforge.LoveAttachment?
function qtforge_love.current() end

return qtforge_love
