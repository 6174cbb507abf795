-- managers: reading configuration values, against the same lookups in a plain
-- nested Lua table (what a program that loaded its config by hand would do).
local qtforge = require("qtforge")

local function fresh(source, ...)
  return assert(load(source, "=managers_bench"))(...)
end

local VALUES = {
  a = { b = { c = "value", n = 42.5 } },
  server = { host = "localhost", port = 8080, ports = { 80, 443 } },
}

local config = qtforge.managers.ConfigurationManager({ defaults = VALUES })
assert(config:get_string("a.b.c") == "value" and config:get_number("a.b.n") == 42.5)

-- a copy of the values as a plain nested table, as the baseline reads them
local plain = config:to_table()

local function reading(source, target)
  return fresh([[
    local target = ...
    local sink
    return function(n)
      for _ = 1, n do ]] .. source .. [[ end
      return sink
    end
  ]], target)
end

-- snapshot(): the same table until the next change; after a change, one deep copy
local changes = 0
local function snapshot_after_change(n)
  for _ = 1, n do
    changes = changes + 1
    config:set("server.port", changes)
    config:snapshot()
  end
end

local function set_only(n)
  for _ = 1, n do
    changes = changes + 1
    config:set("server.port", changes)
  end
end

return {
  title = "managers (per read)",
  cases = {
    { name = "get_string(\"a.b.c\") vs t.a.b.c", run = reading("sink = target:get_string('a.b.c')", config),
      baseline = reading("sink = target.a.b.c", plain) },
    { name = "get_number(\"a.b.n\") vs t.a.b.n", run = reading("sink = target:get_number('a.b.n')", config),
      baseline = reading("sink = target.a.b.n", plain) },
    { name = "snapshot().a.b.c vs t.a.b.c", run = reading("sink = target:snapshot().a.b.c", config),
      baseline = reading("sink = target.a.b.c", plain) },
    { name = "set + snapshot() vs set alone", run = snapshot_after_change, baseline = set_only },
  },
}
