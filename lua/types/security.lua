---@meta qtforge.security

---@class qtforge.security
---@field PluginValidator qtforge.PluginValidator
local security = {}

---@class qtforge.ValidationResult: qtforge.Result
---@field plugin_id? string
---@field integrity? boolean whether the plugin's files were checked against its [integrity] table
---@field files? integer how many files were checked

---Checks a plugin without running it.
---@class qtforge.PluginValidator
local PluginValidator = {}

---Reads and checks the manifest as a load would, then compares the plugin's files with its
---`[integrity]` table: `integrity_mismatch` names every changed, missing or unlisted file.
---@param path string
---@return qtforge.ValidationResult
function PluginValidator.validate(path) end

---The sha256 of every file of a plugin folder (hidden ones left out): what `[integrity]` should say.
---@param path string
---@return table<string, string>? hashes
---@return qtforge.Error? err
function PluginValidator.hash_files(path) end

return security
