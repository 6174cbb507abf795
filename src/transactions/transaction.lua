-- qtforge.transactions.PluginTransactionManager: a group of plugin and
-- configuration operations that all happen or none does.
--
-- While a transaction is open, each manager it covers journals what its
-- operations did and how to undo each (core/manager.lua builds the undo
-- closures: an unloaded or reloaded instance is kept, not revoked, so that a
-- rollback brings it back as it was); each configuration is snapshotted
-- before its first change; events and bus messages are held. Commit checks
-- the invariant, writes deferred saves, then lets the held events and
-- messages out; rollback runs the undos newest first and drops them.
local native = ...

local error, getmetatable, ipairs, pairs, pcall, setmetatable, type = error, getmetatable, ipairs, pairs, pcall,
  setmetatable, type
local string_format, string_match = string.format, string.match
local table_concat = table.concat

local support = native.support
local describe, method_check, check_options, class = support.describe, support.method_check,
  support.check_options, support.class
local safe_tostring = support.safe_tostring
local Error = native.Error
local monotonic = native.monotonic
local core = native.core
local ManagerMeta, all_managers, add_poller = core._Manager, core.managers, core.add_poller
local set_transaction, deliver, settle_revocations, violations = core.set_transaction, core.deliver,
  core.settle_revocations, core.violations
local bus_classes = native.communication
local hold, release_held, held_count, drop_held = bus_classes.hold, bus_classes.release_held,
  bus_classes.held_count, bus_classes.drop_held
local config_classes = native.managers.config
local config_snapshot, config_restore, set_config_hooks = config_classes.snapshot, config_classes.restore,
  config_classes.set_transaction_hooks

local DEFAULT_TIMEOUT = 30

local TransactionManager = { __name = "qtforge.transactions.PluginTransactionManager" }
local ManagerMethods = {}
TransactionManager.__index = ManagerMethods
local check_tm = method_check(TransactionManager, "a PluginTransactionManager")

local Transaction = { __name = "qtforge.transactions.Transaction" }
local TransactionMethods = {}
Transaction.__index = TransactionMethods
local check_tx = method_check(Transaction, "a Transaction")

local last_id = 0

local function failure(err, extra)
  local result = { success = false, error = err }
  for key, value in pairs(extra or {}) do
    result[key] = value
  end
  return result
end

local function check_timeout(fname, value, level)
  if value ~= nil and (type(value) ~= "number" or value ~= value or value <= 0) then
    error(string_format("%s: option 'timeout' must be a positive number of seconds, got %s", fname,
      describe(value)), level + 1)
  end
end

--- PluginTransactionManager([manager], [opts]): opts.timeout (seconds a
--- transaction may stay open, default 30; math.huge for none). Without a
--- manager, its transactions cover every PluginManager of this Lua state.
local function new_transaction_manager(level, manager, opts)
  if opts == nil and type(manager) == "table" and getmetatable(manager) ~= ManagerMeta then
    manager, opts = nil, manager
  end
  if manager ~= nil and getmetatable(manager) ~= ManagerMeta then
    error("PluginTransactionManager: argument 'manager' must be a qtforge.core.PluginManager or nil, got "
      .. describe(manager), level + 1)
  end
  opts = check_options("PluginTransactionManager", opts, { timeout = "number" }, level + 1)
  check_timeout("PluginTransactionManager", opts.timeout, level + 1)
  return setmetatable({ _manager = manager, _timeout = opts.timeout or DEFAULT_TIMEOUT, _stack = {} },
    TransactionManager)
end

---------------------------------------------------------------------------
-- The journal of an outermost transaction
---------------------------------------------------------------------------

-- What a savepoint remembers: where the journal, the held events and each
-- bus's held messages stood.
local function mark(root)
  local held = {}
  for _, bus in ipairs(root.buses) do
    held[bus] = held_count(bus)
  end
  -- the next configuration change after this point snapshots again
  root.snapped = {}
  return { entries = #root.entries, events = #root.events, held = held, saves = #root.deferred_saves }
end

-- Runs the undos of the entries after `to`, newest first, each protected;
-- every one runs whatever the others do. The failures, each with its detail.
local function undo_to(root, to)
  local failures = {}
  root.undoing = true
  local entries = root.entries
  for i = #entries, to + 1, -1 do
    local entry = entries[i]
    entries[i] = nil
    local ok, done, err = pcall(entry.undo)
    if not ok or not done then
      local problem = ok and err or done
      failures[#failures + 1] = {
        operation = entry.name,
        plugin_id = entry.plugin_id,
        error = Error.is(problem) and problem
          or Error("undo_failed", string_format("undoing %s%s failed: %s", entry.name,
            entry.plugin_id and (" of " .. entry.plugin_id) or "", safe_tostring(problem))),
      }
    end
  end
  root.undoing = false
  return failures
end

local function rollback_result(failures, extra)
  if #failures == 0 then
    local result = { success = true }
    for key, value in pairs(extra or {}) do
      result[key] = value
    end
    return result
  end
  local lines = {}
  for i, f in ipairs(failures) do
    lines[i] = string_format("%s%s: %s", f.operation, f.plugin_id and (" " .. f.plugin_id) or "",
      safe_tostring(f.error))
  end
  local err = Error("rollback_incomplete", string_format("%d of the undos failed; the others ran", #failures),
    table_concat(lines, "; "))
  extra = extra or {}
  extra.failures = failures
  return failure(err, extra)
end

-- The transaction lets go of its managers, buses and configurations.
local function detach(root, deliver_held)
  for _, manager in ipairs(root.managers) do
    set_transaction(manager, nil)
  end
  for _, remove in ipairs(root.pollers) do
    remove()
  end
  for _, config in ipairs(root.configs) do
    set_config_hooks(config, nil, nil)
  end
  for _, bus in ipairs(root.buses) do
    release_held(bus, deliver_held)
  end
  root.tm._stack = {}
end

local function finish_rollback(root, reason)
  local failures = undo_to(root, 0)
  root.events = {}
  detach(root, false)
  settle_revocations(root.revocations)
  root.state = "rolled_back"
  return rollback_result(failures, reason and { reason = reason } or nil)
end

local function timed_out(root)
  local err = Error("timeout", string_format("transaction %d was open longer than its %gs timeout", root.id,
    root.timeout), "rolled back on the next update")
  local result = finish_rollback(root, err)
  for _, manager in ipairs(root.managers) do
    deliver({ manager, "transaction_timeout", nil, err, { transaction = root.id, rollback = result } })
  end
end

local function distinct(list, value)
  for _, existing in ipairs(list) do
    if existing == value then
      return
    end
  end
  list[#list + 1] = value
end

local function open_root(tm, fname, opts, level)
  local managers = tm._manager and { tm._manager } or all_managers()
  for _, manager in ipairs(managers) do
    if manager._tx ~= nil then
      error(fname .. ": a transaction of another PluginTransactionManager is open on this manager", level + 1)
    end
  end
  last_id = last_id + 1
  local root
  root = {
    id = last_id,
    name = opts.name,
    tm = tm,
    state = "active",
    managers = managers,
    buses = {},
    configs = {},
    pollers = {},
    entries = {},
    events = {},
    revocations = {},
    deferred_saves = {},
    snapped = {},
    undoing = false,
    timeout = opts.timeout or tm._timeout,
  }
  root.deadline = monotonic() + root.timeout
  -- the manager's side of the journal (core/manager.lua calls it)
  root.record = function(manager, name, id, undo)
    root.entries[#root.entries + 1] = { manager = manager, name = name, plugin_id = id, undo = undo }
  end
  -- what was broken before it began is not the transaction's to refuse
  root.broken_before = {}
  for _, manager in ipairs(managers) do
    distinct(root.buses, manager._bus)
    distinct(root.configs, manager._config)
    for _, err in ipairs(violations(manager)) do
      root.broken_before[safe_tostring(err)] = true
    end
  end
  for _, config in ipairs(root.configs) do
    set_config_hooks(config, function()
      -- before the first change since the transaction (or its last savepoint) began
      if root.undoing or root.snapped[config] then
        return
      end
      root.snapped[config] = true
      local snapshot = config_snapshot(config)
      root.record(nil, "configuration", nil, function()
        config_restore(config, snapshot)
        return true
      end)
    end, function(cfg, path)
      root.deferred_saves[#root.deferred_saves + 1] = { config = cfg, path = path }
    end)
  end
  for _, bus in ipairs(root.buses) do
    hold(bus)
  end
  for _, manager in ipairs(managers) do
    set_transaction(manager, root)
    root.pollers[#root.pollers + 1] = add_poller(manager, function()
      if root.state == "active" and monotonic() > root.deadline then
        timed_out(root)
      end
    end)
  end
  return root
end

local function new_transaction(root, parent, savepoint)
  return setmetatable({ id = parent and (root.id .. "." .. (#root.tm._stack + 1)) or root.id, name = root.name,
    _root = root, _parent = parent, _savepoint = savepoint, _state = "active", _savepoints = {} }, Transaction)
end

---------------------------------------------------------------------------
-- Transactions
---------------------------------------------------------------------------

local function check_active(tx, fname, level)
  if tx._state ~= "active" then
    error(string_format("%s: transaction %s is %s", fname, tx.id, tx._state), level + 1)
  end
  if tx._root.state ~= "active" then
    tx._state = tx._root.state
    error(string_format("%s: transaction %s is %s", fname, tx.id, tx._state), level + 1)
  end
end

-- Nested transactions above `tx` (begun after it, still open) end with it.
local function pop_to(tx)
  local stack = tx._root.tm._stack
  for i = #stack, 1, -1 do
    local top = stack[i]
    stack[i] = nil
    if top == tx then
      return
    end
    top._state = tx._state
  end
end

-- What a file holds now (nil when there is none), to put back.
local function read_file(path)
  local file = io.open(path, "rb")
  if file == nil then
    return nil
  end
  local text = file:read("*a")
  file:close()
  return text
end

-- The saves made inside a transaction, each written atomically; if one
-- fails, the files written before it get their old contents back, so that a
-- commit writes all of them or none. true, or nil and the failing save's Error.
local function write_saves(saves)
  local written = {}
  for _, save in ipairs(saves) do
    local before = read_file(save.path)
    local saved = save.config:save_to_file(save.path)
    if not saved.success then
      for i = #written, 1, -1 do
        local done = written[i]
        if done.before == nil then
          os.remove(done.path)
        else
          local file = io.open(done.path, "wb")
          if file ~= nil then
            file:write(done.before)
            file:close()
          end
        end
      end
      return nil, saved.error
    end
    written[#written + 1] = { path = save.path, before = before }
  end
  return true
end

local function commit_root(tx)
  local root = tx._root
  local broken = {}
  for _, manager in ipairs(root.managers) do
    for _, err in ipairs(violations(manager)) do
      if not root.broken_before[safe_tostring(err)] then
        broken[#broken + 1] = err
      end
    end
  end
  if #broken > 0 then
    local texts = {}
    for i, err in ipairs(broken) do
      texts[i] = safe_tostring(err)
    end
    local err = Error("invariant_violated", string_format("the transaction would leave %d running plugin(s) "
      .. "without their dependencies; it was rolled back", #broken), table_concat(texts, "; "))
    local rolled = finish_rollback(root)
    tx._state = "rolled_back"
    pop_to(tx)
    return failure(err, { violations = broken, rollback = rolled })
  end
  -- durability: what was saved inside is written now, before anyone hears of it
  local saves = root.deferred_saves
  root.deferred_saves = {}
  for _, config in ipairs(root.configs) do
    set_config_hooks(config, nil, nil)
  end
  local saved, save_error = write_saves(saves)
  if not saved then
    local rolled = finish_rollback(root)
    tx._state = "rolled_back"
    pop_to(tx)
    return failure(save_error, { rollback = rolled })
  end
  local events = root.events
  detach(root, true)
  settle_revocations(root.revocations)
  root.state = "committed"
  tx._state = "committed"
  pop_to(tx)
  for _, held in ipairs(events) do
    deliver(held)
  end
  return { success = true, operations = #root.entries }
end

local function rollback_to_mark(root, at)
  local failures = undo_to(root, at.entries)
  for i = #root.events, at.events + 1, -1 do
    root.events[i] = nil
  end
  for bus, count in pairs(at.held) do
    drop_held(bus, count)
  end
  for i = #root.deferred_saves, at.saves + 1, -1 do
    root.deferred_saves[i] = nil
  end
  root.snapped = {}
  return failures
end

--- commit(): an outermost transaction checks the invariant (every running
--- plugin's dependencies loaded, not failed, in range), writes the saves made
--- inside it, and lets out the events and messages it held; a nested one
--- keeps its changes in the enclosing transaction. A result.
function TransactionMethods:commit()
  check_tx("Transaction:commit", self)
  check_active(self, "Transaction:commit", 2)
  if self._parent ~= nil then
    self._state = "committed"
    pop_to(self)
    return { success = true }
  end
  return commit_root(self)
end

--- rollback(): undoes what was done since the transaction (or, for a nested
--- one, its savepoint) began, newest first. A result; a failing undo is
--- reported (failures, each with operation, plugin_id and error) and the
--- others still run.
function TransactionMethods:rollback()
  check_tx("Transaction:rollback", self)
  check_active(self, "Transaction:rollback", 2)
  local root = self._root
  if self._parent ~= nil then
    local failures = rollback_to_mark(root, self._savepoint)
    self._state = "rolled_back"
    pop_to(self)
    return rollback_result(failures)
  end
  local result = finish_rollback(root)
  self._state = "rolled_back"
  pop_to(self)
  return result
end

function TransactionMethods:state()
  check_tx("Transaction:state", self)
  if self._state == "active" and self._root.state ~= "active" then
    self._state = self._root.state
  end
  return self._state
end

local function check_name(fname, name, level)
  if type(name) ~= "string" or name == "" then
    error(fname .. ": argument 'name' must be a non-empty string, got " .. describe(name), level + 1)
  end
end

--- savepoint(name): a point rollback_to(name) returns to; a name used again
--- moves it here.
function TransactionMethods:savepoint(name)
  check_tx("Transaction:savepoint", self)
  check_name("Transaction:savepoint", name, 2)
  check_active(self, "Transaction:savepoint", 2)
  self._savepoints[name] = mark(self._root)
  return true
end

--- rollback_to(name): undoes what was done since the savepoint; the
--- transaction stays open, and so does the savepoint. A result.
function TransactionMethods:rollback_to(name)
  check_tx("Transaction:rollback_to", self)
  check_name("Transaction:rollback_to", name, 2)
  check_active(self, "Transaction:rollback_to", 2)
  local at = self._savepoints[name]
  if at == nil then
    error(string_format("Transaction:rollback_to: no savepoint %q in transaction %s", name, self.id), 2)
  end
  -- savepoints set after it go with what they marked
  for other, point in pairs(self._savepoints) do
    if point.entries > at.entries then
      self._savepoints[other] = nil
    end
  end
  return rollback_result(rollback_to_mark(self._root, at))
end

local OPERATION_FIELDS = { name = "string", apply = "function", undo = "function" }

--- add_operation{ name, apply, undo }: runs apply() now and journals undo,
--- which a rollback calls (undo returns true, or nil and an error). apply's
--- error is raised, and nothing is journaled. Returns apply's results.
function TransactionMethods:add_operation(operation)
  check_tx("Transaction:add_operation", self)
  if type(operation) ~= "table" then
    error("Transaction:add_operation: argument 'operation' must be a table { name, apply, undo }, got "
      .. describe(operation), 2)
  end
  for field, kind in pairs(OPERATION_FIELDS) do
    if type(operation[field]) ~= kind then
      error(string_format("Transaction:add_operation: field '%s' must be a %s, got %s", field, kind,
        describe(operation[field])), 2)
    end
  end
  check_active(self, "Transaction:add_operation", 2)
  local root = self._root
  local undo = operation.undo
  local function finish(ok, ...)
    if not ok then
      error((...), 0)
    end
    root.record(nil, operation.name, nil, function()
      local result, err = undo()
      if result == nil and err == nil then
        -- an undo that says nothing has done its work
        return true
      end
      return result, err
    end)
    return ...
  end
  return finish(pcall(operation.apply))
end

--- operations(): what the transaction has journaled, oldest first:
--- { name, plugin_id } each (configuration changes as "configuration").
function TransactionMethods:operations()
  check_tx("Transaction:operations", self)
  local list = {}
  for i, entry in ipairs(self._root.entries) do
    list[i] = { name = entry.name, plugin_id = entry.plugin_id }
  end
  return list
end

Transaction.__tostring = function(self)
  return string_format("qtforge.transactions.Transaction(%s, %s)", self.id, self._state)
end

---------------------------------------------------------------------------
-- The manager's methods: the seed's begin_transaction / commit / rollback
-- work on the innermost open transaction.
---------------------------------------------------------------------------

--- begin_transaction(opts): a new transaction, or, inside an open one, a
--- nested one (a savepoint of it). opts.timeout, opts.name.
local BEGIN_OPTIONS = { timeout = "number", name = "string" }

local function begin(self, fname, opts, level)
  opts = check_options(fname, opts, BEGIN_OPTIONS, level + 1)
  check_timeout(fname, opts.timeout, level + 1)
  local stack = self._stack
  local top = stack[#stack]
  local tx
  if top ~= nil and top._root.state == "active" then
    tx = new_transaction(top._root, top, mark(top._root))
  else
    self._stack = {}
    stack = self._stack
    tx = new_transaction(open_root(self, fname, opts, level + 1), nil, nil)
  end
  stack[#stack + 1] = tx
  return tx
end

function ManagerMethods:begin_transaction(opts)
  check_tm("PluginTransactionManager:begin_transaction", self)
  local tx = begin(self, "PluginTransactionManager:begin_transaction", opts, 2)
  return tx
end

local function innermost(self, fname)
  local top = self._stack[#self._stack]
  if top == nil or top._root.state ~= "active" then
    error(fname .. ": no transaction is open", 3)
  end
  return top
end

--- commit(): commits the innermost open transaction. A result.
function ManagerMethods:commit()
  check_tm("PluginTransactionManager:commit", self)
  local tx = innermost(self, "PluginTransactionManager:commit")
  return TransactionMethods.commit(tx)
end

--- rollback(): rolls back the innermost open transaction. A result.
function ManagerMethods:rollback()
  check_tm("PluginTransactionManager:rollback", self)
  local tx = innermost(self, "PluginTransactionManager:rollback")
  return TransactionMethods.rollback(tx)
end

--- current(): the innermost open transaction, or nil.
function ManagerMethods:current()
  check_tm("PluginTransactionManager:current", self)
  local top = self._stack[#self._stack]
  if top ~= nil and top._root.state == "active" then
    return top
  end
  return nil
end

--- run(fn, opts): fn(tx) in a transaction that commits when fn returns and
--- rolls back when it raises. fn's results, or an error result: the
--- transaction_failed Error (fn's message, its location in details), with
--- the rollback's result; or the failed commit's result.
function ManagerMethods:run(fn, opts)
  check_tm("PluginTransactionManager:run", self)
  if type(fn) ~= "function" then
    error("PluginTransactionManager:run: argument 'fn' must be a function, got " .. describe(fn), 2)
  end
  local tx = begin(self, "PluginTransactionManager:run", opts, 2)
  local function finish(ok, ...)
    if not ok then
      local problem = ...
      local rolled = { success = true }
      if TransactionMethods.state(tx) == "active" then
        rolled = TransactionMethods.rollback(tx)
      end
      if Error.is(problem) then
        return failure(problem, { rollback = rolled })
      end
      local text = safe_tostring(problem)
      local location, message = string_match(text, "^([^:\n]+:%d+): (.*)$")
      return failure(Error("transaction_failed", "the transaction was rolled back: " .. (message or text),
        location), { rollback = rolled })
    end
    if TransactionMethods.state(tx) == "active" then
      local committed = TransactionMethods.commit(tx)
      if not committed.success then
        return committed
      end
    end
    return ...
  end
  return finish(pcall(fn, tx))
end

TransactionManager.__tostring = function(self)
  return string_format("qtforge.transactions.PluginTransactionManager(%d open)", #self._stack)
end

return {
  PluginTransactionManager = class("qtforge.transactions.PluginTransactionManager", new_transaction_manager),
  _PluginTransactionManager = ManagerMethods,
  _Transaction = TransactionMethods,
}
