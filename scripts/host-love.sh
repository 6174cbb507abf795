#!/usr/bin/env bash
# LÖVE host test of qtforge.love: runs the game example (examples/love2d) in
# real headless LÖVE with build/luajit/qtforge.so and lua/qtforge/love.lua,
# pushing events, editing plugin files while it runs and making plugins fail
# (spec/hosts/love-game/main.lua), then runs the seed's LÖVE example as written
# with its two native plugins (spec/hosts/love-game/seed). Prints "ok - ..." /
# "not ok - ..." per check, then the closing line "love: N passed, M failed";
# appends "love N M" to the results file.
# usage: host-love.sh [results-file]
set -euo pipefail
# results file, checkout, counters, stop_nginx, summary
source "$(dirname "$0")/host-lib.sh" "${1:-}"

so="$root/build/luajit/qtforge.so"
cpath="$root/build/luajit/?.so"
lua_path="$root/lua/?.lua"
CC=${CC:-cc}
lua_include=/usr/include/luajit-2.1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qtforge-love.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# no inherited Lua paths, no display, a throwaway home (LÖVE's save folder)
host_env=(env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_1 -u LUA_CPATH_5_1
  -u DISPLAY -u WAYLAND_DISPLAY HOME="$tmp/home" XDG_DATA_HOME="$tmp/home/.local/share")
mkdir -p "$tmp/home"

if [ ! -f "$so" ]; then
  not_ok "$so exists (run make build-all)"
fi
love_version=$("${host_env[@]}" love --version 2>/dev/null | head -n 1 || true)

# ---- the game example, with the adapter -----------------------------------------

# the example as a game folder of its own (its files are edited during the run):
# its main.lua becomes game.lua, run unchanged by the test's main.lua
game="$tmp/game"
mkdir -p "$game"
cp -R examples/love2d/. "$game/"
rm -rf "$game/seed"
mv "$game/main.lua" "$game/game.lua"
cp spec/hosts/love-game/main.lua spec/hosts/love-game/conf.lua "$game/"
cp spec/hosts/love-game/plugins/*.lua "$game/plugins/"

# what the example holds before the run, to check the run left it alone
sums() { find examples/love2d -type f -print0 | sort -z | xargs -0 sha256sum; }
sums > "$tmp/before.sums"

game_status=0
started=$(date +%s%N)
QTFORGE_CPATH="$cpath" QTFORGE_LUA_PATH="$lua_path" QTFORGE_DEADLINE=20 \
  timeout -k 5 25 "${host_env[@]}" love "$game" \
  > "$tmp/game.out" 2> "$tmp/game.err" < /dev/null || game_status=$?
elapsed_ms=$((($(date +%s%N) - started) / 1000000))

# the checks the run printed, each one line
plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tmp/game.out" | head -n 1)
reported=0
while IFS= read -r line; do
  case $line in
    "ok - "*) ok "game: ${line#ok - }"; reported=$((reported + 1)) ;;
    "not ok - "*) not_ok "game: ${line#not ok - }"; reported=$((reported + 1)) ;;
  esac
done < "$tmp/game.out"
if [ -n "$plan" ] && [ "$reported" -eq "$plan" ]; then
  ok "game: all $plan checks ran ($(sed -n 's/^# //p' "$tmp/game.out"))"
else
  not_ok "game: all ${plan:-?} checks ran, $reported reported"
fi

check_exit "game: love exits 0 after the run ($love_version, $elapsed_ms ms)" "$game_status" "$tmp/game.err" \
  "1=uncaught Lua error" "2=QTFORGE_CPATH or QTFORGE_LUA_PATH not set" "3=a check failed" \
  "4=the run took over 20 s"

# what went to the log: the adapter's line for the export that raised (with
# its traceback), the core's for the update that raised
if grep -q 'qtforge.love \[error\] load_error: plugin "fumble" failed in keypressed: fumbled the f key (.*fumble.lua:[0-9]*) (plugin failed)' \
  "$tmp/game.err" && grep -q 'stack traceback' "$tmp/game.err" \
  && grep -q 'qtforge \[error\] bomb: plugin "bomb" failed in update: boom at update 30' "$tmp/game.err"; then
  ok "game: plugin errors are logged to stderr (the adapter's with a traceback, the core's)"
else
  not_ok "game: plugin errors are logged to stderr, got:"
  show "$tmp/game.err"
fi

# the run edited the copy, never the example
if sums | cmp -s - "$tmp/before.sums"; then
  ok "game: examples/love2d is unchanged by the run"
else
  not_ok "game: examples/love2d is unchanged by the run"
  sums | diff "$tmp/before.sums" - | show
fi

# ---- the seed's LÖVE example, as written ------------------------------------------

# its plugins are native: build them for LÖVE's LuaJIT into the folder it runs
# in, since it loads "audio_plugin.so" and "graphics_plugin.so" relative to it
seed="$tmp/seed"
mkdir -p "$seed"
built=1
for name in audio_plugin graphics_plugin; do
  if ! "$CC" -shared -fPIC -O2 -Wall -Wextra -I"$lua_include" -Iinclude -DQTFORGE_LUA_FLAVOR=QTFORGE_LUAJIT \
    -DPLUGIN_NAME="$name" examples/love2d/seed/frame_counter.c -o "$seed/$name.so" 2> "$tmp/cc-$name.err"; then
    built=0
    not_ok "seed: $name.so builds (needs $lua_include/lua.h: apt-get install libluajit2-5.1-dev)"
    show "$tmp/cc-$name.err"
  fi
done

if [ "$built" -eq 1 ]; then
  ok "seed: audio_plugin.so and graphics_plugin.so build from examples/love2d/seed/frame_counter.c"
  seed_status=0
  (cd "$seed" && QTFORGE_CPATH="$cpath" QTFORGE_SEED="$root/examples/love2d/seed/main.lua" QTFORGE_FRAMES=30 \
    timeout -k 5 20 "${host_env[@]}" love "$root/spec/hosts/love-game/seed" \
    > "$tmp/seed.out" 2> "$tmp/seed.err" < /dev/null) || seed_status=$?
  check_exit "seed: love exits 0" "$seed_status" "$tmp/seed.err" \
    "1=uncaught Lua error" "2=QTFORGE_CPATH or QTFORGE_SEED not set" "3=the seed's main.lua did not run" \
    "4=the seed's love.update has no manager upvalue" "5=a plugin did not load" \
    "6=a plugin was not updated once per frame"
  want="seed: audio_plugin 1.0.0 running, 30 updates; graphics_plugin 1.0.0 running, 30 updates"
  check_output "seed: the example as written updates both plugins every frame (\"$want\")" "$want" "$tmp/seed.out"
fi

# ---- summary -------------------------------------------------------------------

summary love
