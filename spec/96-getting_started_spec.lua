-- docs/getting-started.md, followed as a reader would: its code blocks are read
-- from the page and run in a temp folder, each step on the plugin the real
-- `qtforge new hello` made (bin/qtforge, as a process under the interpreter
-- running the specs). Shell commands other than `qtforge ...` are not run;
-- host.lua and the configure lines run as scripts of their own beside hello/,
-- and the page's `--> ...` comments are the expected output.
local qtforge = require("qtforge")
local fs = require("support.fs")
local child = require("support.child")

local quote = child.quote
local monotonic, sleep = qtforge.utils.monotonic, qtforge.utils.sleep

local ROOT = child.ROOT
local DOC = ROOT .. "/docs/getting-started.md"
local SCRIPT = ROOT .. "/bin/qtforge"

-- how long a child may take to show what a check waits for
local PATIENCE = 5

-- The page's fenced code blocks: { section = "2. Make a plugin", lang = "sh", text = ... }.
local function doc_blocks()
  local text = assert(fs.read(DOC), "cannot read " .. DOC)
  local blocks, section, open = {}, "", nil
  for line in text:gmatch("([^\n]*)\n") do
    if open then
      if line == "```" then
        blocks[#blocks + 1] = open
        open = nil
      else
        open.text = open.text .. line .. "\n"
      end
    elseif line:match("^```") then
      open = { section = section, lang = line:match("^```(%S*)"), text = "" }
    elseif line:match("^## ") then
      section = line:match("^## (.*)$")
    end
  end
  assert(open == nil, "a code block of " .. DOC .. " is not closed")
  return blocks
end

-- The `n`th block in `lang` of the section whose title starts with `step`.
local function doc_block(step, lang, n)
  local seen = 0
  for _, block in ipairs(doc_blocks()) do
    if block.section:sub(1, #step) == step and block.lang == lang then
      seen = seen + 1
      if seen == (n or 1) then
        return block.text
      end
    end
  end
  error(string.format("no %s block %d in section %q of %s", lang, n or 1, step, DOC), 2)
end

local function lines_of(text)
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do
    list[#list + 1] = line
  end
  return list
end

-- The `qtforge` commands of a shell block: { args = "validate hello", expect = "hello: ok" }
-- (`expect`, from a `-->` comment, is nil when the page shows no output).
local function qtforge_commands(block)
  local commands = {}
  for _, line in ipairs(lines_of(block)) do
    local rest = line:match("^qtforge%s+(.*)$")
    if rest then
      local expect = rest:match("%-%->%s*(.-)%s*$")
      local args = rest:gsub("%-%->.*$", ""):gsub("#.*$", ""):match("^(.-)%s*$")
      commands[#commands + 1] = { args = args, expect = expect }
    end
  end
  return commands
end

-- The words of the `--> ...` comment on the line of `block` that holds `marker`.
local function expected_words(block, marker)
  for _, line in ipairs(lines_of(block)) do
    if line:find(marker, 1, true) then
      local shown = assert(line:match("%-%->%s*(.-)%s*$"), "no --> comment on: " .. line)
      local words = {}
      for word in shown:gmatch("%S+") do
        words[#words + 1] = word
      end
      return words
    end
  end
  error("no line with " .. marker .. " in " .. block, 2)
end

-- What a child needs to find qtforge: the page's LUA_PATH (the checkout's
-- lua/ folder) and the build these specs run against.
local function lua_env()
  return "LUA_PATH=" .. quote(ROOT .. "/lua/?.lua;;") .. " LUA_CPATH=" .. quote(package.cpath)
end

--- Runs `interpreter <words>` in `dir` and waits: exit status, stdout, stderr.
local function run(dir, words)
  return child.capture(dir, lua_env(), words)
end

--- `qtforge <args>` (shell words) in `dir`, as the page's alias runs it.
local function qtforge_command(dir, args)
  return run(dir, quote(SCRIPT) .. " " .. args)
end

--- Starts `interpreter <words>` in `dir` without waiting. Its stdout and
--- stderr go to a file, read as it writes; "exit=<status>" ends the file
--- once it has stopped.
local function spawn(dir, words)
  local out_file = os.tmpname()
  -- the shell around it stays to add the exit line; its own complaint about
  -- a killed child is dropped
  local command = string.format("cd %s && { %s %s %s >%s 2>&1 </dev/null & echo $!; wait $!; "
    .. "echo \"exit=$?\" >>%s; } 2>/dev/null", quote(dir), lua_env(), quote(child.interpreter()), words,
    quote(out_file), quote(out_file))
  local pipe = assert(io.popen(command))
  local pid = assert(tonumber(pipe:read("*l")), "no pid")
  local process = { pid = pid }

  function process.output()
    return fs.read(out_file) or ""
  end

  --- Polls the output until it holds `text`; the output then.
  function process.wait_for(text)
    local deadline = monotonic() + PATIENCE
    repeat
      local out = process.output()
      if out:find(text, 1, true) then
        return out
      end
      sleep(0.01)
    until monotonic() > deadline
    error(string.format("%q did not show within %d s; the output:\n%s", text, PATIENCE, process.output()), 2)
  end

  --- Sends `signal` if it still runs, waits for it to end; its output then.
  function process.stop(signal)
    if pipe ~= nil then
      os.execute(string.format("kill -%s %d 2>/dev/null", signal, pid))
      pipe:close()
      pipe = nil
    end
    local out = process.output()
    os.remove(out_file)
    return out
  end

  return process
end

-- "Edit hello/init.lua and save" (steps 3 and 4): the file gets an on_start
-- of its own, which logs and publishes something the old one did not.
local function edit_hello(root)
  local path = root .. "/hello/init.lua"
  local source = assert(fs.read(path))
  local edited, count = source:gsub("\nreturn plugin\n$", [[

function plugin.on_start(ctx)
  ctx.log.info("started, edited")
  ctx.bus:publish("hello.edited", { edited = true })
end

return plugin
]])
  assert.are.equal(1, count, "hello/init.lua does not end in `return plugin`")
  fs.write(path, edited)
end

describe("docs/getting-started.md", function()
  local root, processes

  before_each(function()
    root = fs.temp_dir()
    processes = {}
    -- step 2's first command, which every later step builds on
    local new = qtforge_commands(doc_block("2.", "sh"))[1]
    assert.are.equal("new hello", new.args)
    local status, out, err = qtforge_command(root, new.args)
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert.truthy(out:find("hello/init.lua", 1, true), out)
  end)

  after_each(function()
    for _, process in ipairs(processes) do
      process.stop("KILL")
    end
    fs.remove(root)
  end)

  local function start(words)
    local process = spawn(root, words)
    processes[#processes + 1] = process
    return process
  end

  describe("1. Install", function()
    it("prints the module's version, as the lua5.4 -e line shows", function()
      local block = doc_block("1.", "sh", 2)
      local line = assert(block:match("[^\n]* %-e [^\n]*"), "no `-e` line in:\n" .. block)
      local code = assert(line:match("%-e '(.-)'"), line)
      local shown = assert(line:match("%-%->%s*(.-)%s*$"), line)
      local printed = {}
      local env = setmetatable({ print = function(...)
        printed[#printed + 1] = table.concat({ ... }, "\t")
      end }, { __index = _G })
      assert(load(code, "=docs/getting-started.md", "t", env))()
      assert.are.same({ shown }, printed)
      assert.are.equal("qtforge " .. qtforge.version, shown)
    end)
  end)

  describe("2. Make a plugin", function()
    it("makes hello/ with the files the page lists, and `qtforge validate hello` says it is ok", function()
      for _, file in ipairs({ "plugin.toml", "init.lua", "spec/hello_spec.lua", "README.md" }) do
        assert.is_string(fs.read(root .. "/hello/" .. file), "hello/" .. file .. " is missing")
      end
      local commands = qtforge_commands(doc_block("2.", "sh"))
      assert.are.equal(2, #commands)
      assert.are.same({ args = "validate hello", expect = "hello: ok" }, commands[2])
      local status, out, err = qtforge_command(root, commands[2].args)
      assert.are.equal(0, status, err)
      assert.are.equal(commands[2].expect .. "\n", out)
      assert.are.equal("", err)
    end)

    it("quotes the execute export of hello/init.lua, line for line", function()
      local quoted = lines_of(doc_block("2.", "lua"))
      local source = lines_of(assert(fs.read(root .. "/hello/init.lua")))
      assert.is_true(#quoted >= 3)
      -- the page leaves lines out, never changes one: its lines come in order
      local at = 1
      for _, line in ipairs(quoted) do
        while at <= #source and source[at] ~= line do
          at = at + 1
        end
        assert.is_true(at <= #source, string.format("hello/init.lua has no line %q after the ones before it", line))
        at = at + 1
      end
    end)
  end)

  describe("3. Try it", function()
    it("runs `qtforge run .`, which reloads hello when init.lua is saved and stops on Ctrl-C", function()
      local commands = qtforge_commands(doc_block("3.", "sh"))
      assert.are.same({ { args = "run ." } }, commands)
      local host = start(quote(SCRIPT) .. " " .. commands[1].args)
      local before = host.wait_for("watching .\n")
      assert.truthy(before:find("\nevent started hello\n", 1, true), before)
      assert.truthy(before:find('\nbus hello.started from hello: {"version":"0.1.0"}\n', 1, true), before)
      assert.falsy(before:find("reloaded", 1, true), before)
      edit_hello(root)
      host.wait_for("event reloaded hello\n")
      local out = host.stop("INT")
      for _, line in ipairs({ "log info hello: started, edited", 'bus hello.edited from hello: {"edited":true}',
        "event reloaded hello", "event unloaded hello", "exit=130" }) do
        assert.truthy(out:find("\n" .. line .. "\n", 1, true), line .. " is not in:\n" .. out)
      end
      assert.falsy(out:find("failed", 1, true), out)
    end)
  end)

  describe("4. Host it", function()
    -- host.lua runs as written, its stdout line-buffered; the line before it
    -- marks the first tick of its loop: the reloader is watching by then
    local PRELUDE = 'io.stdout:setvbuf("line"); local utils = require("qtforge").utils; local sleep = utils.sleep; '
      .. 'utils.sleep = function(s) if sleep then print("(ticking)"); utils.sleep = sleep; sleep = nil end '
      .. 'return utils.sleep(s) end'

    it("loads hello, hears its message, calls it once, then reloads it when init.lua is saved", function()
      local block = doc_block("4.", "lua")
      fs.write(root .. "/host.lua", block)
      local host = start("-e " .. quote(PRELUDE) .. " host.lua")
      local out = host.wait_for("(ticking)\n")
      local shown = expected_words(block, "hello:execute(")
      assert.are.same({ "running", "1" }, shown)
      assert.are.same({ "message\thello.started\thello", table.concat(shown, "\t"), "(ticking)" }, lines_of(out))
      edit_hello(root)
      host.wait_for("message\thello.edited\thello\n")
      -- stopped in its minute of ticks: killed, it has printed nothing else
      out = host.stop("TERM")
      assert.are.same({ "message\thello.started\thello", "running\t1", "(ticking)", "message\thello.edited\thello",
        "exit=143" }, lines_of(out))
    end)
  end)

  describe("5. Configure it", function()
    -- Puts step 5's TOML into hello/plugin.toml as a reader would: each
    -- top-level key replaces the manifest's own (a list may span lines), the
    -- tables are added at the end.
    local function configure_manifest()
      local toml = doc_block("5.", "toml")
      local path = root .. "/hello/plugin.toml"
      local manifest = assert(fs.read(path))
      local keys, tables = toml:match("^(.-)\n(%[.*)$")
      assert(keys, "no [table] in step 5's TOML:\n" .. toml)
      for _, line in ipairs(lines_of(keys)) do
        local key = line:match("^([%w_-]+)%s*=")
        if key then
          local count
          manifest, count = manifest:gsub("\n" .. key:gsub("%p", "%%%0") .. "%s*=%s*(%b[])[^\n]*", function()
            return "\n" .. line
          end)
          if count == 0 then
            manifest, count = manifest:gsub("\n" .. key:gsub("%p", "%%%0") .. "%s*=[^\n]*", function()
              return "\n" .. line
            end)
          end
          assert.are.equal(1, count, "hello/plugin.toml sets " .. key .. " " .. count .. " times")
        end
      end
      fs.write(path, manifest .. "\n" .. tables)
    end

    -- hello/init.lua, made to show what it reads of ctx.config and what its
    -- on_configure hears, in the reply of execute
    local function instrument_hello()
      local path = root .. "/hello/init.lua"
      local edited, count = assert(fs.read(path)):gsub("\nreturn plugin\n$", [[

local config, heard, configured = nil, nil, 0
local on_load, execute = plugin.on_load, plugin.exports.execute

function plugin.on_load(ctx)
  config = ctx.config
  return on_load(ctx)
end

function plugin.on_configure(new)
  heard, configured = new.greeting, configured + 1
end

function plugin.exports.execute(input)
  local reply = execute(input)
  reply.greeting, reply.heard, reply.configured = config.greeting, heard, configured
  return reply
end

return plugin
]])
      assert.are.equal(1, count)
      fs.write(path, edited)
    end

    -- prints the manager's and the plugin's view of the configuration
    local PROBE = [[
do
  local reply = manager:get_plugin("hello"):execute("probe")
  print("probe", manager:get_plugin("hello"):config().greeting, reply.greeting, tostring(reply.heard),
    reply.configured, reply.calls)
end
]]

    it("configures hello with a greeting, and refuses one of the wrong type", function()
      configure_manifest()
      instrument_hello()
      local status, out, err = qtforge_command(root, "validate hello")
      assert.are.equal(0, status, err)
      assert.are.equal("hello: ok\n", out)

      -- step 4's host up to its reload loop, then step 5's lines
      local host = doc_block("4.", "lua")
      local loop_at = assert(host:find("\n%-%- reload it when"), "no reload part in step 4's host")
      local configure = doc_block("5.", "lua")
      fs.write(root .. "/configure.lua", host:sub(1, loop_at) .. PROBE .. configure .. PROBE)
      status, out, err = run(root, "configure.lua")
      assert.are.equal(0, status, err)
      assert.are.equal("", err)
      local success = table.concat(expected_words(configure, '{ greeting = "Hi" }'), " ")
      local refused = table.concat(expected_words(configure, "{ greeting = 42 }"), " ")
      assert.are.equal("true", success)
      assert.are.equal("invalid_config", refused)
      assert.are.same({
        "message\thello.started\thello",
        "running\t1",
        -- the declared default, read by the host and by the plugin; no on_configure yet
        "probe\tHello\tHello\tnil\t0\t2",
        success,
        refused,
        -- the new greeting, heard once: the refused one never reached the plugin
        "probe\tHi\tHi\tHi\t1\t3",
      }, lines_of(out))
    end)
  end)
end)
