-- Finding plugins on disk and saying where their problems are. Nothing here
-- runs plugin code: infos come from qtforge.core.PluginLoader, which reads
-- manifests (and native libraries' descriptors) only.
local ipairs, tonumber = ipairs, tonumber

local qtforge = require("qtforge")
local fs = require("qtforge.cli.fs")

local PluginLoader = qtforge.core.PluginLoader

local plugins = {}

-- the errors of a plugin's dependencies, which its manifest declares
local DEPENDENCY_CODES = { dependency_missing = true, dependency_version = true, dependency_cycle = true }

--- The plugin infos one inspected path holds: a native library may hold
--- several (`info.plugins`); any other plugin is one.
function plugins.each_info(info)
  return info.plugins or { info }
end

--- What `path` holds: a plugin (folder, manifest, .lua file, library), or a
--- folder of plugins. Returns a list of `{ path, info }` and a list of
--- `{ path, error }`, the plugins that could not be read.
function plugins.collect(path)
  local info, err = PluginLoader.inspect(path)
  if info then
    return { { path = path, info = info } }, {}
  end
  if err.code ~= "not_a_plugin" or not fs.is_dir(path) then
    return {}, { { path = path, error = err } }
  end
  local infos, failures = PluginLoader.discover(path)
  local found, seen = {}, {}
  for _, each in ipairs(infos) do
    -- discover lists each plugin of a library; the library is one path
    if not seen[each.path] then
      seen[each.path] = true
      local whole = each.kind == "native" and PluginLoader.inspect(each.path) or each
      found[#found + 1] = { path = each.path, info = whole }
    end
  end
  return found, failures
end

--- The file that holds `info`'s manifest: plugin.toml/json, or the .lua file or
--- library itself.
function plugins.manifest_file(info)
  return info.manifest_file or info.path
end

--- The first line of `file` that names `word` in quotes, preferring a
--- `name = "word"` line (a dependency's entry); nil when none does.
function plugins.line_naming(file, word)
  local text = fs.read(file)
  if text == nil or word == nil then
    return nil
  end
  local quoted = { '"' .. word .. '"', "'" .. word .. "'" }
  local first
  local number = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    number = number + 1
    for _, q in ipairs(quoted) do
      if line:find(q, 1, true) then
        if line:find("name%s*=%s*[\"']") then
          return number
        end
        first = first or number
      end
    end
  end
  return first
end

-- An invalid_manifest Error: its file (the message ends with it), the line
-- (in the details for a TOML error; otherwise the line holding the value the
-- details quote, as in `capabilities: unknown capability "x"`), and the
-- details without the position.
local function manifest_problem(err)
  local file = err.message:match("^invalid manifest in (.+)$")
  local details = err.details or err.message
  local text, line = details:match("^(.-)%s*%(line (%d+), column %d+%)$")
  if text then
    return file, tonumber(line), text
  end
  local value = details:match('^[%w_%-%.%[%]]+: [^"]*"([^"]+)"')
  return file, file and plugins.line_naming(file, value), details
end

--- Where Error `err` of the plugin at `path` (info `info`, when it was read)
--- points: file, line (or nil), and the message to print after them.
function plugins.locate(err, path, info)
  if err.code == "invalid_manifest" then
    local file, line, text = manifest_problem(err)
    return file or path, line, "invalid_manifest: " .. text
  end
  if info == nil or not DEPENDENCY_CODES[err.code] then
    return path, nil, tostring(err)
  end
  -- a dependency problem is in the manifest, at the dependency it names:
  -- `needs "x"`, or the plugin after this one in the cycle
  local file = plugins.manifest_file(info)
  local dependency = err.message:match('needs "([^"]+)"')
  if err.code == "dependency_cycle" and err.details then
    dependency = (" " .. err.details):match(" " .. info.id:gsub("%p", "%%%0") .. " %-> (%S+)")
  end
  return file, plugins.line_naming(file, dependency), tostring(err)
end

--- `file:line: text`, or `file: text` without a line.
function plugins.format(file, line, text)
  if line then
    return file .. ":" .. line .. ": " .. text
  end
  return file .. ": " .. text
end

--- Error `err` of the plugin at `path` as the line to print: where it points
--- (see `locate`), then its code and message.
function plugins.problem(err, path, info)
  return plugins.format(plugins.locate(err, path, info))
end

--- Why `dir` is not a folder of plugins (not a folder, or a plugin folder
--- itself, whose files would be read as plugins), or nil when it is one.
function plugins.holder_problem(dir)
  if not fs.is_dir(dir) then
    return dir .. " is not a folder"
  elseif PluginLoader.inspect(dir) then
    return dir .. " is a plugin folder; give the folder that holds it"
  end
end

return plugins
