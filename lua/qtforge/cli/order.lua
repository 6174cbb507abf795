-- qtforge order DIR: the order manager:load_directory(DIR) would load in.
local ipairs, pairs, tostring = ipairs, pairs, tostring
local table_sort = table.sort

local qtforge = require("qtforge")
local plugins = require("qtforge.cli.plugins")

local order = {
  synopsis = "order DIR",
  summary = "print the load order of the plugins in a folder",
  positional = { 1, 1, name = "DIR" },
  options = {},
  help = [[
Prints the id of each plugin directly inside DIR, one per line, in the order
manager:load_directory(DIR) loads them: dependencies first, then before/after,
then higher priority, then id. No plugin code runs.

Plugins that cannot be ordered go to stderr: a dependency cycle as its path
(`dependency cycle: a -> b -> a`), a missing dependency or a version out of range
as `FILE:LINE: problem`, as do manifests that do not read. The others are still
printed. Exit status 0 when every plugin is ordered, 1 otherwise, and when DIR is
not a folder or is itself a plugin folder (give the folder that holds it).]],
}

-- The resolver's failures, sorted by id so that the report does not depend on
-- table order; a cycle is reported once however many plugins are on it.
local function report_failures(out, failures, owner)
  local ids = {}
  for id in pairs(failures) do
    ids[#ids + 1] = id
  end
  table_sort(ids)
  local cycles = {}
  for _, id in ipairs(ids) do
    local err = failures[id]
    if err.code == "dependency_cycle" then
      if not cycles[err.details] then
        cycles[err.details] = true
        out:report("dependency cycle: " .. err.details)
      end
    else
      local info = owner[id]
      out:report(plugins.problem(err, info.path, info))
    end
  end
  return #ids
end

function order.run(out, _, words)
  local dir = words[1]
  local problem = plugins.holder_problem(dir)
  if problem then
    out:error(problem)
    return 1
  end
  local infos, failures = qtforge.core.PluginLoader.discover(dir)
  for _, failure in ipairs(failures) do
    out:report(plugins.problem(failure.error, failure.path))
  end
  local resolver = qtforge.core.PluginDependencyResolver()
  local owner, duplicates = {}, 0
  for _, info in ipairs(infos) do
    local added, err = resolver:add(info)
    if added then
      owner[info.id] = info
    else
      -- two plugins with one id: load_directory would refuse the second
      duplicates = duplicates + 1
      out:report(plugins.format(plugins.manifest_file(info), nil, tostring(err)))
    end
  end
  local resolved = resolver:resolve()
  for _, id in ipairs(resolved.order) do
    out:line(id)
  end
  local unordered = report_failures(out, resolved.failures, owner)
  return (unordered + duplicates + #failures > 0) and 1 or 0
end

return order
