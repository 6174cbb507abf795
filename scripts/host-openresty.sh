#!/usr/bin/env bash
# The OpenResty adapter in real nginx: runs examples/openresty (the API
# gateway) with 2 workers on 127.0.0.1 and a free port, loading
# build/luajit/qtforge.so and lua/qtforge/openresty.lua, and checks with curl:
# tokens, rate limiting, plugins edited on disk seen by both workers, a bus
# message broadcast across workers, a clean log and a clean stop. Prints
# "ok - ..." / "not ok - ..." per check, then "openresty: N passed, M failed";
# appends "openresty N M" to the results file when given one.
# usage: host-openresty.sh [results-file]
set -euo pipefail
# results file, checkout, counters, stop_nginx, summary
source "$(dirname "$0")/host-lib.sh" "${1:-}"

so="$root/build/luajit/qtforge.so"
cpath="$root/build/luajit/?.so"
lua_path="$root/lua/?.lua"
example="$root/examples/openresty"
nginx_modules=/usr/lib/nginx/modules

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qtforge-openresty.XXXXXX")
# nginx workers drop to "nobody" when the master runs as root: they read the
# plugins and write nothing here but through the master's logs
chmod 755 "$tmp"
nginx_pid=
# the plugins the test edits: a copy, never the example itself
plugins="$tmp/plugins"
cp -R "$example/plugins" "$plugins"
chmod -R a+rX "$plugins"

cleanup() {
  [ -z "$nginx_pid" ] || stop_nginx || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# no inherited Lua paths (a LUA_PATH without ";;" would hide resty.core)
host_env=(env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_1 -u LUA_CPATH_5_1 HOME="$tmp/home")
mkdir -p "$tmp/home"


log="$tmp/nginx/logs/error.log"

# get PATH [curl args...]: one request; sets $code, $wid (X-Worker-Id),
# $gw (X-Gateway), $retry (Retry-After) and $body
get() {
  local path=$1
  shift
  code=$(curl --silent --max-time 5 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@" \
    "http://127.0.0.1:$port$path" 2>/dev/null) || code=000
  wid=$(sed -n 's/^[Xx]-[Ww]orker-[Ii]d: *\([0-9]*\).*/\1/p' "$tmp/headers" 2>/dev/null | head -n 1)
  gw=$(sed -n 's/^[Xx]-[Gg]ateway: *\([^\r]*\).*/\1/p' "$tmp/headers" 2>/dev/null | head -n 1)
  retry=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$tmp/headers" 2>/dev/null | head -n 1)
  body=$(cat "$tmp/body" 2>/dev/null || true)
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# until_both SECONDS WANT PATH [curl args...]: requests PATH until each of
# the 2 workers has answered "$code $gw" matching the glob WANT, and fails if
# a worker answers otherwise after it has once matched (a worker going back
# to the old behaviour). Sets $elapsed (ms) and $trail (what was seen).
until_both() {
  local seconds=$1 want=$2 path=$3 start deadline
  shift 3
  local seen0="" seen1="" seen
  trail=""
  start=$(now_ms)
  deadline=$((start + seconds * 1000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    get "$path" "$@"
    trail="$trail w${wid:-?}:$code"
    case $wid in
      0) seen=$seen0 ;;
      1) seen=$seen1 ;;
      *) continue ;;
    esac
    # shellcheck disable=SC2254
    case "$code $gw" in
      $want) seen=1 ;;
      *)
        if [ -n "$seen" ]; then
          trail="$trail (worker $wid went back: $code $gw)"
          return 2
        fi
        ;;
    esac
    if [ "$wid" = 0 ]; then seen0=$seen; else seen1=$seen; fi
    if [ -n "$seen0" ] && [ -n "$seen1" ]; then
      elapsed=$(($(now_ms) - start))
      return 0
    fi
    sleep 0.02
  done
  return 1
}

# ---- preconditions ---------------------------------------------------------------

ready=1
if [ ! -f "$so" ]; then
  not_ok "$so exists (run make build-all)"
  ready=
fi
for module in ndk_http_module.so ngx_http_lua_module.so; do
  if [ ! -f "$nginx_modules/$module" ]; then
    not_ok "nginx module $nginx_modules/$module is installed (package libnginx-mod-http-lua)"
    ready=
  fi
done

# ---- the gateway -------------------------------------------------------------------

if [ -n "$ready" ] && start_nginx "$example/nginx.conf.in"; then
  ok "nginx starts on 127.0.0.1:$port with the gateway example (2 workers)"

  # each worker runs init_worker before it accepts a connection
  for i in $(seq 50); do
    [ "$(grep -c 'qtforge.openresty: worker [01] ready: auth_plugin headers rate_limit' "$log" 2>/dev/null)" = 2 ] && break
    sleep 0.1
  done
  if [ "$(grep -c 'qtforge.openresty: worker [01] ready: auth_plugin headers rate_limit' "$log")" = 2 ]; then
    ok "both workers load auth_plugin, headers, rate_limit in their own manager"
  else
    not_ok "both workers load auth_plugin, headers, rate_limit in their own manager"
    show "$log"
  fi

  # --- tokens
  get /api/orders/7
  if [ "$code" = 401 ]; then ok "no token: 401"; else not_ok "no token: 401, got $code"; fi
  get /api/orders/7 -H "Authorization: Bearer wrong-token"
  if [ "$code" = 401 ] && grep -q '^WWW-Authenticate: Bearer realm="gateway"' "$tmp/headers"; then
    ok "bad token: 401 with WWW-Authenticate"
  else
    not_ok "bad token: 401 with WWW-Authenticate, got $code"
    show "$tmp/headers"
  fi
  want='{"service":"orders","path":"/orders/7","consumer":"alice"}'
  get /api/orders/7 -H "Authorization: Bearer alpha-token"
  if [ "$code" = 200 ] && [ "$body" = "$want" ]; then
    ok "good token: 200 from upstream, consumer alice passed on"
  else
    not_ok "good token: 200 and $want, got $code $body"
  fi
  get "/seed?token=alpha-token"
  if [ "$code" = 200 ] && [ "$body" = "token accepted" ]; then
    ok "the seed's auth:validate_token(ngx.var.token) accepts a good token"
  else
    not_ok "the seed's example accepts a good token, got $code $body"
  fi
  get "/seed?token=wrong-token"
  if [ "$code" = 401 ]; then
    ok "the seed's example refuses a bad token"
  else
    not_ok "the seed's example refuses a bad token, got $code"
  fi

  # --- phase calls are plugin calls: the answering worker's collector counted
  # auth_plugin's access export; the bus bridge is not a subscription (the
  # plugins' and nginx.conf's own: auth.revoke, gateway.announce)
  # (a request, then the metrics, until one worker answered both)
  counted=
  for i in $(seq 50); do
    get /api/orders/1 -H "Authorization: Bearer alpha-token"
    get /admin/metrics
    if grep -qE '^qtforge_plugin_export_calls_total\{plugin="auth_plugin",export="access"\} [1-9]' <<<"$body"; then
      counted=1
      break
    fi
  done
  if [ "$code" = 200 ] && [ -n "$counted" ] && grep -qx '# bus subscriptions: 2' <<<"$body"; then
    ok "metrics count phase calls (auth_plugin access); the bridge adds no bus subscription"
  else
    not_ok "metrics count auth_plugin's access calls, and the bus has 2 subscriptions, got $code:"
    echo "$body" | grep -e 'export="access"' -e 'subscriptions' | show
  fi

  # --- rate limiting: bob may make 5 requests per 10 s window, on any worker
  codes="" first_retry=""
  for i in 1 2 3 4 5 6 7 8; do
    get /api/orders -H "Authorization: Bearer bob-token"
    codes="$codes $code"
    [ "$code" = 429 ] && [ -z "$first_retry" ] && first_retry=$retry
  done
  if [ "$codes" = " 200 200 200 200 200 429 429 429" ] && [ -n "$first_retry" ]; then
    ok "rate limit: bob's 6th request gets 429 (Retry-After: $first_retry)"
  else
    not_ok "rate limit: 5 x 200 then 429 with Retry-After, got$codes (Retry-After: ${first_retry:-none})"
  fi

  # --- the bus: announcements broadcast by one worker reach both, in order
  get "/admin/announce?tag=first&n=5"
  announcer=$body
  start=$(now_ms)
  want=$'worker 0: 1 2 3 4 5\nworker 1: 1 2 3 4 5'
  while :; do
    get "/admin/seen?tag=first"
    [ "$body" = "$want" ] && break
    [ $(($(now_ms) - start)) -gt 3000 ] && break
    sleep 0.01
  done
  took=$(($(now_ms) - start))
  if [ "$body" = "$want" ] && [ "$took" -le 1000 ]; then
    ok "bus: 5 broadcasts ($announcer) reach both workers' buses in order within ${took} ms"
  else
    not_ok "bus: 5 broadcasts ($announcer) reach both workers in order within 1 s, after ${took} ms:"
    echo "$body" | show
  fi

  # --- hot reload: code. headers' GATEWAY changes on disk; both workers serve it
  sed -i 's|qtforge-gateway/1|qtforge-gateway/2|' "$plugins/headers/init.lua"
  if until_both 5 "200 qtforge-gateway/2" /api/orders -H "Authorization: Bearer alpha-token"; then
    ok "hot reload: headers edited on disk, both workers answer X-Gateway qtforge-gateway/2 (${elapsed} ms)"
  else
    not_ok "hot reload: both workers answer X-Gateway qtforge-gateway/2 within 5 s:$trail"
    show "$log"
  fi

  # --- hot reload: configuration. auth_plugin's plugin.toml gains a token
  get /api/orders -H "Authorization: Bearer gamma-token"
  before=$code
  printf '%s\n' '"gamma-token" = "carol"' >> "$plugins/auth_plugin/plugin.toml"
  if [ "$before" = 401 ] && until_both 5 "200 *" /api/orders -H "Authorization: Bearer gamma-token"; then
    ok "hot reload: a token added to auth_plugin's plugin.toml works in both workers (${elapsed} ms)"
  else
    not_ok "hot reload: gamma-token refused before ($before), accepted by both workers after:$trail"
  fi

  # --- a broken edit: both workers keep the running version, and say why
  cp "$plugins/headers/init.lua" "$tmp/headers-good.lua"
  printf 'local broken = \n' >> "$plugins/headers/init.lua"
  for i in $(seq 50); do
    [ "$(grep -c 'plugin "headers" did not reload in worker' "$log")" -ge 2 ] && break
    sleep 0.1
  done
  reported=$(grep -c 'plugin "headers" did not reload in worker' "$log" || true)
  if [ "$reported" -ge 2 ] && until_both 3 "200 qtforge-gateway/2" /api/orders -H "Authorization: Bearer alpha-token"; then
    ok "hot reload: a syntax error is logged by both workers, which keep serving qtforge-gateway/2"
  else
    not_ok "hot reload: a syntax error is reported by both workers ($reported), the old version serves:$trail"
  fi
  sed 's|qtforge-gateway/2|qtforge-gateway/3|' "$tmp/headers-good.lua" > "$plugins/headers/init.lua"
  if until_both 5 "200 qtforge-gateway/3" /api/orders -H "Authorization: Bearer alpha-token"; then
    ok "hot reload: the next good save is picked up by both workers (${elapsed} ms)"
  else
    not_ok "hot reload: the fixed headers plugin serves qtforge-gateway/3 in both workers:$trail"
  fi

  # --- a plugin's broadcast: auth_plugin revokes gamma-token in every worker
  get "/admin/revoke?token=gamma-token"
  if [ "$body" = revoked ] && until_both 5 "401 *" /api/orders -H "Authorization: Bearer gamma-token"; then
    ok "bus: a revocation auth_plugin broadcasts in one worker holds in both (${elapsed} ms)"
  else
    not_ok "bus: gamma-token revoked in both workers:$trail"
  fi
  get /api/orders -H "Authorization: Bearer alpha-token"
  if [ "$code" = 200 ]; then
    ok "other tokens still pass"
  else
    not_ok "alpha-token still passes, got $code"
  fi

  # plugin logs reach ngx.log: auth_plugin warns of each revocation, in each worker
  if [ "$(grep -c 'qtforge \[auth_plugin\] token revoked' "$log")" = 2 ]; then
    ok "plugin logs go to nginx's error log (auth_plugin's warning, once per worker)"
  else
    not_ok "plugin logs go to nginx's error log (auth_plugin's warning, once per worker)"
    grep 'token revoked' "$log" | show
  fi

  # --- a plugin folder that appears is loaded by both workers; its access
  # export ends requests with its own ngx.exit, and its error means 500
  mkdir -p "$tmp/new/blocker"
  cat > "$tmp/new/blocker/plugin.toml" <<'TOML'
name = "blocker"
version = "1.0.0"
exports = ["access"]
capabilities = ["host"]
TOML
  cat > "$tmp/new/blocker/init.lua" <<'LUA'
local plugin = { exports = {} }
function plugin.exports.access()
  if ngx.var.arg_blocker == "exit" then
    ngx.exit(403)
  elseif ngx.var.arg_blocker == "raise" then
    error("blocker was asked to fail")
  end
end
return plugin
LUA
  chmod -R a+rX "$tmp/new"
  # renamed in whole, so the watcher never sees half a plugin
  mv "$tmp/new/blocker" "$plugins/blocker"
  if until_both 5 "403 *" "/api/orders?blocker=exit" -H "Authorization: Bearer alpha-token"; then
    ok "a new plugin folder loads in both workers; its ngx.exit(403) in access ends the request (${elapsed} ms)"
  else
    not_ok "a new plugin folder loads in both workers and its ngx.exit(403) ends the request:$trail"
  fi
  get "/api/orders?blocker=raise" -H "Authorization: Bearer alpha-token"
  if [ "$code" = 500 ] && grep -q 'plugin "blocker" failed in access: .*blocker was asked to fail' "$log"; then
    ok "an access export that raises: 500, and the error logged"
  else
    not_ok "an access export that raises: 500 and the error logged, got $code"
  fi

  # --- a required plugin removed: both workers unload it and /api/ fails closed
  mv "$plugins/rate_limit" "$tmp/rate_limit.off"
  if until_both 5 "503 *" /api/orders -H "Authorization: Bearer alpha-token"; then
    ok "rate_limit's folder removed: both workers unload it, and /api/ (which requires it) answers 503"
  else
    not_ok "rate_limit removed: 503 from both workers:$trail"
  fi
  mv "$tmp/rate_limit.off" "$plugins/rate_limit"
  if until_both 5 "200 *" /api/orders -H "Authorization: Bearer alpha-token"; then
    ok "rate_limit's folder back: both workers load it again and serve 200 (${elapsed} ms)"
  else
    not_ok "rate_limit back: 200 from both workers:$trail"
  fi

  # --- the log: errors only where the test asked for them
  if grep -hE '\[(error|crit|alert|emerg)\]' "$tmp/nginx-start.log" "$log" \
    | grep -v -e 'plugin "headers" did not reload in worker' -e 'plugin "blocker" failed in access' \
      -e 'required plugin "rate_limit" is not running or exports no access' > "$tmp/nginx-errors.log"; then
    not_ok "nginx logs no errors but the ones provoked (broken edit, raising plugin, missing plugin)"
    show "$tmp/nginx-errors.log"
  else
    ok "nginx logs no errors but the ones provoked (broken edit, raising plugin, missing plugin)"
  fi

  if stop_nginx; then
    ok "nginx stops on SIGTERM, no processes left"
  else
    not_ok "nginx stops on SIGTERM within 5s (had to SIGKILL it)"
  fi
  if [ "$(grep -c 'qtforge.openresty: worker [01] stopped: plugins unloaded' "$log")" = 2 ]; then
    ok "exit_worker shuts down both workers' managers"
  else
    not_ok "exit_worker shuts down both workers' managers"
    tail -n 20 "$log" | show
  fi
elif [ -n "$ready" ]; then
  not_ok "nginx starts with the gateway example"
  show "$tmp/nginx-start.log"
  show "$log"
fi

# ---- summary -------------------------------------------------------------------

summary openresty
