---@meta qtforge
-- LuaLS definitions for `require('qtforge')`. Kept in step with the code: every
-- public function has an entry here, and docs/ describes it with an example.

---The error a failed result carries: `{ success = false, error = qtforge.Error }`.
---`tostring(err)` and `"text" .. err` give one readable line: `code: message (details)`.
---@class qtforge.Error
---@field code string stable identifier programs branch on, such as `"not_found"`
---@field message string what went wrong, in one sentence
---@field details string more about it (file and line, the value at fault); `""` when none
---@operator concat(string): string
local Error = {}

---The error as a plain table without a metatable, for logging or serialising.
---@return { code: string, message: string, details: string }
function Error:to_table() end

---@class qtforge.ErrorClass
---@overload fun(code: string, message: string, details?: string): qtforge.Error
---@overload fun(fields: { code: string, message: string, details?: string }): qtforge.Error
local ErrorClass = {}

---Builds an error. `code` is an identifier (`[A-Za-z][A-Za-z0-9_]*`).
---@param code string
---@param message string
---@param details? string
---@return qtforge.Error
function ErrorClass.new(code, message, details) end

---Whether `value` is a `qtforge.Error`.
---@param value any
---@return boolean
function ErrorClass.is(value) end

---The error as a plain table without a metatable.
---@param err qtforge.Error
---@return { code: string, message: string, details: string }
function ErrorClass.to_table(err) end

---A result of an operation that can fail for reasons outside the caller's control.
---@class qtforge.Result
---@field success boolean
---@field error? qtforge.Error set when `success` is false

---@class qtforge
---@field version string the qtforge version, such as `"0.1.0"`
---@field _VERSION string `"qtforge <version>"`
---@field _DESCRIPTION string
---@field _LICENSE string
---@field lua_flavor "lua54"|"luajit" the Lua this build of the module was compiled for
---@field Error qtforge.ErrorClass
---@field utils qtforge.utils
---@field communication qtforge.communication
---@field managers qtforge.managers
---@field security qtforge.security
---@field monitoring qtforge.monitoring
---@field transactions qtforge.transactions
---@field orchestration qtforge.orchestration
---@field core qtforge.core
local qtforge = {}

return qtforge
