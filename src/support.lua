-- Helpers every Lua chunk of qtforge shares: argument descriptions, method and
-- option checks, safe tostring and the callable class table.
local error, getmetatable, ipairs, pairs, pcall, setmetatable, tostring, type =
  error, getmetatable, ipairs, pairs, pcall, setmetatable, tostring, type
local string_format = string.format
local table_concat, table_sort = table.concat, table.sort

local support = {}

--- How a value reads in a message: strings quoted, anything else by its type.
function support.describe(value)
  if type(value) == "string" then
    return string_format("%q", value)
  end
  return type(value)
end
local describe = support.describe

--- A check that a method was called with ':' on an object of `class` (a metatable):
--- check(fname, self) raises at the caller of the method otherwise.
function support.method_check(class, what)
  local suffix = ": call it with ':' on " .. what .. ", got "
  return function(fname, self)
    if getmetatable(self) ~= class then
      error(fname .. suffix .. describe(self), 3)
    end
  end
end

--- tostring that survives error objects whose __tostring throws or returns a non-string.
function support.safe_tostring(value)
  if type(value) == "string" then
    return value
  end
  local ok, text = pcall(tostring, value)
  if ok and type(text) == "string" then
    return text
  end
  return "(an error value of type " .. type(value) .. ")"
end

--- Checks an options table against `known` (name -> type name); returns it, or
--- {} for nil. `level` is where the caller sits, seen from the function calling it.
function support.check_options(fname, opts, known, level)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error(string_format("%s: argument 'opts' must be a table or nil, got %s", fname, describe(opts)), level + 1)
  end
  for key, value in pairs(opts) do
    local expected = known[key]
    if expected == nil then
      local names = {}
      for name in pairs(known) do
        names[#names + 1] = name
      end
      table_sort(names)
      local known_names = table_concat(names, ", ")
      error(string_format("%s: unknown option %s (known: %s)", fname, describe(key), known_names), level + 1)
    end
    if type(value) ~= expected then
      error(string_format("%s: option '%s' must be a %s, got %s", fname, key, expected, describe(value)), level + 1)
    end
  end
  return opts
end

--- A shallow copy of table `t`, without the keys `leave_out` holds (if any).
function support.copy(t, leave_out)
  local c = {}
  for k, v in pairs(t) do
    if not (leave_out and leave_out[k]) then
      c[k] = v
    end
  end
  return c
end

--- True for what can be called: functions, and tables or userdata with __call.
function support.is_callable(value)
  if type(value) == "function" then
    return true
  end
  local meta = getmetatable(value)
  return type(meta) == "table" and meta.__call ~= nil
end

--- Adds `fn` to the listener list `owner[field]` and returns a function that
--- removes it. The list is replaced, never changed in place, so a loop over it
--- that is under way (a listener adding or removing one) keeps the list it had.
function support.listen(owner, field, fn)
  local listeners = {}
  for i, existing in ipairs(owner[field]) do
    listeners[i] = existing
  end
  listeners[#listeners + 1] = fn
  owner[field] = listeners
  return function()
    local kept = {}
    for _, existing in ipairs(owner[field]) do
      if existing ~= fn then
        kept[#kept + 1] = existing
      end
    end
    owner[field] = kept
  end
end

--- A callable class table: Name(...) and Name.new(...) build the same object;
--- `make(level, ...)` raises misuse at `level`, the caller of either form.
--- Raises at the caller of the method `fname` (`level` counts from the
--- function calling this) unless `id` is a plugin id string.
function support.check_plugin_id(fname, id, level)
  if type(id) ~= "string" then
    error(fname .. ": argument 'plugin_id' must be a plugin id string, got " .. support.describe(id), level + 1)
  end
end

-- An object whose collection calls fn: a table __gc is 5.4 only, hence a
-- proxy where newproxy exists (LuaJIT, 5.1).
function support.gc_sentinel(fn)
  if newproxy then -- luacheck: ignore 113
    local proxy = newproxy(true) -- luacheck: ignore 113
    getmetatable(proxy).__gc = fn
    return proxy
  end
  return setmetatable({}, { __gc = fn })
end

function support.class(name, make, statics)
  local t = statics or {}
  t.new = function(...)
    local object = make(2, ...)
    return object
  end
  return setmetatable(t, {
    __call = function(_, ...)
      local object = make(2, ...)
      return object
    end,
    __tostring = function()
      return name
    end,
  })
end

return support
