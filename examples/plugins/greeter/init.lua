-- A folder plugin: plugin.toml says what it is, this file what it does.

local plugin = { exports = {} }
local ctx, frames = nil, 0

function plugin.on_load(context)
  ctx = context
  ctx.log.info("greeter ready")
end

function plugin.update()
  frames = frames + 1
end

function plugin.exports.greet(name)
  local line = ctx.config.greeting .. ", " .. name .. ctx.require("punctuation").mark
  ctx.deps.logbook.write(line)
  -- anyone may listen; the bus stamps the message with this plugin's id
  ctx.bus:publish("greeter.greeted", { name = name, line = line })
  return line
end

function plugin.exports.frames()
  return frames
end

return plugin
