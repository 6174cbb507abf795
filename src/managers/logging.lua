-- qtforge.managers.LoggingManager: loggers whose lines go through tracing to
-- the sinks Rust writes (stderr, files, plain or JSON lines) and, through a
-- queue Lua drains, to Lua callbacks (ngx.log, a game's console).
-- A disabled level costs a comparison in Lua: thresholds are mirrored here and
-- only lines that will be written cross into Rust.
local native = ...

local error, pairs, pcall, setmetatable, tostring, type = error, pairs, pcall, setmetatable, tostring, type
local string_format = string.format

local support = native.support
local describe, method_check, safe_tostring = support.describe, support.method_check, support.safe_tostring
local check_options, class, is_callable = support.check_options, support.class, support.is_callable
local new_hub = native.new_hub

local LEVELS = { "trace", "debug", "info", "warn", "error" }
local RANK = { trace = 1, debug = 2, info = 3, warn = 4, warning = 4, error = 5 }

local LoggingManager = { __name = "qtforge.managers.LoggingManager" }
LoggingManager.__index = LoggingManager

local Logger = { __name = "qtforge.managers.Logger" }
Logger.__index = Logger

local check_manager = method_check(LoggingManager, "a LoggingManager")

local function check_level(fname, level, argument, level_up)
  if type(level) ~= "string" or RANK[level] == nil then
    error(string_format("%s: argument '%s' must be one of trace, debug, info, warn, error, got %s", fname, argument,
      describe(level)), level_up + 1)
  end
  return RANK[level]
end

-- Hands queued records (drained now when not given) to the Lua callbacks; a
-- failing callback's error is written to stderr (logging must not raise, nor
-- log about itself).
local function deliver(self, records)
  if self._callback_count == 0 then
    return 0
  end
  records = records or self._hub:drain()
  local callbacks = self._callbacks
  for i = 1, #records do
    local record = records[i]
    for _, fn in pairs(callbacks) do
      local ok, problem = pcall(fn, record)
      if not ok then
        io.stderr:write("qtforge: a log callback failed: " .. safe_tostring(problem) .. "\n")
      end
    end
  end
  return #records
end

-- The threshold a logger uses: its own level, else its dotted parent's, else the default.
local function threshold_of(self, name)
  local levels = self._levels
  local current = name
  while current ~= nil do
    local rank = levels[current]
    if rank ~= nil then
      return rank
    end
    current = current:match("^(.*)%.[^.]*$")
  end
  return self._default
end

local function emit(logger, rank, a, b, c)
  local manager = logger._manager
  if logger._generation ~= manager._generation then
    logger._threshold = threshold_of(manager, logger._name)
    logger._generation = manager._generation
  end
  if rank < logger._threshold then
    return
  end
  -- log.info(message, fields) and log:info(message, fields) both work
  local message, fields = a, b
  if a == logger then
    message, fields = b, c
  end
  if type(message) ~= "string" then
    message = safe_tostring(message)
  end
  if fields ~= nil and type(fields) ~= "table" then
    fields = { value = fields }
  end
  local callbacks = manager._callback_count > 0
  local records = manager._hub:emit(LEVELS[rank], logger._name, message, fields, callbacks)
  if callbacks then
    deliver(manager, records)
  end
end

-- one function per level, made once: logger.info is a plain field
local function level_function(logger, rank)
  return function(a, b, c)
    emit(logger, rank, a, b, c)
  end
end

local function new_logger(manager, name)
  local logger = setmetatable({ _manager = manager, _name = name, _generation = -1, _threshold = 0 }, Logger)
  for rank, level in pairs(LEVELS) do
    logger[level] = level_function(logger, rank)
  end
  return logger
end

Logger.__tostring = function(logger)
  return string_format("qtforge.managers.Logger(%s)", logger._name)
end

local SINK_OPTIONS = { type = "string", json = "boolean", path = "string", fn = "function" }

local function add_sink(self, fname, spec, level)
  if type(spec) ~= "table" then
    error(fname .. ": argument 'sink' must be a table such as { type = \"stderr\" }, got " .. describe(spec),
      level + 1)
  end
  check_options(fname, spec, SINK_OPTIONS, level + 1)
  local kind = spec.type
  if kind == "callback" then
    if not is_callable(spec.fn) then
      error(fname .. ": a callback sink needs fn, a function of the record", level + 1)
    end
    local id, err = self._hub:add_sink("queue", false, nil)
    if id == nil then
      return nil, err
    end
    self._callbacks[id] = spec.fn
    self._callback_count = self._callback_count + 1
    return id
  elseif kind == "stderr" or kind == "file" then
    if kind == "file" and type(spec.path) ~= "string" then
      error(fname .. ": a file sink needs path, a string", level + 1)
    end
    local id, err = self._hub:add_sink(kind, spec.json == true, spec.path)
    return id, err
  end
  error(fname .. ": sink type must be \"stderr\", \"file\" or \"callback\", got " .. describe(kind), level + 1)
end

local MANAGER_OPTIONS = { level = "string", sinks = "table" }

local function new_manager(level, opts)
  opts = check_options("LoggingManager", opts, MANAGER_OPTIONS, level + 1)
  local self = setmetatable({
    _hub = new_hub(),
    _levels = {}, -- logger name -> rank, mirrored from Rust
    _default = RANK.info,
    _generation = 0,
    _loggers = setmetatable({}, { __mode = "v" }),
    _callbacks = {}, -- sink id -> function
    _callback_count = 0,
  }, LoggingManager)
  if opts.level ~= nil then
    self._default = check_level("LoggingManager", opts.level, "level", level + 1)
    self._hub:set_level(nil, opts.level)
  end
  for i = 1, #(opts.sinks or {}) do
    local id, err = add_sink(self, "LoggingManager", opts.sinks[i], level + 1)
    if id == nil then
      error("LoggingManager: sink " .. i .. ": " .. tostring(err), level + 1)
    end
  end
  return self
end

--- A logger: log.info(message, fields) (or log:info) and trace, debug, warn,
--- error. The same object each time for a name.
function LoggingManager:logger(name)
  check_manager("LoggingManager:logger", self)
  if type(name) ~= "string" or name == "" then
    error("LoggingManager:logger: argument 'name' must be a non-empty string, got " .. describe(name), 2)
  end
  local logger = self._loggers[name]
  if logger == nil then
    logger = new_logger(self, name)
    self._loggers[name] = logger
  end
  return logger
end

--- add_sink{type = "stderr"|"file"|"callback", json = bool, path = ..., fn = function(record)}:
--- returns the sink's id, or nil and an io_error.
function LoggingManager:add_sink(spec)
  check_manager("LoggingManager:add_sink", self)
  local id, err = add_sink(self, "LoggingManager:add_sink", spec, 2)
  return id, err
end

function LoggingManager:remove_sink(id)
  check_manager("LoggingManager:remove_sink", self)
  if type(id) ~= "number" then
    error("LoggingManager:remove_sink: argument 'id' must be a sink id, got " .. describe(id), 2)
  end
  if self._callbacks[id] ~= nil then
    self._callbacks[id] = nil
    self._callback_count = self._callback_count - 1
  end
  return self._hub:remove_sink(id)
end

--- set_level(name, level): the level of one logger (and the loggers below it
--- in the dotted name), or with name "*" or nil the default of all.
function LoggingManager:set_level(name, level)
  check_manager("LoggingManager:set_level", self)
  if name ~= nil and type(name) ~= "string" then
    error("LoggingManager:set_level: argument 'name' must be a logger name, \"*\" or nil, got " .. describe(name), 2)
  end
  local rank = check_level("LoggingManager:set_level", level, "level", 2)
  if name == nil or name == "*" then
    self._default = rank
    self._hub:set_level(nil, level)
  else
    self._levels[name] = rank
    self._hub:set_level(name, level)
  end
  self._generation = self._generation + 1
  return true
end

--- The level a logger writes at (its own, a parent's, or the default).
function LoggingManager:level(name)
  check_manager("LoggingManager:level", self)
  if name ~= nil and type(name) ~= "string" then
    error("LoggingManager:level: argument 'name' must be a logger name or nil, got " .. describe(name), 2)
  end
  if name == nil or name == "*" then
    return LEVELS[self._default]
  end
  return LEVELS[threshold_of(self, name)]
end

--- Delivers to the callback sinks what qtforge's own threads logged; returns how many.
function LoggingManager:poll()
  check_manager("LoggingManager:poll", self)
  local count = deliver(self)
  return count
end

--- capture(on): while on (the default for a PluginManager's LoggingManager),
--- qtforge's own Rust-side events on this thread (native library loads,
--- file watcher errors) go to this manager's sinks, as loggers named after
--- their part ("qtforge.native", "qtforge.watch"). One LoggingManager captures
--- at a time: the latest to turn it on.
function LoggingManager:capture(on)
  check_manager("LoggingManager:capture", self)
  if on ~= nil and type(on) ~= "boolean" then
    error("LoggingManager:capture: argument 'on' must be a boolean or nil, got " .. describe(on), 2)
  end
  self._hub:capture(on ~= false)
  return true
end

--- { dropped = records a full queue dropped }
function LoggingManager:stats()
  check_manager("LoggingManager:stats", self)
  return { dropped = self._hub:dropped() }
end

LoggingManager.__tostring = function(self)
  return string_format("qtforge.managers.LoggingManager (default level %s)", LEVELS[self._default])
end

return {
  LoggingManager = class("qtforge.managers.LoggingManager", new_manager),
  -- metatables, for specs that check every public method has a type stub
  _LoggingManager = LoggingManager,
}
