-- qtforge.managers.LoggingManager: loggers by name, both call forms, levels
-- (the default, per logger and inherited along dotted names), callback sinks
-- and their records, file sinks in plain and JSON lines, removing sinks, a
-- callback that raises, a file that cannot be opened, and misuse.
local qtforge = require("qtforge")
local misuse = require("support.misuse")
local fs = require("support.fs")

local LoggingManager = qtforge.managers.LoggingManager
local Error = qtforge.Error

-- dkjson or lua-cjson when installed, to read JSON lines fully; not required
local json_decode
do
  local ok, cjson = pcall(require, "cjson")
  if ok and type(cjson) == "table" and cjson.decode then
    json_decode = cjson.decode
  else
    local has_dkjson, dkjson = pcall(require, "dkjson")
    if has_dkjson and type(dkjson) == "table" and dkjson.decode then
      json_decode = dkjson.decode
    end
  end
end

-- asserts that a text contains each of the plain strings that follow
local contains = require("support.plugins").contains

local function lines_of(path)
  local text = fs.read(path) or ""
  local lines = {}
  for line in text:gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  return lines, text
end

-- A manager with a callback sink; returns it and the list the records go to.
local function recording(opts)
  local records = {}
  local manager = LoggingManager(opts)
  manager:add_sink({ type = "callback", fn = function(record)
    records[#records + 1] = record
  end })
  return manager, records
end

-- "level logger: message" for each record, to compare what came through.
local function summary(records)
  local out = {}
  for i, record in ipairs(records) do
    out[i] = record.level .. " " .. record.logger .. ": " .. record.message
  end
  return out
end

-- Replaces io.stderr while fn runs; returns what was written to it.
local function capture_stderr(fn)
  local real = io.stderr
  local written = {}
  io.stderr = { -- luacheck: ignore 122
    write = function(self, ...)
      for i = 1, select("#", ...) do
        written[#written + 1] = tostring(select(i, ...))
      end
      return self
    end,
  }
  local ok, problem = pcall(fn)
  io.stderr = real -- luacheck: ignore 122
  assert(ok, problem)
  return table.concat(written)
end

local TIMESTAMP = "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ"

describe("LoggingManager loggers", function()
  it("logger(name) returns the same object each time, one per name", function()
    local manager = LoggingManager()
    local app = manager:logger("app")
    assert.are.equal(app, manager:logger("app"))
    assert.are_not.equal(app, manager:logger("app.net"))
    assert.are.equal("qtforge.managers.Logger(app)", tostring(app))
    for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
      assert.is_function(app[level])
    end
    -- another manager has loggers of its own
    assert.are_not.equal(app, LoggingManager():logger("app"))
  end)

  it("log.info(msg, fields) and log:info(msg, fields) log the same record", function()
    local manager, records = recording()
    local log = manager:logger("app")
    log.info("dot call", { user = "ann", n = 3 })
    log:info("colon call", { user = "ann", n = 3 })
    log.warn("no fields")
    log:error("no fields either")
    assert.are.same({ "info app: dot call", "info app: colon call", "warn app: no fields",
      "error app: no fields either" }, summary(records))
    assert.are.same({ user = "ann", n = 3 }, records[1].fields)
    assert.are.same(records[1].fields, records[2].fields)
    assert.are.same({}, records[3].fields)
    assert.are.same({}, records[4].fields)
  end)

  it("turns a message that is not a string into text, and fields that are not a table into { value = ... }", function()
    local manager, records = recording()
    local log = manager:logger("app")
    log.info(42)
    log.info("with a number", 7)
    log:info("with a string", "text")
    assert.are.equal("42", records[1].message)
    assert.are.same({ value = 7 }, records[2].fields)
    assert.are.same({ value = "text" }, records[3].fields)
  end)

  it("keeps fields that JSON cannot hold as their text", function()
    local manager, records = recording()
    manager:logger("app").info("odd fields", { fn = print, list = { 1, 2 }, nested = { ok = true } })
    assert.are.equal(1, #records)
    assert.is_string(records[1].fields.fn)
    contains(records[1].fields.fn, "function")
    assert.are.same({ 1, 2 }, records[1].fields.list)
    assert.are.same({ ok = true }, records[1].fields.nested)
  end)
end)

describe("LoggingManager levels", function()
  local manager, records

  before_each(function()
    manager, records = recording()
  end)

  local function all_levels(name)
    local log = manager:logger(name)
    for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
      log[level](level .. " line")
    end
  end

  it("default to info: debug and trace are not logged", function()
    assert.are.equal("info", manager:level())
    assert.are.equal("info", manager:level("anything"))
    all_levels("app")
    assert.are.same({ "info app: info line", "warn app: warn line", "error app: error line" }, summary(records))
  end)

  it("set_level(\"*\", \"trace\") logs everything, for loggers made before and after", function()
    local early = manager:logger("early")
    assert.is_true(manager:set_level("*", "trace"))
    assert.are.equal("trace", manager:level())
    assert.are.equal("trace", manager:level("*"))
    early.trace("t")
    all_levels("late")
    assert.are.same({ "trace early: t", "trace late: trace line", "debug late: debug line", "info late: info line",
      "warn late: warn line", "error late: error line" }, summary(records))
  end)

  it("set_level(nil, level) sets the default too", function()
    manager:set_level(nil, "error")
    assert.are.equal("error", manager:level())
    all_levels("app")
    assert.are.same({ "error app: error line" }, summary(records))
  end)

  it("set_level(\"app\", \"warn\") applies to app and app.net, not to apx or application", function()
    local net = manager:logger("app.net")
    manager:set_level("app", "warn")
    assert.are.equal("warn", manager:level("app"))
    assert.are.equal("warn", manager:level("app.net"))
    assert.are.equal("warn", manager:level("app.net.tcp"))
    assert.are.equal("info", manager:level("apx"))
    assert.are.equal("info", manager:level("application"))
    assert.are.equal("info", manager:level())
    manager:logger("app").info("app info")
    manager:logger("app").warn("app warn")
    net.info("net info")
    net.warn("net warn")
    manager:logger("app.net.tcp").info("tcp info")
    manager:logger("apx").info("apx info")
    manager:logger("application").info("application info")
    assert.are.same({ "warn app: app warn", "warn app.net: net warn", "info apx: apx info",
      "info application: application info" }, summary(records))
  end)

  it("a more specific level wins over its parent's, whatever the order they were set in", function()
    manager:set_level("app.net", "debug")
    manager:set_level("app", "error")
    assert.are.equal("debug", manager:level("app.net"))
    assert.are.equal("debug", manager:level("app.net.tcp"))
    assert.are.equal("error", manager:level("app"))
    manager:logger("app.net").debug("net debug")
    manager:logger("app").warn("app warn")
    manager:set_level("*", "trace")
    -- the default does not override a level set by name
    manager:logger("app").warn("app warn again")
    manager:logger("other").trace("other trace")
    assert.are.same({ "debug app.net: net debug", "trace other: other trace" }, summary(records))
  end)

  it("take \"warning\" for warn", function()
    manager:set_level("app", "warning")
    assert.are.equal("warn", manager:level("app"))
  end)

  it("can be given to the constructor", function()
    local quiet, quiet_records = recording({ level = "error" })
    assert.are.equal("error", quiet:level())
    quiet:logger("x").warn("hidden")
    quiet:logger("x").error("shown")
    assert.are.same({ "error x: shown" }, summary(quiet_records))
  end)
end)

describe("LoggingManager callback sinks", function()
  it("get records with level, logger, message, fields and timestamp", function()
    local manager, records = recording()
    local before = os.time()
    manager:logger("app.db").warn("slow query", { ms = 250, table = "users" })
    local after = os.time()
    assert.are.equal(1, #records)
    local record = records[1]
    assert.are.equal("warn", record.level)
    assert.are.equal("app.db", record.logger)
    assert.are.equal("slow query", record.message)
    assert.are.same({ ms = 250, table = "users" }, record.fields)
    assert.is_number(record.timestamp)
    assert.is_true(record.timestamp >= before - 1 and record.timestamp <= after + 1, tostring(record.timestamp))
  end)

  it("each get every record once, in order, and sinks from the constructor work too", function()
    local first, second = {}, {}
    local manager = LoggingManager({ sinks = { { type = "callback", fn = function(record)
      first[#first + 1] = record
    end } } })
    manager:add_sink({ type = "callback", fn = function(record)
      second[#second + 1] = record
    end })
    manager:logger("a").info("one")
    manager:logger("b").error("two")
    assert.are.same({ "info a: one", "error b: two" }, summary(first))
    assert.are.same(summary(first), summary(second))
    -- nothing is left queued for poll()
    assert.are.equal(0, manager:poll())
    assert.are.same({ dropped = 0 }, manager:stats())
  end)

  it("of one manager do not see another manager's records", function()
    local one, one_records = recording()
    local two, two_records = recording()
    one:logger("x").info("for one")
    two:logger("x").info("for two")
    assert.are.same({ "info x: for one" }, summary(one_records))
    assert.are.same({ "info x: for two" }, summary(two_records))
  end)

  it("stop after remove_sink, which answers whether there was such a sink", function()
    local manager, records = recording()
    local other = {}
    local id = manager:add_sink({ type = "callback", fn = function(record)
      other[#other + 1] = record
    end })
    assert.is_number(id)
    manager:logger("x").info("both")
    assert.is_true(manager:remove_sink(id))
    assert.is_false(manager:remove_sink(id))
    assert.is_false(manager:remove_sink(12345))
    manager:logger("x").info("first only")
    assert.are.same({ "info x: both" }, summary(other))
    assert.are.same({ "info x: both", "info x: first only" }, summary(records))
  end)

  it("that raise do not break logging: the error goes to stderr and the other sinks still get the record", function()
    local manager, records = recording()
    manager:add_sink({ type = "callback", fn = function()
      error("sink exploded")
    end })
    local log = manager:logger("x")
    local written = capture_stderr(function()
      log.info("first")
      log.error("second")
    end)
    assert.are.same({ "info x: first", "error x: second" }, summary(records))
    contains(written, "a log callback failed", "sink exploded")
    -- and logging goes on afterwards
    capture_stderr(function()
      log.warn("third")
    end)
    assert.are.equal(3, #records)
  end)
end)

describe("LoggingManager file sinks", function()
  local dir

  before_each(function()
    dir = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(dir)
  end)

  it("write one plain line per record at or above the level", function()
    local path = dir .. "/app.log"
    local manager = LoggingManager()
    local id, err = manager:add_sink({ type = "file", path = path })
    assert.is_number(id, tostring(err))
    local log = manager:logger("app")
    log.info("hello", { user = "ann" })
    log.debug("hidden")
    log:warn("spaced value", { note = "two words" })
    log.error("no fields")
    local lines = lines_of(path)
    assert.are.equal(3, #lines)
    assert.truthy(lines[1]:match("^" .. TIMESTAMP .. " INFO  app: hello user=ann$"), lines[1])
    assert.truthy(lines[2]:match("^" .. TIMESTAMP .. ' WARN  app: spaced value note="two words"$'), lines[2])
    assert.truthy(lines[3]:match("^" .. TIMESTAMP .. " ERROR app: no fields$"), lines[3])
  end)

  it("keep one line per record when the message holds a newline, as they do for field values", function()
    local path = dir .. "/app.log"
    local manager = LoggingManager()
    assert.is_number(manager:add_sink({ type = "file", path = path }))
    manager:logger("app").info("first\nINFO  app: forged line", { note = "a\nb" })
    manager:logger("app").info("second")
    local lines, text = lines_of(path)
    -- the field value is quoted with its newline escaped ...
    contains(text, 'note="a\\nb"')
    -- ... and the message must not start a line of its own either
    assert.are.equal(2, #lines, text)
    for _, line in ipairs(lines) do
      assert.truthy(line:match("^" .. TIMESTAMP .. " "), line)
    end
  end)

  it("write JSON lines with json = true", function()
    local path = dir .. "/app.jsonl"
    local manager = LoggingManager()
    assert.is_number(manager:add_sink({ type = "file", path = path, json = true }))
    manager:logger("app").info("hello json", { user = "ann", n = 3 })
    manager:logger("app.net").error('quote " and \\ back')
    local lines = lines_of(path)
    assert.are.equal(2, #lines)
    for _, line in ipairs(lines) do
      assert.are.equal("{", line:sub(1, 1))
      assert.are.equal("}", line:sub(-1))
    end
    contains(lines[1], '"message":"hello json"', '"level":"info"', '"logger":"app"', '"user":"ann"', '"n":3')
    contains(lines[2], '"level":"error"', '"logger":"app.net"', [["message":"quote \" and \\ back"]])
    if json_decode then
      local record = json_decode(lines[1])
      assert.are.equal("hello json", record.message)
      assert.are.equal("info", record.level)
      assert.are.equal("app", record.logger)
      assert.are.same({ user = "ann", n = 3 }, record.fields)
      assert.truthy(record.timestamp:match("^" .. TIMESTAMP .. "$"), record.timestamp)
      assert.are.equal('quote " and \\ back', json_decode(lines[2]).message)
    end
  end)

  it("append to a file that exists, and stop writing after remove_sink", function()
    local path = fs.write(dir .. "/app.log", "earlier line\n")
    local manager = LoggingManager()
    local id = manager:add_sink({ type = "file", path = path })
    manager:logger("x").info("kept")
    assert.is_true(manager:remove_sink(id))
    manager:logger("x").info("after removal")
    local lines = lines_of(path)
    assert.are.equal(2, #lines)
    assert.are.equal("earlier line", lines[1])
    contains(lines[2], "x: kept")
  end)

  it("write the same records to plain and JSON files side by side", function()
    local manager = LoggingManager({ sinks = {
      { type = "file", path = dir .. "/plain.log" },
      { type = "file", path = dir .. "/json.log", json = true },
    } })
    manager:logger("x").info("one")
    manager:logger("x").info("two")
    local plain, json = lines_of(dir .. "/plain.log"), lines_of(dir .. "/json.log")
    assert.are.equal(2, #plain)
    assert.are.equal(2, #json)
    contains(plain[2], "x: two")
    contains(json[2], '"message":"two"')
  end)

  it("of a file in a missing folder: add_sink returns nil and an io_error", function()
    local manager = LoggingManager()
    local id, err = manager:add_sink({ type = "file", path = dir .. "/missing/app.log" })
    assert.is_nil(id)
    assert.is_true(Error.is(err))
    assert.are.equal("io_error", err.code)
    contains(tostring(err), dir .. "/missing/app.log")
    assert.is_nil(fs.read(dir .. "/missing/app.log"))
    -- the manager still logs to its other sinks
    local records = {}
    manager:add_sink({ type = "callback", fn = function(record)
      records[#records + 1] = record
    end })
    manager:logger("x").info("still fine")
    assert.are.equal(1, #records)
  end)

  it("of a file in a missing folder in the constructor raises naming the sink", function()
    local ok, message = pcall(LoggingManager, { sinks = { { type = "file", path = dir .. "/missing/app.log" } } })
    assert.is_false(ok)
    contains(message, "LoggingManager: sink 1: io_error")
  end)
end)

-- Misuse: each case is a one-line function, so the line it is defined on is
-- the line of the bad call.
local manager, log

local CASES = {
  { "LoggingManager:set_level: argument 'level' must be one of trace, debug, info, warn, error, got \"loud\"",
    function() local _ = manager:set_level("app", "loud") end },
  { "LoggingManager:set_level: argument 'level' must be one of trace, debug, info, warn, error, got nil",
    function() local _ = manager:set_level("app") end },
  { "LoggingManager:set_level: argument 'name' must be a logger name, \"*\" or nil, got number",
    function() local _ = manager:set_level(5, "warn") end },
  { "LoggingManager:level: argument 'name' must be a logger name or nil, got boolean",
    function() local _ = manager:level(true) end },
  { "LoggingManager: argument 'level' must be one of trace, debug, info, warn, error, got \"verbose\"",
    function() local _ = LoggingManager({ level = "verbose" }) end },
  { 'LoggingManager: unknown option "colour" (known: level, sinks)',
    function() local _ = LoggingManager({ colour = true }) end },
  { "LoggingManager: option 'sinks' must be a table, got \"stderr\"",
    function() local _ = LoggingManager.new({ sinks = "stderr" }) end },
  { 'LoggingManager: sink type must be "stderr", "file" or "callback", got "syslog"',
    function() local _ = LoggingManager({ sinks = { { type = "syslog" } } }) end },
  { 'LoggingManager:add_sink: sink type must be "stderr", "file" or "callback", got "socket"',
    function() local _ = manager:add_sink({ type = "socket" }) end },
  { 'LoggingManager:add_sink: sink type must be "stderr", "file" or "callback", got nil',
    function() local _ = manager:add_sink({}) end },
  { "LoggingManager:add_sink: a callback sink needs fn, a function of the record",
    function() local _ = manager:add_sink({ type = "callback" }) end },
  { "LoggingManager:add_sink: a file sink needs path, a string",
    function() local _ = manager:add_sink({ type = "file" }) end },
  { "LoggingManager:add_sink: argument 'sink' must be a table such as { type = \"stderr\" }, got \"stderr\"",
    function() local _ = manager:add_sink("stderr") end },
  { 'LoggingManager:add_sink: unknown option "colour"',
    function() local _ = manager:add_sink({ type = "stderr", colour = 1 }) end },
  { "LoggingManager:add_sink: option 'json' must be a boolean, got \"yes\"",
    function() local _ = manager:add_sink({ type = "stderr", json = "yes" }) end },
  { "LoggingManager:add_sink: option 'fn' must be a function, got number",
    function() local _ = manager:add_sink({ type = "callback", fn = 1 }) end },
  { "LoggingManager:remove_sink: argument 'id' must be a sink id, got \"1\"",
    function() local _ = manager:remove_sink("1") end },
  { "LoggingManager:logger: argument 'name' must be a non-empty string, got \"\"",
    function() local _ = manager:logger("") end },
  { "LoggingManager:logger: argument 'name' must be a non-empty string, got nil",
    function() local _ = manager:logger() end },
  -- called with '.' instead of ':'
  { "LoggingManager:logger: call it with ':' on a LoggingManager, got \"x\"",
    function() local _ = manager.logger("x") end },
  { "LoggingManager:add_sink: call it with ':' on a LoggingManager, got table",
    function() local _ = manager.add_sink({ type = "stderr" }) end },
  { "LoggingManager:set_level: call it with ':' on a LoggingManager, got \"app\"",
    function() local _ = manager.set_level("app", "warn") end },
  { "LoggingManager:level: call it with ':' on a LoggingManager, got nil", function() local _ = manager.level() end },
  { "LoggingManager:remove_sink: call it with ':' on a LoggingManager, got number",
    function() local _ = manager.remove_sink(1) end },
  { "LoggingManager:poll: call it with ':' on a LoggingManager, got nil", function() local _ = manager.poll() end },
  { "LoggingManager:stats: call it with ':' on a LoggingManager, got nil", function() local _ = manager.stats() end },
}

describe("LoggingManager misuse", function()
  local records

  before_each(function()
    manager, records = recording()
    log = manager:logger("app")
  end)

  for _, case in ipairs(CASES) do
    local expected, fn = case[1], case[2]
    it("raises \"" .. expected .. "\" at the caller's line and changes nothing", function()
      assert.are.equal(expected, misuse.raised_at_caller(fn):sub(1, #expected))
      -- the manager is as it was, and still logs
      assert.are.equal("info", manager:level("app"))
      log.debug("hidden")
      log.info("after misuse")
      assert.are.same({ "info app: after misuse" }, summary(records))
    end)
  end
end)

describe("qtforge's own events", function()
  local FLAVOR = jit and "luajit" or "lua5.4"
  local LIBS = "build/" .. FLAVOR .. "/plugins/"

  local function records_of(logging)
    local records = {}
    logging:add_sink({ type = "callback", fn = function(record)
      records[#records + 1] = record
    end })
    return records
  end

  it("reach a PluginManager's LoggingManager, as loggers named after their part", function()
    local logging = LoggingManager({ level = "debug" })
    local records = records_of(logging)
    local plugin_manager = qtforge.core.PluginManager({ logging = logging })
    assert.is_true(plugin_manager:load_plugin(LIBS .. "hello.so").success)
    assert.is_false(plugin_manager:load_plugin(LIBS .. "broken/abi_v2.so").success)
    -- Rust-side events reach callback sinks when the manager (or poll) hands them over
    plugin_manager:update_all_plugins(1)
    local seen = {}
    for _, record in ipairs(records) do
      if record.logger == "qtforge.native" then
        seen[#seen + 1] = record.level .. " " .. record.fields.path
      end
    end
    assert.are.same({ "debug " .. LIBS .. "hello.so", "warn " .. LIBS .. "broken/abi_v2.so" }, seen)
    plugin_manager:shutdown()
  end)

  it("follow the levels of their loggers, and stop when capture is off", function()
    local logging = LoggingManager({ level = "debug" })
    local records = records_of(logging)
    logging:capture(true)
    logging:set_level("qtforge.native", "warn")
    local plugin_manager = qtforge.core.PluginManager()
    assert.is_true(plugin_manager:load_plugin(LIBS .. "hello.so").success)
    assert.are.equal(0, logging:poll())
    logging:capture(false)
    local ok, message = pcall(logging.capture, logging, "yes")
    assert.is_false(ok)
    assert.truthy(message:find("LoggingManager:capture: argument 'on' must be a boolean or nil", 1, true), message)
    assert.is_false(plugin_manager:load_plugin(LIBS .. "broken/abi_v2.so").success)
    assert.are.equal(0, logging:poll())
    assert.are.same({}, records)
    plugin_manager:shutdown()
  end)
end)

describe("plugin loggers", function()
  it("give each plugin's ctx.log the LoggingManager's logger named after it", function()
    local logging = LoggingManager({ level = "info" })
    local records = {}
    logging:add_sink({ type = "callback", fn = function(record)
      records[#records + 1] = record.logger .. " " .. record.level .. " " .. record.message
    end })
    logging:set_level("quiet", "error")
    local plugin_manager = qtforge.core.PluginManager({ logging = logging })
    assert.are.equal(logging, plugin_manager:logging())
    assert.is_nil(qtforge.core.PluginManager():logging())
    local ok, message = pcall(plugin_manager.logging)
    assert.is_false(ok)
    assert.truthy(message:find("PluginManager:logging: call it with ':'", 1, true), message)
    ok, message = pcall(qtforge.core.PluginManager, { logging = logging, log = print })
    assert.is_false(ok)
    assert.truthy(message:find("give option 'log' or option 'logging', not both", 1, true), message)
    for _, name in ipairs({ "loud", "quiet" }) do
      assert.is_true(plugin_manager:register_plugin({
        manifest = { name = name, version = "1.0.0" },
        on_load = function(ctx)
          assert.are.equal(logging:logger(name), ctx.log)
          ctx.log.info("hello", { from = name })
          ctx.log:warn("careful")
        end,
      }).success)
    end
    assert.are.same({ "loud info hello", "loud warn careful" }, records)
    plugin_manager:shutdown()
  end)
end)
