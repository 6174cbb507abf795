-- qtforge.managers.ConfigurationManager with real files: JSON and TOML round
-- trips, parse errors with their line and column (and nothing changed), files
-- merged in load order, reloads, JSON Schema validation, watched files edited
-- in place and replaced by a rename, bad edits, and saves that survive the
-- writer being killed mid-save.
local qtforge = require("qtforge")
local fs = require("support.fs")
local child = require("support.child")

local ConfigurationManager = qtforge.managers.ConfigurationManager
local Error = qtforge.Error
local monotonic = qtforge.utils.monotonic

local SPEC_DIR = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
local SAVE_LOOP = SPEC_DIR .. "/fixtures/managers/save_loop.lua"

-- asserts that a text contains each of the plain strings that follow
local contains = require("support.plugins").contains

-- Asserts `result` failed with an Error of `code`; returns the Error.
local function failed(result, code)
  assert.is_table(result)
  assert.are.equal(false, result.success)
  assert.is_true(Error.is(result.error), "result.error is not a qtforge.Error")
  assert.are.equal(code, result.error.code, tostring(result.error))
  return result.error
end

local function succeeded(result)
  assert.is_table(result)
  assert.is_true(result.success, tostring(result.error))
  return result
end

-- The names in a folder, hidden ones included, sorted.
local function entries(dir)
  local names = {}
  local pipe = assert(io.popen("ls -A " .. child.quote(dir)))
  for name in pipe:lines() do
    names[#names + 1] = name
  end
  pipe:close()
  table.sort(names)
  return names
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- Polls `cfg` until `done()` or about two seconds; answers whether it was
-- done and how many files poll() reloaded on the way.
local function poll_until(cfg, done)
  local stop = monotonic() + 2
  local reloaded = 0
  repeat
    reloaded = reloaded + cfg:poll()
    if done() then
      return true, reloaded
    end
    sleep(0.02)
  until monotonic() > stop
  return false, reloaded
end

-- Values of every kind both formats hold.
local function values()
  return {
    title = 'Grüße, 世界 ✓ "quoted" \\ and more',
    emoji = "🚀 launch",
    multiline = "line 1\nline 2\ttabbed",
    enabled = true,
    disabled = false,
    count = 42,
    negative = -7,
    ratio = 0.25,
    tiny = 1.5e-7,
    negative_float = -2.5,
    server = {
      host = "localhost",
      ports = { 80, 443 },
      tls = { enabled = true, ciphers = { "aes", "chacha" } },
    },
    users = { { name = "ann", admin = true }, { name = "bob", admin = false } },
    matrix = { { 1, 2 }, { 3, 4 } },
    ["clé"] = { ["ключ"] = "значение" },
  }
end

describe("ConfigurationManager files", function()
  local dir

  before_each(function()
    dir = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(dir)
  end)

  for _, format in ipairs({ "json", "toml" }) do
    it("round-trips nested tables, lists, floats, booleans and unicode through ." .. format, function()
      local path = dir .. "/config." .. format
      local cfg = ConfigurationManager({ defaults = values() })
      local saved = succeeded(cfg:save_to_file(path))
      assert.are.equal(path, saved.path)
      local loaded = ConfigurationManager()
      local result = succeeded(loaded:load_from_file(path))
      assert.are.same(values(), loaded:to_table())
      assert.are.same(loaded:keys(), result.changed)
      assert.are.equal("file:" .. path, loaded:source("server.tls.enabled"))
      assert.are.equal(0.25, loaded:get_number("ratio"))
      assert.are.equal(1.5e-7, loaded:get_number("tiny"))
      assert.are.equal(42, loaded:get_int("count"))
      assert.is_false(loaded:get_bool("disabled"))
      assert.are.equal("значение", loaded:get_string("clé.ключ"))
      assert.are.equal(443, loaded:get_int("server.ports.2"))
      if math.type then
        assert.are.equal("integer", math.type(loaded:get("count")))
        assert.are.equal("float", math.type(loaded:get("ratio")))
      end
      -- saving what was loaded writes the same text again
      local again = dir .. "/again." .. format
      succeeded(loaded:save_to_file(again))
      assert.are.equal(fs.read(path), fs.read(again))
    end)
  end

  it("save writes the format of the extension, in any case", function()
    local cfg = ConfigurationManager({ defaults = values() })
    for name, format in pairs({ ["a.json"] = "json", ["b.toml"] = "toml", ["c.JSON"] = "json", ["d.Toml"] = "toml" }) do
      local path = dir .. "/" .. name
      succeeded(cfg:save_to_file(path))
      local text = fs.read(path)
      local other = format == "json" and "toml" or "json"
      local check = ConfigurationManager()
      succeeded(check:load_from_string(text, format, name))
      assert.are.same(values(), check:to_table())
      failed(ConfigurationManager():load_from_string(text, other, name), "parse_error")
      if format == "json" then
        assert.are.equal("{", text:sub(1, 1))
      else
        contains(text, "\n[server]\n", 'count = 42\n')
      end
      assert.are.equal("\n", text:sub(-1))
    end
  end)

  it("save replaces an existing file whole and leaves no temporary file", function()
    local path = fs.write(dir .. "/c.json", '{"old": true, "long": "' .. string.rep("x", 5000) .. '"}\n')
    local cfg = ConfigurationManager({ defaults = { new = 1 } })
    succeeded(cfg:save_to_file(path))
    assert.are.same({ "c.json" }, entries(dir))
    local check = ConfigurationManager()
    succeeded(check:load_from_file(path))
    assert.are.same({ new = 1 }, check:to_table())
  end)

  it("save and load refuse an unknown extension with a result, and write nothing", function()
    local cfg = ConfigurationManager({ defaults = { a = 1 } })
    local err = failed(cfg:save_to_file(dir .. "/c.yaml"), "io_error")
    contains(tostring(err), "c.yaml", ".json or .toml")
    failed(cfg:save_to_file(dir .. "/noext"), "io_error")
    assert.are.same({}, entries(dir))
    fs.write(dir .. "/c.yaml", "a: 2\n")
    err = failed(cfg:load_from_file(dir .. "/c.yaml"), "io_error")
    contains(tostring(err), "c.yaml", ".json or .toml")
    assert.are.same({ a = 1 }, cfg:to_table())
  end)

  it("load of a missing file and save into a missing folder fail with io_error", function()
    local cfg = ConfigurationManager({ defaults = { a = 1 } })
    contains(tostring(failed(cfg:load_from_file(dir .. "/missing.json"), "io_error")), "missing.json")
    failed(cfg:save_to_file(dir .. "/no/such/folder/c.json"), "io_error")
    assert.are.same({ a = 1 }, cfg:to_table())
    assert.are.same({}, entries(dir))
  end)

  it("merges several files in load order, and a reload of one keeps its rank", function()
    local a = fs.write(dir .. "/a.json", '{"x": 1, "y": 1, "only_a": true, "t": {"p": 1, "q": 1}}')
    local b = fs.write(dir .. "/b.toml", 'y = 2\nz = 2\n[t]\nq = 2\n')
    local c = fs.write(dir .. "/c.json", '{"z": 3}')
    local cfg = ConfigurationManager({ defaults = { x = 0, d = 0 } })
    succeeded(cfg:load_from_file(a))
    succeeded(cfg:load_from_file(b))
    succeeded(cfg:load_from_file(c))
    assert.are.same({ x = 1, y = 2, z = 3, d = 0, only_a = true, t = { p = 1, q = 2 } }, cfg:to_table())
    assert.are.equal("file:" .. a, cfg:source("x"))
    assert.are.equal("file:" .. b, cfg:source("y"))
    assert.are.equal("file:" .. c, cfg:source("z"))
    assert.are.equal("file:" .. b, cfg:source("t.q"))
    assert.are.equal("file:" .. a, cfg:source("t.p"))
    assert.are.equal("default", cfg:source("d"))
    -- reloading a.json replaces its values where it stands: below b and c
    fs.write(a, '{"x": 10, "y": 10, "z": 10, "new": 1}')
    local result = succeeded(cfg:load_from_file(a))
    assert.are.same({ "new", "only_a", "t.p", "x" }, result.changed)
    assert.are.same({ x = 10, y = 2, z = 3, d = 0, new = 1, t = { q = 2 } }, cfg:to_table())
    assert.is_false(cfg:has("only_a"))
  end)

  it("load_from_string with a name is a layer of its own, replaced when loaded again", function()
    local cfg = ConfigurationManager()
    succeeded(cfg:load_from_string('{"a": 1, "b": 1}', "json", "first"))
    succeeded(cfg:load_from_string('b = 2\n', "toml", "second"))
    succeeded(cfg:load_from_string('{"a": 3}', "json", "first"))
    assert.are.same({ a = 3, b = 2 }, cfg:to_table())
    assert.are.equal("file:first", cfg:source("a"))
    assert.are.equal("file:second", cfg:source("b"))
  end)

  -- { format, text, line, column }: where the parse fails, columns in characters
  local MALFORMED = {
    { "json", '{\n  "a": 1,\n  "b": [1, 2,]\n}', 3, 14 },
    { "json", '{"ключ": nope}', 1, 11 },
    { "json", '{"abcd": nope}', 1, 11 },
    { "json", '{"a": {"b": 1}', 1, 14 },
    { "json", '[1, 2]', 1, 1 },
    { "json", '{"a": [1, null]}', 1, 15 },
    { "toml", 'a = 1\nb = [1, 2\nc = 3\n', 3, 1 },
    { "toml", 'name = "x"\n[server]\nport = \n', 3, 8 },
    { "toml", 'ключ = "é" oops\n', 1, 12 },
    { "toml", 'a = 1\na = 2\n', 2, 1 },
  }

  for i, case in ipairs(MALFORMED) do
    local format, text, line, column = case[1], case[2], case[3], case[4]
    it(string.format("reports malformed %s %d at line %d, column %d and changes nothing", format, i, line, column),
      function()
        local path = fs.write(dir .. "/bad" .. i .. "." .. format, text)
        local seen = {}
        local cfg = ConfigurationManager({ defaults = { a = "default", server = { port = 1 } } })
        -- the same path loaded fine before: its values stay
        local good = format == "json" and '{"kept": true, "a": "file"}' or 'kept = true\na = "file"\n'
        succeeded(cfg:load_from_string(good, format, path))
        cfg:on_change("", function(key)
          seen[#seen + 1] = key
        end)
        local before = cfg:to_table()
        local snapshot = cfg:snapshot()
        local where = string.format("does not parse at line %d, column %d", line, column)
        local err = failed(cfg:load_from_file(path), "parse_error")
        contains(err.message, path, where)
        contains(err.details, string.format("%s:%d:%d: ", path, line, column))
        err = failed(cfg:load_from_string(text, format, "inline"), "parse_error")
        contains(err.message, "inline " .. where)
        assert.are.same(before, cfg:to_table())
        assert.are.equal(snapshot, cfg:snapshot())
        assert.are.same({}, seen)
        assert.are.equal("file:" .. path, cfg:source("a"))
        assert.is_true(cfg:get_bool("kept"))
      end)
  end
end)

describe("ConfigurationManager:validate", function()
  local cfg

  before_each(function()
    cfg = ConfigurationManager({
      defaults = {
        server = { host = "h", port = "80", ports = { 80, "x" } },
        users = { { name = "ann" }, { name = 5 } },
        extra = 1,
      },
    })
  end)

  local SCHEMA = {
    type = "object",
    required = { "server", "missing" },
    properties = {
      server = {
        type = "object",
        required = { "host", "tls" },
        properties = {
          host = { type = "string" },
          port = { type = "integer" },
          ports = { type = "array", items = { type = "integer" } },
        },
      },
      users = { type = "array", items = { type = "object", properties = { name = { type = "string" } } } },
      extra = { type = "string" },
    },
  }

  it("lists every violation by dotted path, lists counted from 1", function()
    local result = cfg:validate(SCHEMA)
    local err = failed(result, "schema_violation")
    local found = {}
    for _, violation in ipairs(result.violations) do
      found[#found + 1] = violation.path .. " | " .. violation.message
    end
    table.sort(found)
    assert.are.same({
      ' | "missing" is a required property',
      'extra | 1 is not of type "string"',
      'server | "tls" is a required property',
      'server.port | "80" is not of type "integer"',
      'server.ports.2 | "x" is not of type "integer"',
      'users.2.name | 5 is not of type "string"',
    }, found)
    contains(err.message, "6 schema violation(s)")
  end)

  it("succeeds on a valid configuration, with the schema as a table or JSON text", function()
    cfg:set("server.port", 80)
    cfg:set("server.ports.2", 443)
    cfg:set("server.tls", true)
    cfg:set("users.2.name", "bob")
    cfg:set("extra", "e")
    cfg:set("missing", 0)
    local result = cfg:validate(SCHEMA)
    assert.is_true(result.success, tostring(result.error))
    assert.are.same({}, result.violations)
    result = cfg:validate('{"type": "object", "properties": {"extra": {"type": "string"}}}')
    assert.is_true(result.success, tostring(result.error))
    failed(cfg:validate('{"type": "object", "properties": {"extra": {"type": "integer"}}}'), "schema_violation")
  end)

  it("answers invalid_schema for a broken schema", function()
    failed(cfg:validate({ type = 5 }), "invalid_schema")
    failed(cfg:validate({ type = "object", properties = { extra = { minimum = "x" } } }), "invalid_schema")
    failed(cfg:validate("{not json"), "invalid_schema")
    -- and nothing changed
    assert.are.equal(1, cfg:get_int("extra"))
  end)
end)

describe("ConfigurationManager:watch", function()
  local dir, path, cfg, logged, changes, errors

  before_each(function()
    dir = fs.temp_dir()
    path = fs.write(dir .. "/app.json", '{"a": 1, "b": {"c": "x"}}')
    logged, changes, errors = {}, {}, {}
    cfg = ConfigurationManager({
      log = function(level, source, text)
        logged[#logged + 1] = { level, source, text }
      end,
    })
    succeeded(cfg:load_from_file(path))
    cfg:on_change("", function(key, new, old)
      changes[#changes + 1] = { key, new, old }
    end)
    cfg:on_error(function(err)
      errors[#errors + 1] = err
    end)
    assert.are.same({ success = true, path = path }, cfg:watch(path))
  end)

  after_each(function()
    cfg:unwatch(path)
    fs.remove(dir)
  end)

  it("reloads a file edited in place on poll()", function()
    assert.are.equal(0, cfg:poll())
    fs.write(path, '{"a": 2, "b": {"c": "x"}}')
    -- nothing changes until poll()
    assert.are.equal(1, cfg:get_int("a"))
    local done, reloaded = poll_until(cfg, function()
      return cfg:get_int("a") == 2
    end)
    assert.is_true(done, "the edit was not picked up")
    assert.are.equal(1, reloaded)
    assert.are.same({ { "a", 2, 1 } }, changes)
    assert.are.equal("file:" .. path, cfg:source("a"))
    assert.are.same({}, errors)
  end)

  it("reloads a file replaced by a rename over it", function()
    local temp = fs.write(dir .. "/.app.json.tmp", '{"a": 3, "b": {"c": "y"}}')
    assert.is_true(os.rename(temp, path))
    local done = poll_until(cfg, function()
      return cfg:get_int("a") == 3
    end)
    assert.is_true(done, "the replaced file was not picked up")
    assert.are.equal("y", cfg:get_string("b.c"))
    assert.are.same({ { "a", 3, 1 }, { "b.c", "y", "x" } }, changes)
    -- a second replacement is seen as well: the watch follows the name, not the old file
    temp = fs.write(dir .. "/.app.json.tmp", '{"a": 4, "b": {"c": "y"}}')
    assert.is_true(os.rename(temp, path))
    done = poll_until(cfg, function()
      return cfg:get_int("a") == 4
    end)
    assert.is_true(done, "the second replacement was not picked up")
  end)

  it("reports a bad edit, keeps the last good values, and picks up a later good edit", function()
    fs.write(path, '{"a": 5,, "b": 1}')
    local done = poll_until(cfg, function()
      return #errors > 0
    end)
    assert.is_true(done, "the bad edit was not reported")
    assert.are.equal(1, #errors)
    assert.is_true(Error.is(errors[1]))
    assert.are.equal("parse_error", errors[1].code)
    contains(errors[1].message, path, "line 1, column 9")
    assert.are.equal(1, #logged)
    assert.are.equal("error", logged[1][1])
    contains(logged[1][3], "reloading " .. path .. " failed", "parse_error")
    -- the last good values stay
    assert.are.equal(1, cfg:get_int("a"))
    assert.are.equal("x", cfg:get_string("b.c"))
    assert.are.same({}, changes)
    fs.write(path, '{"a": 6}')
    done = poll_until(cfg, function()
      return cfg:get_int("a") == 6
    end)
    assert.is_true(done, "the good edit after a bad one was not picked up")
    assert.is_false(cfg:has("b.c"))
    assert.are.same({ { "a", 6, 1 }, { "b.c", nil, "x" } }, changes)
    assert.are.equal(1, #errors)
  end)

  it("reports a deleted file, keeps its values, and reloads it when it comes back", function()
    assert.is_true(os.remove(path))
    local done = poll_until(cfg, function()
      return #errors > 0
    end)
    assert.is_true(done, "the deletion was not reported")
    assert.are.equal("io_error", errors[1].code)
    assert.are.equal(1, cfg:get_int("a"))
    fs.write(path, '{"a": 8, "b": {"c": "x"}}')
    done = poll_until(cfg, function()
      return cfg:get_int("a") == 8
    end)
    assert.is_true(done, "the recreated file was not picked up")
    assert.are.same({ { "a", 8, 1 } }, changes)
  end)

  it("stops after unwatch", function()
    assert.is_true(cfg:unwatch(path))
    assert.is_false(cfg:unwatch(path))
    fs.write(path, '{"a": 7}')
    local stop = monotonic() + 0.3
    local reloaded = 0
    while monotonic() < stop do
      reloaded = reloaded + cfg:poll()
      sleep(0.02)
    end
    assert.are.equal(0, reloaded)
    assert.are.equal(1, cfg:get_int("a"))
    assert.are.same({}, changes)
  end)

  it("refuses a file whose folder does not exist, with a result", function()
    local err = failed(cfg:watch(dir .. "/no/such/app.json"), "io_error")
    contains(tostring(err), "app.json")
    assert.is_false(cfg:unwatch(dir .. "/no/such/app.json"))
  end)
end)

describe("ConfigurationManager:save_to_file under SIGKILL", function()
  local dir, logs

  before_each(function()
    dir = fs.temp_dir()
    logs = fs.temp_dir()
  end)

  after_each(function()
    fs.remove(dir)
    fs.remove(logs)
  end)

  local REPEATS = 20000 -- each save is about 100 KB, so kills land mid-write

  -- The file as a fresh manager reads it: n, and whether pad matches it.
  local function read_state(path)
    local check = ConfigurationManager()
    local result = check:load_from_file(path)
    assert.is_true(result.success, "the file does not parse after a kill: " .. tostring(result.error))
    local n = check:get_int("n")
    assert.is_number(n)
    assert.are.equal(string.rep(n .. ";", REPEATS), check:get_string("pad"), "pad does not match n = " .. n)
    assert.are.same({ "n", "pad" }, check:keys())
    return n
  end

  it("leaves the old file or a new complete one, never a partial one", function()
    local path = dir .. "/state.json"
    local first = ConfigurationManager()
    first:set("n", 0)
    first:set("pad", string.rep("0;", REPEATS))
    succeeded(first:save_to_file(path))
    local previous = read_state(path)
    local killed = {} -- pid -> true
    local leftovers = {} -- temp file name -> pid
    local started = monotonic()
    for round = 1, 30 do
      local delay = 0.005 + math.random() * 0.045
      -- the shell starts the writer, kills it after `delay` and reaps it (its
      -- "Killed" notice goes to /dev/null; the writer's own stderr to a log)
      local command = string.format("{ LUA_CPATH=%s %s %s %s %d %d 2>>%s & pid=$!; sleep %.3f; kill -9 $pid; "
        .. "wait $pid; echo \"$pid $?\"; } 2>/dev/null",
        child.quote(package.cpath), child.quote(child.interpreter()), child.quote(SAVE_LOOP), child.quote(path),
        previous + 1, REPEATS, child.quote(logs .. "/stderr"), delay)
      local pipe = assert(io.popen(command))
      local output = pipe:read("*a")
      pipe:close()
      local pid, status = output:match("(%d+) (%d+)")
      assert.is_string(pid, output)
      -- 137: it was still running when it was killed
      assert.are.equal("137", status, "round " .. round .. ": " .. tostring(fs.read(logs .. "/stderr")))
      killed[pid] = true
      local n = read_state(path)
      assert.is_true(n >= previous, string.format("round %d: n went back from %d to %d", round, previous, n))
      previous = n
      -- beside the file: only temporary files of killed writers, at most one each
      local new = 0
      for _, name in ipairs(entries(dir)) do
        if name ~= "state.json" then
          local owner = name:match("^%.state%.json%.(%d+)%.%d+%.tmp$")
          assert.is_string(owner, "unexpected file beside the target: " .. name)
          assert.is_true(killed[owner], "a temporary file of a writer that was not killed: " .. name)
          if leftovers[name] == nil then
            leftovers[name] = owner
            new = new + 1
            assert.are.equal(pid, owner, "a new temporary file that is not the killed writer's: " .. name)
          end
        end
      end
      assert.is_true(new <= 1, "round " .. round .. " left " .. new .. " temporary files")
    end
    local elapsed = monotonic() - started
    assert.is_true(elapsed < 8, "took " .. elapsed .. " s")
    -- the writers got somewhere: most rounds saved at least once
    assert.is_true(previous > 30, "only " .. previous .. " saves in 30 rounds")
    -- a save after all this still works and leaves no temporary file of its own
    local before = entries(dir)
    local last = ConfigurationManager()
    last:set("n", previous + 1)
    last:set("pad", string.rep((previous + 1) .. ";", REPEATS))
    succeeded(last:save_to_file(path))
    assert.are.same(before, entries(dir))
    assert.are.equal(previous + 1, read_state(path))
  end)
end)
