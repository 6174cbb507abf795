-- qtforge.security.PluginValidator: checks a plugin without running it.
local native = ...

local error, type = error, type
local describe = native.support.describe
local native_validate, native_hash_files = native.validate, native.hash_files

local PluginValidator = {}

local function check_path(fname, path)
  if type(path) ~= "string" then
    error(fname .. ": argument 'path' must be a path string, got " .. describe(path), 3)
  end
end

--- validate(path): reads and checks the manifest as a load would, then compares
--- the plugin's files with its [integrity] table (when it has one). A result:
--- { success, plugin_id, integrity = whether hashes were checked, files = how
--- many }, or success = false with integrity_mismatch (every difference in
--- details), invalid_manifest, not_found...
function PluginValidator.validate(path)
  check_path("PluginValidator.validate", path)
  return native_validate(path)
end

--- hash_files(folder): { ["init.lua"] = "sha256:...", ... } for every file of a
--- plugin folder (hidden ones left out): what its [integrity] table should say.
--- Or nil and an io_error.
function PluginValidator.hash_files(path)
  check_path("PluginValidator.hash_files", path)
  local hashes, err = native_hash_files(path)
  return hashes, err
end

return { PluginValidator = PluginValidator }
