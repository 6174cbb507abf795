local qtforge = require('qtforge')
local manager = qtforge.core.PluginManager()

function love.load()
    manager:load_plugin("audio_plugin.so")
    manager:load_plugin("graphics_plugin.so")
end

function love.update(dt)
    manager:update_all_plugins(dt)
end
