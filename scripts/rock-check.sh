#!/usr/bin/env bash
# Builds the rock with `luarocks make` for Lua 5.4 and for LuaJIT (LuaRocks'
# "5.1"), each into a throwaway tree, and checks what a user of that tree gets:
# require('qtforge') and require('qtforge.utils') from the tree alone, the Lua
# modules from lua/qtforge, the LuaLS definition files in the rock's directory,
# and a working tree that `luarocks make` left as it was.
# Prints "ok - ..." / "not ok - ..." lines, then "rock: N passed, M failed".
# usage: rock-check.sh [results-file]   (appends "rock N M" to it)
# LuaRocks and cargo output goes to build/rock-<lua>.log, shown when a build fails.
set -euo pipefail
results=${1:-}
case $results in '' | /*) ;; *) results="$PWD/$results" ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rockspec=rockspec/qtforge-scm-1.rockspec
mkdir -p build

work=$(mktemp -d "${TMPDIR:-/tmp}/qtforge-rock.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
pass() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "not ok - $*"; failed=$((failed + 1)); }

git_status() { git status --porcelain --untracked-files=all 2>/dev/null || true; }
status_before=$(git_status)

# The Lua side of the checks; runs with package.path/cpath naming the tree only.
# usage: check.lua <label> <tree> <expected lua_flavor>
cat > "$work/check.lua" <<'LUA'
local label, tree, want_flavor = arg[1], arg[2], arg[3]
local function report(ok, what, why)
  -- one line per check: a multi-line reason (require's search list) is joined with "; "
  local reason = ok and "" or " (" .. tostring(why):gsub(":?\n%s*", "; ") .. ")"
  print((ok and "ok - " or "not ok - ") .. label .. ": " .. what .. reason)
end
local function in_tree(file) return file ~= nil and file:sub(1, #tree + 1) == tree .. "/" end

-- qtforge.utils first: it must work without qtforge having been required
local uok, utils = pcall(require, "qtforge.utils")
local ok, qtforge = pcall(require, "qtforge")
local so = package.searchpath("qtforge", package.cpath)
local shadow = package.searchpath("qtforge", package.path)
if not ok then
  report(false, "require('qtforge') loads qtforge.so from the tree", qtforge)
elseif shadow then
  report(false, "require('qtforge') loads qtforge.so from the tree", "hidden by the Lua file " .. shadow)
elseif not in_tree(so) then
  report(false, "require('qtforge') loads qtforge.so from the tree", "found " .. tostring(so))
elseif qtforge.lua_flavor ~= want_flavor then
  report(false, "require('qtforge') loads qtforge.so from the tree",
    "lua_flavor is " .. tostring(qtforge.lua_flavor) .. ", want " .. want_flavor)
else
  report(true, "require('qtforge') loads " .. so:sub(#tree + 2) .. " (" .. qtforge.lua_flavor .. ")")
end

if not ok then
  report(false, "qtforge.version is a string", "no module")
elseif type(qtforge.version) ~= "string" or qtforge.version == "" then
  report(false, "qtforge.version is a string", "got " .. type(qtforge.version))
else
  report(true, "qtforge.version is a string (" .. qtforge.version .. ")")
end

local what = "require('qtforge.utils').Version == require('qtforge').utils.Version"
if not uok then
  report(false, what, utils)
elseif not ok or type(qtforge.utils) ~= "table" then
  report(false, what, "require('qtforge').utils is not a table")
elseif utils.Version == nil or utils.Version ~= qtforge.utils.Version then
  report(false, what, "got " .. tostring(utils.Version) .. " and " .. tostring(qtforge.utils.Version))
else
  report(true, what)
end

-- the pure-Lua modules (names on stdin) resolve into the tree
local missing = {}
local count = 0
for name in io.lines() do
  count = count + 1
  local file = package.searchpath(name, package.path)
  if not in_tree(file) then missing[#missing + 1] = name .. " -> " .. tostring(file) end
end
report(#missing == 0, count .. " Lua module(s) from lua/qtforge resolve into the tree", table.concat(missing, ", "))
LUA

# check_rock <label> <luarocks lua version> <lua_flavor> [<interpreter> <LUA_INCDIR>]
# (with no interpreter, the one LuaRocks finds for that version)
check_rock() {
  local label=$1 luaver=$2 flavor=$3 interp=${4:-} incdir=${5:-}
  local dir="$work/$label" log="build/rock-$label.log"
  local tree="$dir/tree"
  mkdir -p "$dir"
  local config="$dir/config-$luaver.lua"
  # A LuaRocks configuration of our own, read instead of the user's (the
  # system one is still read first): the temporary tree is the only tree, so
  # nothing installed elsewhere can be picked up; for LuaJIT it also says which
  # interpreter and headers "5.1" means.
  {
    echo "rocks_trees = { [[$tree]] }"
    if [ -n "$interp" ]; then
      echo "lua_interpreter = [[$(basename "$interp")]]"
      echo "variables = {"
      echo "   LUA_DIR = [[$(dirname "$(dirname "$interp")")]],"
      echo "   LUA_BINDIR = [[$(dirname "$interp")]],"
      echo "   LUA_INCDIR = [[$incdir]],"
      echo "   LUA = [[$interp]],"
      echo "}"
    fi
  } > "$config"
  local env_var="LUAROCKS_CONFIG_${luaver/./_}"
  lr() { env "$env_var=$config" luarocks --lua-version="$luaver" --tree="$tree" "$@"; }

  local lua
  lua=$(lr config variables.LUA 2>/dev/null) || lua=""
  if [ -z "$lua" ] || { [ -n "$interp" ] && [ "$lua" != "$interp" ]; }; then
    fail "$label: LuaRocks $luaver builds for ${interp:-a Lua $luaver} (it says '$lua')"
    return
  fi
  interp=$lua

  local start=$SECONDS
  if ! lr make "$rockspec" > "$log" 2>&1; then
    fail "$label: luarocks --lua-version=$luaver make $rockspec (see $log)"
    tail -n 30 "$log" | sed 's/^/    /'
    return
  fi
  pass "$label: luarocks --lua-version=$luaver make $rockspec ($((SECONDS - start))s, for $interp)"

  # where LuaRocks says modules of this tree live; the tree's entries only
  local lr_path lr_cpath
  lr_path=$(lr path --lr-path | tr ';' '\n' | grep -F "$tree/" | paste -sd ';' -) || true
  lr_cpath=$(lr path --lr-cpath | tr ';' '\n' | grep -F "$tree/" | paste -sd ';' -) || true
  local luadir=${lr_path%%\?*}

  # the Lua checks, from a directory with nothing in it, with no default paths
  local modules
  modules=$(cd lua 2>/dev/null && find qtforge -type f -name '*.lua' 2>/dev/null | sed -e 's/\.lua$//' -e 's|/|.|g' | sort) || true
  local out
  out=$(cd "$dir" && printf '%s\n' "$modules" | sed '/^$/d' |
    env -u LUA_INIT -u LUA_INIT_5_4 -u LUA_PATH_5_4 -u LUA_CPATH_5_4 \
      LUA_PATH="$lr_path" LUA_CPATH="$lr_cpath" "$interp" "$work/check.lua" "$label" "$tree" "$flavor" 2>&1) || true
  echo "$out"
  local n_ok n_bad
  n_ok=$(grep -c '^ok - ' <<< "$out" || true)
  n_bad=$(grep -c '^not ok - ' <<< "$out" || true)
  passed=$((passed + n_ok)) failed=$((failed + n_bad))
  [ "$((n_ok + n_bad))" -eq 4 ] || fail "$label: the Lua checks ran to the end"

  # the Lua files are installed as they are in lua/qtforge
  local differ="" rel
  if [ -d lua/qtforge ]; then
    while IFS= read -r rel; do
      cmp -s "lua/qtforge/$rel" "$luadir/qtforge/$rel" || differ="$differ qtforge/$rel"
    done < <(cd lua/qtforge && find . -type f | sed 's|^\./||')
  fi
  if [ -z "$differ" ]; then
    pass "$label: files under lua/qtforge installed under ${luadir#"$tree/"}qtforge"
  else
    fail "$label: files under lua/qtforge installed under ${luadir#"$tree/"}qtforge (missing or different:$differ)"
  fi

  # the qtforge command, installed in the tree's bin/ with LuaRocks' wrapper
  local version_out
  if version_out=$(env -u LUA_PATH -u LUA_CPATH "$tree/bin/qtforge" --version 2>&1) &&
    grep -qF "$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)" <<< "$version_out"; then
    pass "$label: the qtforge command runs from the tree ($version_out)"
  else
    fail "$label: the qtforge command runs from the tree: $version_out"
  fi

  # the LuaLS definition files are in the rock's directory, and not modules
  local rock_dir what
  rock_dir=$(lr show --rock-dir qtforge 2>/dev/null) || rock_dir="$dir/no-rock-dir"
  what="$label: lua/types/*.lua installed in \$(luarocks show --rock-dir qtforge)/types"
  if ! ls lua/types/*.lua > /dev/null 2>&1; then
    fail "$what (no lua/types/*.lua in the checkout)"
  elif ! diff -r lua/types "$rock_dir/types" > "$dir/types.diff" 2>&1; then
    fail "$what ($(head -n 1 "$dir/types.diff"))"
  elif [ -e "${luadir}types" ] || [ -e "${luadir}qtforge.lua" ]; then
    fail "$what (but also installed as modules under $luadir)"
  else
    pass "$what ($(cd lua/types && ls -- *.lua | wc -l) files)"
  fi
}

luajit=$(command -v luajit || echo /usr/bin/luajit)
luajit_inc=$(pkg-config --variable=includedir luajit 2>/dev/null || echo /usr/include/luajit-2.1)
check_rock lua5.4 5.4 lua54
check_rock luajit 5.1 luajit "$luajit" "$luajit_inc"

status_after=$(git_status)
if [ "$status_before" = "$status_after" ]; then
  pass "luarocks make left git status as it was"
else
  fail "luarocks make left git status as it was; now also:"
  diff <(echo "$status_before") <(echo "$status_after") | sed -n 's/^> /    /p'
fi

echo "rock: $passed passed, $failed failed"
if [ -n "$results" ]; then
  echo "rock $passed $failed" >> "$results"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
