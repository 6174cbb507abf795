-- qtforge.security.PluginValidator: checks a plugin without running it.
local native = ...

local error, type = error, type
local describe = native.support.describe
local native_validate, native_hash_files, native_lock = native.validate, native.hash_files, native.lock

local PluginValidator = {}

local function check_path(fname, path, what)
  if type(path) ~= "string" then
    error(fname .. ": argument '" .. (what or "path") .. "' must be a path string, got " .. describe(path), 3)
  end
end

--- validate(path): reads and checks the manifest as a load would, then compares
--- the plugin's files with its [integrity] table or, when it has none, with its
--- folder's entry in the qtforge.lock beside the folder. A result: { success,
--- plugin_id, integrity = whether hashes were checked, files = how many,
--- source = "manifest" | "lock" | nil }, or success = false with
--- integrity_mismatch (every difference in details), invalid_manifest,
--- parse_error (a lock that does not read), not_found...
function PluginValidator.validate(path)
  check_path("PluginValidator.validate", path)
  return native_validate(path)
end

--- hash_files(folder): { ["init.lua"] = "sha256:...", ... } for every file of a
--- plugin folder (hidden ones and plugin.sig left out): what its [integrity]
--- table should say. Or nil and an io_error.
function PluginValidator.hash_files(path)
  check_path("PluginValidator.hash_files", path)
  local hashes, err = native_hash_files(path)
  return hashes, err
end

--- lock(dir): writes dir/qtforge.lock, the hashes of every file of every plugin
--- folder directly in dir. A result: { success, path, plugins = how many }, or
--- success = false with io_error, or the error of a plugin whose manifest does
--- not read (no lock is written then).
function PluginValidator.lock(dir)
  check_path("PluginValidator.lock", dir, "dir")
  return native_lock(dir)
end

return { PluginValidator = PluginValidator }
