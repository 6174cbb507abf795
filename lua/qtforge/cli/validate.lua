-- qtforge validate PATH...: what a load would refuse, found without loading.
local ipairs, loadfile, pairs = ipairs, loadfile, pairs

local qtforge = require("qtforge")
local plugins = require("qtforge.cli.plugins")

local PluginValidator = qtforge.security.PluginValidator
local PluginDependencyResolver = qtforge.core.PluginDependencyResolver

local validate = {
  synopsis = "validate PATH...",
  summary = "check manifests, files, entries and dependencies",
  positional = { 1, nil, name = "PATH" },
  options = {},
  help = [[
Checks each plugin without running any of its code: a plugin folder, its manifest,
a single .lua file, a native library, or a folder of plugins (each plugin directly
inside it). For each plugin:

  - the manifest, as a load reads it: unknown keys, wrong types, an invalid id or
    version, capabilities that are not qtforge capability names;
  - its files against its [integrity] table or the qtforge.lock beside it;
  - that its entry file compiles;
  - that its dependencies are among the plugins given, at versions in range, without cycles.

Prints `PATH: ok` on stdout for each plugin that passes, and `FILE:LINE: problem`
(or `FILE: problem` when there is no line to point at) on stderr for each problem.
Exit status 0 when every plugin passes, 1 otherwise.]],
}

-- The plugins met, in order, each with its problems (text lines).
local function new_report()
  return { entries = {}, by_path = {} }
end

local function entry(report, path)
  local found = report.by_path[path]
  if found == nil then
    found = { path = path, problems = {} }
    report.by_path[path] = found
    report.entries[#report.entries + 1] = found
  end
  return found
end

local function add_problem(report, path, line)
  local problems = entry(report, path).problems
  problems[#problems + 1] = line
end

-- The manifest and files (PluginValidator does not take native libraries:
-- their descriptor was read by inspect already), then the entry's syntax.
local function check_files(report, candidate)
  local info = candidate.info
  if info.kind == "native" then
    return
  end
  local result = PluginValidator.validate(candidate.path)
  if not result.success then
    add_problem(report, candidate.path, plugins.problem(result.error, candidate.path, info))
  end
  local chunk, message = loadfile(info.entry, "t")
  if chunk == nil then
    -- the message names the file as Lua shortens a long path ("...ns/init.lua"):
    -- keep its line and text, and name the file as given
    local line, text = message:match("^.-:(%d+): (.*)$")
    add_problem(report, candidate.path, plugins.format(info.entry, line, "load_error: " .. (text or message)))
  end
end

-- Every plugin given, in one resolver: what a load of them all together would
-- refuse for missing dependencies, versions out of range and cycles.
local function check_dependencies(report, candidates)
  local resolver = PluginDependencyResolver()
  local owner = {}
  for _, candidate in ipairs(candidates) do
    for _, info in ipairs(plugins.each_info(candidate.info)) do
      if owner[info.id] then
        add_problem(report, candidate.path, plugins.format(plugins.manifest_file(info), nil,
          'already_loaded: plugin id "' .. info.id .. '" is also the id of ' .. owner[info.id].candidate.path))
      else
        resolver:add(info)
        owner[info.id] = { candidate = candidate, info = info }
      end
    end
  end
  for id, err in pairs(resolver:resolve().failures) do
    local candidate, info = owner[id].candidate, owner[id].info
    add_problem(report, candidate.path, plugins.problem(err, candidate.path, info))
  end
end

local function collect(report, paths)
  local candidates = {}
  for _, path in ipairs(paths) do
    local found, failures = plugins.collect(path)
    if #found == 0 and #failures == 0 then
      add_problem(report, path, path .. ": not_a_plugin: no plugins in this folder")
    end
    for _, failure in ipairs(failures) do
      add_problem(report, failure.path, plugins.problem(failure.error, failure.path))
    end
    for _, candidate in ipairs(found) do
      -- a plugin named twice (itself, and in its folder) is checked once
      if report.by_path[candidate.path] == nil then
        candidates[#candidates + 1] = candidate
      end
      entry(report, candidate.path)
    end
  end
  return candidates
end

function validate.run(out, _, paths)
  local report = new_report()
  local candidates = collect(report, paths)
  for _, candidate in ipairs(candidates) do
    check_files(report, candidate)
  end
  check_dependencies(report, candidates)
  local failed = false
  for _, each in ipairs(report.entries) do
    if #each.problems == 0 then
      out:line(each.path .. ": ok")
    end
    for _, line in ipairs(each.problems) do
      failed = true
      out:report(line)
    end
  end
  return failed and 1 or 0
end

return validate
