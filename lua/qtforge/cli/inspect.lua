-- qtforge inspect PATH [--json]: what PluginLoader.inspect reads of a plugin.
local getmetatable, ipairs, next, pairs, tostring, type = getmetatable, ipairs, next, pairs, tostring, type
local string_rep = string.rep
local table_concat, table_sort = table.concat, table.sort

local qtforge = require("qtforge")
local json = require("qtforge.cli.json")
local plugins = require("qtforge.cli.plugins")

local inspect = {
  synopsis = "inspect PATH [--json]",
  summary = "show a plugin's manifest without loading it",
  positional = { 1, 1, name = "PATH" },
  options = { ["--json"] = "flag" },
  help = [[
Shows what qtforge reads of a plugin (a folder, a manifest, a single .lua file or
a native library) without running any of its code: id, version, kind, where its
files are, capabilities, exports, dependencies, config defaults...

  --json   print the whole info as JSON; a native library's plugins are listed
           under "plugins".

Exit status 0, or 1 when the path is not a plugin qtforge can read.]],
}

-- The fields of an info that hold manifest data as the manifest wrote it
-- (JSON objects even when empty); every other table field is a list.
local DATA_FIELDS = { config = true, limits = true, integrity = true }

-- A copy of manifest data with its maps marked as JSON objects: in what
-- qtforge converts from a manifest, lists carry mlua's array marker (a
-- metatable that getmetatable reports as `false`) and maps carry none, so an
-- empty `{}` in the manifest prints as {} and an empty `[]` as [].
local function manifest_data(value)
  if type(value) ~= "table" then
    return value
  end
  local copy = getmetatable(value) == false and {} or json.object()
  for key, item in next, value do
    copy[key] = manifest_data(item)
  end
  return copy
end

-- A copy of `info` fit for JSON: no `plugins` self-reference, maps marked.
local function plain(info)
  local copy = {}
  for key, value in pairs(info) do
    if key ~= "plugins" then
      copy[key] = DATA_FIELDS[key] and manifest_data(value) or value
    end
  end
  return copy
end

local function to_json(info)
  local copy = plain(info)
  if info.plugins then
    copy.plugins = {}
    for i, each in ipairs(info.plugins) do
      copy.plugins[i] = plain(each)
    end
  end
  return json.encode(copy, { indent = "  " })
end

local function list(values)
  local texts = {}
  for i, value in ipairs(values or {}) do
    texts[i] = tostring(value)
  end
  return table_concat(texts, ", ")
end

local function dependency_lines(dependencies)
  local lines = {}
  for i, dependency in ipairs(dependencies or {}) do
    lines[i] = dependency.name .. " " .. (dependency.version or "*") .. (dependency.optional and " (optional)" or "")
  end
  return lines
end

-- `key = value` lines of a map, sorted; values as JSON.
local function map_lines(map)
  local lines = {}
  for key, value in pairs(map or {}) do
    lines[#lines + 1] = tostring(key) .. " = " .. json.encode(value, { lenient = true })
  end
  table_sort(lines)
  return lines
end

-- What the human-readable form shows, in order: a label and a function giving
-- the text (a string, or a list of lines for a field that takes several).
local FIELDS = {
  { "id", function(info) return info.id end },
  { "version", function(info) return info.version end },
  { "kind", function(info) return info.kind end },
  { "description", function(info) return info.description end },
  { "path", function(info) return info.path end },
  { "manifest", function(info) return info.manifest_file end },
  { "entry", function(info) return info.entry end },
  { "api-version", function(info) return info.api_version end },
  { "capabilities", function(info) return list(info.capabilities) end },
  { "exports", function(info) return list(info.exports) end },
  { "dependencies", function(info) return dependency_lines(info.dependencies) end },
  { "before", function(info) return list(info.before) end },
  { "after", function(info) return list(info.after) end },
  { "priority", function(info) return info.priority ~= 0 and tostring(info.priority) or nil end },
  { "tags", function(info) return list(info.tags) end },
  { "authors", function(info) return list(info.authors) end },
  { "license", function(info) return info.license end },
  { "homepage", function(info) return info.homepage end },
  { "limits", function(info) return map_lines(manifest_data(info.limits)) end },
  { "config", function(info) return map_lines(manifest_data(info.config)) end },
  { "integrity", function(info) return map_lines(manifest_data(info.integrity)) end },
}

local LABEL_WIDTH = 14

local function human(info)
  local lines = {}
  for _, field in ipairs(FIELDS) do
    local value = field[2](info)
    if type(value) == "string" then
      value = value ~= "" and { value } or {}
    end
    for i, text in ipairs(value or {}) do
      local label = i == 1 and field[1] .. ":" or ""
      lines[#lines + 1] = label .. string_rep(" ", LABEL_WIDTH - #label) .. text
    end
  end
  return table_concat(lines, "\n")
end

function inspect.run(out, opts, words)
  local path = words[1]
  local info, err = qtforge.core.PluginLoader.inspect(path)
  if info == nil then
    out:report(plugins.problem(err, path))
    return 1
  end
  if opts["--json"] then
    out:line(to_json(info))
    return 0
  end
  local blocks = {}
  for i, each in ipairs(plugins.each_info(info)) do
    blocks[i] = human(each)
  end
  out:line(table_concat(blocks, "\n\n"))
  return 0
end

return inspect
