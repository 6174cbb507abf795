-- hosts: what qtforge.openresty does per request phase and qtforge.love per
-- event, with 3 plugins exporting the phase or callback, next to a pure-Lua
-- loop making the same 3 calls under pcall, as a host without qtforge would.
-- The nginx and LÖVE globals are stand-ins with what the adapters touch.
-- luacheck: globals ngx
local harness = require("harness")
local runs = harness.loop

local PLUGINS = 3

local function noop() end

-- a stand-in ngx (it stays: the adapter reads ngx.ctx on every call)
_G.ngx = {
  ctx = {},
  DEBUG = 8, INFO = 7, NOTICE = 6, WARN = 5, ERR = 4,
  HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_SERVICE_UNAVAILABLE = 503,
  log = noop,
  exit = noop,
  now = os.clock,
  get_phase = function() return "init_worker" end,
  worker = { id = function() return 0 end, pid = function() return 1 end },
  timer = { every = function() return true end },
  shared = {},
}
local openresty = require("qtforge.openresty")
local worker = openresty.init_worker({ hot_reload = false })
local functions = {}
for i = 1, PLUGINS do
  local fn = function(request)
    request.seen = i
  end
  functions[i] = fn
  assert(worker:register_plugin({ manifest = { name = "phase" .. i, version = "1.0.0" },
    exports = { access = fn } }).success)
end
local run_phase = openresty.run_phase

local lv = {}
local attachment = require("qtforge.love").attach({ love = lv, callbacks = { "keypressed" } })
for i = 1, PLUGINS do
  assert(attachment.manager:register_plugin({ manifest = { name = "key" .. i, version = "1.0.0" },
    exports = { keypressed = functions[i] } }).success)
end
local keypressed = lv.keypressed

local function pcall_each(request)
  for i = 1, PLUGINS do
    local ok = pcall(functions[i], request)
    if not ok then
      return 0
    end
  end
  return 1
end

local request = ngx.ctx

return {
  title = "hosts (3 plugins / pcall loop)",
  cases = {
    {
      name = "openresty.run_phase('access')",
      run = runs(function()
        run_phase("access")
        return 1
      end),
      baseline = runs(function()
        return pcall_each(request)
      end),
    },
    {
      name = "love.keypressed through the attachment",
      run = runs(function()
        keypressed(request)
        return 1
      end),
      baseline = runs(function()
        return pcall_each(request)
      end),
    },
  },
}
