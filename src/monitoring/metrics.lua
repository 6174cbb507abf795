-- qtforge.monitoring.PluginMetricsCollector: what plugins cost and do. The
-- counting happens where the work is (core/manager.lua meters calls through
-- the manager and handles, update ticks and each plugin's bus while a
-- collector is attached); this file reads those records, estimates memory,
-- and hands Rust the figures to render as Prometheus text.
local native = ...

local error, getmetatable, ipairs, next, pairs, pcall, setmetatable, type = error, getmetatable, ipairs, next,
  pairs, pcall, setmetatable, type
-- LuaJIT has no rawlen, and its # never calls __len on a table
local rawlen = rawlen or function(t)
  return #t
end
local collectgarbage, tostring = collectgarbage, tostring
local string_dump, string_format, string_match, string_sub = string.dump, string.format, string.match, string.sub
local table_sort = table.sort
-- the memory estimate looks into functions and metatables; without the debug
-- library it sees tables and strings only
local debug_getinfo = debug and debug.getinfo
local debug_getupvalue = debug and debug.getupvalue
local debug_upvalueid = debug and debug.upvalueid
local debug_getmetatable = debug and debug.getmetatable or getmetatable

local support = native.support
local describe, method_check, check_options, class = support.describe, support.method_check,
  support.check_options, support.class
local safe_tostring, gc_sentinel, check_plugin_id = support.safe_tostring, support.gc_sentinel,
  support.check_plugin_id
local Error = native.Error
local render_prometheus, rust_heap_bytes = native.render_prometheus, native.rust_heap_bytes
local core = native.core
local ManagerMeta, set_metering, set_metering_everywhere, all_managers = core._Manager, core.set_metering,
  core.set_metering_everywhere, core.managers

local Collector = { __name = "qtforge.monitoring.PluginMetricsCollector" }
local Methods = {}
Collector.__index = Methods

local check_collector = method_check(Collector, "a PluginMetricsCollector")

local MB = 1024 * 1024

---------------------------------------------------------------------------
-- Attaching: a collector meters its manager (or, made without one, every
-- manager of this Lua state) while enabled. Collected or closed, it lets go.
---------------------------------------------------------------------------

local function attach(self, on)
  local manager, timed = self._manager, self._state.timing
  if manager ~= nil then
    set_metering(manager, on, timed)
  else
    set_metering_everywhere(on, timed)
  end
end

--- PluginMetricsCollector([manager], [opts]): opts.enabled (default true),
--- opts.timing (default true; false counts calls and updates without
--- reading the clock, which is most of what metering a call costs).
--- Without a manager it follows every PluginManager of this Lua state.
local function new_collector(level, manager, opts)
  if opts == nil and getmetatable(manager) ~= ManagerMeta and type(manager) == "table" then
    manager, opts = nil, manager
  end
  if manager ~= nil and getmetatable(manager) ~= ManagerMeta then
    error("PluginMetricsCollector: argument 'manager' must be a qtforge.core.PluginManager or nil, got "
      .. describe(manager), level + 1)
  end
  opts = check_options("PluginMetricsCollector", opts, { enabled = "boolean", timing = "boolean" }, level + 1)
  local state = { enabled = false, closed = false, timing = opts.timing ~= false }
  local self = setmetatable({ _manager = manager, _state = state }, Collector)
  -- the sentinel holds what detaching needs, not the collector, so that it can be collected
  self._sentinel = gc_sentinel(function()
    if state.enabled then
      state.enabled = false
      if manager ~= nil then
        pcall(set_metering, manager, false, state.timing)
      else
        pcall(set_metering_everywhere, false, state.timing)
      end
    end
  end)
  if opts.enabled ~= false then
    state.enabled = true
    attach(self, true)
  end
  return self
end

local function check_open(self, fname)
  if self._state.closed then
    error(fname .. ": the collector is closed", 3)
  end
end

--- enable(): counting starts (again); counts so far are kept.
function Methods:enable()
  check_collector("PluginMetricsCollector:enable", self)
  check_open(self, "PluginMetricsCollector:enable")
  local state = self._state
  if not state.enabled then
    state.enabled = true
    attach(self, true)
  end
end

--- disable(): counting stops, unless another collector still counts; the
--- calls paths are free again.
function Methods:disable()
  check_collector("PluginMetricsCollector:disable", self)
  local state = self._state
  if state.enabled then
    state.enabled = false
    attach(self, false)
  end
end

function Methods:is_enabled()
  check_collector("PluginMetricsCollector:is_enabled", self)
  return self._state.enabled
end

--- close(): disables the collector for good.
function Methods:close()
  check_collector("PluginMetricsCollector:close", self)
  Methods.disable(self)
  self._state.closed = true
end

local function managers_of(self)
  if self._manager ~= nil then
    return { self._manager }
  end
  return all_managers()
end

---------------------------------------------------------------------------
-- Reading the records
---------------------------------------------------------------------------

local function average(total, count)
  if count == 0 then
    return 0
  end
  return total / count
end

-- An error value as an Error: Errors stay as they are; anything else (a
-- string from error("..."), a table) becomes a call_error with its location.
local function as_error(value, plugin_id, export)
  if Error.is(value) then
    return value
  end
  local text = safe_tostring(value)
  local location, message = string_match(text, "^([^:\n]+:%d+): (.*)$")
  if location == nil then
    message = text
  end
  return Error("call_error", string_format("plugin %q failed in %s: %s", plugin_id, export, message), location)
end

-- the later of the record's last call error and the slot's last failure
local function last_error_of(slot, rec)
  local call = rec and rec.last_error
  if call ~= nil and (slot.last_error_at == nil or call.at >= slot.last_error_at) then
    return as_error(call.value, slot.id, call.export), call.at
  end
  return slot.last_error, slot.last_error_at
end

local function plugin_metrics(manager, slot)
  local inst = slot.instance
  local rec = manager._meter_records[slot.id]
  local exports = {}
  local m = {
    plugin_id = slot.id,
    state = inst.state,
    version = inst.version:to_string(),
    load_time = slot.load_time or 0,
    reloads = slot.reloads or 0,
    reload_failures = slot.reload_failures or 0,
    calls = 0,
    errors = 0,
    call_time = 0,
    avg_call_time = 0,
    exports = exports,
    updates = 0,
    update_errors = 0,
    update_time = 0,
    avg_update_time = 0,
    messages_sent = 0,
    messages_received = 0,
  }
  if rec ~= nil then
    m.calls, m.errors, m.call_time = rec.calls, rec.errors, rec.call_time
    m.avg_call_time = average(rec.call_time, rec.calls)
    m.updates, m.update_errors, m.update_time = rec.updates, rec.update_errors, rec.update_time
    m.avg_update_time = average(rec.update_time, rec.updates)
    m.messages_sent, m.messages_received = rec.sent, rec.received
    for name, export in pairs(rec.exports) do
      exports[name] = { calls = export.calls, errors = export.errors, time = export.time,
        avg_time = average(export.time, export.calls) }
    end
  end
  m.last_error = last_error_of(slot, rec)
  return m
end

local COUNTERS = { "calls", "errors", "call_time", "updates", "update_errors", "update_time", "messages_sent",
  "messages_received", "reloads", "reload_failures" }

-- The same plugin id in two managers (one per OpenResty worker, say): the
-- counters add up; the state and version are the first manager's.
local function merge(into, m)
  for _, key in ipairs(COUNTERS) do
    into[key] = into[key] + m[key]
  end
  into.avg_call_time = average(into.call_time, into.calls)
  into.avg_update_time = average(into.update_time, into.updates)
  for name, export in pairs(m.exports) do
    local mine = into.exports[name]
    if mine == nil then
      into.exports[name] = export
    else
      mine.calls, mine.errors, mine.time = mine.calls + export.calls, mine.errors + export.errors,
        mine.time + export.time
      mine.avg_time = average(mine.time, mine.calls)
    end
  end
  into.last_error = into.last_error or m.last_error
  into.managers = (into.managers or 1) + 1
end

local function collect(self)
  local plugins, order = {}, {}
  for _, manager in ipairs(managers_of(self)) do
    for _, slot in ipairs(manager._order) do
      if slot.instance ~= nil then
        local m = plugin_metrics(manager, slot)
        local seen = plugins[slot.id]
        if seen == nil then
          plugins[slot.id] = m
          order[#order + 1] = slot.id
        else
          merge(seen, m)
        end
      end
    end
  end
  return plugins, order
end

--- get_plugin_metrics(plugin_id): the plugin's figures, or nil when no such
--- plugin is loaded.
function Methods:get_plugin_metrics(id)
  check_collector("PluginMetricsCollector:get_plugin_metrics", self)
  check_plugin_id("PluginMetricsCollector:get_plugin_metrics", id, 2)
  local found
  for _, manager in ipairs(managers_of(self)) do
    local slot = manager._slots[id]
    if slot ~= nil and slot.instance ~= nil then
      local m = plugin_metrics(manager, slot)
      if found == nil then
        found = m
      else
        merge(found, m)
      end
    end
  end
  return found
end

--- get_all_metrics(): { plugins = { [id] = figures }, plugin_count, states =
--- { [state] = count }, updates, update_errors, enabled }.
function Methods:get_all_metrics()
  check_collector("PluginMetricsCollector:get_all_metrics", self)
  local plugins, order = collect(self)
  local states = {}
  for _, id in ipairs(order) do
    local state = plugins[id].state
    states[state] = (states[state] or 0) + 1
  end
  local updates, update_errors = 0, 0
  for _, manager in ipairs(managers_of(self)) do
    updates = updates + manager._updates
    update_errors = update_errors + manager._update_errors
  end
  return {
    plugins = plugins,
    plugin_count = #order,
    states = states,
    updates = updates,
    update_errors = update_errors,
    enabled = self._state.enabled,
  }
end

--- reset(): every count starts again from zero (load times stay).
function Methods:reset()
  check_collector("PluginMetricsCollector:reset", self)
  for _, manager in ipairs(managers_of(self)) do
    -- in place: a plugin's bus counts into its record through closures
    for _, rec in pairs(manager._meter_records) do
      rec.calls, rec.errors, rec.call_time, rec.exports = 0, 0, 0, {}
      rec.updates, rec.update_errors, rec.update_time = 0, 0, 0
      rec.sent, rec.received, rec.last_error = 0, 0, nil
    end
    for _, slot in pairs(manager._slots) do
      slot.reloads, slot.reload_failures = 0, 0
      slot.last_error, slot.last_error_at = nil, nil
    end
  end
end

---------------------------------------------------------------------------
-- Memory. Lua's heap (collectgarbage) and the Rust side's (a counting
-- allocator) are measured; a plugin's share is an estimate: the objects
-- reachable from its table, its environment and its modules, through tables,
-- metatables and the upvalues of its own functions, each sized by the
-- interpreter's layout on a 64-bit machine. Functions qtforge made (its
-- facades, views and class methods), C functions, userdata contents and
-- the host's globals are not entered; an object two plugins reach counts
-- for the one loaded first.
---------------------------------------------------------------------------

local SIZES = jit and {
  table = 64, array_slot = 8, node = 24, string = 24, closure = 40, upvalue_ref = 8, upvalue = 48,
  userdata = 40, thread = 1024, c_function = 40,
} or {
  table = 56, array_slot = 16, node = 24, string = 24, closure = 32, upvalue_ref = 8, upvalue = 40,
  userdata = 40, thread = 1024, c_function = 32,
}

local function power_of_two(n)
  local size = 1
  while size < n do
    size = size * 2
  end
  return size
end

local function table_bytes(t)
  local array = rawlen(t)
  local hashed = 0
  local key = next(t)
  while key ~= nil do
    if type(key) ~= "number" or key < 1 or key > array or key % 1 ~= 0 then
      hashed = hashed + 1
    end
    key = next(t, key)
  end
  local bytes = SIZES.table
  if array > 0 then
    bytes = bytes + power_of_two(array) * SIZES.array_slot
  end
  if hashed > 0 then
    bytes = bytes + power_of_two(hashed) * SIZES.node
  end
  return bytes
end

local function qtforge_made(fn)
  local info = debug_getinfo and debug_getinfo(fn, "S")
  if info == nil then
    return false, false
  end
  return info.what == "C", string_sub(info.source or "", 1, 9) == "=qtforge/"
end

-- Sums the estimated bytes of what `roots` reach and `seen` does not hold;
-- marks what it counts in `seen`.
local function reachable_bytes(roots, seen)
  local bytes = 0
  local stack = {}
  for i = 1, #roots do
    stack[i] = roots[i]
  end
  while #stack > 0 do
    local value = stack[#stack]
    stack[#stack] = nil
    local kind = type(value)
    if (kind == "table" or kind == "function" or kind == "string" or kind == "userdata" or kind == "thread")
      and not seen[value] then
      seen[value] = true
      if kind == "string" then
        bytes = bytes + SIZES.string + #value + 1
      elseif kind == "table" then
        bytes = bytes + table_bytes(value)
        for key, item in next, value do
          stack[#stack + 1] = key
          stack[#stack + 1] = item
        end
        local mt = debug_getmetatable(value)
        -- a class of qtforge's (its instances' metatables are named) is the host's
        if type(mt) == "table" and not (type(mt.__name) == "string" and string_sub(mt.__name, 1, 8) == "qtforge.") then
          stack[#stack + 1] = mt
        end
      elseif kind == "function" then
        local is_c, is_ours = qtforge_made(value)
        if is_c then
          bytes = bytes + SIZES.c_function
        elseif not is_ours then
          local ok, dumped = pcall(string_dump, value, true)
          bytes = bytes + SIZES.closure + (ok and #dumped or 0)
          if debug_getupvalue ~= nil then
            local i = 1
            while true do
              local name, item = debug_getupvalue(value, i)
              if name == nil then
                break
              end
              bytes = bytes + SIZES.upvalue_ref
              local id = debug_upvalueid and debug_upvalueid(value, i)
              if id == nil or not seen[id] then
                if id ~= nil then
                  seen[id] = true
                end
                bytes = bytes + SIZES.upvalue
              end
              -- a function's globals: the plugin's environment is a root of
              -- its own; any other is the host's
              if name ~= "_ENV" then
                stack[#stack + 1] = item
              end
              i = i + 1
            end
          end
        end
      elseif kind == "userdata" then
        bytes = bytes + SIZES.userdata
      else
        bytes = bytes + SIZES.thread
      end
    end
  end
  return bytes
end

-- What no plugin owns: the host's globals, the loaded modules, and each
-- plugin's context (the manager's objects).
local function shared_objects(managers)
  local seen = {}
  seen[_G] = true
  local loaded = package and package.loaded
  if type(loaded) == "table" then
    seen[loaded] = true
    for _, module in pairs(loaded) do
      seen[module] = true
    end
  end
  for _, manager in ipairs(managers) do
    seen[manager] = true
    for _, slot in ipairs(manager._order) do
      local inst = slot.instance
      if inst ~= nil then
        for _, ctx in ipairs({ inst.ctx, inst.view }) do
          seen[ctx] = true
          for _, value in pairs(ctx) do
            seen[value] = true
          end
        end
      end
    end
  end
  return seen
end

-- bytes by plugin id, for the managers given
local function plugin_bytes(managers)
  local seen = shared_objects(managers)
  local by_plugin = {}
  for _, manager in ipairs(managers) do
    for _, slot in ipairs(manager._order) do
      local inst = slot.instance
      if inst ~= nil then
        local roots = { inst.plugin, inst.exports, inst.modules }
        if inst.env ~= nil and inst.env ~= _G then
          roots[#roots + 1] = inst.env
        end
        by_plugin[slot.id] = (by_plugin[slot.id] or 0) + reachable_bytes(roots, seen)
      end
    end
  end
  return by_plugin
end

--- get_memory_usage(): { total, plugins, by_plugin = { [id] = MB }, lua, rust }
--- in MB: total is Lua's heap plus the Rust side's; plugins and by_plugin
--- are the estimate described above (plugins is their sum).
function Methods:get_memory_usage()
  check_collector("PluginMetricsCollector:get_memory_usage", self)
  local by_plugin_bytes = plugin_bytes(managers_of(self))
  local by_plugin, plugins = {}, 0
  for id, bytes in pairs(by_plugin_bytes) do
    by_plugin[id] = bytes / MB
    plugins = plugins + bytes
  end
  local lua = collectgarbage("count") * 1024
  local rust = rust_heap_bytes()
  return {
    total = (lua + rust) / MB,
    plugins = plugins / MB,
    by_plugin = by_plugin,
    lua = lua / MB,
    rust = rust / MB,
  }
end

---------------------------------------------------------------------------
-- Prometheus
---------------------------------------------------------------------------

-- [name, help, type, field of the figures]: one series per plugin
local PLUGIN_FAMILIES = {
  { "plugin_load_seconds", "Time the plugin's last load took.", "gauge", "load_time" },
  { "plugin_calls_total", "Calls made through the manager, plugin:call and the method sugar.", "counter", "calls" },
  { "plugin_call_errors_total", "Calls that raised an error.", "counter", "errors" },
  { "plugin_call_seconds_total", "Time spent in calls.", "counter", "call_time" },
  { "plugin_updates_total", "update() ticks.", "counter", "updates" },
  { "plugin_update_errors_total", "update() ticks that raised an error.", "counter", "update_errors" },
  { "plugin_update_seconds_total", "Time spent in update().", "counter", "update_time" },
  { "plugin_messages_sent_total", "Bus messages the plugin published or posted.", "counter", "messages_sent" },
  { "plugin_messages_received_total", "Bus messages the plugin's handlers received.", "counter",
    "messages_received" },
  { "plugin_reloads_total", "Reloads that took.", "counter", "reloads" },
  { "plugin_reload_failures_total", "Reloads refused; the old version kept running.", "counter",
    "reload_failures" },
}

local EXPORT_FAMILIES = {
  { "plugin_export_calls_total", "Calls of one export.", "counter", "calls" },
  { "plugin_export_call_errors_total", "Calls of one export that raised an error.", "counter", "errors" },
  { "plugin_export_call_seconds_total", "Time spent in one export.", "counter", "time" },
}

local function family(spec)
  return { name = spec[1], help = spec[2], type = spec[3], samples = {} }
end

local function sorted_keys(t)
  local keys = {}
  for key in pairs(t) do
    keys[#keys + 1] = key
  end
  table_sort(keys)
  return keys
end

--- to_prometheus(): the metrics in the Prometheus text exposition format
--- (version 0.0.4), every name prefixed qtforge_.
function Methods:to_prometheus()
  check_collector("PluginMetricsCollector:to_prometheus", self)
  local all = Methods.get_all_metrics(self)
  local ids = sorted_keys(all.plugins)
  local info = { name = "plugin_info", help = "A loaded plugin: its version and state.", type = "gauge",
    samples = {} }
  local families = { info }
  for _, spec in ipairs(PLUGIN_FAMILIES) do
    families[#families + 1] = family(spec)
  end
  local export_families = {}
  for i, spec in ipairs(EXPORT_FAMILIES) do
    export_families[i] = family(spec)
    families[#families + 1] = export_families[i]
  end
  local memory = { name = "plugin_memory_bytes", help = "Estimated bytes of Lua objects the plugin owns.",
    type = "gauge", samples = {} }
  families[#families + 1] = memory
  local by_plugin = plugin_bytes(managers_of(self))
  for _, id in ipairs(ids) do
    local m = all.plugins[id]
    local labels = { { "plugin", id } }
    info.samples[#info.samples + 1] = { labels = { { "plugin", id }, { "version", m.version },
      { "state", m.state } }, value = 1 }
    for i, spec in ipairs(PLUGIN_FAMILIES) do
      local samples = families[i + 1].samples
      samples[#samples + 1] = { labels = labels, value = m[spec[4]] }
    end
    for _, name in ipairs(sorted_keys(m.exports)) do
      local export = m.exports[name]
      for i, spec in ipairs(EXPORT_FAMILIES) do
        local samples = export_families[i].samples
        samples[#samples + 1] = { labels = { { "plugin", id }, { "export", name } }, value = export[spec[4]] }
      end
    end
    memory.samples[#memory.samples + 1] = { labels = labels, value = by_plugin[id] or 0 }
  end
  local states = { name = "plugins", help = "Loaded plugins by state.", type = "gauge", samples = {} }
  for _, state in ipairs(sorted_keys(all.states)) do
    states.samples[#states.samples + 1] = { labels = { { "state", state } }, value = all.states[state] }
  end
  families[#families + 1] = states
  families[#families + 1] = { name = "updates_total", help = "update_all_plugins ticks.", type = "counter",
    samples = { { value = all.updates } } }
  families[#families + 1] = { name = "memory_bytes", help = "Heap in use, by side.", type = "gauge",
    samples = { { labels = { { "area", "lua" } }, value = collectgarbage("count") * 1024 },
      { labels = { { "area", "rust" } }, value = rust_heap_bytes() } } }
  local text, err = render_prometheus("qtforge_", families)
  if text == nil then
    -- the names are ours, so this is a fault here, not the caller's
    error("PluginMetricsCollector:to_prometheus: " .. tostring(err and err.message or err), 2)
  end
  return text
end

Collector.__tostring = function(self)
  return string_format("qtforge.monitoring.PluginMetricsCollector(%s)",
    self._state.enabled and "enabled" or "disabled")
end

return {
  PluginMetricsCollector = class("qtforge.monitoring.PluginMetricsCollector", new_collector),
  _PluginMetricsCollector = Methods,
}
