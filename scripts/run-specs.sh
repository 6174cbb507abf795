#!/usr/bin/env bash
# Runs the busted specs against build/<lua>/qtforge.so under one interpreter.
# usage: run-specs.sh <lua5.4|luajit> [results-file]
set -euo pipefail
lua=$1
results=${2:-}
shift $(( $# < 2 ? $# : 2 ))
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log="build/specs-$lua.log"
mkdir -p build
echo "== busted under $lua"
set +e
LUA_CPATH="$root/build/$lua/?.so;;" \
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$root/spec/?.lua;;" \
  "$lua" /usr/bin/busted --output=utfTerminal "$@" spec 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ -n "$results" ]; then
  bash scripts/record.sh "busted-$lua" "$log" "$results"
fi
exit "$status"
