-- luacheck: globals love
-- LÖVE host test: loads qtforge in LÖVE's LuaJIT and exits with a status
-- scripts/host-tests.sh checks. 0 is success; each failure has its own code
-- (LÖVE itself exits 1 on an uncaught error).
--   QTFORGE_CPATH          where the LuaJIT build is, e.g. /repo/build/luajit/?.so
--   QTFORGE_EXPECT_VERSION the version qtforge must report
local EXIT = {
  ok = 0,
  no_cpath = 2,
  require_failed = 3,
  wrong_version = 4,
  wrong_flavor = 5,
  wrong_compare = 6,
  plugin_failed = 7,
}

local function fail(code, message)
  io.stderr:write("love host test: ", message, "\n")
  io.stderr:flush()
  love.event.quit(code)
end

local function run()
  local cpath = os.getenv("QTFORGE_CPATH")
  if not cpath or cpath == "" then
    return fail(EXIT.no_cpath, "QTFORGE_CPATH is not set")
  end
  package.cpath = cpath .. ";" .. package.cpath

  local ok, qtforge = pcall(require, "qtforge")
  if not ok then
    return fail(EXIT.require_failed, "require('qtforge') failed: " .. tostring(qtforge))
  end

  local expected = os.getenv("QTFORGE_EXPECT_VERSION")
  if qtforge.version ~= expected then
    local message = ("qtforge.version is %q, expected %q"):format(tostring(qtforge.version), tostring(expected))
    return fail(EXIT.wrong_version, message)
  end
  if qtforge.lua_flavor ~= "luajit" then
    local message = ("qtforge.lua_flavor is %q, expected \"luajit\""):format(tostring(qtforge.lua_flavor))
    return fail(EXIT.wrong_flavor, message)
  end

  local Version = qtforge.utils.Version
  local a, b = Version.parse("1.2.3"), Version(2, 0, 0)
  -- both directions, so a metamethod that always answers the same is caught
  local less, greater = a < b, b < a
  if less ~= true or greater ~= false then
    return fail(EXIT.wrong_compare, ("%s < %s does not hold"):format(tostring(a), tostring(b)))
  end

  -- a native plugin, and the frame loop that drives plugins
  local manager = qtforge.core.PluginManager()
  local loaded = manager:load_plugin((os.getenv("QTFORGE_PLUGINS") or "") .. "/hello.so")
  if not loaded.success then
    return fail(EXIT.plugin_failed, "hello.so did not load: " .. tostring(loaded.error))
  end
  manager:update_all_plugins(1 / 60)
  local greeting = manager:get_plugin("hello"):greet("love")
  local frames = manager:stats().updates
  manager:shutdown()

  io.stdout:write(("qtforge %s %s: %s < %s; %s after %d frame\n"):format(qtforge.version, qtforge.lua_flavor,
    tostring(a), tostring(b), greeting, frames))
  io.stdout:flush()
  love.event.quit(EXIT.ok)
end

function love.load()
  run()
end
