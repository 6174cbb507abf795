#!/usr/bin/env bash
# Runs the busted specs against build/<lua>/qtforge.so under one interpreter.
# usage: run-specs.sh <lua5.4|luajit> [busted arguments...]
# With QTFORGE_RESULTS set to a file, appends the counts to it (see record.sh).
set -euo pipefail
lua=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log="build/specs-$lua.log"
mkdir -p build
# busted takes the spec folder unless the arguments name files or folders
targets=(spec)
for arg in "$@"; do
  if [ -e "$arg" ]; then
    targets=()
  fi
done
echo "== busted under $lua"
set +e
LUA_CPATH="$root/build/$lua/?.so;;" \
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$root/spec/?.lua;;" \
  "$lua" /usr/bin/busted --output=utfTerminal "$@" "${targets[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ -n "${QTFORGE_RESULTS:-}" ]; then
  bash scripts/record.sh "busted-$lua" "$log" "$QTFORGE_RESULTS"
fi
exit "$status"
