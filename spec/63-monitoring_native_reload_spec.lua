-- qtforge.monitoring.PluginHotReloadManager with native plugins: the example
-- libraries (`make examples`) copied into temp folders, loaded, and replaced
-- on disk the way a build does it (renamed over, or written in place as `cp`
-- does); poll() reloads them, keeps the old version through a bad file, and
-- unloads a library that is gone. Also, through
-- reload_plugin: the policy admits a native reload as native code, and every
-- reload reads the file anew.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local reloading = require("support.reloading")
local examples = require("support.libraries")

local contains = plugins.contains
local sleep, poll_until = reloading.sleep, reloading.poll_until
local lib, install, install_bytes = examples.lib, examples.install, examples.install_bytes

describe("PluginHotReloadManager with native plugins", function()
  local root, manager, reloader, reloaded, failures

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
    reloader, reloaded, failures = reloading.recorded(manager)
  end)

  after_each(function()
    reloader:close()
    manager:shutdown()
    fs.remove(root)
  end)

  local function load(name, file)
    local path = install(lib(name), root .. "/" .. (file or name .. ".so"))
    local result = manager:load_plugin(path)
    assert.is_true(result.success, tostring(result.error))
    return path
  end

  local function greet(id)
    return manager:call(id, "greet", "x")
  end

  it("reloads a library a build renames over the old one, and back again", function()
    local path = load("c_hello", "plugin.so")
    assert.is_true(reloader:watch_directory(root))
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    install(lib("variants/c_hello_v2"), path)
    poll_until(reloader, function()
      return #reloaded > 0
    end)
    assert.are.same({ "c_hello" }, reloaded)
    assert.are.same({}, failures)
    local c_hello = manager:get_plugin("c_hello")
    assert.are.equal("Howdy from C, x!", greet("c_hello"))
    assert.are.equal("running", c_hello:state())
    assert.are.equal(path, c_hello:path())
    assert.are.equal(1, c_hello:metadata().reloads)
    assert.are.equal(1, reloader:stats().reloads)

    install(lib("c_hello"), path)
    poll_until(reloader, function()
      return #reloaded > 1
    end)
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    assert.are.equal(2, reloader:stats().reloads)
  end)

  it("reloads a library installed again with the same bytes, and hello hands its count to the new version", function()
    local path = load("hello")
    reloader:watch_directory(root)
    greet("hello")
    greet("hello")
    install(lib("hello"), path)
    poll_until(reloader, function()
      return #reloaded > 0
    end)
    assert.are.same({ "hello" }, reloaded)
    assert.are.equal(1, manager:get_plugin("hello"):metadata().reloads)
    assert.are.equal(2, manager:call("hello", "count"))
    assert.are.equal("Hello, x!", greet("hello"))
  end)

  it("reloads a library written over in place, as `cp` does, and runs the old version until then", function()
    local path = load("c_hello", "plugin.so")
    reloader:watch_directory(root)
    -- truncated and written into the same inode: the process runs its own copy
    fs.write(path, fs.read(lib("variants/c_hello_v2")))
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    poll_until(reloader, function()
      return #reloaded > 0
    end)
    assert.are.equal("Howdy from C, x!", greet("c_hello"))
    -- emptied in place: the reload fails, the running version answers
    fs.write(path, "")
    poll_until(reloader, function()
      return #failures > 0
    end)
    assert.are.equal("not_a_plugin", failures[1].err.code)
    assert.are.equal("Howdy from C, x!", greet("c_hello"))
    assert.are.equal("running", manager:get_plugin("c_hello"):state())
    fs.write(path, fs.read(lib("c_hello")))
    poll_until(reloader, function()
      return #reloaded > 1
    end)
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    assert.are.same({ "c_hello", "c_hello" }, reloaded)
  end)

  it("reloads hello written over in place with the same bytes, and hello keeps its count", function()
    local path = load("hello")
    reloader:watch_directory(root)
    greet("hello")
    fs.write(path, fs.read(lib("hello")))
    assert.are.equal(1, manager:call("hello", "count"))
    poll_until(reloader, function()
      return #reloaded > 0
    end)
    assert.are.equal(1, manager:call("hello", "count"))
    assert.are.equal("Hello, x!", greet("hello"))
    assert.are.same({}, failures)
  end)

  it("keeps the old version when garbage is renamed over the library, then takes the next good build", function()
    local path = load("c_hello", "plugin.so")
    reloader:watch_directory(root)
    local seen = plugins.record(manager)
    install_bytes("this is not a library", path)
    poll_until(reloader, function()
      return #failures > 0
    end)
    assert.are.equal(1, #failures)
    assert.are.equal("c_hello", failures[1].id)
    local err = failures[1].err
    assert.is_true(qtforge.Error.is(err))
    assert.are.equal("not_a_plugin", err.code)
    contains(tostring(err), path, "not a shared library of this platform")
    assert.are.same({}, reloaded)
    assert.are.same({ "reload_failed:c_hello" }, seen)
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    assert.are.equal("running", manager:get_plugin("c_hello"):state())
    assert.are.equal(1, reloader:stats().failures)

    install(lib("variants/c_hello_v2"), path)
    poll_until(reloader, function()
      return #reloaded > 0
    end)
    assert.are.equal("Howdy from C, x!", greet("c_hello"))
    assert.are.equal(1, #failures)
  end)

  it("keeps the old version when the new library holds another plugin", function()
    local path = load("c_hello", "plugin.so")
    reloader:watch_directory(root)
    install(lib("hello"), path)
    poll_until(reloader, function()
      return #failures > 0
    end)
    local err = failures[1].err
    assert.are.equal("not_a_plugin", err.code)
    contains(tostring(err), 'the library no longer holds plugin "c_hello"')
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    assert.is_nil(manager:get_plugin("hello"))
  end)

  it("keeps the old version when the new library is built for the other Lua", function()
    local other = "build/" .. (jit and "lua5.4" or "luajit") .. "/plugins/c_hello.so"
    local path = load("c_hello", "plugin.so")
    reloader:watch_directory(root)
    install(other, path)
    poll_until(reloader, function()
      return #failures > 0
    end)
    assert.are.equal("lua_mismatch", failures[1].err.code)
    assert.are.equal("Hello from C, x!", greet("c_hello"))
  end)

  it("reloads only the library that changed, and loads a plugin folder that appears beside it", function()
    local c_path = load("c_hello")
    load("hello")
    reloader:watch_directory(root)
    install(lib("variants/c_hello_v2"), c_path)
    plugins.folder(root, "newcomer", { source = "return { exports = { value = function() return 'new' end } }\n" })
    poll_until(reloader, function()
      return #reloaded > 0 and manager:get_plugin("newcomer") ~= nil
    end)
    sleep(0.2)
    reloader:poll()
    -- (a slow machine may see the newcomer's files written after it loaded, and reload it)
    local libraries = {}
    for _, id in ipairs(reloaded) do
      if id ~= "newcomer" then
        libraries[#libraries + 1] = id
      end
    end
    assert.are.same({ "c_hello" }, libraries)
    assert.are.equal("Howdy from C, x!", greet("c_hello"))
    assert.are.equal(0, manager:get_plugin("hello"):metadata().reloads)
    assert.are.equal("new", manager:call("newcomer", "value"))
    assert.are.equal(1, reloader:stats().loads)
  end)

  it("reloads every plugin of a library, in load order", function()
    local path = load("bundle")
    reloader:watch_directory(root)
    install(lib("bundle"), path)
    poll_until(reloader, function()
      return #reloaded > 1
    end)
    assert.are.same({ "bundle_base", "bundle_extra" }, reloaded)
    assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))
  end)

  it("unloads the plugins of a library that is removed, and no other", function()
    local path = load("bundle")
    load("c_hello")
    reloader:watch_directory(root)
    assert(os.remove(path))
    poll_until(reloader, function()
      return manager:get_plugin("bundle_base") == nil
    end)
    assert.are.same({ "c_hello" }, manager:load_order())
    assert.are.equal("Hello from C, x!", greet("c_hello"))
    assert.are.same({}, failures)
    assert.are.same({}, reloaded)
  end)
end)

describe("PluginManager:reload_plugin of a native plugin", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("admits the new version as native, as its load was: it stays trusted", function()
    local manager = plugins.manager()
    local path = install(lib("hello"), root .. "/hello.so")
    assert.is_true(manager:load_plugin(path).success)
    local security = manager:security()
    assert.are.equal("trusted", security:trust_level("hello"))
    local result = manager:reload_plugin("hello")
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("trusted", security:trust_level("hello"))
    manager:shutdown()
  end)

  it("reads the file anew for each manager, though the libraries reloaded before had the same name", function()
    -- each round a new manager reloads its own plugin.so from one version to the other
    local function round(n)
      local manager = plugins.manager()
      local path = root .. "/" .. n .. "/plugin.so"
      fs.mkdir(root .. "/" .. n)
      local first, second, want = "c_hello", "variants/c_hello_v2", "Howdy from C, x!"
      if n % 2 == 0 then
        first, second, want = second, first, "Hello from C, x!"
      end
      install(lib(first), path)
      assert.is_true(manager:load_plugin(path).success)
      install(lib(second), path)
      assert.is_true(manager:reload_plugin("c_hello").success)
      assert.are.equal(want, manager:call("c_hello", "greet", "x"), "round " .. n)
      manager:shutdown()
    end
    for n = 1, 4 do
      round(n)
      -- a freed manager's successor may sit at its address
      collectgarbage()
      collectgarbage()
    end
  end)

  it("reloads under a policy that requires integrity lists, which only folder plugins have", function()
    local manager = plugins.manager({ security = qtforge.security.SecurityManager({ require_integrity = true }) })
    local path = install(lib("c_hello"), root .. "/plugin.so")
    assert.is_true(manager:load_plugin(path).success)
    install(lib("variants/c_hello_v2"), path)
    local result = manager:reload_plugin("c_hello")
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("Howdy from C, x!", manager:call("c_hello", "greet", "x"))
    manager:shutdown()
  end)
end)
