-- qtforge.managers.ConfigurationManager: layered configuration (defaults,
-- files, environment, run time) that Rust parses, merges, saves and watches.
-- Reads run here: Rust hands over the merged tree after each change, and a
-- getter is a lookup in a flat table of dotted keys filled on first use, so a
-- hot path never crosses into Rust.
local native = ...

local error, getmetatable, ipairs, pairs, pcall, setmetatable, tonumber, tostring, type = error, getmetatable,
  ipairs, pairs, pcall, setmetatable, tonumber, tostring, type
local math_floor, math_huge = math.floor, math.huge
local string_format, string_sub = string.format, string.sub

local support = native.support
local describe, method_check, safe_tostring = support.describe, support.method_check, support.safe_tostring
local check_options, class, is_callable, copy = support.check_options, support.class, support.is_callable,
  support.copy
local Error = native.Error
local new_layers = native.new_layers

-- what a flat cache holds for a key that has no value
local MISSING = setmetatable({}, { __name = "qtforge.managers.MISSING" })
-- Readers index `self or NO_VIEW`: a reader called with '.' and no argument
-- gets the check's clear error rather than Lua's. (A number or boolean in
-- place of self still gets Lua's: telling it apart would cost a type() call,
-- a C call per read on PUC Lua, which doubles the price of a get.)
local NO_VIEW = {}

local ConfigurationManager = { __name = "qtforge.managers.ConfigurationManager" }
local Methods = {}
ConfigurationManager.__index = Methods

local Scope = { __name = "qtforge.managers.ConfigScope" }
local ScopeMethods = {}
local Readers = {}


local function is_view(value)
  local meta = getmetatable(value)
  return meta == ConfigurationManager or meta == Scope
end

-- "ConfigurationManager:get" or "ConfigScope:get": errors name the class called
local function name_of(view, method)
  if getmetatable(view) == Scope then
    return "ConfigScope:" .. method
  end
  return "ConfigurationManager:" .. method
end

local function check_view(method, self, level)
  if not is_view(self) then
    error("ConfigurationManager:" .. method .. ": call it with ':' on a ConfigurationManager or a scope, got "
      .. describe(self), level + 1)
  end
end

-- A scope's fields are its methods, then its values: `ctx.config.greeting`
-- reads the value at "greeting" (a key named like a method needs :get(key)).
function Scope.__index(view, key)
  local method = ScopeMethods[key]
  if method ~= nil then
    return method
  end
  if type(key) ~= "string" or string_sub(key, 1, 1) == "_" or key == "" then
    return nil
  end
  return Readers.get(view, key)
end

function Scope.__newindex(view, key)
  error(string_format("%s: set values with :set(%q, value)", name_of(view, "set"), tostring(key)), 2)
end

local function deep_copy(value)
  if type(value) ~= "table" then
    return value
  end
  local result = {}
  for k, v in pairs(value) do
    result[k] = deep_copy(v)
  end
  return result
end

-- a non-empty key without empty segments
local function is_dotted(key)
  return key ~= "" and not key:find("..", 1, true) and key:sub(1, 1) ~= "." and key:sub(-1) ~= "."
end

local function check_key(view, method, key, level, argument)
  if type(key) ~= "string" then
    error(string_format("%s: argument '%s' must be a dotted key string, got %s", name_of(view, method),
      argument or "key", describe(key)), level + 1)
  end
end

-- the value at a dotted key of a tree, or nil; a numeric segment also indexes
-- arrays (1-based), as `server.ports.1`
local function walk(tree, key)
  local node = tree
  local start = 1
  while true do
    if type(node) ~= "table" then
      return nil
    end
    local dot = key:find(".", start, true)
    local segment = string_sub(key, start, dot and dot - 1 or -1)
    local child = node[segment]
    if child == nil then
      local index = tonumber(segment)
      if index ~= nil then
        child = node[index]
      end
    end
    node = child
    if dot == nil then
      return node
    end
    start = dot + 1
  end
end

local function full_key(view, key)
  local prefix = view._prefix
  if prefix == "" then
    return key
  end
  if key == "" then
    return prefix
  end
  return prefix .. "." .. key
end

-- The value of `key` in a view, from the tree, kept in the view's flat cache.
local function resolve(view, method, key, level)
  check_view(method, view, level + 1)
  check_key(view, method, key, level + 1)
  if not is_dotted(key) then
    error(string_format("%s: %q is not a dotted key (no empty segments)", name_of(view, method), key), level + 1)
  end
  local value = walk(view._state.tree, full_key(view, key))
  if value == nil then
    value = MISSING
  end
  view._flat[key] = value
  return value
end

local function type_error(view, method, key, value, wanted, level)
  error(string_format("%s: %q is a %s, not %s", name_of(view, method), full_key(view, key), type(value), wanted),
    level + 1)
end

local function check_default(view, method, default, wanted, level)
  if default ~= nil and type(default) ~= wanted then
    error(string_format("%s: argument 'default' must be a %s or nil, got %s", name_of(view, method), wanted,
      describe(default)), level + 1)
  end
end

---------------------------------------------------------------------------
-- Readers: the same for the manager and its scopes
---------------------------------------------------------------------------

local function is_integer(value)
  return type(value) == "number" and value == math_floor(value) and value > -math_huge and value < math_huge
end

local TYPE_CHECKS = {
  string = function(value)
    return type(value) == "string"
  end,
  number = function(value)
    return type(value) == "number"
  end,
  boolean = function(value)
    return type(value) == "boolean"
  end,
  integer = is_integer,
}
local TYPE_NAMES = { string = "a string", number = "a number", boolean = "a boolean", integer = "an integer" }
-- the view's cache of values known to be of each type
local TYPED_CACHE = { string = "_strings", number = "_numbers", boolean = "_bools", integer = "_ints" }

-- The value of a typed getter when its typed cache does not have it yet: from
-- the flat cache (or the tree), checked, and cached by type for next time.
local function get_typed(self, method, key, default, wanted, level)
  local flat = (self or NO_VIEW)._flat
  local value = flat and flat[key]
  if value == nil then
    value = resolve(self, method, key, level + 1)
  end
  if TYPE_CHECKS[wanted](value) then
    self[TYPED_CACHE[wanted]][key] = value
    return value
  elseif value == MISSING then
    if default ~= nil and not TYPE_CHECKS[wanted](default) then
      error(string_format("%s: argument 'default' must be %s or nil, got %s", name_of(self, method),
        TYPE_NAMES[wanted], wanted == "integer" and tostring(default) or describe(default)), level + 1)
    end
    return default
  elseif wanted == "integer" and type(value) == "number" then
    error(string_format("%s: %q is %s, not an integer", name_of(self, method), full_key(self, key), tostring(value)),
      level + 1)
  end
  type_error(self, method, key, value, TYPE_NAMES[wanted], level + 1)
end

-- The typed getters: a hit in the view's cache of that type is one table
-- lookup, with no type() call (a C call per read on PUC Lua).
function Readers.get_string(self, key, default)
  local cache = (self or NO_VIEW)._strings
  local value = cache and cache[key]
  if value ~= nil then
    return value
  end
  value = get_typed(self, "get_string", key, default, "string", 2)
  return value
end

function Readers.get_number(self, key, default)
  local cache = (self or NO_VIEW)._numbers
  local value = cache and cache[key]
  if value ~= nil then
    return value
  end
  value = get_typed(self, "get_number", key, default, "number", 2)
  return value
end

function Readers.get_int(self, key, default)
  local cache = (self or NO_VIEW)._ints
  local value = cache and cache[key]
  if value ~= nil then
    return value
  end
  value = get_typed(self, "get_int", key, default, "integer", 2)
  return value
end

function Readers.get_bool(self, key, default)
  local cache = (self or NO_VIEW)._bools
  local value = cache and cache[key]
  if value ~= nil then
    return value
  end
  value = get_typed(self, "get_bool", key, default, "boolean", 2)
  return value
end

--- A copy of the table at `key`: changing it changes nothing here.
function Readers.get_table(self, key, default)
  local flat = (self or NO_VIEW)._flat
  local value = flat and flat[key]
  if value == nil then
    value = resolve(self, "get_table", key, 2)
  end
  if value == MISSING then
    check_default(self, "get_table", default, "table", 2)
    return default
  elseif type(value) == "table" then
    return deep_copy(value)
  end
  type_error(self, "get_table", key, value, "a table", 2)
end

--- The value at `key` whatever its type (tables copied), or `default`.
function Readers.get(self, key, default)
  local flat = (self or NO_VIEW)._flat
  local value = flat and flat[key]
  if value == nil then
    value = resolve(self, "get", key, 2)
  end
  if value == MISSING then
    return default
  end
  return deep_copy(value)
end

function Readers.has(self, key)
  local flat = (self or NO_VIEW)._flat
  local value = flat and flat[key]
  if value == nil then
    value = resolve(self, "has", key, 2)
  end
  return value ~= MISSING
end

---------------------------------------------------------------------------
-- Changes: Rust applies them and hands back the keys that changed and the tree
---------------------------------------------------------------------------

local function notify(state, changed, old_tree)
  local listeners = state.listeners
  if #listeners == 0 or changed == nil then
    return
  end
  for _, key in ipairs(changed) do
    for _, listener in ipairs(listeners) do
      local prefix = listener.prefix
      if prefix == "" or key == prefix or string_sub(key, 1, #prefix + 1) == prefix .. "." then
        -- a scope's listener hears keys relative to the scope, as its readers take them
        local own = listener.own
        local relative = key
        if own ~= "" then
          relative = key == own and "" or string_sub(key, #own + 2)
        end
        -- copies: a listener that changes a list it is handed must not change the tree
        local ok, problem = pcall(listener.fn, relative, deep_copy(walk(state.tree, key)),
          deep_copy(walk(old_tree, key)))
        if not ok then
          state.report("on_change listener for " .. (prefix == "" and "everything" or prefix) .. " failed: "
            .. safe_tostring(problem))
        end
      end
    end
  end
end

-- `tree` with the value at `at` replaced by `subtree`: a new table for each
-- level down to `at`, everything else shared (the old tree stays as it was,
-- for the listeners' old values and for snapshots)
local function replaced(tree, at, subtree)
  if at == "" then
    return subtree
  end
  local root = type(tree) == "table" and copy(tree) or {}
  local node, start = root, 1
  while true do
    local dot = at:find(".", start, true)
    local segment = string_sub(at, start, dot and dot - 1 or -1)
    if dot == nil then
      node[segment] = subtree
      return root
    end
    local child = node[segment]
    child = type(child) == "table" and copy(child) or {}
    node[segment] = child
    node, start = child, dot + 1
  end
end

-- Installs the merged tree after a change (the subtree Rust sent for the
-- part it touched) and tells the listeners.
local function apply(state, changed, at, subtree)
  local old_tree = state.tree
  if changed[1] ~= nil then
    state.tree = replaced(old_tree, at, subtree)
  end
  state.generation = state.generation + 1
  for view in pairs(state.views) do
    view._flat, view._strings, view._numbers, view._bools, view._ints = {}, {}, {}, {}, {}
    -- false, not nil: a scope's missing fields would be looked up as values
    rawset(view, "_snapshot", false)
  end
  notify(state, changed, old_tree)
end

local function changed_or_raise(view, method, changed, at_or_message, subtree, level)
  local state = view._state
  if changed == nil then
    error(name_of(view, method) .. ": " .. tostring(at_or_message), level + 1)
  end
  apply(state, changed, at_or_message, subtree)
  return true
end

-- An open transaction hears of each change a caller makes, before it is made.
local function before_change(state)
  local hook = state.before_change
  if hook ~= nil then
    hook(state)
  end
end

function Readers.set(self, key, value)
  check_view("set", self, 2)
  check_key(self, "set", key, 2)
  before_change(self._state)
  local changed, at, subtree = self._state.layers:set(full_key(self, key), value)
  local ok = changed_or_raise(self, "set", changed, at, subtree, 2)
  return ok
end

--- Removes the value at `key` whatever layer gave it; true when there was one.
function Readers.remove(self, key)
  check_view("remove", self, 2)
  check_key(self, "remove", key, 2)
  local state = self._state
  local had = walk(state.tree, full_key(self, key)) ~= nil
  before_change(state)
  local changed, at, subtree = state.layers:remove(full_key(self, key))
  changed_or_raise(self, "remove", changed, at, subtree, 2)
  return had
end

--- Every leaf key under `prefix` (relative to this view), sorted.
function Readers.keys(self, prefix)
  check_view("keys", self, 2)
  prefix = prefix or ""
  check_key(self, "keys", prefix, 2, "prefix")
  local keys, message = self._state.layers:keys(full_key(self, prefix))
  if keys == nil then
    error(name_of(self, "keys") .. ": " .. message, 2)
  end
  local own = self._prefix
  if own ~= "" then
    for i, key in ipairs(keys) do
      keys[i] = key == own and "" or string_sub(key, #own + 2)
    end
  end
  return keys
end

--- The layer that gives `key` its value: "default", "file:<path>", "env:<VAR>",
--- "runtime", or nil when nothing does.
function Readers.source(self, key)
  check_view("source", self, 2)
  check_key(self, "source", key, 2)
  if not is_dotted(key) then
    error(string_format("%s: %q is not a dotted key (no empty segments)", name_of(self, "source"), key), 2)
  end
  return self._state.layers:source(full_key(self, key))
end

--- A deep copy of this view's values.
function Readers.to_table(self)
  check_view("to_table", self, 2)
  local tree = self._prefix == "" and self._state.tree or walk(self._state.tree, self._prefix)
  if type(tree) ~= "table" then
    return {}
  end
  return deep_copy(tree)
end

--- A plain table of this view's values for hot paths, made once per change:
--- read it, do not change it (the next snapshot after a change is a new table).
function Readers.snapshot(self)
  local snapshot = (self or NO_VIEW)._snapshot
  if not snapshot then
    check_view("snapshot", self, 2)
    snapshot = Readers.to_table(self)
    self._snapshot = snapshot
  end
  return snapshot
end

--- on_change(prefix, fn): fn(key, new_value, old_value) for each key under
--- `prefix` (relative to this view; "" for all) that a change touches. Returns
--- a function that removes the listener.
function Readers.on_change(self, prefix, fn)
  check_view("on_change", self, 2)
  check_key(self, "on_change", prefix, 2, "prefix")
  if not is_callable(fn) then
    error(name_of(self, "on_change") .. ": argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  if prefix ~= "" and not is_dotted(prefix) then
    error(string_format("%s: %q is not a dotted key (no empty segments)", name_of(self, "on_change"), prefix), 2)
  end
  local listener = { prefix = full_key(self, prefix), own = self._prefix, fn = fn }
  local remove = support.listen(self._state, "listeners", listener)
  return remove
end

local function new_view(state, prefix)
  local view = setmetatable({ _state = state, _prefix = prefix, _flat = {}, _strings = {}, _numbers = {}, _bools = {},
    _ints = {}, _snapshot = false }, Scope)
  state.views[view] = true
  return view
end

--- A view of the values under `prefix`: the same readers and writers, with
--- keys relative to it.
function Readers.scope(self, prefix)
  check_view("scope", self, 2)
  check_key(self, "scope", prefix, 2, "prefix")
  if not is_dotted(prefix) then
    error(string_format("%s: %q is not a dotted key", name_of(self, "scope"), prefix), 2)
  end
  return new_view(self._state, full_key(self, prefix))
end

for name, fn in pairs(Readers) do
  Methods[name] = fn
  ScopeMethods[name] = fn
end

Scope.__tostring = function(view)
  return string_format("qtforge.managers.ConfigScope(%s)", view._prefix)
end

---------------------------------------------------------------------------
-- ConfigurationManager: files, environment, schema, watching
---------------------------------------------------------------------------

local check_manager = method_check(ConfigurationManager, "a ConfigurationManager")

local function failure(err)
  return { success = false, error = err }
end

local OPTIONS = { env_prefix = "string", env = "table", defaults = "table", log = "function" }

local function new_manager(level, opts)
  opts = check_options("ConfigurationManager", opts, OPTIONS, level + 1)
  local layers, message = new_layers(opts.env_prefix, opts.env)
  if layers == nil then
    error("ConfigurationManager: " .. message, level + 1)
  end
  local log = opts.log
  local state = {
    layers = layers,
    tree = layers:tree(),
    generation = 0,
    listeners = {},
    error_listeners = {},
    views = setmetatable({}, { __mode = "k" }),
    watches = 0,
  }
  state.report = function(text)
    if log then
      pcall(log, "error", "qtforge.config", text)
    else
      io.stderr:write("qtforge [error] qtforge.config: " .. text .. "\n")
    end
  end
  local self = setmetatable({ _state = state, _prefix = "", _flat = {}, _strings = {}, _numbers = {}, _bools = {},
    _ints = {} }, ConfigurationManager)
  state.views[self] = true
  if opts.defaults ~= nil then
    local changed, at, subtree = layers:set_defaults(opts.defaults)
    if changed == nil then
      error("ConfigurationManager: option 'defaults': " .. tostring(at), level + 1)
    end
    if changed[1] ~= nil then
      state.tree = replaced(state.tree, at, subtree)
    end
  end
  return self
end

local function result_of(state, changed, at_or_err, subtree)
  if changed == nil then
    return failure(at_or_err)
  end
  apply(state, changed, at_or_err, subtree)
  return { success = true, changed = changed }
end

--- load_from_file(path): merges a .json or .toml file as a layer above the
--- files loaded before it (loading the same path again replaces its values).
--- A result; on parse_error nothing changes.
function Methods:load_from_file(path)
  check_manager("ConfigurationManager:load_from_file", self)
  if type(path) ~= "string" then
    error("ConfigurationManager:load_from_file: argument 'path' must be a string, got " .. describe(path), 2)
  end
  before_change(self._state)
  local changed, at, subtree = self._state.layers:load_file(path)
  return result_of(self._state, changed, at, subtree)
end

--- load_from_string(text, format, name): like a file named `name` (default "string").
function Methods:load_from_string(text, format, name)
  check_manager("ConfigurationManager:load_from_string", self)
  if type(text) ~= "string" then
    error("ConfigurationManager:load_from_string: argument 'text' must be a string, got " .. describe(text), 2)
  end
  if format ~= "json" and format ~= "toml" then
    error("ConfigurationManager:load_from_string: argument 'format' must be \"json\" or \"toml\", got "
      .. describe(format), 2)
  end
  if name ~= nil and type(name) ~= "string" then
    error("ConfigurationManager:load_from_string: argument 'name' must be a string or nil, got " .. describe(name), 2)
  end
  before_change(self._state)
  local changed, at, subtree = self._state.layers:load_string(text, format, name or "string")
  return result_of(self._state, changed, at, subtree)
end

--- save_to_file(path): writes the merged configuration atomically, in the
--- format of the path's extension. A result.
function Methods:save_to_file(path)
  check_manager("ConfigurationManager:save_to_file", self)
  if type(path) ~= "string" then
    error("ConfigurationManager:save_to_file: argument 'path' must be a string, got " .. describe(path), 2)
  end
  local defer = self._state.defer_save
  if defer ~= nil then
    -- inside a transaction: written when it commits, with what it commits
    defer(self, path)
    return { success = true, path = path, deferred = true }
  end
  local ok, err = self._state.layers:save(path)
  if not ok then
    return failure(err)
  end
  return { success = true, path = path }
end

--- validate(schema): checks the merged configuration against a JSON Schema (a
--- table or JSON text). { success = true } or { success = false, error,
--- violations = { { path, message }, ... } }, every violation listed.
function Methods:validate(schema)
  check_manager("ConfigurationManager:validate", self)
  if type(schema) ~= "table" and type(schema) ~= "string" then
    error("ConfigurationManager:validate: argument 'schema' must be a table or JSON text, got " .. describe(schema), 2)
  end
  local violations, err = self._state.layers:validate(schema)
  if violations == nil then
    return failure(err)
  end
  if #violations == 0 then
    return { success = true, violations = violations }
  end
  local first = violations[1]
  return {
    success = false,
    error = Error("schema_violation", string_format("%d schema violation(s), first at %s: %s", #violations,
      first.path == "" and "the top" or first.path, first.message)),
    violations = violations,
  }
end

--- watch(path): reloads the file when it changes on disk. The change is
--- applied by poll() (and by manager:update_all_plugins() for the manager's
--- configuration); a bad edit is reported and the last good values stay.
function Methods:watch(path)
  check_manager("ConfigurationManager:watch", self)
  if type(path) ~= "string" then
    error("ConfigurationManager:watch: argument 'path' must be a string, got " .. describe(path), 2)
  end
  local ok, err = self._state.layers:watch(path)
  if not ok then
    return failure(err)
  end
  self._state.watches = self._state.watches + 1
  return { success = true, path = path }
end

function Methods:unwatch(path)
  check_manager("ConfigurationManager:unwatch", self)
  if type(path) ~= "string" then
    error("ConfigurationManager:unwatch: argument 'path' must be a string, got " .. describe(path), 2)
  end
  local removed = self._state.layers:unwatch(path)
  if removed then
    self._state.watches = self._state.watches - 1
  end
  return removed
end

--- Registers fn(err) for reloads that failed (a bad edit of a watched file);
--- returns a function that removes it.
function Methods:on_error(fn)
  check_manager("ConfigurationManager:on_error", self)
  if not is_callable(fn) then
    error("ConfigurationManager:on_error: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  return support.listen(self._state, "error_listeners", fn)
end

--- Applies the changes of watched files; returns how many files it reloaded.
function Methods:poll()
  check_manager("ConfigurationManager:poll", self)
  local state = self._state
  local paths = state.layers:poll()
  if paths == nil then
    return 0
  end
  local reloaded = 0
  for _, path in ipairs(paths) do
    local changed, at, subtree = state.layers:load_file(path)
    if changed == nil then
      -- the last good values stay
      state.report("reloading " .. path .. " failed: " .. tostring(at))
      for _, fn in ipairs(state.error_listeners) do
        pcall(fn, at)
      end
    else
      reloaded = reloaded + 1
      apply(state, changed, at, subtree)
    end
  end
  return reloaded
end

ConfigurationManager.__tostring = function()
  return "qtforge.managers.ConfigurationManager"
end

-- The configuration of plugin `id` is the subtree plugins.<id>: its manifest
-- [config] with the changes configure_plugin accepted, as defaults, under
-- what the host's files, environment and set() say. nil takes it out.
local function set_plugin_config(config, id, values)
  local state = config._state
  local changed, at, subtree = state.layers:set_default("plugins." .. id, values)
  if changed == nil then
    return nil, at
  end
  apply(state, changed, at, subtree)
  return true
end

local function plugin_scope(config, id)
  return new_view(config._state, "plugins." .. id)
end

-- The manager polls only a configuration that watches files.
local function watching(config)
  return config._state.watches > 0
end

return {
  ConfigurationManager = class("qtforge.managers.ConfigurationManager", new_manager),
  -- for manager.lua
  set_plugin_config = set_plugin_config,
  plugin_scope = plugin_scope,
  -- for qtforge.transactions: the layers as they are, and back to them; and
  -- the hooks an open transaction sets (nil to clear): before_change(state)
  -- before each change a caller makes, defer_save(config, path) for saves
  snapshot = function(config)
    return config._state.layers:snapshot()
  end,
  restore = function(config, snapshot)
    local state = config._state
    local changed, at, subtree = state.layers:restore(snapshot)
    apply(state, changed, at, subtree)
  end,
  set_transaction_hooks = function(config, before, defer)
    config._state.before_change, config._state.defer_save = before, defer
  end,
  watching = watching,
  _Meta = ConfigurationManager,
  -- metatables, for specs that check every public method has a type stub
  _ConfigurationManager = Methods,
  _Scope = ScopeMethods,
}
