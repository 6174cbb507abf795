-- Helpers for the qtforge.core specs: plugin folders written from a short
-- description, managers that keep their logs, event recorders, and the checks
-- every failure spec makes (the result, and that nothing of the plugin stayed).
local assert = require("luassert")
local fs = require("support.fs")
local qtforge = require("qtforge")

local plugins = {}

--- The folder of the committed fixture plugins.
plugins.FIXTURES = (debug.getinfo(1, "S").source:match("^@(.*)/support/[^/]*$") or "spec") .. "/fixtures/plugins"

--- One `[[dependencies]]` entry of a plugin.toml.
function plugins.dep(name, range, optional)
  return string.format('[[dependencies]]\nname = "%s"\nversion = "%s"\noptional = %s\n', name, range or "*",
    tostring(optional == true))
end

--- The capabilities the default security policy grants a sandboxed plugin.
plugins.SAFE = { "log", "bus:publish", "bus:subscribe", "config:read", "config:write", "native" }

--- The `capabilities = [...]` line of a plugin.toml that declares `list`.
function plugins.capabilities(list)
  local quoted = {}
  for i, name in ipairs(list) do
    quoted[i] = string.format("%q", name)
  end
  return "capabilities = [" .. table.concat(quoted, ", ") .. "]\n"
end

--- Writes the folder plugin `root/name` and returns its path. `spec` may give:
--- version, lines (top-level plugin.toml lines), capabilities (a list, declared in
--- the manifest), deps ({ name, range, optional } each), config (the body of
--- [config]), source (init.lua) and files (more files by relative path).
function plugins.folder(root, name, spec)
  spec = spec or {}
  local lines = spec.lines
  if spec.capabilities then
    lines = plugins.capabilities(spec.capabilities) .. (lines or "")
  end
  local toml = { fs.manifest(name, spec.version, lines) }
  for _, d in ipairs(spec.deps or {}) do
    toml[#toml + 1] = plugins.dep(d[1], d[2], d[3])
  end
  if spec.config then
    toml[#toml + 1] = "[config]\n" .. spec.config
  end
  local files = { ["plugin.toml"] = table.concat(toml), ["init.lua"] = spec.source or "return {}\n" }
  for rel, text in pairs(spec.files or {}) do
    files[rel] = text
  end
  return fs.plugin(root, name, files)
end

--- Lua source that writes `path` when it runs: proof that a file's code ran.
--- A sandboxed plugin needs fs:write for it: declare MARKER_CAPABILITIES and
--- load it with a manager whose policy is `plugins.marker_policy(dir)`.
function plugins.marker(path)
  return string.format("local marker = assert(io.open(%q, 'w'))\nmarker:write('ran')\nmarker:close()\n", path)
end

--- What a plugin that writes a marker declares.
plugins.MARKER_CAPABILITIES = { "fs:write" }

--- A policy that keeps file plugins sandboxed and grants, besides the default
--- capabilities, fs:write in `dir` (an absolute path): enough to write markers.
function plugins.marker_policy(dir)
  local grant = { "fs:write" }
  for _, name in ipairs(plugins.SAFE) do
    grant[#grant + 1] = name
  end
  return qtforge.security.SecurityManager({ grant = grant, paths = { write = { dir } } })
end

--- A PluginManager whose log lines are kept in the second value, as
--- { level, plugin_id, message } tables.
function plugins.manager(opts)
  local logs = {}
  local options = { log = function(level, id, message)
    logs[#logs + 1] = { level = level, plugin_id = id, message = message }
  end }
  for k, v in pairs(opts or {}) do
    options[k] = v
  end
  return qtforge.core.PluginManager(options), logs
end

--- Records the manager's events: a list of "type:plugin_id" strings, the
--- events themselves, and the function that stops recording.
function plugins.record(manager)
  local seen, events = {}, {}
  local remove = manager:on_event(function(event)
    seen[#seen + 1] = event.type .. ":" .. tostring(event.plugin_id)
    events[#events + 1] = event
  end)
  return seen, events, remove
end

--- Asserts `result` is a failed result with an Error of `code`; returns the Error.
function plugins.failed(result, code)
  assert.is_table(result)
  assert.are.equal(false, result.success)
  assert.is_true(qtforge.Error.is(result.error), "result.error is not a qtforge.Error")
  assert.are.equal(code, result.error.code, tostring(result.error))
  return result.error
end

--- Asserts that `text` contains each of the plain strings that follow.
function plugins.contains(text, ...)
  for i = 1, select("#", ...) do
    local word = select(i, ...)
    assert.is_string(text)
    assert.truthy(text:find(word, 1, true), string.format("%q is not in %q", word, text))
  end
end

--- What a manager holds, to compare before and after an operation.
function plugins.snapshot(manager)
  local stats = manager:stats()
  return { order = manager:load_order(), plugins = stats.plugins, count = #manager:plugins() }
end

--- Asserts that nothing of plugin `id` is registered and the manager holds what `before` saw.
function plugins.nothing_left(manager, id, before)
  assert.is_nil(manager:get_plugin(id))
  assert.are.same(before.order, manager:load_order())
  assert.are.equal(before.plugins, manager:stats().plugins)
  assert.are.equal(before.count, #manager:plugins())
end

return plugins
