-- The qtforge command (bin/qtforge, module qtforge.cli): every command on
-- plugins that pass and plugins that fail, judged by exit status and output.
-- Most cases call cli.main in-process with recorded streams; the rest run
-- the real script as a process of its own, under the interpreter busted runs
-- under: what depends on the process (usage errors, exit statuses, the Lua
-- paths, the working folder), new with its generated spec run by busted, run
-- with a plugin edited while it runs, and run stopped by Ctrl-C. Failures the
-- file system will not give on demand are injected by stubbing one function.
local qtforge = require("qtforge")
local cli = require("qtforge.cli")
local json = require("qtforge.cli.json")
local fs = require("support.fs")
local plugins = require("support.plugins")
local child = require("support.child")

local contains = plugins.contains
local quote = child.quote

local ROOT = child.ROOT
local SCRIPT = ROOT .. "/bin/qtforge"
local BUSTED = arg and arg[0] or "/usr/bin/busted"

local HEX64 = string.rep("%x", 64)

-- A stream that keeps what is written to it.
local function recorder()
  local stream = { text = "" }
  function stream:write(...)
    for i = 1, select("#", ...) do
      self.text = self.text .. tostring(select(i, ...))
    end
    return self
  end
  return stream
end

--- Runs `qtforge ...` in-process: exit status, stdout, stderr.
local function qtforge_cli(...)
  local out, err = recorder(), recorder()
  local status = cli.main({ ... }, out, err)
  return status, out.text, err.text
end

-- The environment that makes a child find this qtforge and these Lua files.
local function lua_env()
  return "LUA_PATH=" .. quote(package.path) .. " LUA_CPATH=" .. quote(package.cpath)
end

--- Runs `bin/qtforge` with `args` (shell words) as a process in `dir`: exit
--- status, stdout, stderr. `env` (shell words) replaces the Lua paths.
local function script(dir, args, env)
  return child.capture(dir, env or lua_env(), quote(SCRIPT) .. " " .. args)
end

local function lines(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do
    list[#list + 1] = line
  end
  return list
end

-- Decodes JSON with qtforge's own reader (ConfigurationManager), a parser
-- this CLI does not share: a value the encoder got wrong does not read back.
local function decode(text)
  local config = qtforge.managers.ConfigurationManager()
  local result = config:load_from_string('{"value": ' .. text .. "}", "json", "output")
  assert.is_true(result.success, tostring(result.error))
  return config:get("value")
end

local function shell(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

--- The names in folder `dir`, sorted, hidden ones included.
local function listing(dir)
  local pipe = assert(io.popen("ls -A " .. quote(dir)))
  local names = lines(pipe:read("*a"))
  pipe:close()
  table.sort(names)
  return names
end

--- Calls `fn` with `module[name]` replaced by `replacement`, restoring it
--- whatever happens: a failure the file system will not give on demand.
local function with_stub(module, name, replacement, fn)
  local original = module[name]
  module[name] = replacement
  local ok, problem = pcall(fn)
  module[name] = original
  assert(ok, problem)
end

describe("qtforge", function()
  it("lists every command with --help", function()
    local status, out, err = qtforge_cli("--help")
    assert.are.equal(0, status)
    assert.are.equal("", err)
    for _, name in ipairs(cli.COMMANDS) do
      contains(out, "\n  " .. name .. " ")
    end
  end)

  it("describes each command with COMMAND --help and help COMMAND", function()
    for _, name in ipairs(cli.COMMANDS) do
      local status, out, err = qtforge_cli(name, "--help")
      assert.are.equal(0, status)
      assert.are.equal("", err)
      assert.truthy(out:find("^usage: qtforge " .. name .. "[ \n]"), out)
      local again_status, again = qtforge_cli("help", name)
      assert.are.equal(0, again_status)
      assert.are.equal(out, again)
    end
  end)

  it("prints its version and the module's", function()
    local status, out = qtforge_cli("--version")
    assert.are.equal(0, status)
    contains(out, "qtforge-cli ", qtforge._VERSION)
  end)

  it("refuses an unknown command or none with the usage on stderr and status 2", function()
    local status, out, err = qtforge_cli("frobnicate")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    contains(err, 'unknown command "frobnicate"', "usage: qtforge COMMAND")
    status, out, err = qtforge_cli()
    assert.are.equal(2, status)
    assert.are.equal("", out)
    contains(err, "missing command", "usage: qtforge COMMAND")
  end)

  it("refuses unknown options, missing arguments and extra ones with status 2", function()
    local cases = {
      { { "inspect", "x", "--bogus" }, "qtforge inspect: unknown option --bogus" },
      { { "inspect" }, "qtforge inspect: missing PATH" },
      { { "inspect", "a", "b" }, "qtforge inspect: too many arguments" },
      { { "new", "x", "--dir" }, "qtforge new: option --dir needs a value" },
      { { "inspect", "x", "--json=yes" }, "qtforge inspect: option --json takes no value" },
      { { "keygen", "extra" }, "qtforge keygen: too many arguments" },
      { { "sign", "x" }, "qtforge sign: missing option --key" },
      { { "run", "x", "--for", "soon" }, 'qtforge run: option --for takes a positive number of seconds, got "soon"' },
      { { "run", "x", "--tick", "-1" }, "option --tick takes a positive number" },
    }
    for _, case in ipairs(cases) do
      local out, err = recorder(), recorder()
      assert.are.equal(2, cli.main(case[1], out, err), table.concat(case[1], " "))
      assert.are.equal("", out.text)
      contains(err.text, case[2], "usage: qtforge " .. case[1][1])
    end
  end)

  it("refuses help for a command it does not have with status 2", function()
    local status, out, err = qtforge_cli("help", "frobnicate")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    contains(err, 'unknown command "frobnicate"', "usage: qtforge COMMAND")
  end)

  it("reports a failure inside a command with its message, never a traceback", function()
    local inspect = require("qtforge.cli.inspect")
    with_stub(inspect, "run", function()
      error("the encoder broke", 0)
    end, function()
      local status, out, err = qtforge_cli("inspect", "anything")
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("qtforge inspect: internal error: the encoder broke\n", err)
    end)
  end)

  it("raises on misuse of main, naming the argument", function()
    assert.has_error(function()
      cli.main({ "inspect", 42 })
    end, "cli.main: argv[2] must be a string, got number")
    assert.has_error(function()
      cli.main("inspect")
    end, "cli.main: argv must be a list of strings, got string")
  end)

  it("takes --opt=value, --opt value, the last of a repeated option, and -- before words", function()
    local root = fs.temp_dir()
    local status, out, err = qtforge_cli("new", "--dir=" .. root .. "/a", "--dir", root .. "/b", "--", "twice")
    local made = listing(root)
    fs.remove(root)
    assert.are.equal(0, status, err)
    contains(out, "created " .. root .. "/b/twice/plugin.toml\n")
    assert.are.same({ "b" }, made)
  end)

  it("refuses an empty option value, which would name no folder, file or key", function()
    local root = fs.temp_dir()
    -- (`new x --dir=` wrote /x before; the same check covers it, unrun here)
    local cases = { "keygen --out=", "keygen --out ''", "sign x --key=", "verify x --trust=" }
    for _, args in ipairs(cases) do
      local status, out, err = script(root, args)
      assert.are.equal(2, status, args)
      assert.are.equal("", out)
      contains(err, "needs a value\n", "usage: qtforge ")
    end
    local left = listing(root)
    fs.remove(root)
    assert.are.same({}, left)
  end)

  it("runs as a script: help, version, usage errors", function()
    local status, out, err = script(ROOT, "--help")
    assert.are.equal(0, status)
    assert.are.equal("", err)
    contains(out, "commands:", "  validate PATH...")
    status, out = script(ROOT, "--version")
    assert.are.equal(0, status)
    contains(out, "qtforge-cli ", qtforge._VERSION)
    status, out, err = script(ROOT, "bogus")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    contains(err, 'unknown command "bogus"')
    status, out, err = script(ROOT, "order --nope .")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    contains(err, "qtforge order: unknown option --nope", "usage: qtforge order DIR")
  end)

  it("says so, without a traceback, when the script cannot find its Lua files", function()
    local empty = fs.temp_dir()
    local status, out, err = script(empty, "--help", "LUA_PATH=" .. quote(empty .. "/?.lua"))
    fs.remove(empty)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "qtforge: cannot load qtforge.cli: ", "qtforge.cli")
    assert.is_nil(err:find("traceback", 1, true), err)
  end)
end)

describe("qtforge new", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("writes a plugin folder that loads, works and validates", function()
    local status, out, err = qtforge_cli("new", "hello-world", "--dir", root)
    assert.are.equal(0, status)
    assert.are.equal("", err)
    local dir = root .. "/hello-world"
    for _, file in ipairs({ "plugin.toml", "init.lua", "spec/hello-world_spec.lua", "README.md" }) do
      contains(out, "created " .. dir .. "/" .. file .. "\n")
      assert.is_string(fs.read(dir .. "/" .. file), file)
    end
    contains(fs.read(dir .. "/plugin.toml"), 'name = "hello-world"', 'version = "0.1.0"', "description = ",
      '"log",', '# "config:read",')
    -- written in a folder of its own, then renamed: nothing else is left
    assert.are.same({ "hello-world" }, listing(root))
    assert.are.same({ "README.md", "init.lua", "plugin.toml", "spec" }, listing(dir))

    local manager, logs = plugins.manager()
    local result = manager:load_plugin(dir)
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal("running", manager:get_plugin("hello-world"):state())
    assert.are.same({ "loaded hello-world 0.1.0", "started" }, { logs[1].message, logs[2].message })
    assert.are.same({ plugin = "hello-world", input = 42, calls = 1 }, manager:call("hello-world", "execute", 42))
    manager:shutdown()

    status, out, err = qtforge_cli("validate", dir)
    assert.are.equal(0, status, err)
    assert.are.equal(dir .. ": ok\n", out)
  end)

  it("writes a spec that passes under busted", function()
    assert.are.equal(0, (qtforge_cli("new", "greeter.v2", "--dir", root)))
    local dir = root .. "/greeter.v2"
    local command = string.format("cd %s && %s %s %s --output=TAP spec/greeter.v2_spec.lua 2>&1; echo \"exit=$?\"",
      quote(dir), lua_env(), quote(child.interpreter()), quote(BUSTED))
    local pipe = assert(io.popen(command))
    local output = pipe:read("*a")
    pipe:close()
    contains(output, "ok 1 - plugin greeter.v2 loads", "ok 2 - plugin greeter.v2 answers execute", "1..2",
      "exit=0")
    assert.is_nil(output:find("not ok", 1, true), output)
  end)

  it("makes the folder given with --dir when it is missing, as a script too", function()
    local status, out, err = script(root, "new solo --dir deeper/plugins")
    assert.are.equal(0, status, err)
    contains(out, "created deeper/plugins/solo/init.lua")
    assert.is_string(fs.read(root .. "/deeper/plugins/solo/plugin.toml"))
  end)

  it("makes a --dir whose name starts with a dash", function()
    local status, out, err = script(root, "new solo --dir=-plugins")
    assert.are.equal(0, status, err)
    contains(out, "created -plugins/solo/plugin.toml\n")
    assert.is_string(fs.read(root .. "/-plugins/solo/spec/solo_spec.lua"))
  end)

  it("leaves nothing behind when a file cannot be written", function()
    local cli_fs = require("qtforge.cli.fs")
    local write = cli_fs.write
    with_stub(cli_fs, "write", function(path, ...)
      if path:find("README.md", 1, true) then
        return nil, "cannot write " .. path .. ": No space left on device"
      end
      return write(path, ...)
    end, function()
      local status, out, err = qtforge_cli("new", "partial", "--dir", root)
      assert.are.equal(1, status)
      assert.are.equal("", out)
      contains(err, "qtforge new: cannot write ", "README.md: No space left on device\n")
    end)
    assert.are.same({}, listing(root))
  end)

  it("refuses a name that is not a plugin id, creating nothing", function()
    for _, name in ipairs({ "Hello", "-x", "_x", "a/b", "a b", "", string.rep("x", 65) }) do
      -- `--` ends the options, so that "-x" is a name
      local status, out, err = qtforge_cli("new", "--dir", root, "--", name)
      assert.are.equal(1, status, name)
      assert.are.equal("", out)
      contains(err, "qtforge new: ", "is not a plugin id")
    end
    assert.are.same({}, listing(root))
  end)

  it("refuses a folder that exists, leaving it as it was", function()
    fs.write(root .. "/taken/keep.txt", "mine")
    local status, out, err = qtforge_cli("new", "taken", "--dir", root)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, root .. "/taken exists")
    assert.are.equal("mine", fs.read(root .. "/taken/keep.txt"))
    assert.is_nil(fs.read(root .. "/taken/plugin.toml"))
  end)
end)

describe("qtforge validate", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("passes folders, manifests, single files and folders of plugins", function()
    local base = plugins.folder(root, "base")
    plugins.folder(root, "app", { deps = { { "base", "^1.0" } }, capabilities = { "log", "fs:read" } })
    fs.write(root .. "/solo.lua", 'return { manifest = { name = "solo", version = "2.0.0" } }\n')
    local status, out, err = qtforge_cli("validate", root)
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert.are.same({ root .. "/app: ok", root .. "/base: ok", root .. "/solo.lua: ok" }, lines(out))
    status, out = qtforge_cli("validate", base .. "/plugin.toml", root .. "/solo.lua")
    assert.are.equal(0, status)
    assert.are.same({ base .. "/plugin.toml: ok", root .. "/solo.lua: ok" }, lines(out))
  end)

  it("points at the line of a manifest error", function()
    local dir = plugins.folder(root, "typed", { lines = "priority = \"high\"\n" })
    local status, out, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal(dir .. "/plugin.toml:4: invalid_manifest: priority: invalid type: string \"high\","
      .. " expected f64\n", err)
  end)

  it("refuses an unknown capability, at the line that names it", function()
    local dir = plugins.folder(root, "greedy", { lines = 'capabilities = ["log", "teleport"]\n' })
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    contains(err, dir .. '/plugin.toml:4: invalid_manifest: capabilities: unknown capability "teleport"')
  end)

  it("points at the line of a value the core names, in either quotes", function()
    local dir = fs.plugin(root, "x", { ["plugin.toml"] = "version = '1.0.0'\nname = 'X'\n",
      ["init.lua"] = "return {}" })
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    contains(err, dir .. '/plugin.toml:2: invalid_manifest: name: "X" is not a plugin id (')
  end)

  it("reports a problem without a line when no line holds it", function()
    local dir = fs.plugin(root, "headless", { ["plugin.toml"] = fs.manifest("headless") })
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    contains(err, dir .. '/plugin.toml: invalid_manifest: entry: "init.lua" does not exist')
  end)

  it("checks dependencies among the paths given", function()
    local app = plugins.folder(root, "app", { deps = { { "base", "^2" } } })
    local status, out, err = qtforge_cli("validate", app)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, app .. '/plugin.toml:5: dependency_missing: plugin "app" needs "base" (^2)')

    local base = plugins.folder(root, "base", { version = "1.5.0" })
    status, out, err = qtforge_cli("validate", app, base)
    assert.are.equal(1, status)
    assert.are.equal(base .. ": ok\n", out)
    contains(err, app .. '/plugin.toml:5: dependency_version: plugin "app" needs "base" ^2, but 1.5.0')

    fs.write(base .. "/plugin.toml", fs.manifest("base", "2.1.0"))
    status, out, err = qtforge_cli("validate", app, base)
    assert.are.equal(0, status, err)
    assert.are.same({ app .. ": ok", base .. ": ok" }, lines(out))
  end)

  it("reports a dependency cycle for each plugin on it", function()
    local a = plugins.folder(root, "a", { deps = { { "b" } } })
    local b = plugins.folder(root, "b", { deps = { { "a" } } })
    local status, out, err = qtforge_cli("validate", root)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, a .. "/plugin.toml:5: dependency_cycle: ", b .. "/plugin.toml:5: dependency_cycle: ", "(a -> b -> a)")
  end)

  it("reports an entry that does not compile, at its line", function()
    local dir = plugins.folder(root, "broken", { source = "local x = 1\nreturn {\n" })
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    contains(err, dir .. "/init.lua:3: load_error: ")
  end)

  it("names a compile error's file in full, however long its path", function()
    -- Lua shortens a long file name in its messages to "...tail"
    local dir = plugins.folder(root .. "/" .. string.rep("a-long-folder-name/", 4), "broken",
      { source = "return {\n" })
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    assert.truthy(err:find(dir .. "/init.lua:2: load_error: unexpected symbol near ", 1, true) == 1, err)
  end)

  it("reports files that differ from the qtforge.lock", function()
    local dir = plugins.folder(root, "pinned")
    assert.are.equal(0, (qtforge_cli("lock", root)))
    assert.are.equal(0, (qtforge_cli("validate", dir)))
    fs.write(dir .. "/extra.lua", "return 1\n")
    local status, _, err = qtforge_cli("validate", dir)
    assert.are.equal(1, status)
    contains(err, dir .. ": integrity_mismatch: ", "extra.lua: not listed in qtforge.lock")
  end)

  it("reports paths that hold no plugin", function()
    fs.mkdir(root .. "/empty")
    local status, out, err = qtforge_cli("validate", root .. "/missing", root .. "/empty")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, root .. "/missing: not_found: no plugin at " .. root .. "/missing",
      root .. "/empty: not_a_plugin: no plugins in this folder")
  end)

  it("names each plugin once, however it was given, and a duplicate id", function()
    local dir = plugins.folder(root, "one")
    local status, out = qtforge_cli("validate", root, dir)
    assert.are.equal(0, status)
    assert.are.equal(dir .. ": ok\n", out)
    local other = fs.temp_dir()
    local twin = plugins.folder(other, "one")
    local err
    status, out, err = qtforge_cli("validate", dir, twin)
    fs.remove(other)
    assert.are.equal(1, status)
    assert.are.equal(dir .. ": ok\n", out)
    contains(err, twin .. '/plugin.toml: already_loaded: plugin id "one" is also the id of ' .. dir)
  end)

  it("reports through the script with its exit status", function()
    plugins.folder(root, "good")
    plugins.folder(root, "bad", { version = "one" })
    local status, out, err = script(root, "validate good bad")
    assert.are.equal(1, status)
    assert.are.equal("good: ok\n", out)
    contains(err, 'bad/plugin.toml:2: invalid_manifest: version: "one" is not a semantic version')
    status, out = script(root, "validate good")
    assert.are.equal(0, status)
    assert.are.equal("good: ok\n", out)
  end)
end)

describe("qtforge inspect", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  local function described_plugin()
    return plugins.folder(root, "shown", {
      version = "1.4.0",
      lines = 'description = "quote \\" backslash \\\\ tab \\t end"\npriority = 3\ntags = ["demo"]\n',
      capabilities = { "log", "bus:publish" },
      deps = { { "base", "^1.2", true } },
      config = 'greeting = "Hi"\n',
    })
  end

  it("shows a plugin's manifest without loading it", function()
    local dir = described_plugin()
    local status, out, err = qtforge_cli("inspect", dir)
    assert.are.equal(0, status)
    assert.are.equal("", err)
    contains(out, "id:           shown\n", "version:      1.4.0\n", "kind:         folder\n",
      "entry:        " .. dir .. "/init.lua\n", "capabilities: log, bus:publish\n",
      "dependencies: base ^1.2 (optional)\n", "priority:     3\n", "tags:         demo\n",
      'config:       greeting = "Hi"\n')
  end)

  it("prints the whole info as JSON with --json", function()
    local dir = described_plugin()
    local status, out, err = qtforge_cli("inspect", dir, "--json")
    assert.are.equal(0, status)
    assert.are.equal("", err)
    local info = decode(out)
    assert.are.equal("shown", info.id)
    assert.are.equal("quote \" backslash \\ tab \t end", info.description)
    assert.are.same({ "log", "bus:publish" }, info.capabilities)
    assert.are.same({ { name = "base", version = "^1.2", optional = true } }, info.dependencies)
    assert.are.same({ greeting = "Hi" }, info.config)
    assert.are.equal(3, info.priority)
    -- empty lists stay lists, empty maps stay maps
    contains(out, '"exports": []', '"limits": {}')
  end)

  it("prints config as the manifest wrote it: maps, lists, and a JSON manifest's null", function()
    local dir = fs.plugin(root, "data", {
      ["plugin.json"] = '{"name": "data", "version": "1.0.0", "config": {"list": [1, 0.1], "none": [], '
        .. '"map": {}, "nested": {"inner": {}}, "odd": null}}',
      ["init.lua"] = "return {}\n",
    })
    local status, out, err = qtforge_cli("inspect", dir, "--json")
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    contains(out, '"none": []', '"map": {}', '"inner": {}', '"odd": null', '"list": [\n      1,\n      0.1\n    ]')
    assert.are.same({ 1, 0.1 }, decode(out).config.list)
    status, out = qtforge_cli("inspect", dir)
    assert.are.equal(0, status)
    contains(out, "config:       list = [1,0.1]\n", "              map = {}\n", '              nested = {"inner":{}}\n',
      "              none = []\n", "              odd = null\n")
  end)

  it("refuses a TOML [config] nan, naming the file and line", function()
    local dir = plugins.folder(root, "data", { config = "rate = nan\n" })
    local status, out, err = qtforge_cli("inspect", dir, "--json")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, dir .. "/plugin.toml:", ": invalid_manifest: config.rate: NaN is not a value JSON can hold")
  end)

  it("lists a native library's plugins", function()
    local library = ROOT .. "/build/" .. (jit and "luajit" or "lua5.4") .. "/plugins/bundle.so"
    assert.is_string(fs.read(library), "build the example plugins first: make examples")
    local status, out = qtforge_cli("inspect", library)
    assert.are.equal(0, status)
    contains(out, "id:           bundle_base\n", "\n\nid:           bundle_extra\n", "dependencies: bundle_base ^1.0")
    status, out = qtforge_cli("inspect", library, "--json")
    assert.are.equal(0, status)
    local info = decode(out)
    assert.are.equal("bundle_base", info.id)
    assert.are.equal("bundle_extra", info.plugins[2].id)
  end)

  it("fails on what is not a plugin", function()
    local status, out, err = qtforge_cli("inspect", root)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, root .. ": not_a_plugin: ")
    status, out, err = qtforge_cli("inspect", plugins.folder(root, "bad", { version = "x" }), "--json")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "/bad/plugin.toml:2: invalid_manifest: ")
  end)
end)

describe("qtforge.cli.json", function()
  it("writes what a JSON reader reads back", function()
    local value = { text = "a\"b\\c\n\t\1", list = { 1, 2.5, -3, true, false }, nested = { deep = { "x" } },
      big = 2 ^ 40, [1.5] = "number key" }
    assert.are.same({ text = "a\"b\\c\n\t\1", list = { 1, 2.5, -3, true, false }, nested = { deep = { "x" } },
      big = 2 ^ 40, ["1.5"] = "number key" }, decode(json.encode(value)))
    assert.are.same(value.list, decode(json.encode(value, { indent = "  " })).list)
  end)

  it("writes valid UTF-8 whatever the bytes, each stray byte as U+FFFD", function()
    local valid = "caf\195\169 \226\130\172 \240\159\152\128" -- 2, 3 and 4 bytes a character
    assert.are.equal('"' .. valid .. '"', json.encode(valid))
    local cases = {
      { "a\255b", '"a\\ufffdb"' },                -- a byte no UTF-8 character has
      { "\128x", '"\\ufffdx"' },                  -- a continuation byte alone
      { "\192\128", '"\\ufffd\\ufffd"' },         -- an overlong NUL
      { "\237\160\128", '"\\ufffd\\ufffd\\ufffd"' }, -- a surrogate
      { "\244\144\128\128", '"\\ufffd\\ufffd\\ufffd\\ufffd"' }, -- past U+10FFFF
      { "\226\130", '"\\ufffd\\ufffd"' },         -- cut short
      { "\226\130\n", '"\\ufffd\\ufffd\\n"' },    -- cut short by an escaped byte
    }
    for _, case in ipairs(cases) do
      assert.are.equal(case[2], json.encode(case[1]), case[2])
    end
    assert.are.equal("caf\195\169 \239\191\189", decode(json.encode("caf\195\169 \233")))
  end)

  it("writes numbers as short as they read back, and Lua 5.4 integers exactly", function()
    assert.are.equal("[0.1,-2.5,1e+300,3,1]", json.encode({ 0.1, -2.5, 1e300, 3.0, 1 }))
    if not jit then
      assert.are.equal("9007199254740993", json.encode(math.tointeger(2 ^ 53) + 1))
    end
  end)

  it("writes qtforge's manifest data: its lists, and its null", function()
    local root = fs.temp_dir()
    local dir = fs.plugin(root, "data", {
      ["plugin.json"] = '{"name": "data", "version": "1.0.0", "config": {"list": [1, 2], "none": [], "odd": null}}',
      ["init.lua"] = "return {}\n",
    })
    local config = qtforge.core.PluginLoader.inspect(dir).config
    fs.remove(root)
    assert.are.equal('{"list":[1,2],"none":[],"odd":null}', json.encode(config))
  end)

  it("never raises when lenient, even on a value whose __tostring fails", function()
    local broken = setmetatable({}, { __tostring = function() error("no words") end })
    assert.are.equal('{"b":"(a table)","f":true}', json.encode({ b = broken, f = true }, { lenient = true }))
  end)

  it("writes empty tables as lists unless marked as objects", function()
    assert.are.equal('{"a":[],"b":{}}', json.encode({ a = {}, b = json.object() }))
    assert.are.equal('{"1":"x","3":"y"}', json.encode({ [1] = "x", [3] = "y" }))
  end)

  it("refuses what JSON cannot hold unless lenient", function()
    local cyclic = {}
    cyclic.self = cyclic
    for _, value in ipairs({ { f = print }, 0 / 0, math.huge, cyclic }) do
      assert.is_false(pcall(json.encode, value))
    end
    assert.are.equal('{"n":null,"v":"1.2.3"}', json.encode({ v = qtforge.utils.Version("1.2.3"), n = 0 / 0 },
      { lenient = true }))
  end)
end)

describe("qtforge order", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("prints the order load_directory loads in", function()
    plugins.folder(root, "app", { deps = { { "db" }, { "log" } } })
    plugins.folder(root, "db", { deps = { { "log" } } })
    plugins.folder(root, "log")
    plugins.folder(root, "early", { lines = "priority = 10\n" })
    plugins.folder(root, "zeta", { lines = 'before = ["log"]\n' })
    local status, out, err = qtforge_cli("order", root)
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert.are.same({ "early", "zeta", "log", "db", "app" }, lines(out))
    local manager = plugins.manager()
    manager:load_directory(root)
    assert.are.same(manager:load_order(), lines(out))
    manager:shutdown()
  end)

  it("prints a cycle's path on stderr and still orders the rest", function()
    plugins.folder(root, "a", { deps = { { "b" } } })
    plugins.folder(root, "b", { deps = { { "a" } } })
    plugins.folder(root, "free")
    plugins.folder(root, "needy", { deps = { { "ghost" } } })
    local status, out, err = qtforge_cli("order", root)
    assert.are.equal(1, status)
    assert.are.equal("free\n", out)
    contains(err, "dependency cycle: a -> b -> a\n",
      root .. '/needy/plugin.toml:5: dependency_missing: plugin "needy" needs "ghost"')
    local _, count = err:gsub("dependency cycle", "")
    assert.are.equal(1, count)
  end)

  it("reports manifests that do not read, and a path that is not a folder", function()
    plugins.folder(root, "ok")
    plugins.folder(root, "bad", { lines = "colour = 1\n" })
    local status, out, err = qtforge_cli("order", root)
    assert.are.equal(1, status)
    assert.are.equal("ok\n", out)
    contains(err, root .. "/bad/plugin.toml:4: invalid_manifest: colour: unknown field `colour`")
    status, out, err = qtforge_cli("order", root .. "/nowhere")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "qtforge order: " .. root .. "/nowhere is not a folder")
  end)

  it("refuses a plugin folder, whose own files are not plugins", function()
    plugins.folder(root, "ok")
    local status, out, err = qtforge_cli("order", root .. "/ok")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("qtforge order: " .. root .. "/ok is a plugin folder; give the folder that holds it\n", err)
  end)
end)

describe("qtforge lock", function()
  local root

  before_each(function()
    root = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(root)
  end)

  it("writes DIR/qtforge.lock, which loads then check", function()
    local dir = plugins.folder(root, "pinned")
    local status, out, err = qtforge_cli("lock", root)
    assert.are.equal(0, status, err)
    assert.are.equal(root .. "/qtforge.lock\n", out)
    contains(fs.read(root .. "/qtforge.lock"), "[plugins.pinned.files]", '"init.lua" = "sha256:')
    local result = qtforge.security.PluginValidator.validate(dir)
    assert.is_true(result.success)
    assert.are.equal("lock", result.source)
  end)

  it("writes nothing when a manifest does not read", function()
    plugins.folder(root, "fine")
    plugins.folder(root, "broken", { version = "1" })
    local status, out, err = qtforge_cli("lock", root)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, root .. "/broken/plugin.toml:2: invalid_manifest: ")
    assert.is_nil(fs.read(root .. "/qtforge.lock"))
  end)

  it("refuses a plugin folder, a folder without plugin folders, and no folder", function()
    local dir = plugins.folder(root, "inner")
    local cases = {
      { dir, dir .. " is a plugin folder; give the folder that holds it" },
      { dir .. "/init.lua", dir .. "/init.lua is not a folder" },
      { root .. "/none", root .. "/none is not a folder" },
    }
    fs.mkdir(root .. "/empty")
    fs.write(root .. "/empty/solo.lua", 'return { manifest = { name = "solo", version = "1.0.0" } }\n')
    cases[#cases + 1] = { root .. "/empty", "no plugin folders in " .. root .. "/empty" }
    for _, case in ipairs(cases) do
      local status, out, err = qtforge_cli("lock", case[1])
      assert.are.equal(1, status, case[1])
      assert.are.equal("", out)
      assert.are.equal("qtforge lock: " .. case[2] .. "\n", err)
    end
    assert.is_nil(fs.read(dir .. "/qtforge.lock"))
    assert.is_nil(fs.read(root .. "/empty/qtforge.lock"))
  end)
end)

describe("qtforge keygen, sign and verify", function()
  local root, dir

  before_each(function()
    root = fs.temp_dir()
    dir = plugins.folder(root, "signed")
  end)

  after_each(function()
    fs.remove(root)
  end)

  local function keypair()
    local status, out = qtforge_cli("keygen")
    assert.are.equal(0, status)
    local public_key, secret_key = out:match("^public_key=(" .. HEX64 .. ")\nsecret_key=(" .. HEX64 .. ")\n$")
    assert.is_string(public_key, out)
    return public_key, secret_key
  end

  it("makes a new keypair each time", function()
    local public_key, secret_key = keypair()
    local other_public, other_secret = keypair()
    assert.are_not.equal(public_key, other_public)
    assert.are_not.equal(secret_key, other_secret)
  end)

  it("writes the keys to files with --out, the secret one private, never over old ones", function()
    local prefix = root .. "/release"
    local status, out, err = qtforge_cli("keygen", "--out", prefix)
    assert.are.equal(0, status, err)
    local public_key = out:match("^public_key=(" .. HEX64 .. ")\n")
    assert.is_string(public_key, out)
    contains(out, "public_key_file=" .. prefix .. ".pub\n", "secret_key_file=" .. prefix .. ".key\n")
    assert.are.equal("public_key=" .. public_key .. "\n", fs.read(prefix .. ".pub"))
    assert.truthy(fs.read(prefix .. ".key"):match("^secret_key=" .. HEX64 .. "\n$"))
    local pipe = assert(io.popen("stat -c %a " .. quote(prefix .. ".key")))
    assert.are.equal("600", pipe:read("*l"))
    pipe:close()

    local before = fs.read(prefix .. ".key")
    status, out, err = qtforge_cli("keygen", "--out", prefix)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, prefix .. ".pub exists; not overwriting a key")
    assert.are.equal(before, fs.read(prefix .. ".key"))
  end)

  it("writes both key files or neither", function()
    local cli_fs = require("qtforge.cli.fs")
    local write = cli_fs.write
    with_stub(cli_fs, "write", function(path, ...)
      if path:find("%.key$") then
        return nil, "cannot write " .. path .. ": No space left on device"
      end
      return write(path, ...)
    end, function()
      local status, out, err = qtforge_cli("keygen", "--out", root .. "/release")
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("qtforge keygen: cannot write " .. root .. "/release.key: No space left on device\n", err)
    end)
    assert.are.same({ "signed" }, listing(root))
  end)

  it("writes key files whose prefix starts with a dash, the secret one private", function()
    local status, out, err = script(root, "keygen --out=-release")
    assert.are.equal(0, status, err)
    contains(out, "secret_key_file=-release.key\n")
    local pipe = assert(io.popen("stat -c %a " .. quote(root .. "/-release.key")))
    assert.are.equal("600", pipe:read("*l"))
    pipe:close()
    assert.are.same({ "-release.key", "-release.pub", "signed" }, listing(root))
  end)

  it("signs with a key file and verifies, trusted when the key is given", function()
    local prefix = root .. "/release"
    assert.are.equal(0, (qtforge_cli("keygen", "--out", prefix)))
    local public_key = fs.read(prefix .. ".pub"):match("=(%x+)")
    local status, out, err = qtforge_cli("sign", dir, "--key", "@" .. prefix .. ".key")
    assert.are.equal(0, status, err)
    assert.are.equal("signed signed\npublic_key=" .. public_key .. "\n", out)
    contains(fs.read(dir .. "/plugin.sig"), public_key)

    status, out, err = qtforge_cli("verify", dir)
    assert.are.equal(0, status, err)
    assert.are.equal("plugin=signed\nsigned=true\ntrusted=false\nkey=" .. public_key .. "\n", out)

    status, out = qtforge_cli("verify", dir, "--trust", keypair(), "--trust", "@" .. prefix .. ".pub")
    assert.are.equal(0, status)
    contains(out, "trusted=true\n")
  end)

  it("signs with a key given as hex", function()
    local public_key, secret_key = keypair()
    assert.are.equal(0, (qtforge_cli("sign", dir, "--key", secret_key)))
    local status, out = qtforge_cli("verify", dir, "--trust", public_key)
    assert.are.equal(0, status)
    contains(out, "signed=true\ntrusted=true\nkey=" .. public_key)
  end)

  it("fails for a key that is not trusted, a changed file, and no signature", function()
    local status, out, err = qtforge_cli("verify", dir)
    assert.are.equal(1, status)
    contains(out, "signed=false\n")
    contains(err, dir .. ": not signed")

    local _, secret_key = keypair()
    assert.are.equal(0, (qtforge_cli("sign", dir, "--key", secret_key)))
    status, out, err = qtforge_cli("verify", dir, "--trust", (keypair()))
    assert.are.equal(1, status)
    contains(out, "signed=true\ntrusted=false\n")
    contains(err, dir .. ": signed by a key not given with --trust")

    fs.write(dir .. "/init.lua", "return { exports = {} }\n")
    status, out, err = qtforge_cli("verify", dir)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, dir .. ": signature_invalid: ", "does not match the plugin's files")
  end)

  it("refuses bad keys without repeating a secret one", function()
    local secret = string.rep("ab", 31) .. "zz"
    local status, out, err = qtforge_cli("sign", dir, "--key", secret)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "qtforge sign: invalid secret key: ")
    assert.is_nil(err:find(secret, 1, true))
    assert.is_nil(fs.read(dir .. "/plugin.sig"))

    status, out, err = qtforge_cli("sign", dir, "--key", "@" .. root .. "/nope.key")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "qtforge sign: cannot read the key file: ")

    -- a folder opens as a file; reading it is what fails
    status, out, err = qtforge_cli("sign", dir, "--key", "@" .. root)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("qtforge sign: cannot read the key file: " .. root .. ": Is a directory\n", err)

    status, out, err = qtforge_cli("verify", dir, "--trust", "abc")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    contains(err, "qtforge verify: --trust abc: ", "64 lower-case hex digits")
  end)

  it("refuses to sign a single-file plugin or a missing one", function()
    local _, secret_key = keypair()
    local file = fs.write(root .. "/solo.lua", 'return { manifest = { name = "solo", version = "1.0.0" } }\n')
    local status, _, err = qtforge_cli("sign", file, "--key", secret_key)
    assert.are.equal(1, status)
    contains(err, file .. ": signature_invalid: ")
    status, _, err = qtforge_cli("sign", root .. "/gone", "--key", secret_key)
    assert.are.equal(1, status)
    contains(err, root .. "/gone: not_found: ")
  end)

  it("keeps its word as a script", function()
    local status, out = script(root, "keygen --out k")
    assert.are.equal(0, status)
    contains(out, "public_key_file=k.pub")
    status = script(root, "sign signed --key @k.key")
    assert.are.equal(0, status)
    status, out = script(root, "verify signed --trust @k.pub")
    assert.are.equal(0, status)
    contains(out, "trusted=true")
    fs.write(dir .. "/more.lua", "return 2\n")
    status = script(root, "verify signed --trust @k.pub")
    assert.are.equal(1, status)
  end)
end)

describe("qtforge run", function()
  local root, dir

  -- a plugin that says which version it is on the bus when it starts, and
  -- logs each of its first two updates
  local function source(version)
    return string.format([[
local plugin = { exports = {} }
local log
local updates = 0
function plugin.on_load(ctx)
  log = ctx.log
end
function plugin.on_start(ctx)
  ctx.bus:publish("demo.hello", { version = %d })
end
function plugin.update()
  updates = updates + 1
  if updates <= 2 then
    log.info("update " .. updates)
  end
end
return plugin
]], version)
  end

  before_each(function()
    root = fs.temp_dir()
    dir = root .. "/plugins"
    plugins.folder(dir, "demo", { capabilities = { "log", "bus:publish" }, source = source(1) })
  end)

  after_each(function()
    fs.remove(root)
  end)

  -- Checks the lines of a run in which demo was edited to version 2.
  local function assert_reloaded(out)
    local all = lines(out)
    local function index_of(line)
      for i, each in ipairs(all) do
        if each == line then
          return i
        end
      end
      error(string.format("%q is not in the output:\n%s", line, out), 2)
    end
    local hello = index_of('bus demo.hello from demo: {"version":1}')
    local loaded = index_of("event loaded demo")
    local watching = index_of("watching " .. dir)
    local reloaded = index_of("event reloaded demo")
    local hello_again = index_of('bus demo.hello from demo: {"version":2}')
    local unloaded = index_of("event unloaded demo")
    index_of("log info demo: update 1")
    assert.is_true(hello < loaded and loaded < watching and watching < hello_again and hello_again < reloaded
      and reloaded < unloaded, out)
  end

  it("loads, reloads an edited plugin, prints its messages, and stops after --for", function()
    -- the edit comes from a process of its own while the run blocks this one
    local staged = fs.write(root .. "/v2.lua", source(2))
    assert.is_true(shell(string.format("(sleep 0.5; cp %s %s) >/dev/null 2>&1 &", quote(staged),
      quote(dir .. "/demo/init.lua"))))
    local started, cpu = qtforge.utils.monotonic(), os.clock()
    local status, out, err = qtforge_cli("run", dir, "--for", "1.5")
    local took, busy = qtforge.utils.monotonic() - started, os.clock() - cpu
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert_reloaded(out)
    assert.is_true(took >= 1.5 and took < 3, "took " .. took)
    -- between ticks it sleeps: a busy wait would spend the whole 1.5 s
    assert.is_true(busy < 0.5, "spent " .. busy .. " s of CPU")
  end)

  it("runs as a script, printing as it goes", function()
    local command = string.format("cd %s && %s %s %s run plugins --for 1.5 --tick 0.02 2>&1; echo \"exit=$?\"",
      quote(root), lua_env(), quote(child.interpreter()), quote(SCRIPT))
    local pipe = assert(io.popen(command))
    local seen = {}
    for line in pipe:lines() do
      seen[#seen + 1] = line
      if line == "watching plugins" then
        break
      end
    end
    -- the host runs on: the edit lands while it watches
    fs.write(dir .. "/demo/init.lua", source(2))
    seen[#seen + 1] = pipe:read("*a")
    pipe:close()
    local out = table.concat(seen, "\n")
    contains(out, "watching plugins\n", "exit=0")
    assert_reloaded((out:gsub("watching plugins", "watching " .. dir)))
  end)

  it("stops on Ctrl-C, unloading the plugins, with status 130", function()
    -- --for 20 only bounds the spec if the interrupt were lost
    local command = string.format("cd %s && { %s %s %s run plugins --for 20 2>&1 & echo \"pid=$!\"; wait $!;"
      .. " echo \"exit=$?\"; }", quote(root), lua_env(), quote(child.interpreter()), quote(SCRIPT))
    local pipe = assert(io.popen(command))
    local pid = pipe:read("*l"):match("^pid=(%d+)$")
    assert.is_string(pid)
    for line in pipe:lines() do
      if line == "watching plugins" then
        break
      end
    end
    local started = qtforge.utils.monotonic()
    assert.is_true(shell("kill -INT " .. pid))
    local rest = pipe:read("*a")
    pipe:close()
    contains(rest, "event unloaded demo\n", "qtforge run: interrupted\n", "exit=130")
    assert.is_true(qtforge.utils.monotonic() - started < 5)
  end)

  it("stops as for Ctrl-C when the interrupt lands in a plugin's hook", function()
    -- lua.c raises "interrupted!" wherever Lua runs next; in update, the
    -- manager catches it and fails the plugin, and the host must stop anyway
    plugins.folder(dir, "struck", { source = 'return { update = function() error("interrupted!") end }\n' })
    local status, out, err = qtforge_cli("run", dir, "--for", "5")
    assert.are.equal(130, status)
    contains(out, "event failed struck: ", "event unloaded demo\n", "event unloaded struck\n")
    assert.are.equal("qtforge run: interrupted\n", err)
  end)

  it("reports plugins that fail to load and goes on with the others", function()
    plugins.folder(dir, "needy", { deps = { { "ghost" } } })
    local status, out = qtforge_cli("run", dir, "--for", "0.2")
    assert.are.equal(1, status)
    contains(out, 'event failed needy: dependency_missing: plugin "needy" needs "ghost"', "event started demo\n",
      "watching " .. dir .. "\n")
  end)

  it("refuses a path that is not a folder, and a plugin folder", function()
    local status, out, err = qtforge_cli("run", root .. "/nowhere", "--for", "0.1")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("qtforge run: " .. root .. "/nowhere is not a folder\n", err)
    status, out, err = qtforge_cli("run", dir .. "/demo", "--for", "0.1")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("qtforge run: " .. dir .. "/demo is a plugin folder; give the folder that holds it\n", err)
  end)
end)
