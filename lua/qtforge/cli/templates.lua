-- The files `qtforge new NAME` writes. `{{name}}` stands for the plugin id
-- (lower-case letters, digits, `_ . -`: safe inside TOML and Lua strings).
local templates = {}

templates.MANIFEST = [=[
# The manifest of plugin {{name}}: every key is described in qtforge's docs/core.md.
name = "{{name}}"
version = "0.1.0"
description = "What {{name}} does, in one line"
api-version = "1.0"
entry = "init.lua"
exports = ["execute"]

# What the plugin may use beyond the sandbox's safe base (docs/security.md).
# A capability must be declared here and granted by the host; the default
# host policy grants log, bus:publish, bus:subscribe, config:read, config:write.
capabilities = [
  "log",              # ctx.log
  "bus:publish",      # ctx.bus:publish, request
  # "bus:subscribe",  # ctx.bus:subscribe, respond
  # "config:read",    # ctx.config, from [config] below and the host's files
  # "fs:read",        # io.open for reading, inside this folder (host must grant)
]

# [config]
# greeting = "Hello"

# [[dependencies]]
# name = "other-plugin"
# version = "^1.0"
]=]

templates.ENTRY = [=[
-- Plugin {{name}}. A PluginManager runs this file in a sandbox of its own and
-- calls the hooks below; `ctx` holds what plugin.toml's capabilities grant.
local plugin = { exports = {} }

local log -- ctx.log, kept for the exports
local calls = 0

function plugin.on_load(ctx)
  log = ctx.log
  log.info("loaded " .. ctx.id .. " " .. tostring(ctx.version))
end

function plugin.on_start(ctx)
  ctx.log.info("started")
  -- anyone may listen (the host: manager:bus():subscribe("{{name}}.#", fn));
  -- the bus stamps the message with this plugin's id
  ctx.bus:publish("{{name}}.started", { version = tostring(ctx.version) })
end

--- manager:call("{{name}}", "execute", input), or plugin:execute(input) on a handle.
function plugin.exports.execute(input)
  calls = calls + 1
  log.debug("execute", { calls = calls })
  return { plugin = "{{name}}", input = input, calls = calls }
end

return plugin
]=]

templates.SPEC = [=[
-- Plugin {{name}}, loaded as a host would load it. From the plugin's folder:
--   busted spec/{{name}}_spec.lua
-- with qtforge installed (or LUA_CPATH leading to its qtforge.so).
local qtforge = require("qtforge")

-- the plugin's folder: this file is in its spec/ folder
local PLUGIN_DIR = debug.getinfo(1, "S").source:match("^@(.+)/spec/[^/]+$") or "."

describe("plugin {{name}}", function()
  local manager, logs, messages

  before_each(function()
    logs, messages = {}, {}
    manager = qtforge.core.PluginManager({
      log = function(level, _, message)
        logs[#logs + 1] = level .. " " .. message
      end,
    })
    manager:bus():subscribe("{{name}}.#", function(message)
      messages[#messages + 1] = message.type .. " from " .. message.sender
    end)
    local result = manager:load_plugin(PLUGIN_DIR)
    assert.is_true(result.success, tostring(result.error))
  end)

  after_each(function()
    manager:shutdown()
  end)

  it("loads, starts, logs and announces itself", function()
    assert.are.equal("running", manager:get_plugin("{{name}}"):state())
    assert.are.equal(2, #logs)
    assert.are.equal("info started", logs[2])
    assert.are.same({ "{{name}}.started from {{name}}" }, messages)
  end)

  it("answers execute", function()
    local reply = manager:call("{{name}}", "execute", "hello")
    assert.are.same({ plugin = "{{name}}", input = "hello", calls = 1 }, reply)
    assert.are.equal(2, manager:call("{{name}}", "execute", "again").calls)
  end)
end)
]=]

templates.README = [=[
# {{name}}

A [qtforge](https://example.invalid/qtforge) plugin. What it does, in a few lines.

```lua
local qtforge = require("qtforge")
local manager = qtforge.core.PluginManager()
assert(manager:load_plugin("path/to/{{name}}").success)
print(manager:call("{{name}}", "execute", "hello").calls)  --> 1
```

## Working on it

```sh
busted spec/{{name}}_spec.lua   # its spec, from this folder
qtforge validate .              # the manifest, the files, the entry, the dependencies
qtforge run ..                  # a host that loads the plugins beside it and reloads them as you edit
```

Files: `plugin.toml` (what it is and may do), `init.lua` (what it does),
`spec/{{name}}_spec.lua`.
]=]

--- `template` with the plugin id in place of `{{name}}`.
function templates.render(template, name)
  return (template:gsub("{{name}}", function()
    return name
  end))
end

return templates
