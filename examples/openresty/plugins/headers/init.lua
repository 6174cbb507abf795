-- headers: header_filter phase. Edit GATEWAY and save: every worker serves
-- the new value within a fraction of a second (hot reload).
-- ngx is a host global (capability host), and this file writes ngx.header
-- luacheck: globals ngx
local GATEWAY = "qtforge-gateway/1"

local plugin = { exports = {} }

function plugin.exports.header_filter()
  ngx.header["X-Gateway"] = GATEWAY
  ngx.header["X-Worker-Id"] = ngx.worker.id()
end

return plugin
