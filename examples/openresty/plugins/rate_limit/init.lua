-- rate_limit: counts each consumer's requests in a lua_shared_dict, so the
-- limit holds across workers; over it, 429 with Retry-After.
-- ngx is a host global (capability host), and this file writes ngx.header
-- luacheck: globals ngx
local plugin = { exports = {} }
local ctx
local dict, window, default_limit, limits

function plugin.on_load(context)
  ctx = context
  local name = ctx.config:get_string("shared_dict", "gateway_limits")
  dict = ngx.shared[name]
  if dict == nil then
    error("rate_limit: nginx.conf has no lua_shared_dict " .. name)
  end
  window = ctx.config:get_number("window", 10)
  default_limit = ctx.config:get_number("default_limit", 1000)
  limits = ctx.config:get_table("limits", {})
end

function plugin.exports.access(req)
  local consumer = req.consumer
  if consumer == nil then
    return -- not authenticated: auth_plugin answered already
  end
  local limit = limits[consumer] or default_limit
  -- the window starts with the consumer's first request: the key expires after it
  local count, err = dict:incr("rl:" .. consumer, 1, 0, window)
  if count == nil then
    -- a counter that fails must not take the gateway down
    ctx.log.warn("rate_limit: cannot count: " .. tostring(err))
    return
  end
  ngx.header["X-RateLimit-Limit"] = limit
  ngx.header["X-RateLimit-Remaining"] = math.max(0, limit - count)
  if count > limit then
    local ttl = dict:ttl("rl:" .. consumer)
    ngx.header["Retry-After"] = math.max(1, math.ceil(ttl or window))
    return 429
  end
end

return plugin
