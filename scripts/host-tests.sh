#!/usr/bin/env bash
# Host smoke tests: loads build/luajit/qtforge.so inside real hosts that embed
# LuaJIT, nginx with lua-nginx-module and LÖVE (headless), and checks what
# they answer. Prints "ok - ..." / "not ok - ..." per check, then the closing
# line "hosts: N passed, M failed"; appends "hosts N M" to the results file.
# usage: host-tests.sh [results-file]
set -euo pipefail
# results file, checkout, counters, stop_nginx, summary
source "$(dirname "$0")/host-lib.sh" "${1:-}"

so="$root/build/luajit/qtforge.so"
cpath="$root/build/luajit/?.so"
# the native example plugins for LuaJIT (make examples): a host loads hello.so
plugins="$root/build/luajit/plugins"
# what the module must report: Cargo.toml is where its version comes from
expected=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
nginx_modules=/usr/lib/nginx/modules

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qtforge-hosts.XXXXXX")
# nginx workers drop to "nobody" when the master runs as root
chmod 755 "$tmp"
nginx_pid=

cleanup() {
  [ -z "$nginx_pid" ] || stop_nginx || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Environment for the hosts: no inherited Lua paths (a LUA_PATH without ";;"
# would hide resty.core from nginx), no display, a throwaway home.
host_env=(env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_1 -u LUA_CPATH_5_1
  -u DISPLAY -u WAYLAND_DISPLAY HOME="$tmp/home" XDG_DATA_HOME="$tmp/home/.local/share")
mkdir -p "$tmp/home"

if [ ! -f "$so" ]; then
  not_ok "$so exists (run make build-all)"
fi

# ---- nginx + lua-nginx-module ------------------------------------------------


# checks that GET $1 answers exactly $2
check_get() {
  local path=$1 want=$2 got
  if got=$(curl --silent --show-error --fail --max-time 5 "http://127.0.0.1:$port$path" 2>&1); then
    if [ "$got" = "$want" ]; then
      ok "nginx answers $path with $want"
    else
      not_ok "nginx answers $path with $want, got: $got"
    fi
  else
    not_ok "nginx answers $path with $want"
    echo "$got" | show
    show "$tmp/nginx/logs/error.log"
  fi
}

for module in ndk_http_module.so ngx_http_lua_module.so; do
  if [ ! -f "$nginx_modules/$module" ]; then
    not_ok "nginx module $nginx_modules/$module is installed (package libnginx-mod-http-lua)"
  fi
done

if start_nginx spec/hosts/nginx/nginx.conf.in; then
  ok "nginx starts on 127.0.0.1:$port with qtforge loaded by init_by_lua"
  check_get /version "$expected"
  check_get /flavor luajit
  check_get /compare "1.2.3 < 2.0.0: true"
  check_get /plugin "Hello, nginx! (hello 1.0.0 running)"
  # startup messages (init_by_lua's included) go to stderr, the rest to error.log
  if grep -hE '\[(error|crit|alert|emerg)\]' "$tmp/nginx-start.log" "$tmp/nginx/logs/error.log" \
    > "$tmp/nginx-errors.log"; then
    not_ok "nginx logs no errors"
    show "$tmp/nginx-errors.log"
  else
    ok "nginx logs no errors"
  fi
  if stop_nginx; then
    ok "nginx stops on SIGTERM, no processes left"
  else
    not_ok "nginx stops on SIGTERM within 5s (had to SIGKILL it)"
  fi
else
  not_ok "nginx starts with qtforge loaded by init_by_lua"
  show "$tmp/nginx-start.log"
fi

# ---- LÖVE (headless) -----------------------------------------------------------

# conf.lua turns off every module that needs a display, so no DISPLAY or xvfb
love_status=0
QTFORGE_CPATH="$cpath" QTFORGE_EXPECT_VERSION="$expected" QTFORGE_PLUGINS="$plugins" \
  timeout -k 5 20 "${host_env[@]}" love spec/hosts/love \
  > "$tmp/love.out" 2> "$tmp/love.err" < /dev/null || love_status=$?
love_version=$("${host_env[@]}" love --version 2>/dev/null | head -n 1 || true)
check_exit "love exits 0 ($love_version)" "$love_status" "$tmp/love.err" \
  "1=uncaught Lua error" "2=QTFORGE_CPATH not set" "3=require('qtforge') failed" "4=wrong qtforge.version" \
  "5=wrong qtforge.lua_flavor" "6=wrong Version comparison" "7=the native plugin did not load or answer"
want="qtforge $expected luajit: 1.2.3 < 2.0.0; Hello, love! after 1 frame"
check_output "love prints \"$want\"" "$want" "$tmp/love.out"

# ---- summary -------------------------------------------------------------------

summary hosts
