-- auth_plugin: the gateway's access check. A bearer token ($token in
-- nginx.conf) names a consumer ([config.tokens]); a revoked token is refused.
-- ngx is a host global (capability host), and this file writes ngx.header
-- luacheck: globals ngx
local plugin = { exports = {} }
local ctx
local tokens, realm = {}, "gateway"
-- this worker's revocations: each worker's copy of this plugin hears every
-- auth.revoke broadcast, so they agree within one timer interval
local revoked = {}

function plugin.on_load(context)
  ctx = context
  tokens = ctx.config:get_table("tokens", {})
  realm = ctx.config:get_string("realm", "gateway")
  ctx.bus:subscribe("auth.revoke", function(message)
    revoked[message.data.token] = true
    ctx.log.warn("token revoked", { worker = ngx.worker.id(), by_worker = message.headers.broadcast_worker })
  end)
end

-- a reload keeps the revocations
function plugin.on_unload()
  return { revoked = revoked }
end

function plugin.on_reload(old)
  revoked = old.revoked or {}
end

local function consumer_of(token)
  if type(token) ~= "string" or revoked[token] then
    return nil
  end
  return tokens[token]
end

-- the seed's `auth:validate_token(ngx.var.token)`
function plugin.exports.validate_token(token)
  return consumer_of(token) ~= nil
end

function plugin.exports.consumer(token)
  return consumer_of(token)
end

-- revokes a token in every worker: the broadcast header sends it across
function plugin.exports.revoke(token)
  ctx.bus:publish("auth.revoke", { token = token }, { broadcast = true })
end

-- access phase: 401 without a known token; otherwise the consumer goes
-- upstream as X-Consumer (and to later plugins as req.consumer), the token does not
function plugin.exports.access(req)
  local consumer = consumer_of(ngx.var.token)
  if consumer == nil then
    ngx.header["WWW-Authenticate"] = 'Bearer realm="' .. realm .. '"'
    return ngx.HTTP_UNAUTHORIZED
  end
  req.consumer = consumer
  ngx.req.set_header("X-Consumer", consumer)
  ngx.req.clear_header("Authorization")
end

return plugin
