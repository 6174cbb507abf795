-- A full picture of what a PluginManager holds, to compare before a
-- transaction and after its rollback: the load order; each plugin's version,
-- state, configuration, instance and (when it exports `count`) the counter it
-- keeps in its Lua state; the manager's configuration; the bus's
-- subscriptions; how many plugins tick.
local snapshot = {}

local function deep_copy(value)
  if type(value) ~= "table" then
    return value
  end
  local copy = {}
  for k, v in pairs(value) do
    copy[deep_copy(k)] = deep_copy(v)
  end
  return copy
end
snapshot.deep_copy = deep_copy

--- The bus's subscriptions as sorted "owner|pattern|priority" strings (the
--- bus keeps its records in `_subs`: read here as test introspection).
function snapshot.subscriptions(bus)
  local list = {}
  for _, record in pairs(bus._subs) do
    list[#list + 1] = string.format("%s|%s|%s", tostring(record.owner_id), tostring(record.pattern),
      tostring(record.priority))
  end
  table.sort(list)
  return list
end

--- The picture of `manager`. A plugin's `instance` is the identity of its
--- exports table: the same instance brought back keeps it.
function snapshot.take(manager)
  local order = manager:load_order()
  local exports = manager:register_all_plugins({})
  local plugins = {}
  for _, id in ipairs(order) do
    local handle = manager:get_plugin(id)
    local entry = {
      version = handle:version():to_string(),
      state = handle:state(),
      config = deep_copy(handle:config()),
      instance = tostring(exports[id]),
    }
    local count = exports[id] and exports[id].count
    if type(count) == "function" then
      entry.count = count()
    end
    plugins[id] = entry
  end
  return {
    order = order,
    plugins = plugins,
    config = deep_copy(manager:config():to_table()),
    subscriptions = snapshot.subscriptions(manager:bus()),
    ticking = manager:stats().ticking,
  }
end

return snapshot
