#!/usr/bin/env bash
# Builds the native example plugins into build/<lua>/plugins/<name>.so, and the
# deliberately broken libraries the specs load into build/<lua>/plugins/broken/.
# usage: build-examples.sh [lua5.4|luajit ...]   (default: both)
# Rust examples build in target/examples/<lua>/ (kept between runs), so a run
# with nothing changed only asks cargo and compares files.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
script=$root/scripts/build-examples.sh
cd "$root"
CARGO=${CARGO:-cargo}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -Wall -Wextra}

RUST_EXAMPLES=(hello bundle)
C_EXAMPLES=(c_hello)
BROKEN=(no_symbol abi_v2 bad_info)

# per interpreter: cargo feature, Lua headers, the descriptor's lua_flavor, Debian package
flavour() {
  case $1 in
    lua5.4) feature=lua54 lua_include=/usr/include/lua5.4 lua_flavor=QTFORGE_LUA54 dev_package=liblua5.4-dev ;;
    luajit) feature=luajit lua_include=/usr/include/luajit-2.1 lua_flavor=QTFORGE_LUAJIT dev_package=libluajit2-5.1-dev ;;
    *)
      echo "build-examples.sh: unknown interpreter '$1' (expected lua5.4 or luajit)" >&2
      exit 2
      ;;
  esac
  if [ ! -e "$lua_include/lua.h" ]; then
    echo "build-examples.sh: $lua_include/lua.h is missing: apt-get install -y $dev_package" >&2
    exit 1
  fi
}

# put <file> at <dest> unless it is already there, through a temporary name so
# that a process which has the old library mapped keeps a valid file
install_file() {
  local file=$1 dest=$2
  if [ -e "$dest" ] && cmp -s "$file" "$dest"; then
    echo "  up to date  $dest"
  else
    cp "$file" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    echo "  built       $dest"
  fi
}

# cc <source> into <dest> when the source, the ABI header or this script is newer
build_c() {
  local source=$1 dest=$2
  shift 2 # the rest: extra compiler flags
  if [ -e "$dest" ] && [ "$dest" -nt "$source" ] && [ "$dest" -nt include/qtforge_plugin.h ] \
    && [ "$dest" -nt "$script" ]; then
    echo "  up to date  $dest"
    return
  fi
  # shellcheck disable=SC2086 # CFLAGS is a list of flags
  "$CC" -shared -fPIC $CFLAGS -I"$lua_include" -Iinclude -DQTFORGE_LUA_FLAVOR="$lua_flavor" "$@" \
    "$source" -o "$dest.tmp"
  mv "$dest.tmp" "$dest"
  echo "  built       $dest"
}

interpreters=("$@")
if [ ${#interpreters[@]} -eq 0 ]; then
  interpreters=(lua5.4 luajit)
fi

for lua in "${interpreters[@]}"; do
  flavour "$lua"
  out=build/$lua/plugins
  mkdir -p "$out/broken" "$out/variants"
  echo "== native plugins for $lua"

  for name in "${RUST_EXAMPLES[@]}"; do
    # from the example's folder, so that cargo reads its .cargo/config.toml (lazy binding)
    (cd "examples/native/$name" && CARGO_TARGET_DIR="$root/target/examples/$lua" \
      "$CARGO" build --quiet --release --locked --features "$feature")
    install_file "target/examples/$lua/release/lib$name.so" "$out/$name.so"
  done

  for name in "${C_EXAMPLES[@]}"; do
    build_c "examples/native/$name/$name.c" "$out/$name.so"
  done

  for name in "${BROKEN[@]}"; do
    build_c "examples/native/broken/$name.c" "$out/broken/$name.so"
  done

  # the same plugin rebuilt with other behaviour: the specs reload one over the other
  build_c examples/native/c_hello/c_hello.c "$out/variants/c_hello_v2.so" -DC_HELLO_GREETING='"Howdy from C"'

done
