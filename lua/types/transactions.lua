---@meta qtforge.transactions

---@class qtforge.transactions
---@field PluginTransactionManager qtforge.PluginTransactionManagerClass
local transactions = {}

---@class qtforge.TransactionManagerOptions
---@field timeout? number seconds a transaction may stay open (default 30); math.huge for none

---@class qtforge.TransactionOptions
---@field timeout? number seconds this transaction may stay open
---@field name? string

---@class qtforge.TransactionResult
---@field success boolean
---@field error? qtforge.Error `invariant_violated`, `rollback_incomplete`, `transaction_failed`, or a save's error
---@field operations? integer journaled operations, after a commit
---@field failures? { operation: string, plugin_id: string?, error: qtforge.Error }[] undos that failed
---@field violations? qtforge.Error[] what broke the invariant at commit
---@field rollback? qtforge.TransactionResult the rollback a failed commit or run made
---@field reason? qtforge.Error why the transaction was rolled back (a timeout)

---@class qtforge.PluginTransactionManagerClass
---@overload fun(manager?: qtforge.PluginManager, opts?: qtforge.TransactionManagerOptions): qtforge.PluginTransactionManager
---@overload fun(opts: qtforge.TransactionManagerOptions): qtforge.PluginTransactionManager
local PluginTransactionManagerClass = {}

---@param manager? qtforge.PluginManager without one, every manager of this Lua state
---@param opts? qtforge.TransactionManagerOptions
---@return qtforge.PluginTransactionManager
function PluginTransactionManagerClass.new(manager, opts) end

---Groups plugin and configuration operations that all happen or none does.
---@class qtforge.PluginTransactionManager
local PluginTransactionManager = {}

---A new transaction, or inside an open one a nested one (a savepoint of it).
---@param opts? qtforge.TransactionOptions
---@return qtforge.Transaction
function PluginTransactionManager:begin_transaction(opts) end

---Commits the innermost open transaction.
---@return qtforge.TransactionResult
function PluginTransactionManager:commit() end

---Rolls back the innermost open transaction.
---@return qtforge.TransactionResult
function PluginTransactionManager:rollback() end

---`fn(tx)` in a transaction: committed when it returns, rolled back when it raises.
---@param fn fun(tx: qtforge.Transaction): ...
---@param opts? qtforge.TransactionOptions
---@return any ... fn's results, or an error result
function PluginTransactionManager:run(fn, opts) end

---The innermost open transaction, or nil.
---@return qtforge.Transaction?
function PluginTransactionManager:current() end

---@class qtforge.TransactionOperation
---@field name string
---@field apply fun(): ... runs now
---@field undo fun(): (true|nil, qtforge.Error?) runs on rollback

---@class qtforge.Transaction
---@field id integer|string
---@field name? string
local Transaction = {}

---@return "active"|"committed"|"rolled_back"
function Transaction:state() end

---@return qtforge.TransactionResult
function Transaction:commit() end

---@return qtforge.TransactionResult
function Transaction:rollback() end

---A point `rollback_to(name)` returns to.
---@param name string
---@return true
function Transaction:savepoint(name) end

---Undoes what was done since the savepoint; the transaction stays open.
---@param name string
---@return qtforge.TransactionResult
function Transaction:rollback_to(name) end

---Runs `apply()` now and journals `undo`.
---@param operation qtforge.TransactionOperation
---@return any ... apply's results
function Transaction:add_operation(operation) end

---What has been journaled, oldest first.
---@return { name: string, plugin_id: string? }[]
function Transaction:operations() end

return transactions
