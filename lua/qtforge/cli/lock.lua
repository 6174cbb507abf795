-- qtforge lock DIR: pins the files of every plugin folder in DIR (qtforge.lock).
local ipairs = ipairs

local qtforge = require("qtforge")
local fs = require("qtforge.cli.fs")
local plugins = require("qtforge.cli.plugins")

local PluginLoader = qtforge.core.PluginLoader

local lock = {
  synopsis = "lock DIR",
  summary = "write DIR/qtforge.lock, the hashes of its plugin folders",
  positional = { 1, 1, name = "DIR" },
  options = {},
  help = [[
Hashes every file of each plugin folder directly inside DIR (manifest included)
and writes DIR/qtforge.lock, replacing any earlier one; prints its path. From then
on every load of those folders checks their files against it (docs/security.md).
Review what is in DIR first: the lock vouches for it.

Nothing is written when a manifest does not read (the lock would vouch for a
plugin that cannot load), when DIR is itself a plugin folder (lock the folder that
holds it), or when DIR holds no plugin folder. Exit status 0, or 1 then.]],
}

-- Whether `dir` holds a plugin folder (single files cannot be locked: the lock
-- is by folder name).
local function has_plugin_folder(dir)
  local infos, failures = PluginLoader.discover(dir)
  for _, info in ipairs(infos) do
    if info.kind == "folder" then
      return true
    end
  end
  -- a folder whose manifest fails still counts: lock reports it
  for _, failure in ipairs(failures) do
    if fs.is_dir(failure.path) then
      return true
    end
  end
  return false
end

function lock.run(out, _, words)
  local dir = words[1]
  local problem = plugins.holder_problem(dir)
  if problem then
    out:error(problem)
    return 1
  end
  if not has_plugin_folder(dir) then
    out:error("no plugin folders in " .. dir)
    return 1
  end
  local result = qtforge.security.PluginValidator.lock(dir)
  if not result.success then
    out:report(plugins.problem(result.error, dir))
    return 1
  end
  out:line(result.path)
  return 0
end

return lock
