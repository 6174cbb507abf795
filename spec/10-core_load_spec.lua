-- qtforge.core: loading plugins in each form, every way a load fails, and
-- reading plugins (discover, PluginLoader.inspect) without running their code.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local core = qtforge.core
local FIXTURES = plugins.FIXTURES

describe("PluginManager:load_plugin", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    manager = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  describe("plugin forms", function()
    it("loads a folder with plugin.toml and starts it", function()
      local path = FIXTURES .. "/greeter"
      local result = manager:load_plugin(path)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("greeter", result.plugin_id)
      assert.are.equal(path, result.path)
      assert.is_nil(result.error)
      local plugin = manager:get_plugin("greeter")
      assert.are.equal("running", plugin:state())
      assert.are.equal("folder", plugin:metadata().kind)
      assert.are.equal("Hello, Ada!", plugin:greet("Ada"))
    end)

    it("loads a folder with plugin.json and the entry the manifest names", function()
      local result = manager:load_plugin(FIXTURES .. "/json_plugin")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("json_plugin", result.plugin_id)
      local plugin = manager:get_plugin("json_plugin")
      assert.are.equal("0.3.0", plugin:version():to_string())
      assert.are.equal(FIXTURES .. "/json_plugin/main.lua", plugin:metadata().entry)
      assert.are.equal(42, plugin:answer())
    end)

    it("loads through the path of the manifest file itself", function()
      local result = manager:load_plugin(FIXTURES .. "/greeter/plugin.toml")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("greeter", result.plugin_id)
      assert.are.equal(FIXTURES .. "/greeter", manager:get_plugin("greeter"):path())
    end)

    it("loads a single .lua file whose returned table carries the manifest", function()
      local result = manager:load_plugin(FIXTURES .. "/solo.lua")
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("solo", result.plugin_id)
      local plugin = manager:get_plugin("solo")
      assert.are.equal("file", plugin:metadata().kind)
      assert.are.equal("2.1.0", plugin:version():to_string())
      assert.are.equal("A plugin in one file", plugin:description())
      assert.are.equal("LOUD", plugin:shout("loud"))
    end)

    it("registers an inline plugin table holding its manifest", function()
      local plugin = {
        manifest = { name = "inline", version = "0.1.0", exports = { "twice" } },
        exports = {
          twice = function(x)
            return 2 * x
          end,
        },
      }
      local result = manager:register_plugin(plugin)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("inline", result.plugin_id)
      local handle = manager:get_plugin("inline")
      assert.are.equal("inline", handle:metadata().kind)
      assert.are.equal("running", handle:state())
      assert.are.equal(plugin.exports, handle.exports)
      assert.are.equal(14, handle:twice(7))
    end)

    it("loads every committed fixture plugin from their folder", function()
      local results = manager:load_directory(FIXTURES)
      local ids = {}
      for _, result in ipairs(results) do
        assert.is_true(result.success, tostring(result.error))
        ids[#ids + 1] = result.plugin_id
      end
      table.sort(ids)
      assert.are.same({ "example_plugin", "greeter", "json_plugin", "solo" }, ids)
    end)

    it("takes an entry in a subfolder", function()
      local path = fs.plugin(root, "nested", {
        ["plugin.toml"] = fs.manifest("nested", "1.0.0", 'entry = "src/main.lua"\n'),
        ["src/main.lua"] = "return { exports = { where = function() return 'src' end } }\n",
      })
      assert.is_true(manager:load_plugin(path).success)
      assert.are.equal("src", manager:call("nested", "where"))
    end)

    it("leaves the plugin loaded, not running, when asked not to start it", function()
      local calls = {}
      local result = manager:register_plugin({
        manifest = { name = "idle", version = "1.0.0" },
        on_load = function()
          calls[#calls + 1] = "on_load"
        end,
        on_start = function()
          calls[#calls + 1] = "on_start"
        end,
      }, { start = false })
      assert.is_true(result.success)
      assert.are.equal("loaded", manager:get_plugin("idle"):state())
      assert.are.same({ "on_load" }, calls)
    end)

    it("starts nothing by itself when the manager has autostart = false", function()
      local idle = plugins.manager({ autostart = false })
      assert.is_true(idle:load_plugin(FIXTURES .. "/greeter").success)
      assert.are.equal("loaded", idle:get_plugin("greeter"):state())
      assert.is_true(idle:load_plugin(FIXTURES .. "/solo.lua", { start = true }).success)
      assert.are.equal("running", idle:get_plugin("solo"):state())
      idle:shutdown()
    end)
  end)

  describe("not_found", function()
    it("is the answer for a path where nothing is", function()
      local path = root .. "/nothing-here"
      local result = manager:load_plugin(path)
      local err = plugins.failed(result, "not_found")
      assert.are.equal("no plugin at " .. path, err.message)
      assert.are.equal(path, result.path)
      assert.is_nil(result.plugin_id)
    end)
  end)

  describe("not_a_plugin", function()
    it("refuses a text file named like a shared library", function()
      local path = fs.write(root .. "/example_plugin.so", "not a library")
      local err = plugins.failed(manager:load_plugin(path), "not_a_plugin")
      assert.are.equal(path .. " is not a plugin qtforge can load", err.message)
      plugins.contains(err.details, "not a shared library of this platform")
    end)

    it("refuses a file that starts like a library but is not one, with the loader's reason", function()
      local path = fs.write(root .. "/example_plugin.so", "\127ELF not really")
      local err = plugins.failed(manager:load_plugin(path), "not_a_plugin")
      plugins.contains(err.details, "the loader refused it")
    end)

    it("says not_found for a shared library path where no file is", function()
      local err = plugins.failed(manager:load_plugin(root .. "/missing.dll"), "not_found")
      plugins.contains(err.message, root .. "/missing.dll")
    end)

    it("refuses a text file", function()
      local path = fs.write(root .. "/notes.txt", "hello")
      local err = plugins.failed(manager:load_plugin(path), "not_a_plugin")
      plugins.contains(err.details, "expected a plugin folder", ".lua file")
    end)

    it("refuses a folder without a manifest", function()
      fs.mkdir(root .. "/empty")
      local err = plugins.failed(manager:load_plugin(root .. "/empty"), "not_a_plugin")
      assert.are.equal("the folder has no plugin.toml or plugin.json", err.details)
    end)
  end)

  describe("invalid_manifest", function()
    local function load_toml(text, source)
      local path = fs.plugin(root, "bad", { ["plugin.toml"] = text, ["init.lua"] = source or "return {}\n" })
      local err = plugins.failed(manager:load_plugin(path), "invalid_manifest")
      assert.are.equal("invalid manifest in " .. path .. "/plugin.toml", err.message)
      return err
    end

    it("names an unknown key", function()
      local err = load_toml(fs.manifest("bad", "1.0.0", "colour = 3\n"))
      plugins.contains(err.details, "colour: unknown field `colour`")
    end)

    it("names the field of a wrong type", function()
      local err = load_toml(fs.manifest("bad", "1.0.0", 'priority = "high"\n'))
      plugins.contains(err.details, "priority: invalid type")
      err = load_toml(fs.manifest("bad", "1.0.0", 'tags = "x"\n'))
      plugins.contains(err.details, "tags: invalid type", "expected a list")
      err = load_toml(fs.manifest("bad", "1.0.0", '[[dependencies]]\nname = "other"\noptional = 1\n'))
      plugins.contains(err.details, "dependencies[0].optional: invalid type")
    end)

    it("refuses a name that is not a plugin id", function()
      local err = load_toml(fs.manifest("Bad Name", "1.0.0"))
      plugins.contains(err.details, 'name: "Bad Name" is not a plugin id')
    end)

    it("refuses a version that is not semantic", function()
      local err = load_toml(fs.manifest("bad", "1.0"))
      plugins.contains(err.details, 'version: "1.0" is not a semantic version')
    end)

    it("refuses a dependency range that does not parse", function()
      local err = load_toml(fs.manifest("bad", "1.0.0", plugins.dep("other", ">>1")))
      plugins.contains(err.details, 'dependencies[0].version: ">>1" is not a version range')
    end)

    it("gives the line of a TOML syntax error", function()
      local err = load_toml('name = "bad"\nversion = \n')
      plugins.contains(err.details, "line 2, column")
    end)

    it("gives the line of a JSON syntax error", function()
      local path = fs.plugin(root, "badjson", {
        ["plugin.json"] = '{"name": "badjson",\n "version": }',
        ["init.lua"] = "return {}\n",
      })
      local err = plugins.failed(manager:load_plugin(path), "invalid_manifest")
      plugins.contains(err.message, "plugin.json")
      plugins.contains(err.details, "line 2, column")
    end)

    it("refuses a [config] value JSON cannot hold (nan, inf), naming its place and line", function()
      for _, value in ipairs({ "nan", "inf", "-inf" }) do
        local text = fs.manifest("bad", "1.0.0") .. "[config]\nrate = 1.5\nlimits = [1, " .. value .. "]\n"
        local last_line = select(2, text:gsub("\n", ""))
        local err = load_toml(text)
        plugins.contains(err.details, "config.limits[1]: ", "is not a value JSON can hold", "line " .. last_line)
      end
      local err = plugins.failed(manager:register_plugin({
        manifest = { name = "x", version = "1.0.0", config = { rate = 0 / 0 } },
      }), "invalid_manifest")
      plugins.contains(err.details, "is not a value JSON can hold")
    end)

    it("names a missing required field", function()
      local err = load_toml('name = "bad"\n')
      plugins.contains(err.details, "missing field `version`")
    end)

    it("says when the entry file does not exist", function()
      local path = fs.plugin(root, "noentry", { ["plugin.toml"] = fs.manifest("noentry", "1.0.0") })
      local err = plugins.failed(manager:load_plugin(path), "invalid_manifest")
      plugins.contains(err.details, 'entry: "init.lua" does not exist')
    end)

    it("reads the manifest of a single-file plugin with the same checks", function()
      local path = fs.write(root .. "/odd.lua",
        "return { manifest = { name = 'odd', version = '1.0.0', colour = 1 } }\n")
      local err = plugins.failed(manager:load_plugin(path), "invalid_manifest")
      plugins.contains(err.details, "colour")
    end)

    it("checks an inline manifest the same way", function()
      local err = plugins.failed(manager:register_plugin({ manifest = { name = "x", version = "one" } }),
        "invalid_manifest")
      assert.are.equal("invalid manifest in inline plugin", err.message)
      plugins.contains(err.details, 'version: "one" is not a semantic version')
      err = plugins.failed(manager:register_plugin({ manifest = { name = "x", version = "1.0.0", extra = true } }),
        "invalid_manifest")
      plugins.contains(err.details, "unknown field `extra`")
    end)
  end)

  describe("api_version_mismatch", function()
    local function with_api(name, api)
      return fs.plugin(root, name, {
        ["plugin.toml"] = string.format('name = "%s"\nversion = "1.0.0"\napi-version = "%s"\n', name, api),
        ["init.lua"] = "return {}\n",
      })
    end

    it("is what the host offers: qtforge.core.API_VERSION is 1.0", function()
      assert.are.equal("1.0", core.API_VERSION)
    end)

    it("refuses a newer major version", function()
      local err = plugins.failed(manager:load_plugin(with_api("future", "2.0")), "api_version_mismatch")
      assert.are.equal('plugin "future" needs plugin API 2.0, this host offers 1.0', err.message)
    end)

    it("refuses a newer minor version than the host's", function()
      local err = plugins.failed(manager:load_plugin(with_api("newer", "1.1")), "api_version_mismatch")
      assert.are.equal('plugin "newer" needs plugin API 1.1, this host offers 1.0', err.message)
    end)

    it("refuses an older major version", function()
      plugins.failed(manager:load_plugin(with_api("older", "0.9")), "api_version_mismatch")
    end)

    it("loads a plugin written for the host's own API version", function()
      assert.is_true(manager:load_plugin(with_api("current", "1.0")).success)
    end)
  end)

  describe("already_loaded", function()
    it("refuses a second plugin with the same id, from any path", function()
      assert.is_true(manager:load_plugin(FIXTURES .. "/greeter").success)
      local err = plugins.failed(manager:load_plugin(FIXTURES .. "/greeter/plugin.toml"), "already_loaded")
      assert.are.equal('a plugin "greeter" is already loaded', err.message)
      local copy = plugins.folder(root, "greeter", { version = "9.0.0" })
      plugins.failed(manager:load_plugin(copy), "already_loaded")
      plugins.failed(manager:register_plugin({ manifest = { name = "greeter", version = "1.0.0" } }), "already_loaded")
      assert.are.equal("1.2.0", manager:get_plugin("greeter"):version():to_string())
    end)
  end)

  describe("dependency_missing", function()
    it("names the plugin, the dependency and its range", function()
      local path = plugins.folder(root, "needy", { deps = { { "ghost", "^1.0" } } })
      local err = plugins.failed(manager:load_plugin(path), "dependency_missing")
      assert.are.equal('plugin "needy" needs "ghost" (^1.0), which is not loaded', err.message)
      assert.are.equal('no plugin "ghost" is loaded', err.details)
    end)

    it("counts a failed dependency as missing", function()
      assert.is_true(manager:register_plugin({
        manifest = { name = "shaky", version = "1.0.0" },
        on_stop = function()
          error("cannot stop")
        end,
      }).success)
      plugins.failed(manager:stop_plugin("shaky"), "load_error")
      local path = plugins.folder(root, "needy", { deps = { { "shaky" } } })
      local err = plugins.failed(manager:load_plugin(path), "dependency_missing")
      assert.are.equal('"shaky" is loaded but failed', err.details)
    end)
  end)

  describe("dependency_version", function()
    it("names the range and the version that is loaded", function()
      assert.is_true(manager:load_plugin(FIXTURES .. "/greeter").success)
      local path = plugins.folder(root, "picky", { deps = { { "greeter", "^2.0" } } })
      local err = plugins.failed(manager:load_plugin(path), "dependency_version")
      assert.are.equal('plugin "picky" needs "greeter" ^2.0, but 1.2.0 is loaded', err.message)
    end)
  end)

  describe("load_error", function()
    local function load_source(source, lines)
      local path = plugins.folder(root, "broken", { source = source, lines = lines })
      local result = manager:load_plugin(path)
      local err = plugins.failed(result, "load_error")
      assert.are.equal("broken", result.plugin_id)
      return err, path .. "/init.lua"
    end

    it("reports a syntax error in the entry with its file and line", function()
      local err, entry = load_source("local x = 1\nreturn {\n  x = \n")
      plugins.contains(err.message, 'plugin "broken" failed in entry: ')
      assert.are.equal(entry .. ":4", err.details)
    end)

    it("reports a runtime error in the entry with its file and line", function()
      local err, entry = load_source("local t = nil\nlocal x = 1\nreturn t.field\n")
      plugins.contains(err.message, 'plugin "broken" failed in entry: attempt to index')
      assert.are.equal(entry .. ":3", err.details)
    end)

    it("reports an error raised in on_load", function()
      local err, entry = load_source("return {\n  on_load = function() error('no database') end,\n}\n")
      assert.are.equal('plugin "broken" failed in on_load: no database', err.message)
      assert.are.equal(entry .. ":2", err.details)
    end)

    it("reports an error raised in on_start", function()
      local err, entry = load_source("return {\n\n  on_start = function() error('port taken') end,\n}\n")
      assert.are.equal('plugin "broken" failed in on_start: port taken', err.message)
      assert.are.equal(entry .. ":3", err.details)
    end)

    it("refuses an entry that does not return a table", function()
      local err, entry = load_source("return 'a plugin'\n")
      assert.are.equal('plugin "broken" failed in entry: the entry returned string, expected the plugin table',
        err.message)
      assert.are.equal(entry, err.details)
    end)

    it("refuses an entry without a declared export", function()
      local err, entry = load_source("return { exports = { other = function() end } }\n", 'exports = ["greet"]\n')
      assert.are.equal('plugin "broken" failed in entry: the manifest exports "greet",'
        .. ' but exports.greet is not a function', err.message)
      assert.are.equal(entry, err.details)
    end)

    it("refuses a hook that is not a function", function()
      local err = load_source("return { on_start = 'soon' }\n")
      plugins.contains(err.message, "hook on_start is a string, expected a function")
    end)

    it("reports an error value that is not a string", function()
      local err = load_source("error({ reason = 'table' })\n")
      plugins.contains(err.message, 'plugin "broken" failed in entry: ')
    end)

    it("calls on_unload when on_start fails, so what on_load took is given back", function()
      local calls = {}
      local result = manager:register_plugin({
        manifest = { name = "half", version = "1.0.0" },
        on_load = function()
          calls[#calls + 1] = "on_load"
        end,
        on_start = function()
          calls[#calls + 1] = "on_start"
          error("no")
        end,
        on_unload = function()
          calls[#calls + 1] = "on_unload"
        end,
      })
      plugins.failed(result, "load_error")
      assert.are.same({ "on_load", "on_start", "on_unload" }, calls)
    end)
  end)

  describe("on failure", function()
    -- each case writes a plugin "victim" that fails to load, then `fix` makes it loadable
    local CASES = {
      { "a syntax error in the entry", "load_error", { source = "return {" } },
      { "a runtime error in the entry", "load_error", { source = "error('boom')" } },
      { "an error in on_load", "load_error", { source = "return { on_load = function() error('x') end }" } },
      { "an error in on_start", "load_error", { source = "return { on_start = function() error('x') end }" } },
      { "an entry returning nil", "load_error", { source = "" } },
      { "a missing export", "load_error", { lines = 'exports = ["f"]\n' } },
      { "a missing dependency", "dependency_missing", { deps = { { "ghost" } } } },
      { "a dependency at the wrong version", "dependency_version", { deps = { { "greeter", "^3" } } } },
      { "a newer plugin API", "api_version_mismatch", { lines = "" }, "2.0" },
    }

    for _, case in ipairs(CASES) do
      local what, code, spec, api = case[1], case[2], case[3], case[4]
      it("of " .. what .. " leaves nothing of the plugin registered, and the id can load later", function()
        assert.is_true(manager:load_plugin(FIXTURES .. "/greeter").success)
        local seen = plugins.record(manager)
        local before = plugins.snapshot(manager)
        local path = plugins.folder(root, "victim", spec)
        if api then
          local toml = string.format('name = "victim"\nversion = "1.0.0"\napi-version = "%s"\n', api)
          fs.write(path .. "/plugin.toml", toml)
        end
        local result = manager:load_plugin(path)
        plugins.failed(result, code)
        plugins.nothing_left(manager, "victim", before)
        assert.are.equal(0, #manager:registry():find_by_state("failed"))
        -- the manifest was read, so even a refusal before any plugin code ran names the plugin
        assert.are.same({ "failed:victim" }, seen)
        assert.are.equal("victim", result.plugin_id)

        plugins.folder(root, "victim", {})
        local again = manager:load_plugin(path)
        assert.is_true(again.success, tostring(again.error))
        assert.are.same({ "greeter", "victim" }, manager:load_order())
        assert.are.equal(2, manager:stats().plugins)
      end)
    end

    it("counts the failure in stats().load_failures and not in loads", function()
      local before = manager:stats()
      plugins.failed(manager:load_plugin(plugins.folder(root, "bad", { source = "return 1" })), "load_error")
      local after = manager:stats()
      assert.are.equal(before.load_failures + 1, after.load_failures)
      assert.are.equal(before.loads, after.loads)
    end)
  end)
end)

describe("reading plugins without running them", function()
  local root, manager

  before_each(function()
    root = fs.temp_dir()
    -- plugins stay sandboxed, but may write markers in root: code run by mistake would leave one
    manager = plugins.manager({ security = plugins.marker_policy(root) })
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  describe("PluginLoader.inspect", function()
    it("gives the info of a folder plugin", function()
      local info = assert(core.PluginLoader.inspect(FIXTURES .. "/greeter"))
      assert.are.equal("greeter", info.id)
      assert.are.equal("greeter", info.name)
      assert.are.equal("1.2.0", info.version)
      assert.are.equal("Greets people", info.description)
      assert.are.equal("1.0", info.api_version)
      assert.are.equal(FIXTURES .. "/greeter", info.path)
      assert.are.equal("folder", info.kind)
      assert.are.equal(FIXTURES .. "/greeter/init.lua", info.entry)
      assert.are.equal(FIXTURES .. "/greeter/plugin.toml", info.manifest_file)
      assert.are.same({}, info.dependencies)
      assert.are.same({ "bus:publish", "config:read" }, info.capabilities)
      assert.are.same({ "greet" }, info.exports)
      assert.are.same({ "example", "greeting" }, info.tags)
      assert.are.same({ greeting = "Hello", punctuation = "!" }, info.config)
      assert.are.equal("MIT", info.license)
    end)

    it("lists dependencies with their range and whether they are optional", function()
      local path = plugins.folder(root, "app", { deps = { { "db", "^1.2" }, { "cache", ">=0.5, <1", true } } })
      local info = assert(core.PluginLoader.inspect(path))
      assert.are.same({
        { name = "db", version = "^1.2", optional = false },
        { name = "cache", version = ">=0.5, <1", optional = true },
      }, info.dependencies)
    end)

    it("does not run the entry of a folder plugin", function()
      local marker = root .. "/ran"
      local path = plugins.folder(root, "sneaky", { source = plugins.marker(marker) .. "return {}\n",
        capabilities = plugins.MARKER_CAPABILITIES })
      local info = assert(core.PluginLoader.inspect(path))
      assert.are.equal("sneaky", info.id)
      assert.is_nil(fs.read(marker))
      -- the marker does work: loading runs the entry
      local result = manager:load_plugin(path)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("ran", fs.read(marker))
    end)

    it("reads a single-file plugin's manifest without running the file", function()
      local marker = root .. "/ran"
      local path = fs.write(root .. "/single.lua", plugins.marker(marker)
        .. "SNEAKY_GLOBAL = true\nreturn { manifest = { name = 'single', version = '0.2.0', exports = { 'f' },"
        .. " capabilities = { 'log' } }, exports = { f = function() end } }\n")
      local info = assert(core.PluginLoader.inspect(path))
      assert.are.equal("single", info.id)
      assert.are.equal("file", info.kind)
      assert.are.equal("0.2.0", info.version)
      assert.are.equal(path, info.path)
      assert.are.same({ "f" }, info.exports)
      assert.are.same({ "log" }, info.capabilities)
      assert.is_nil(fs.read(marker))
      assert.is_nil(rawget(_G, "SNEAKY_GLOBAL"))
    end)

    it("answers nil and an Error for what is not a plugin", function()
      local info, err = core.PluginLoader.inspect(root .. "/nothing")
      assert.is_nil(info)
      assert.are.equal("not_found", err.code)
      info, err = core.PluginLoader.inspect(fs.write(root .. "/lib.so", "text"))
      assert.is_nil(info)
      assert.are.equal("not_a_plugin", err.code)
      fs.write(root .. "/bad/plugin.toml", "name = 1\n")
      info, err = core.PluginLoader.inspect(root .. "/bad")
      assert.is_nil(info)
      assert.are.equal("invalid_manifest", err.code)
    end)
  end)

  describe("discover", function()
    before_each(function()
      plugins.folder(root, "beta", { source = plugins.marker(root .. "/beta-ran") .. "return {}\n",
        capabilities = plugins.MARKER_CAPABILITIES })
      fs.write(root .. "/alpha.lua", plugins.marker(root .. "/alpha-ran")
        .. "return { manifest = { name = 'alpha', version = '1.0.0', capabilities = { 'fs:write' } } }\n")
      fs.write(root .. "/broken/plugin.toml", 'name = "broken"\n')
      fs.write(root .. "/README.md", "not a plugin")
      fs.write(root .. "/.hidden.lua", "return {}")
    end)

    it("lists every plugin in a folder by file name, and what cannot be read, running nothing", function()
      local infos, failures = manager:discover(root)
      assert.are.equal(2, #infos)
      assert.are.same({ "alpha", "beta" }, { infos[1].id, infos[2].id })
      assert.are.same({ "file", "folder" }, { infos[1].kind, infos[2].kind })
      assert.are.equal(root .. "/alpha.lua", infos[1].path)
      assert.are.equal(1, #failures)
      assert.are.equal(root .. "/broken", failures[1].path)
      assert.are.equal("invalid_manifest", failures[1].error.code)
      assert.is_nil(fs.read(root .. "/alpha-ran"))
      assert.is_nil(fs.read(root .. "/beta-ran"))
      assert.are.same({}, manager:load_order())
    end)

    it("is the same through PluginLoader.discover", function()
      local infos = core.PluginLoader.discover(root)
      assert.are.same(manager:discover(root), infos)
    end)

    it("answers nil and not_found for a folder that does not exist", function()
      local infos, err = manager:discover(root .. "/nope")
      assert.is_nil(infos)
      assert.are.equal("not_found", err.code)
    end)
  end)
end)
