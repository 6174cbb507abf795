-- qtforge as a LuaRocks rock, built from a checkout:
--
--   luarocks --lua-version=5.4 make rockspec/qtforge-scm-1.rockspec
--   luarocks --lua-version=5.1 make rockspec/qtforge-scm-1.rockspec   -- 5.1 set up as LuaJIT
--
-- `make rock` (scripts/rock-check.sh) builds it both ways into throwaway trees
-- and checks what a user of the tree gets.
package = "qtforge"
version = "scm-1"

source = {
   -- `luarocks make` builds the current directory and never fetches this;
   -- it is here because a rockspec must name a source. There is no public
   -- repository yet: replace it before `luarocks build`/`install` can work.
   url = "git+https://example.invalid/qtforge.git",
}

description = {
   summary = "A plugin runtime for Lua hosts (plain Lua, OpenResty, LÖVE), backed by Rust",
   detailed = [[
qtforge is a native module written in Rust (mlua) plus a few pure-Lua host
adapters. require('qtforge') returns a table of submodules; each submodule can
also be required on its own, e.g. require('qtforge.utils').
Builds for Lua 5.4 and for LuaJIT 2.1; building needs cargo (Rust >= 1.88).
LuaLS definition files are installed in the rock's directory, under types/.
]],
   license = "MIT",
}

-- LuaRocks knows one Lua 5.1 ABI; qtforge builds for LuaJIT there, and for 5.4.
-- Plain Lua 5.1, 5.2 and 5.3 stop in the build step with a message saying so.
dependencies = {
   "lua >= 5.1",
}

-- Which build of the native module the interpreter LuaRocks builds for takes:
-- LuaJIT (LuaRocks' "5.1") or Lua 5.4. The interpreter is asked rather than
-- trusted by name. The cargo features and target directories are the
-- Makefile's, so after `make build-all` the cargo step here has nothing to do.
-- ($(LUA) is substituted by LuaRocks; backquotes rather than $(...) for the
-- shell, since LuaRocks would take $(word) for one of its variables.)
local pick_flavour = [[
set -e
lua_kind=`"$(LUA)" -e "io.write(jit and 'luajit' or _VERSION)"`
case "$lua_kind" in
   luajit)    flavour=luajit; features="--no-default-features --features luajit,module" ;;
   "Lua 5.4") flavour=lua5.4; features="--features module" ;;
   *) echo "qtforge builds for Lua 5.4 and LuaJIT, not for $(LUA) ($lua_kind)" >&2; exit 1 ;;
esac
]]

build = {
   type = "command",

   build_command = pick_flavour .. [[
CARGO_TARGET_DIR="target/$flavour" ${CARGO:-cargo} build --release --locked $features
]],

   -- $(PREFIX) is the rock's own directory (<tree>/lib/luarocks/rocks-<v>/qtforge/scm-1);
   -- LuaRocks then deploys what lands in $(LIBDIR) to <tree>/lib/lua/<v>/ and
   -- what lands in $(LUADIR) to <tree>/share/lua/<v>/.
   --
   -- * The native module is installed as qtforge.so: Lua looks for
   --   luaopen_qtforge in qtforge.so, and require('qtforge.utils') finds
   --   luaopen_qtforge_utils in the same file (the all-in-one loader).
   --
   -- * Every file under lua/qtforge/ is installed as is, so lua/qtforge/x.lua
   --   is module qtforge.x and a new file needs no edit here. Nothing may be
   --   called lua/qtforge.lua or lua/qtforge/init.lua: package.path is
   --   searched before package.cpath, so it would hide the native module.
   --
   -- * The LuaLS definition files (lua/types/*.lua, `---@meta`) go to
   --   $(PREFIX)/types, in the rock's directory, and are not modules. As
   --   modules they could only do harm: types/qtforge.lua installed as
   --   `qtforge` would hide the native module, `types.*` would collide with any
   --   other rock doing the same, and `qtforge.types.*` would be requirable
   --   stubs with empty bodies. LuaLS reads definition files from the
   --   directories in its `workspace.library` setting, so users add
   --      `luarocks show --rock-dir qtforge`/types
   --   there; in a checkout the same files are lua/types. (copy_directories
   --   cannot be used for this: it copies lua/types to $(PREFIX)/lua/types,
   --   which is $(LUADIR), and LuaRocks would deploy them as modules types.*.)
   install_command = pick_flavour .. [[
so="target/$flavour/release/libqtforge.so"
if [ ! -f "$so" ]; then echo "qtforge: $so is missing; the build step did not make it" >&2; exit 1; fi
mkdir -p "$(LIBDIR)" "$(LUADIR)"
cp "$so" "$(LIBDIR)/qtforge.so"
if [ -d lua/qtforge ]; then
   mkdir -p "$(LUADIR)/qtforge"
   cp -R lua/qtforge/. "$(LUADIR)/qtforge/"
fi
if [ -d lua/types ]; then
   mkdir -p "$(PREFIX)/types"
   cp -R lua/types/. "$(PREFIX)/types/"
fi
]],

   -- The `qtforge` command. LuaRocks installs it in the tree's bin/ with a
   -- wrapper that runs it under the interpreter the rock was built for, with
   -- the tree's paths; the command build type still honours install.bin.
   install = { bin = { qtforge = "bin/qtforge" } },
}
