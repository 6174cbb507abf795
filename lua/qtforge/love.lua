-- luacheck: globals love
-- qtforge.love: the LÖVE adapter. attach{...} wraps the game's love.update,
-- love.draw and event callbacks so that plugins get frames
-- (manager:update_all_plugins(dt)) and events (their exports named like the
-- callback, in load order), isolates a plugin that raises, and in dev mode
-- reloads plugins as their files change and draws their errors over the game.
-- Pure Lua; docs/love.md.
local qtforge = require("qtforge")

local error, getmetatable, ipairs, pairs, setmetatable, tostring, type, xpcall =
  error, getmetatable, ipairs, pairs, setmetatable, tostring, type, xpcall
local string_format = string.format
local table_concat, table_sort = table.concat, table.sort
local debug_traceback = debug and debug.traceback

local Error = qtforge.Error

local M = {}

--- The LÖVE 11 event callbacks dispatched to plugins by default (love.update and
--- love.draw are always wrapped). love.load, love.run and love.errorhandler are
--- the game's own and never wrapped.
M.CALLBACKS = {
  "keypressed", "keyreleased", "textinput", "textedited",
  "mousepressed", "mousereleased", "mousemoved", "wheelmoved",
  "touchpressed", "touchreleased", "touchmoved",
  "joystickpressed", "joystickreleased", "joystickaxis", "joystickhat", "joystickadded", "joystickremoved",
  "gamepadpressed", "gamepadreleased", "gamepadaxis",
  "focus", "mousefocus", "visible", "resize", "displayrotated",
  "filedropped", "directorydropped", "lowmemory", "threaderror", "quit",
}

-- What a manager made by attach grants: qtforge's default grant, and `host`,
-- which gives a sandboxed plugin that declares it the `love` global.
M.GRANT = { "log", "bus:publish", "bus:subscribe", "config:read", "config:write", "native", "host" }

local OPTIONS = {
  manager = "table",
  security = "table",
  plugins = "string",
  watch = "table",
  dev = "boolean",
  update = "boolean",
  overlay = "boolean",
  callbacks = "table",
  reload = "table",
  log = "function",
  love = "table",
}

-- events after which the lists of plugins exporting each callback are rebuilt
local REBUILD = {
  loaded = true, started = true, stopped = true, unloaded = true, failed = true,
  reloaded = true, exports_changed = true,
}

local MAX_OVERLAY_LINES = 12

local current -- the live attachment, if any

local function describe(value)
  if type(value) == "string" then
    return string_format("%q", value)
  end
  return type(value)
end

local function check_options(opts)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error("qtforge.love.attach: argument 'opts' must be a table or nil, got " .. describe(opts), 3)
  end
  for key, value in pairs(opts) do
    local expected = OPTIONS[key]
    if expected == nil then
      local names = {}
      for name in pairs(OPTIONS) do
        names[#names + 1] = name
      end
      table_sort(names)
      error(string_format("qtforge.love.attach: unknown option %s (known: %s)", describe(key),
        table_concat(names, ", ")), 3)
    end
    if type(value) ~= expected then
      error(string_format("qtforge.love.attach: option '%s' must be a %s, got %s", key, expected,
        describe(value)), 3)
    end
  end
  return opts
end

local function is_manager(value)
  local mt = getmetatable(value)
  return type(mt) == "table" and mt.__name == "qtforge.core.PluginManager"
end

local function safe_tostring(value)
  if type(value) == "string" then
    return value
  end
  local ok, text = xpcall(tostring, function() end, value)
  if ok and type(text) == "string" then
    return text
  end
  return "(an error value of type " .. type(value) .. ")"
end

-- "path/init.lua:12: boom" -> "boom", "path/init.lua:12" (as the core reports errors)
local function split_error(value)
  local text = safe_tostring(value)
  text = text:match("^(.-)\nstack traceback:") or text
  text = text:match("^runtime error: (.*)$") or text
  local location, message = text:match("^(.-:%d+): (.*)$")
  if location then
    return message, location
  end
  return text, ""
end

local function capture(value)
  return { value = value, traceback = debug_traceback and debug_traceback("", 2) or "" }
end

-- A relative plugin folder is relative to the game's folder (not the process's
-- working directory); a game run from a .love file or fused looks beside it.
local function resolve_path(lv, path)
  if path:sub(1, 1) == "/" or path:sub(1, 1) == "\\" or path:match("^%a:[/\\]") then
    return path
  end
  local fs = lv.filesystem
  if type(fs) ~= "table" or type(fs.getSource) ~= "function" then
    return path
  end
  local base = fs.getSource()
  if (fs.isFused and fs.isFused()) or (type(base) == "string" and base:match("%.love$")) then
    base = fs.getSourceBaseDirectory and fs.getSourceBaseDirectory() or nil
  end
  if type(base) ~= "string" or base == "" then
    return path
  end
  path = path:gsub("^%./", "")
  if path == "" or path == "." then
    return base
  end
  return base .. "/" .. path
end

local Attachment = { __name = "qtforge.love.Attachment" }
Attachment.__index = Attachment

-- a method called with '.' (or on something else) says so, naming itself
local function check_self(fname, self)
  if getmetatable(self) ~= Attachment then
    error(string_format("%s: call it with ':' on an attachment, got %s", fname, describe(self)), 3)
  end
end

local function log(self, level, message)
  self._log(level, message)
end

local function default_log(manager)
  local logging = manager:logging()
  if logging ~= nil then
    local logger = logging:logger("qtforge.love")
    return function(level, message)
      logger[level](message)
    end
  end
  return function(level, message)
    if level == "error" or level == "warn" then
      io.stderr:write("qtforge.love [", level, "] ", message, "\n")
      io.stderr:flush()
    end
  end
end

-- The overlay's list: one entry per plugin (its latest error), in the order
-- they first went wrong.
local function set_error(self, key, entry)
  local errors = self._errors
  if errors[key] == nil then
    local order = self._error_order
    order[#order + 1] = key
  end
  entry.key = key
  errors[key] = entry
end

local function clear_error(self, key)
  local errors = self._errors
  if errors[key] == nil then
    return
  end
  errors[key] = nil
  local order = self._error_order
  for i = #order, 1, -1 do
    if order[i] == key then
      table.remove(order, i)
    end
  end
end

-- A plugin's export raised: the manager fails the plugin (so it gets no more
-- frames or events, and its last_error says why); the error is shown and
-- logged. A reload of it, or start_plugin, brings it back.
local function disable(self, id, name, captured)
  local err
  -- its `failed` event lists it too; the entry set below, with the callback
  -- that raised as its stage, takes that one's place
  local result = self.manager:fail_plugin(id, captured.value, name)
  if result.success then
    err = result.error
  else
    -- already failed or gone (it unloaded itself, say): show what it raised
    local message, location = split_error(captured.value)
    err = Error("call_error", string_format("plugin %q failed in %s: %s", id, name, message), location)
  end
  err.traceback = captured.traceback
  self._dirty = true
  set_error(self, id, { plugin_id = id, stage = name, error = err, message = safe_tostring(err),
    traceback = captured.traceback })
  local traceback = (captured.traceback or ""):gsub("^\n+", "")
  log(self, "error", safe_tostring(err) .. " (plugin failed)" .. (traceback ~= "" and ("\n" .. traceback) or ""))
end

-- name -> { handle, ..., ids = { id, ... } } of running plugins that export
-- `name`, in load order
local function exporters(self, name)
  if self._dirty then
    self._lists = {}
    self._dirty = false
  end
  local list = self._lists[name]
  if list == nil then
    list = { ids = {} }
    for _, handle in ipairs(self.manager:plugins()) do
      if handle:state() == "running" and type(handle.exports[name]) == "function" then
        list[#list + 1] = handle
        list.ids[#list] = handle:id()
      end
    end
    self._lists[name] = list
  end
  return list
end

--- Calls export `name` of every running plugin that has it, in load order, each
--- isolated: one that raises is stopped and its error shown. Returns how many
--- were called and whether any returned a true value (what love.quit needs).
function Attachment:dispatch(name, ...)
  check_self("attachment:dispatch", self)
  if type(name) ~= "string" then
    error("attachment:dispatch: argument 'name' must be an export name, got " .. describe(name), 2)
  end
  local list = exporters(self, name)
  local manager, ids = self.manager, list.ids
  local called, any = 0, false
  for i = 1, #list do
    -- a plugin an earlier one failed or stopped during this dispatch is skipped
    if list[i]:state() == "running" then
      local id = ids[i]
      called = called + 1
      local ok, result = xpcall(manager.call, capture, manager, id, name, ...)
      if not ok then
        disable(self, id, name, result)
      elseif result then
        any = true
      end
    end
  end
  return called, any
end

local function draw_overlay(self)
  local g = self._love.graphics
  local order = self._error_order
  if #order == 0 or type(g) ~= "table" or (g.isActive and not g.isActive()) then
    return
  end
  g.push("all")
  g.origin()
  local font = g.getFont()
  local line = font and font:getHeight() + 2 or 16
  local shown = #order < MAX_OVERLAY_LINES and #order or MAX_OVERLAY_LINES
  local width = g.getWidth()
  g.setColor(0.45, 0.05, 0.05, 0.85)
  g.rectangle("fill", 0, 0, width, (shown + 1) * line + 8)
  g.setColor(1, 1, 1, 1)
  g.print(string_format("qtforge: %d plugin error(s); save a fixed file to reload it", #order), 4, 4)
  for i = 1, shown do
    local entry = self._errors[order[#order - shown + i]]
    local text = (entry.message:match("^[^\n]*") or ""):sub(1, 200)
    g.print(text, 4, 4 + i * line)
  end
  g.pop()
end

local function draw_plugins(self)
  local g = self._love.graphics
  local list = exporters(self, "draw")
  if #list == 0 then
    return
  end
  if type(g) ~= "table" or type(g.push) ~= "function" then
    self:dispatch("draw")
    return
  end
  -- each plugin draws from the state the game left, and cannot leak its own
  -- (colour, transform, font, an unbalanced push) to the next or to the game
  local depth = g.getStackDepth and g.getStackDepth()
  local ids = list.ids
  for i = 1, #list do
    if list[i]:state() == "running" then
      local id = ids[i]
      g.push("all")
      local ok, captured = xpcall(self.manager.call, capture, self.manager, id, "draw")
      if depth then
        while g.getStackDepth() > depth + 1 do
          g.pop()
        end
      end
      g.pop()
      if not ok then
        disable(self, id, "draw", captured)
      end
    end
  end
end

local function on_event(self, event)
  local kind, id = event.type, event.plugin_id
  if REBUILD[kind] then
    self._dirty = true
  end
  if kind == "failed" then
    local err = event.error
    set_error(self, id or "?", { plugin_id = id, stage = "failed", error = err, message = safe_tostring(err),
      traceback = type(err) == "table" and err.traceback or "" })
  elseif kind == "reload_failed" then
    local err = event.error
    set_error(self, id or "?", { plugin_id = id, stage = "reload", error = err,
      message = safe_tostring(err) .. " (the old version runs on)",
      traceback = type(err) == "table" and err.traceback or "" })
    log(self, "warn", "reload of " .. tostring(id) .. " failed, the old version runs on: " .. safe_tostring(err))
  elseif kind == "reloaded" then
    -- a failed plugin reloads running
    clear_error(self, id)
    log(self, "info", "reloaded " .. tostring(id))
  elseif kind == "started" then
    -- the game started a failed plugin again; a failed reload still stands
    local entry = self._errors[id]
    if entry ~= nil and entry.stage ~= "reload" then
      clear_error(self, id)
    end
  elseif kind == "unloaded" then
    clear_error(self, id)
  elseif kind == "loaded" and self._watch_roots then
    self:_watch_root(id)
  end
end

function Attachment:_watch(dir)
  if self._watched[dir] then
    return
  end
  local ok, err = self.reloader:watch_directory(dir)
  if ok then
    self._watched[dir] = true
  else
    set_error(self, "watch:" .. dir, { stage = "watch", error = err,
      message = "cannot watch " .. dir .. ": " .. safe_tostring(err), traceback = "" })
    log(self, "error", "cannot watch " .. dir .. ": " .. safe_tostring(err))
  end
end

-- dev mode without folders to watch: each plugin's own folder (or its file's)
function Attachment:_watch_root(id)
  local handle = id and self.manager:get_plugin(id)
  local meta = handle and handle:metadata()
  local root = meta and meta.root
  if type(root) == "string" and root ~= "" then
    self:_watch(root)
  end
end

local function wrap(self, name, make)
  local lv = self._love
  local original = lv[name]
  local wrapper = make(original)
  self._wrapped[name] = { original = original, wrapper = wrapper }
  lv[name] = wrapper
end

--- qtforge.love.attach(opts) -> attachment. See docs/love.md.
function M.attach(opts)
  opts = check_options(opts)
  if current ~= nil then
    error("qtforge.love.attach: already attached; call detach() on the attachment first", 2)
  end
  local lv = opts.love or love
  if type(lv) ~= "table" then
    error("qtforge.love.attach: no love table: run inside LÖVE, or pass opts.love", 2)
  end
  local manager = opts.manager
  local made = false
  if manager ~= nil and not is_manager(manager) then
    error("qtforge.love.attach: option 'manager' must be a qtforge.core.PluginManager, got " .. describe(manager), 2)
  end
  if manager ~= nil and opts.security ~= nil then
    error("qtforge.love.attach: option 'security' is for the manager attach makes; "
      .. "give it to your PluginManager instead", 2)
  end
  if manager == nil then
    manager = qtforge.core.PluginManager({
      security = opts.security or qtforge.security.SecurityManager({ grant = M.GRANT }),
    })
    made = true
  end
  local callbacks = opts.callbacks or M.CALLBACKS
  local named = {}
  for i, name in ipairs(callbacks) do
    if type(name) ~= "string" or name == "update" or name == "draw" or name == "load" or name == "run"
      or name == "errorhandler" or name == "errhand" then
      error(string_format("qtforge.love.attach: callbacks[%d] must be the name of an event callback, got %s",
        i, describe(name)), 2)
    end
    if named[name] then
      -- wrapped twice, each event would reach the plugins twice
      error(string_format("qtforge.love.attach: callbacks[%d] names %s again", i, describe(name)), 2)
    end
    named[name] = true
  end
  local dev = opts.dev == true
  local self = setmetatable({
    manager = manager,
    reloader = nil,
    results = nil,
    plugins_dir = opts.plugins and resolve_path(lv, opts.plugins) or nil,
    dev = dev,
    _love = lv,
    _made = made,
    _update = opts.update ~= false,
    _overlay = opts.overlay == nil and dev or opts.overlay,
    _log = opts.log or default_log(manager),
    _errors = {},
    _error_order = {},
    _lists = {},
    _dirty = true,
    _wrapped = {},
    _watched = {},
    _watch_roots = false,
  }, Attachment)

  self._unlisten = manager:on_event(function(event)
    on_event(self, event)
  end)

  if dev then
    self.reloader = qtforge.monitoring.PluginHotReloadManager(manager, opts.reload)
    self.reloader:on_watch_error(function(message)
      set_error(self, "watcher", { stage = "watch", message = "watcher: " .. safe_tostring(message), traceback = "" })
      log(self, "warn", "watcher: " .. safe_tostring(message))
    end)
  end

  if self.plugins_dir then
    local results = manager:load_directory(self.plugins_dir)
    self.results = results
    for _, result in ipairs(results) do
      if not result.success then
        local key = result.plugin_id or result.path or "?"
        local err = result.error
        set_error(self, key, { plugin_id = result.plugin_id, stage = "load", error = err,
          message = safe_tostring(err), traceback = type(err) == "table" and err.traceback or "" })
        log(self, "error", "did not load " .. tostring(key) .. ": " .. safe_tostring(err))
      end
    end
  end

  if dev then
    local dirs = {}
    if self.plugins_dir then
      dirs[#dirs + 1] = self.plugins_dir
    end
    for _, dir in ipairs(opts.watch or {}) do
      dirs[#dirs + 1] = resolve_path(lv, dir)
    end
    if #dirs == 0 then
      -- only a manager: watch where each of its plugins is, now and as they load
      self._watch_roots = true
      for _, handle in ipairs(manager:plugins()) do
        self:_watch_root(handle:id())
      end
    end
    for _, dir in ipairs(dirs) do
      self:_watch(dir)
    end
  end

  wrap(self, "update", function(game)
    return function(dt, ...)
      if game ~= nil then
        game(dt, ...)
      end
      if self._update then
        manager:update_all_plugins(dt)
      end
    end
  end)
  wrap(self, "draw", function(game)
    return function(...)
      if game ~= nil then
        game(...)
      end
      draw_plugins(self)
      if self._overlay then
        draw_overlay(self)
      end
    end
  end)
  for _, name in ipairs(callbacks) do
    if name == "quit" then
      wrap(self, name, function(game)
        return function(...)
          if game ~= nil and game(...) then
            return true -- the game aborts the quit: plugins are not told
          end
          local _, abort = self:dispatch("quit", ...)
          if abort then
            return true
          end
          if self._made then
            manager:shutdown()
          end
          return false
        end
      end)
    else
      wrap(self, name, function(game)
        if game == nil then
          return function(...)
            self:dispatch(name, ...)
          end
        end
        return function(...)
          game(...)
          self:dispatch(name, ...)
        end
      end)
    end
  end

  current = self
  return self
end

--- The plugins' errors the overlay shows: { plugin_id, stage, message, error,
--- traceback }, oldest first, one per plugin (its latest).
function Attachment:errors()
  check_self("attachment:errors", self)
  local list = {}
  for i, key in ipairs(self._error_order) do
    list[i] = self._errors[key]
  end
  return list
end

function Attachment:clear_errors()
  check_self("attachment:clear_errors", self)
  self._errors, self._error_order = {}, {}
end

--- Puts back the callbacks attach wrapped (those still its wrappers), closes
--- the reloader it made and stops listening to the manager. The plugins stay.
function Attachment:detach()
  check_self("attachment:detach", self)
  if current ~= self then
    return false
  end
  local lv = self._love
  for name, w in pairs(self._wrapped) do
    if lv[name] == w.wrapper then
      lv[name] = w.original
    end
  end
  self._wrapped = {}
  self._unlisten()
  if self.reloader ~= nil then
    self.reloader:close()
  end
  current = nil
  return true
end

--- The live attachment, or nil.
function M.current()
  return current
end

return M
