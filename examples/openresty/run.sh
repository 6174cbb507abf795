#!/usr/bin/env bash
# Runs the gateway in the foreground on 127.0.0.1:PORT (default 8080) with
# the plugins of this folder, from a throwaway nginx prefix; Ctrl-C stops it.
# Edit plugins/*/ while it runs: every worker reloads the plugin.
# usage: examples/openresty/run.sh [port]   (after make build-all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${1:-8080}
[ -f "$root/build/luajit/qtforge.so" ] || { echo "build/luajit/qtforge.so is missing: run make build-all" >&2; exit 1; }

prefix=$(mktemp -d "${TMPDIR:-/tmp}/qtforge-gateway.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
# workers drop to "nobody" when the master runs as root
chmod 755 "$prefix"
mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
conf=$(cat "$here/nginx.conf.in")
conf=${conf//@PREFIX@/$prefix}
conf=${conf//@PORT@/$port}
conf=${conf//@LUA_PATH@/$root/lua/?.lua}
conf=${conf//@CPATH@/$root/build/luajit/?.so}
conf=${conf//@PLUGINS@/$here/plugins}
printf '%s\n' "$conf" > "$prefix/conf/nginx.conf"
echo "gateway on http://127.0.0.1:$port/ (logs: $prefix/logs/error.log)"
# a LUA_PATH without ";;" would hide resty.core from nginx
env -u LUA_PATH -u LUA_CPATH nginx -p "$prefix/" -c "$prefix/conf/nginx.conf" -e stderr
