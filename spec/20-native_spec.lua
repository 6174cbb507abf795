-- Native plugins: the example libraries (scripts/build-examples.sh, `make examples`)
-- loaded, inspected, refused, reloaded and configured like Lua plugins, with
-- dependencies both ways between native and Lua plugins.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")
local libraries = require("support.libraries")

local core = qtforge.core

-- the other interpreter
local OTHER = jit and "lua5.4" or "luajit"
-- what a library's descriptor calls each Lua
local HOST_LUA = jit and "luajit" or "lua54"
local OTHER_LUA = jit and "lua54" or "luajit"
local unpack = table.unpack or unpack -- luacheck: ignore 113
local OTHER_LIBS = "build/" .. OTHER .. "/plugins/"
local lib, install = libraries.lib, libraries.install

--- Whether a file at `path` is mapped into this process (Linux: /proc/self/maps; nil elsewhere).
local function mapped(path)
  local maps = fs.read("/proc/self/maps")
  if maps == nil then
    return nil
  end
  return maps:find(path, 1, true) ~= nil
end

--- How many private copies of a library named `file_name` this process has mapped
--- (Linux; nil elsewhere). Every load maps one, whose file is gone once mapped.
local function mapped_copies(file_name)
  local maps = fs.read("/proc/self/maps")
  if maps == nil then
    return nil
  end
  local name = file_name:gsub("%p", "%%%0")
  local seen, count = {}, 0
  for copy in maps:gmatch("/qtforge%-%d+%-%x+%-%d+/%d+%-" .. name .. " %(deleted%)") do
    if not seen[copy] then
      seen[copy], count = true, count + 1
    end
  end
  return count
end

--- The private folders of this process's copies still on disk (Linux; nil elsewhere).
local function copy_folders()
  local stat = fs.read("/proc/self/stat")
  if stat == nil then
    return nil
  end
  local temp = os.getenv("TMPDIR") or "/tmp"
  local ls = assert(io.popen("ls -d '" .. temp .. "/qtforge-" .. stat:match("^%d+") .. "-'* 2>/dev/null"))
  local folders = {}
  for line in ls:lines() do
    folders[#folders + 1] = line
  end
  ls:close()
  return folders
end

--- A Lua plugin "c_greeting" exporting word(): c_hello's optional dependency.
local function greeting_plugin(word, version)
  return {
    manifest = { name = "c_greeting", version = version or "1.0.0", exports = { "word" } },
    exports = {
      word = function()
        return word
      end,
    },
  }
end

-- the source of a Lua plugin whose export welcome(name) greets through its dependency hello
local HELLO_USER = [[
local plugin = { exports = {} }
local deps
function plugin.on_load(ctx)
  deps = ctx.deps
end
function plugin.exports.welcome(name)
  return "[" .. deps.hello.greet(name) .. "]"
end
return plugin
]]

describe("native plugins", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  describe("loading the examples", function()
    it("loads hello.so (Rust) and calls its exports every way a Lua plugin's are called", function()
      local path = lib("hello")
      local result = manager:load_plugin(path)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("hello", result.plugin_id)
      assert.are.same({ "hello" }, result.plugin_ids)
      assert.are.equal(1, #result.results)
      assert.is_true(result.results[1].success)
      assert.are.equal("hello", result.results[1].plugin_id)
      assert.are.equal(path, result.path)
      assert.is_nil(result.error)

      local hello = manager:get_plugin("hello")
      assert.are.equal("Hello, Ada!", manager:call("hello", "greet", "Ada"))
      assert.are.equal("Hello, Bob!", hello:greet("Bob"))
      assert.are.equal("Hello, Cy!", hello.exports.greet("Cy"))
      assert.are.equal(3, hello:count())
      assert.are.equal("hello", hello:name())
      assert.are.equal("1.0.0", hello:version():to_string())
      assert.are.equal("running", hello:state())
      assert.are.equal("Says hello, in the greeting its config gives", hello:description())
      assert.are.equal(path, hello:path())
      local metadata = hello:metadata()
      assert.are.equal("native", metadata.kind)
      assert.are.equal(path, metadata.path)
      assert.are.same({ "greet", "count" }, metadata.exports)
      assert.are.same({}, metadata.dependencies)
      assert.are.equal(1, #manager:registry():find_by_kind("native"))
    end)

    it("loads c_hello.so (C), whose on_load kept ctx.id", function()
      local result = manager:load_plugin(lib("c_hello"))
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("c_hello", result.plugin_id)
      local c_hello = manager:get_plugin("c_hello")
      assert.are.equal("Hello from C, Ada!", c_hello:greet("Ada"))
      assert.are.equal("Hello from C, Bob!", manager:call("c_hello", "greet", "Bob"))
      assert.are.equal("Hello from C, Cy!", c_hello.exports.greet("Cy"))
      assert.are.equal("c_hello", c_hello:loaded_as())
      assert.are.equal("1.0.0", c_hello:version():to_string())
      assert.are.equal("running", c_hello:state())
      assert.are.equal("native", c_hello:metadata().kind)
      assert.are.same({ { name = "c_greeting", version = "^1.0", optional = true } }, c_hello:metadata().dependencies)
    end)

    it("emits loaded and started, and leaves the plugin loaded when asked not to start it", function()
      local seen = plugins.record(manager)
      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.is_true(manager:load_plugin(lib("c_hello"), { start = false }).success)
      assert.are.same({ "loaded:hello", "started:hello", "loaded:c_hello" }, seen)
      assert.are.equal("loaded", manager:get_plugin("c_hello"):state())
      assert.are.equal("Hello from C, x!", manager:get_plugin("c_hello"):greet("x"))
      assert.is_true(manager:start_plugin("c_hello").success)
      assert.is_true(manager:stop_plugin("hello").success)
      assert.are.equal("stopped", manager:get_plugin("hello"):state())
      assert.is_true(manager:start_plugin("hello").success)
      assert.are.same({ hello = "Hello, y!", c_hello = "Hello from C, y!" }, (manager:broadcast("greet", "y")))
    end)

    it("unloads a native plugin, and loads it again as a fresh instance", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      local hello = manager:get_plugin("hello")
      hello:greet("a")
      hello:greet("b")
      assert.are.equal(2, hello:count())
      local seen = plugins.record(manager)
      local result = manager:unload_plugin("hello")
      assert.is_true(result.success)
      assert.are.same({ "hello" }, result.unloaded)
      assert.are.same({ "unloaded:hello" }, seen)
      assert.are.equal("unloaded", hello:state())
      assert.are.equal("native", hello:metadata().kind)
      local ok, err = pcall(hello.greet, hello, "c")
      assert.is_false(ok)
      plugins.contains(err, 'plugin "hello" is unloaded')
      assert.are.same({}, manager:load_order())

      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.are.equal(0, manager:get_plugin("hello"):count())
      assert.are.equal("Hello, d!", manager:get_plugin("hello"):greet("d"))
    end)
  end)

  describe("reading a library without loading it", function()
    it("PluginLoader.inspect gives hello.so's info", function()
      local path = lib("hello")
      local info = assert(core.PluginLoader.inspect(path))
      assert.are.equal("hello", info.id)
      assert.are.equal("hello", info.name)
      assert.are.equal("1.0.0", info.version)
      assert.are.equal("native", info.kind)
      assert.are.equal(path, info.path)
      assert.are.equal("Says hello, in the greeting its config gives", info.description)
      assert.are.same({ "greet", "count" }, info.exports)
      assert.are.same({}, info.dependencies)
      assert.are.equal(1, #info.plugins)
      assert.are.equal("hello", info.plugins[1].id)
    end)

    it("PluginLoader.inspect lists every plugin of bundle.so in info.plugins", function()
      local path = lib("bundle")
      local info = assert(core.PluginLoader.inspect(path))
      assert.are.equal("bundle_base", info.id)
      assert.are.equal(2, #info.plugins)
      local base, extra = info.plugins[1], info.plugins[2]
      assert.are.same({ "bundle_base", "1.0.0", "native", path }, { base.id, base.version, base.kind, base.path })
      assert.are.same({ "bundle_extra", "1.0.0", "native", path }, { extra.id, extra.version, extra.kind, extra.path })
      assert.are.same({}, base.dependencies)
      assert.are.same({ { name = "bundle_base", version = "^1.0", optional = false } }, extra.dependencies)
      assert.are.same({ "add" }, base.exports)
      assert.are.same({ "add3", "frames" }, extra.exports)
      assert.are.equal("Adds three numbers with bundle_base and counts frames", extra.description)
    end)

    it("PluginLoader.inspect gives c_hello.so's optional dependency", function()
      local info = assert(core.PluginLoader.inspect(lib("c_hello")))
      assert.are.equal("c_hello", info.id)
      assert.are.same({ { name = "c_greeting", version = "^1.0", optional = true } }, info.dependencies)
      assert.are.same({ "greet", "loaded_as" }, info.exports)
    end)

    it("PluginLoader.inspect answers nil and the Error a load would give", function()
      local cases = {
        { lib("broken/no_symbol"), "symbol_missing" },
        { lib("broken/abi_v2"), "abi_mismatch" },
        { lib("broken/bad_info"), "invalid_manifest" },
        { OTHER_LIBS .. "hello.so", "lua_mismatch" },
        { root .. "/missing.so", "not_found" },
      }
      for _, case in ipairs(cases) do
        local info, err = core.PluginLoader.inspect(case[1])
        assert.is_nil(info, case[1])
        assert.are.equal(case[2], err.code, case[1])
      end
    end)

    it("inspect and discover open no plugin and leave no library mapped", function()
      local paths = {}
      for _, name in ipairs({ "hello", "bundle", "c_hello" }) do
        paths[#paths + 1] = install(lib(name), root .. "/" .. name .. ".so")
      end
      -- copies mapped by the specs before this one stay mapped
      local copies = {}
      for _, name in ipairs({ "hello.so", "bundle.so", "c_hello.so" }) do
        copies[name] = mapped_copies(name)
      end
      local seen = plugins.record(manager)
      for _, path in ipairs(paths) do
        assert(core.PluginLoader.inspect(path))
      end
      local infos = manager:discover(root)
      assert.are.equal(4, #infos)
      assert.are.same({}, seen)
      assert.are.same({}, manager:load_order())
      local stats = manager:stats()
      assert.are.same({ 0, 0, 0 }, { stats.plugins, stats.loads, stats.load_failures })
      -- a plugin once opened keeps its library mapped for good: none of these was
      for _, path in ipairs(paths) do
        assert.are_not.equal(true, mapped(path), path .. " is mapped")
      end
      if mapped_copies("hello.so") ~= nil then
        for name, count in pairs(copies) do
          assert.are.equal(count, mapped_copies(name), "a copy of " .. name .. " is still mapped")
        end
        -- the check can see a mapped library: loading one keeps a private copy
        -- mapped, never the file itself, and leaves no copy on disk
        assert.is_true(manager:load_plugin(paths[1]).success)
        assert.is_false(mapped(paths[1]))
        assert.are.equal(copies["hello.so"] + 1, mapped_copies("hello.so"))
        assert.are.same({}, copy_folders())
      end
    end)

    it("discover lists libraries beside Lua plugins, one info per plugin, and what cannot load", function()
      install(lib("hello"), root .. "/hello.so")
      install(lib("bundle"), root .. "/bundle.so")
      install(lib("broken/bad_info"), root .. "/bad_info.so")
      fs.write(root .. "/notes.so", "not a library")
      plugins.folder(root, "lua_side", { deps = { { "hello", "^1.0" } } })
      local infos, failures = manager:discover(root)
      local found = {}
      for _, info in ipairs(infos) do
        found[#found + 1] = info.id .. ":" .. info.kind
      end
      table.sort(found)
      assert.are.same({ "bundle_base:native", "bundle_extra:native", "hello:native", "lua_side:folder" }, found)
      local refused = {}
      for _, failure in ipairs(failures) do
        refused[#refused + 1] = failure.path .. " " .. failure.error.code
      end
      table.sort(refused)
      assert.are.same({ root .. "/bad_info.so invalid_manifest", root .. "/notes.so not_a_plugin" }, refused)
      assert.are.same({}, manager:load_order())
    end)
  end)

  describe("a library of several plugins", function()
    it("loads them all in dependency order, and the result speaks for each", function()
      local path = lib("bundle")
      local seen = plugins.record(manager)
      local result = manager:load_plugin(path)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("bundle_base", result.plugin_id)
      assert.are.same({ "bundle_base", "bundle_extra" }, result.plugin_ids)
      assert.are.equal(path, result.path)
      assert.is_nil(result.error)
      assert.are.equal(2, #result.results)
      for i, id in ipairs({ "bundle_base", "bundle_extra" }) do
        assert.is_true(result.results[i].success)
        assert.are.equal(id, result.results[i].plugin_id)
        assert.are.equal(path, result.results[i].path)
      end
      assert.are.same({ "loaded:bundle_base", "started:bundle_base", "loaded:bundle_extra", "started:bundle_extra" },
        seen)
      assert.are.same({ "bundle_base", "bundle_extra" }, manager:load_order())
      assert.are.equal(5, manager:call("bundle_base", "add", 2, 3))
      assert.are.equal(2.5, manager:call("bundle_base", "add", 1, 1.5))
      assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))
      assert.are.equal(6, manager:get_plugin("bundle_extra"):add3(1, 2, 3))
    end)

    it("ticks bundle_extra's update hook, and only while it runs", function()
      assert.is_true(manager:load_plugin(lib("bundle")).success)
      local extra = manager:get_plugin("bundle_extra")
      assert.are.equal(0, extra:frames())
      assert.are.equal(1, manager:update_all_plugins(1 / 60))
      assert.are.equal(1, manager:update_all_plugins(1 / 60))
      assert.are.equal(2, extra:frames())
      manager:stop_plugin("bundle_extra")
      assert.are.equal(0, manager:update_all_plugins(1 / 60))
      assert.are.equal(2, extra:frames())
      manager:start_plugin("bundle_extra")
      manager:update_all_plugins(1 / 60)
      assert.are.equal(3, extra:frames())
      assert.are.equal(4, manager:stats().updates)
    end)

    it("refuses to unload bundle_base under bundle_extra, and cascades in reverse load order", function()
      assert.is_true(manager:load_plugin(lib("bundle")).success)
      local seen = plugins.record(manager)
      local err = plugins.failed(manager:unload_plugin("bundle_base"), "has_dependents")
      assert.are.equal("bundle_extra", err.details)
      assert.are.same({}, seen)
      assert.are.equal("running", manager:get_plugin("bundle_base"):state())
      assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))

      local result = manager:unload_plugin("bundle_base", { cascade = true })
      assert.is_true(result.success)
      assert.are.same({ "bundle_extra", "bundle_base" }, result.unloaded)
      assert.are.same({}, result.errors)
      assert.are.same({ "unloaded:bundle_extra", "unloaded:bundle_base" }, seen)
      assert.are.same({}, manager:load_order())
      -- the library stays mapped and loads again
      assert.is_true(manager:load_plugin(lib("bundle")).success)
      assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))
    end)

    it("loads the plugins of the library that can load when one id is taken", function()
      -- a Lua bundle_base is already there: bundle_extra loads against it
      assert.is_true(manager:register_plugin({
        manifest = { name = "bundle_base", version = "1.5.0" },
        exports = {
          add = function(a, b)
            return a * b
          end,
        },
      }).success)
      local result = manager:load_plugin(lib("bundle"))
      assert.is_false(result.success)
      assert.are.equal("already_loaded", result.error.code)
      assert.are.equal('a plugin "bundle_base" is already loaded', result.error.message)
      assert.are.same({ "bundle_extra" }, result.plugin_ids)
      assert.are.equal("bundle_extra", result.plugin_id)
      assert.are.equal(2, #result.results)
      assert.is_true(result.results[1].success)
      plugins.failed(result.results[2], "already_loaded")
      assert.are.equal("bundle_base", result.results[2].plugin_id)
      assert.are.equal("inline", manager:get_plugin("bundle_base"):metadata().kind)
      assert.are.equal(24, manager:call("bundle_extra", "add3", 2, 3, 4))
    end)

    it("refuses bundle_extra with dependency_version when the bundle_base loaded is out of its range", function()
      manager:register_plugin({ manifest = { name = "bundle_base", version = "2.0.0" }, exports = {} })
      local result = manager:load_plugin(lib("bundle"))
      assert.is_false(result.success)
      assert.are.same({}, result.plugin_ids)
      local codes = {}
      for _, r in ipairs(result.results) do
        codes[r.plugin_id] = r.error.code
      end
      assert.are.same({ bundle_base = "already_loaded", bundle_extra = "dependency_version" }, codes)
      assert.are.same({ "bundle_base" }, manager:load_order())
    end)
  end)

  describe("dependencies between native and Lua plugins", function()
    it("a Lua plugin depending on hello loads after it and calls it through ctx.deps", function()
      local user = plugins.folder(root, "hello_user",
        { deps = { { "hello", "^1.0" } }, lines = 'exports = ["welcome"]\n', source = HELLO_USER })
      plugins.failed(manager:load_plugin(user), "dependency_missing")
      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.is_true(manager:load_plugin(user).success)
      assert.are.equal("[Hello, Ada!]", manager:call("hello_user", "welcome", "Ada"))
      assert.are.equal(1, manager:call("hello", "count"))
      assert.are.same({ "hello", "hello_user" }, manager:load_order())

      local err = plugins.failed(manager:unload_plugin("hello"), "has_dependents")
      assert.are.equal("hello_user", err.details)
      local seen = plugins.record(manager)
      assert.is_true(manager:unload_plugin("hello", { cascade = true }).success)
      assert.are.same({ "unloaded:hello_user", "unloaded:hello" }, seen)
    end)

    it("a Lua plugin needing another hello version is refused with dependency_version", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      local user = plugins.folder(root, "picky", { deps = { { "hello", "^2.0" } } })
      local err = plugins.failed(manager:load_plugin(user), "dependency_version")
      assert.are.equal('plugin "picky" needs "hello" ^2.0, but 1.0.0 is loaded', err.message)
    end)

    it("bundle_extra (native) needs bundle_base: a Lua plugin of that id serves", function()
      manager:register_plugin({
        manifest = { name = "bundle_base", version = "1.0.0", exports = { "add" } },
        exports = {
          add = function(a, b)
            return a .. "+" .. b
          end,
        },
      })
      manager:load_plugin(lib("bundle"))
      assert.are.equal("1+2+3", manager:call("bundle_extra", "add3", 1, 2, 3))
    end)

    it("c_hello (C) greets with the word of a Lua c_greeting loaded before it", function()
      assert.is_true(manager:register_plugin(greeting_plugin("Ahoy")).success)
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      assert.are.equal("Ahoy, Ada!", manager:get_plugin("c_hello"):greet("Ada"))
      assert.are.same({ "c_greeting", "c_hello" }, manager:load_order())
    end)

    it("c_hello greets with a c_greeting plugin folder", function()
      local folder = plugins.folder(root, "c_greeting", {
        lines = 'exports = ["word"]\n',
        source = "return { exports = { word = function() return 'Hi from Lua' end } }\n",
      })
      assert.is_true(manager:load_plugin(folder).success)
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      assert.are.equal("Hi from Lua, Ada!", manager:call("c_hello", "greet", "Ada"))
    end)

    it("c_hello loads without its optional dependency and sees it once it is loaded, at each call", function()
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      local c_hello = manager:get_plugin("c_hello")
      assert.are.equal("Hello from C, a!", c_hello:greet("a"))
      manager:register_plugin(greeting_plugin("Ahoy"))
      assert.are.equal("Ahoy, b!", c_hello:greet("b"))
      -- an optional dependency does not hold its dependents
      assert.is_true(manager:unload_plugin("c_greeting").success)
      assert.are.equal("Hello from C, c!", c_hello:greet("c"))
    end)

    it("load_directory orders libraries, folders and files together", function()
      install(lib("c_hello"), root .. "/c_hello.so")
      install(lib("hello"), root .. "/hello.so")
      -- by priority c_greeting loads last; c_hello's optional dependency puts it before c_hello
      plugins.folder(root, "c_greeting", {
        lines = 'priority = -10\nexports = ["word"]\n',
        source = "return { exports = { word = function() return 'Hi from Lua' end } }\n",
      })
      -- by name alone aaa_user would load first; its dependency on hello puts it after
      plugins.folder(root, "aaa_user",
        { deps = { { "hello", "^1.0" } }, lines = 'exports = ["welcome"]\n', source = HELLO_USER })
      local seen = plugins.record(manager)
      local results = manager:load_directory(root)
      local ids = {}
      for _, result in ipairs(results) do
        assert.is_true(result.success, tostring(result.error))
        ids[#ids + 1] = result.plugin_id
      end
      assert.are.same({ "hello", "aaa_user", "c_greeting", "c_hello" }, ids)
      assert.are.same(ids, manager:load_order())
      assert.are.equal(root .. "/c_hello.so", results[4].path)
      assert.are.equal("started:c_hello", seen[#seen])
      assert.are.equal("Hi from Lua, x!", manager:call("c_hello", "greet", "x"))
      assert.are.equal("[Hello, y!]", manager:call("aaa_user", "welcome", "y"))
    end)

    it("load_directory reports the libraries it cannot load and loads the rest", function()
      install(lib("hello"), root .. "/hello.so")
      install(lib("broken/abi_v2"), root .. "/abi.so")
      fs.write(root .. "/text.so", "not a library")
      local results = manager:load_directory(root)
      assert.are.equal(3, #results)
      assert.is_true(results[1].success)
      assert.are.equal("hello", results[1].plugin_id)
      local refused = {}
      for i = 2, 3 do
        refused[results[i].path] = plugins.failed(results[i], results[i].error.code).code
      end
      assert.are.same({ [root .. "/abi.so"] = "abi_mismatch", [root .. "/text.so"] = "not_a_plugin" }, refused)
      assert.are.same({ "hello" }, manager:load_order())
    end)
  end)

  describe("refusals", function()
    -- each case: what it is, a function giving the path (in `root`), the code, words of message and details
    local cases = {
      {
        "a text file named like a library",
        function(dir)
          return fs.write(dir .. "/x.so", "just text")
        end,
        "not_a_plugin",
        { " is not a plugin qtforge can load" },
        { "not a shared library of this platform" },
      },
      {
        "an empty file named like a library",
        function(dir)
          return fs.write(dir .. "/empty.so", "")
        end,
        "not_a_plugin",
        {},
        { "not a shared library of this platform" },
      },
      {
        "a file that starts like an ELF library but is not one",
        function(dir)
          return fs.write(dir .. "/fake.so", "\127ELF" .. string.rep("\1\0garbage", 64))
        end,
        "not_a_plugin",
        {},
        { "the loader refused it" },
      },
      {
        "a folder named like a library",
        function(dir)
          fs.mkdir(dir .. "/folder.so")
          return dir .. "/folder.so"
        end,
        "not_a_plugin",
        {},
        { "not a folder" },
      },
      {
        "a library path where nothing is",
        function(dir)
          return dir .. "/missing.so"
        end,
        "not_found",
        { "no plugin at ", "/missing.so" },
        {},
      },
      {
        "a library without qtforge_plugin_descriptor",
        function()
          return lib("broken/no_symbol")
        end,
        "symbol_missing",
        { "does not export qtforge_plugin_descriptor", "not a qtforge plugin library" },
        { "broken/no_symbol.so" },
      },
      {
        "a library of ABI version 2",
        function()
          return lib("broken/abi_v2")
        end,
        "abi_mismatch",
        { "plugin ABI version 2", "reads version 1" },
        { "broken/abi_v2.so" },
      },
      {
        "hello.so built for the other Lua",
        function()
          return OTHER_LIBS .. "hello.so"
        end,
        "lua_mismatch",
        { "built for " .. OTHER_LUA, "this host runs " .. HOST_LUA },
        { OTHER_LIBS .. "hello.so" },
      },
      {
        "c_hello.so built for the other Lua",
        function()
          return OTHER_LIBS .. "c_hello.so"
        end,
        "lua_mismatch",
        { "built for " .. OTHER_LUA, "this host runs " .. HOST_LUA },
        { OTHER_LIBS .. "c_hello.so" },
      },
      {
        "a library whose plugin has a bad name and version",
        function()
          return lib("broken/bad_info")
        end,
        "invalid_manifest",
        { "invalid manifest in ", "broken/bad_info.so (plugin #1)" },
        { '"Bad Name!"', "not a plugin id" },
      },
    }

    for _, case in ipairs(cases) do
      local what, make, code, message_words, details_words = case[1], case[2], case[3], case[4], case[5]
      it("refuse " .. what .. " with " .. code .. ", registering nothing", function()
        assert.is_true(manager:load_plugin(lib("c_hello")).success)
        local before = plugins.snapshot(manager)
        local path = make(root)
        local seen, events = plugins.record(manager)
        local result = manager:load_plugin(path)
        local err = plugins.failed(result, code)
        plugins.contains(err.message, unpack(message_words))
        plugins.contains(err.details, unpack(details_words))
        assert.are.equal(path, result.path)
        assert.is_nil(result.plugin_id)
        assert.are.same({ "failed:nil" }, seen)
        assert.are.equal(code, events[1].error.code)
        assert.are.same(before.order, manager:load_order())
        assert.are.equal(before.plugins, manager:stats().plugins)
        assert.are.equal(before.count, #manager:plugins())
        -- the same manager still loads a good library
        assert.is_true(manager:load_plugin(lib("hello")).success)
        assert.are.equal("Hello, x!", manager:call("hello", "greet", "x"))
        assert.are.equal("Hello from C, x!", manager:call("c_hello", "greet", "x"))
      end)
    end

    it("refuse hello.so when hello is loaded, with already_loaded, and the first keeps running", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      local hello = manager:get_plugin("hello")
      hello:greet("a")
      local before = plugins.snapshot(manager)
      local seen = plugins.record(manager)
      -- the same library, and a copy of it elsewhere
      for _, path in ipairs({ lib("hello"), install(lib("hello"), root .. "/copy.so") }) do
        local result = manager:load_plugin(path)
        local err = plugins.failed(result, "already_loaded")
        assert.are.equal('a plugin "hello" is already loaded', err.message)
        assert.are.same({}, result.plugin_ids)
        assert.are.equal("hello", result.plugin_id)
        plugins.nothing_left(manager, "nobody", before)
      end
      assert.are.same({ "failed:hello", "failed:hello" }, seen)
      assert.are.equal("running", hello:state())
      assert.are.equal("Hello, b!", hello:greet("b"))
      assert.are.equal(2, hello:count())
      assert.are.equal(lib("hello"), hello:path())
    end)
  end)

  describe("reload", function()
    it("picks up a rebuilt C library", function()
      local path = install(lib("c_hello"), root .. "/plugin.so")
      assert.is_true(manager:load_plugin(path).success)
      local c_hello = manager:get_plugin("c_hello")
      assert.are.equal("Hello from C, x!", c_hello:greet("x"))
      install(lib("variants/c_hello_v2"), path)
      local seen = plugins.record(manager)
      local result = manager:reload_plugin("c_hello")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("Howdy from C, x!", c_hello:greet("x"))
      assert.are.equal("c_hello", c_hello:loaded_as())
      assert.are.same({ "reloaded:c_hello" }, seen)
      assert.are.equal("running", c_hello:state())
      assert.are.equal(path, c_hello:path())
      assert.are.equal(1, manager:stats().reloads)
      assert.are.equal(1, c_hello:metadata().reloads)
      -- and back again
      install(lib("c_hello"), path)
      assert.is_true(manager:reload_plugin("c_hello").success)
      assert.are.equal("Hello from C, y!", c_hello:greet("y"))
    end)

    it("keeps the old version when the file no longer holds the plugin, is gone or is refused", function()
      local path = install(lib("c_hello"), root .. "/plugin.so")
      assert.is_true(manager:load_plugin(path).success)
      install(lib("variants/c_hello_v2"), path)
      assert.is_true(manager:reload_plugin("c_hello").success)
      local c_hello = manager:get_plugin("c_hello")
      local seen = plugins.record(manager)
      local steps = {
        {
          function()
            install(lib("hello"), path)
          end,
          "not_a_plugin",
          'the library no longer holds plugin "c_hello"',
        },
        {
          function()
            install(OTHER_LIBS .. "c_hello.so", path)
          end,
          "lua_mismatch",
          path,
        },
        {
          function()
            fs.write(path, "text")
          end,
          "not_a_plugin",
          "not a shared library of this platform",
        },
        {
          function()
            os.remove(path)
          end,
          "not_found",
          "",
        },
      }
      for i, step in ipairs(steps) do
        step[1]()
        local err = plugins.failed(manager:reload_plugin("c_hello"), step[2])
        plugins.contains(err.details, step[3])
        assert.are.equal("Howdy from C, x!", c_hello:greet("x"))
        assert.are.equal("running", c_hello:state())
        assert.are.equal(i, manager:stats().reload_failures)
      end
      assert.are.same({ "reload_failed:c_hello", "reload_failed:c_hello", "reload_failed:c_hello",
        "reload_failed:c_hello" }, seen)
      assert.are.equal(1, manager:stats().reloads)
    end)

    it("hands a Rust plugin's on_unload state to the new version's on_reload: hello keeps its count", function()
      local path = install(lib("hello"), root .. "/hello.so")
      assert.is_true(manager:load_plugin(path).success)
      local hello = manager:get_plugin("hello")
      hello:greet("a")
      hello:greet("b")
      local seen = plugins.record(manager)
      assert.is_true(manager:reload_plugin("hello").success)
      assert.are.same({ "reloaded:hello" }, seen)
      assert.are.equal(2, hello:count())
      assert.are.equal("Hello, c!", hello:greet("c"))
      assert.are.equal(3, hello:count())
    end)

    it("keeps a native plugin's configuration", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.is_true(manager:configure_plugin("hello", { greeting = "Hey" }).success)
      assert.is_true(manager:reload_plugin("hello").success)
      assert.are.equal("Hey", manager:get_plugin("hello"):config().greeting)
      assert.are.equal("Hey, x!", manager:call("hello", "greet", "x"))
      -- c_hello reads ctx.config.greeting in on_load only: a reload brings it in
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      assert.is_true(manager:configure_plugin("c_hello", { greeting = "Yo" }).success)
      assert.are.equal("Hello from C, x!", manager:call("c_hello", "greet", "x"))
      assert.is_true(manager:reload_plugin("c_hello").success)
      assert.are.equal("Yo, x!", manager:call("c_hello", "greet", "x"))
    end)

    it("reloads bundle_base under bundle_extra, which uses the new version at once", function()
      assert.is_true(manager:load_plugin(lib("bundle")).success)
      assert.is_true(manager:reload_plugin("bundle_base").success)
      assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))
      manager:update_all_plugins(0.1)
      assert.is_true(manager:reload_plugin("bundle_extra").success)
      assert.are.equal(6, manager:call("bundle_extra", "add3", 1, 2, 3))
      assert.are.same({ "bundle_base", "bundle_extra" }, manager:load_order())
    end)
  end)

  describe("a library changed on disk while it is loaded", function()
    -- fs.write truncates the file and writes into the same inode, as `cp` onto it does:
    -- the process runs a private copy, so the file can be written, emptied or deleted

    it("answers from its copy when the file is written over in place, and reload_plugin reads the new bytes", function()
      local path = install(lib("c_hello"), root .. "/plugin.so")
      assert.is_true(manager:load_plugin(path).success)
      local c_hello = manager:get_plugin("c_hello")
      fs.write(path, fs.read(lib("variants/c_hello_v2")))
      assert.are.equal("Hello from C, x!", c_hello:greet("x"))
      assert.are.equal("Hello from C, y!", manager:call("c_hello", "greet", "y"))
      local result = manager:reload_plugin("c_hello")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("Howdy from C, x!", c_hello:greet("x"))
      -- in place again, back to the first build
      fs.write(path, fs.read(lib("c_hello")))
      assert.are.equal("Howdy from C, y!", c_hello:greet("y"))
      assert.is_true(manager:reload_plugin("c_hello").success)
      assert.are.equal("Hello from C, z!", c_hello:greet("z"))
      assert.are.equal(2, manager:stats().reloads)
    end)

    it("answers when the file is written over with the same bytes, and reloads them", function()
      local path = install(lib("hello"), root .. "/hello.so")
      assert.is_true(manager:load_plugin(path).success)
      local hello = manager:get_plugin("hello")
      assert.are.equal("Hello, a!", hello:greet("a"))
      fs.write(path, fs.read(lib("hello")))
      assert.are.equal("Hello, b!", hello:greet("b"))
      assert.is_true(manager:reload_plugin("hello").success)
      assert.are.equal(2, hello:count())
      assert.are.equal("Hello, c!", hello:greet("c"))
    end)

    it("answers when the file is emptied or deleted, keeps it through failed reloads, and takes it back", function()
      local path = install(lib("hello"), root .. "/hello.so")
      assert.is_true(manager:load_plugin(path).success)
      local hello = manager:get_plugin("hello")
      hello:greet("a")
      fs.write(path, "")
      assert.are.equal("Hello, b!", hello:greet("b"))
      local err = plugins.failed(manager:reload_plugin("hello"), "not_a_plugin")
      plugins.contains(err.details, "not a shared library of this platform")
      assert.are.equal("Hello, c!", hello:greet("c"))
      assert(os.remove(path))
      assert.are.equal("Hello, d!", manager:call("hello", "greet", "d"))
      plugins.failed(manager:reload_plugin("hello"), "not_found")
      assert.are.equal("running", hello:state())
      assert.are.equal(4, hello:count())
      fs.write(path, fs.read(lib("hello")))
      assert.is_true(manager:reload_plugin("hello").success)
      assert.are.equal(4, hello:count())
      assert.are.equal("Hello, e!", hello:greet("e"))
      assert.are.equal(1, manager:stats().reloads)
      assert.are.equal(2, manager:stats().reload_failures)
    end)

    it("answers when load_directory found it and the file is written over in place", function()
      local path = install(lib("c_hello"), root .. "/plugin.so")
      install(lib("hello"), root .. "/hello.so")
      for _, result in ipairs(manager:load_directory(root)) do
        assert.is_true(result.success, tostring(result.error))
      end
      fs.write(path, fs.read(lib("variants/c_hello_v2")))
      fs.write(root .. "/hello.so", "")
      assert.are.same({ hello = "Hello, x!", c_hello = "Hello from C, x!" }, (manager:broadcast("greet", "x")))
      assert.is_true(manager:reload_plugin("c_hello").success)
      assert.are.equal("Howdy from C, x!", manager:call("c_hello", "greet", "x"))
      if mapped(path) ~= nil then
        assert.is_false(mapped(path))
        assert.is_false(mapped(root .. "/hello.so"))
      end
    end)

    it("loads the file as it is now after an unload, and maps no new copy of a file that did not change", function()
      local path = install(lib("c_hello"), root .. "/plugin.so")
      assert.is_true(manager:load_plugin(path).success)
      assert.is_true(manager:unload_plugin("c_hello").success)
      fs.write(path, fs.read(lib("variants/c_hello_v2")))
      assert.is_true(manager:load_plugin(path).success)
      assert.are.equal("Howdy from C, x!", manager:call("c_hello", "greet", "x"))
      assert.is_true(manager:unload_plugin("c_hello").success)
      -- a file of a build seconds old is trusted to be the one mapped before, in any manager
      local built = lib("c_hello")
      assert.is_true(manager:load_plugin(built).success)
      local copies = mapped_copies("c_hello.so")
      for _ = 1, 3 do
        assert.is_true(manager:unload_plugin("c_hello").success)
        assert.is_true(manager:load_plugin(built).success)
        local other = plugins.manager()
        assert.is_true(other:load_plugin(built).success)
        other:shutdown()
      end
      assert.are.equal("Hello from C, x!", manager:call("c_hello", "greet", "x"))
      assert.are.equal(copies, mapped_copies("c_hello.so"))
    end)

    it("names the file in the loader's refusal, never the copy", function()
      local path = fs.write(root .. "/fake.so", "\127ELF" .. string.rep("\1\0garbage", 64))
      local err = plugins.failed(manager:load_plugin(path), "not_a_plugin")
      plugins.contains(err.details, "the loader refused it: " .. path)
      assert.is_nil(tostring(err):find("qtforge-", 1, true))
      local info, inspect_err = core.PluginLoader.inspect(path)
      assert.is_nil(info)
      plugins.contains(inspect_err.details, "the loader refused it: " .. path)
      if copy_folders() ~= nil then
        assert.are.same({}, copy_folders())
      end
    end)
  end)

  describe("errors raised by native exports", function()
    it("reach Lua as messages from a C export", function()
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      local c_hello = manager:get_plugin("c_hello")
      local ok, err = pcall(c_hello.greet, c_hello, nil)
      assert.is_false(ok)
      plugins.contains(tostring(err), "bad argument #1", "string expected, got nil")
      ok, err = pcall(manager.call, manager, "c_hello", "greet", {})
      assert.is_false(ok)
      plugins.contains(tostring(err), "bad argument #1", "string expected, got table")
      assert.are.equal("running", c_hello:state())
      assert.are.equal("Hello from C, x!", c_hello:greet("x"))
    end)

    it("reach Lua as messages from a Rust export", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.is_true(manager:load_plugin(lib("bundle")).success)
      local hello = manager:get_plugin("hello")
      local ok, err = pcall(hello.greet, hello, {})
      assert.is_false(ok)
      plugins.contains(tostring(err), "bad argument #1", "error converting Lua table to String")
      ok, err = pcall(manager.call, manager, "bundle_base", "add", 1, "two")
      assert.is_false(ok)
      plugins.contains(tostring(err), "bad argument #2 to 'add' (number expected, got string)")
      -- through another native plugin's export
      ok, err = pcall(manager.call, manager, "bundle_extra", "add3", 1, 2, {})
      assert.is_false(ok)
      plugins.contains(tostring(err), "bad argument #2 to 'add' (number expected, got table)")
      assert.are.equal("running", hello:state())
      assert.are.equal(0, hello:count())
      assert.are.equal("Hello, x!", hello:greet("x"))
    end)

    it("include a Rust plugin called back into while one of its exports runs", function()
      -- a Lua bundle_base whose add calls back into bundle_extra, in the middle of add3
      manager:register_plugin({
        manifest = { name = "bundle_base", version = "1.0.0" },
        exports = {
          add = function()
            return manager:call("bundle_extra", "frames")
          end,
        },
      })
      manager:load_plugin(lib("bundle"))
      local ok, err = pcall(manager.call, manager, "bundle_extra", "add3", 1, 2, 3)
      assert.is_false(ok)
      plugins.contains(tostring(err),
        'plugin "bundle_extra": export "frames" was called while export "add3" is running')
      assert.are.equal(0, manager:call("bundle_extra", "frames"))
      assert.are.equal("running", manager:get_plugin("bundle_extra"):state())
    end)

    it("are collected by broadcast as call_error, without tracebacks", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      assert.is_true(manager:load_plugin(lib("c_hello")).success)
      manager:register_plugin({
        manifest = { name = "lua_greeter", version = "1.0.0" },
        exports = {
          greet = function(name)
            return "Lua greets " .. tostring(name)
          end,
        },
      })
      local results, errors = manager:broadcast("greet", nil)
      assert.are.same({ lua_greeter = "Lua greets nil" }, results)
      assert.are.same({ "c_hello", "hello" }, (function()
        local ids = {}
        for id in pairs(errors) do
          ids[#ids + 1] = id
        end
        table.sort(ids)
        return ids
      end)())
      for id, err in pairs(errors) do
        assert.are.equal("call_error", err.code)
        plugins.contains(err.message, 'plugin "' .. id .. '" failed in greet: bad argument #1')
        assert.is_nil(err.message:find("stack traceback", 1, true), err.message)
        assert.is_nil(err.message:find("runtime error", 1, true), err.message)
      end
      plugins.contains(errors.hello.message, "error converting Lua nil to String")
      plugins.contains(errors.c_hello.message, "string expected, got nil")
    end)
  end)

  describe("configuration", function()
    it("is open: hello takes a greeting, uses it, and keeps each key's type", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      local hello = manager:get_plugin("hello")
      local seen = plugins.record(manager)
      local result = manager:configure_plugin("hello", { greeting = "Hey", extra = { depth = 1 } })
      assert.is_true(result.success, tostring(result.error))
      assert.are.same({ "configured:hello" }, seen)
      assert.are.equal("Hey, x!", hello:greet("x"))
      assert.are.same({ greeting = "Hey", extra = { depth = 1 } }, hello:config())

      local err = plugins.failed(manager:configure_plugin("hello", { greeting = 5 }), "invalid_config")
      assert.are.equal('invalid configuration for plugin "hello" at "greeting"', err.message)
      assert.are.equal("expected a string, got a number", err.details)
      err = plugins.failed(manager:configure_plugin("hello", { extra = { depth = "deep" } }), "invalid_config")
      assert.are.equal('invalid configuration for plugin "hello" at "extra.depth"', err.message)
      assert.are.equal("Hey, y!", hello:greet("y"))
      assert.are.same({ greeting = "Hey", extra = { depth = 1 } }, hello:config())
      assert.are.same({ "configured:hello" }, seen)

      assert.is_true(manager:configure_plugin("hello", { greeting = "Yo" }).success)
      assert.are.equal("Yo, z!", hello:greet("z"))
    end)

    it("is refused when the native on_configure raises, keeping the old configuration", function()
      assert.is_true(manager:load_plugin(lib("hello")).success)
      local err = plugins.failed(manager:configure_plugin("hello", { greeting = { "not", "text" } }), "invalid_config")
      plugins.contains(err.message, 'plugin "hello" refused the configuration', "error converting Lua table to String")
      assert.is_nil(manager:get_plugin("hello"):config().greeting)
      assert.are.equal("running", manager:get_plugin("hello"):state())
      assert.are.equal("Hello, x!", manager:call("hello", "greet", "x"))
    end)
  end)
end)
