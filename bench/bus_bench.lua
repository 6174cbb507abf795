-- communication: publishing on the MessageBus, against pure-Lua buses doing the
-- same work in the same process:
-- - a table of handler lists keyed by exact topic, as event libraries keep it,
--   with handlers called bare (one error stops the publish) and, as a second
--   baseline, each called through pcall (the isolation the bus gives);
-- - a linear scan of wildcard patterns, as those libraries do once wildcards
--   are allowed.
-- Every baseline builds a message table per publish, as the bus does.
local qtforge = require("qtforge")
local communication = qtforge.communication

local TOPIC = "game.player.moved"
local WILDCARDS = 1000

-- Each case runs code compiled for it alone: under LuaJIT, cases sharing one
-- function share its traces and would disturb each other's timings.
local function fresh(source, ...)
  return assert(load(source, "=bus_bench"))(...)
end

local HANDLER = [[
  local count = 0
  return function(message) count = count + message.data end
]]

local function new_handler()
  return fresh(HANDLER)
end

-- The exact-topic baseline: one emitter implementation for every case, as a
-- library is one implementation for all its users (under LuaJIT the bus's
-- code, too, serves every case, with whatever traces earlier cases left).
local Emitter = {}
Emitter.__index = Emitter

function Emitter:publish(topic, data)
  local list = self.lists[topic]
  if list == nil then
    return 0
  end
  local message = { type = topic, data = data }
  for i = 1, #list do
    list[i](message)
  end
  return #list
end

function Emitter:publish_protected(topic, data)
  local list = self.lists[topic]
  if list == nil then
    return 0
  end
  local message = { type = topic, data = data }
  for i = 1, #list do
    pcall(list[i], message)
  end
  return #list
end

local function exact_baseline(count, protected)
  local lists = { [TOPIC] = {} }
  for i = 1, count do
    lists[TOPIC][i] = new_handler()
  end
  local emitter = setmetatable({ lists = lists }, Emitter)
  assert(emitter:publish(TOPIC, 1) == count)
  return fresh([[
    local emitter, topic, protected = ...
    if protected then
      return function(n)
        for _ = 1, n do emitter:publish_protected(topic, 1) end
      end
    end
    return function(n)
      for _ = 1, n do emitter:publish(topic, 1) end
    end
  ]], emitter, TOPIC, protected)
end

local function wildcard_patterns()
  local patterns = {}
  for i = 1, WILDCARDS - 1 do
    patterns[i] = string.format("zone%d.*.moved", i)
  end
  patterns[WILDCARDS] = "game.*.moved"
  return patterns
end

-- `topics`: the topics published, in turn (one topic when nil)
local function scan_baseline(topics)
  return fresh([[
    local patterns, handler, topic, topics = ...
    local function split(text)
      local parts = {}
      for part in text:gmatch("[^.]+") do parts[#parts + 1] = part end
      return parts
    end
    local function match(pattern, p, words, w)
      if p > #pattern then return w > #words end
      local segment = pattern[p]
      if segment == "#" then
        for skip = w, #words + 1 do
          if match(pattern, p + 1, words, skip) then return true end
        end
        return false
      end
      if w > #words then return false end
      return (segment == "*" or segment == words[w]) and match(pattern, p + 1, words, w + 1)
    end
    local subscriptions = {}
    for i, pattern in ipairs(patterns) do
      subscriptions[i] = { pattern = split(pattern), fn = handler }
    end
    local function publish(t, data)
      local words = split(t)
      local message = { type = t, data = data }
      local ran = 0
      for i = 1, #subscriptions do
        local s = subscriptions[i]
        if match(s.pattern, 1, words, 1) then
          s.fn(message)
          ran = ran + 1
        end
      end
      return ran
    end
    assert(publish(topic, 1) == 1)
    if topics then
      local count, next_topic = #topics, 0
      return function(n)
        for _ = 1, n do
          next_topic = next_topic % count + 1
          publish(topics[next_topic], 1)
        end
      end
    end
    return function(n)
      for _ = 1, n do publish(topic, 1) end
    end
  ]], wildcard_patterns(), new_handler(), TOPIC, topics)
end

local PUBLISHING = [[
  local bus, topic, keep = ...
  return function(n)
    for _ = 1, n do bus:publish(topic, 1) end
    return keep
  end
]]

local function bus_case(count, patterns)
  local bus = communication.MessageBus()
  for i = 1, count do
    bus:subscribe(patterns and patterns[i] or TOPIC, new_handler())
  end
  assert(bus:publish(TOPIC, 1) == (patterns and 1 or count))
  return fresh(PUBLISHING, bus, TOPIC)
end

-- 10,000 topics in turn, more than the route cache holds: every publish asks
-- the router (Rust) for the route, the cost a topic pays the first time
local DISTINCT = 10000
local function distinct_topics()
  local topics = {}
  for i = 1, DISTINCT do
    topics[i] = string.format("game.p%d.moved", i)
  end
  return topics
end

local function uncached_case()
  local bus = communication.MessageBus()
  for _, pattern in ipairs(wildcard_patterns()) do
    bus:subscribe(pattern, new_handler())
  end
  return fresh([[
    local bus, topics = ...
    local count, next_topic = #topics, 0
    return function(n)
      for _ = 1, n do
        next_topic = next_topic % count + 1
        bus:publish(topics[next_topic], 1)
      end
    end
  ]], bus, distinct_topics())
end

-- a plugin publishing through its ctx.bus, which stamps the sender; the loop
-- keeps the manager alive (a collected manager unloads its plugins)
local function plugin_case()
  local manager = qtforge.core.PluginManager()
  local plugin_bus
  manager:register_plugin({
    manifest = { name = "publisher", version = "1.0.0" },
    on_load = function(ctx)
      plugin_bus = ctx.bus
    end,
  })
  manager:bus():subscribe(TOPIC, new_handler())
  assert(plugin_bus:publish(TOPIC, 1) == 1)
  return fresh(PUBLISHING, plugin_bus, TOPIC, manager)
end

-- cases with one handler first: under LuaJIT the code both sides share (the
-- bus, the emitter) carries the traces of the cases before. The two baselines
-- of a size are compared with the same bus and handlers.
local one, ten = bus_case(1), bus_case(10)

return {
  title = "communication (per publish)",
  cases = {
    { name = "publish, 1 subscriber vs bare handler list", run = one, baseline = exact_baseline(1) },
    { name = "publish, 1 subscriber vs pcall handler list", run = one, baseline = exact_baseline(1, true) },
    { name = "ctx.bus:publish, 1 subscriber vs bare list", run = plugin_case(), baseline = exact_baseline(1) },
    { name = "publish, 10 subscribers vs bare handler list", run = ten, baseline = exact_baseline(10) },
    { name = "publish, 10 subscribers vs pcall handler list", run = ten, baseline = exact_baseline(10, true) },
    { name = "publish, 1000 wildcards (1 matches) vs scan", run = bus_case(WILDCARDS, wildcard_patterns()),
      baseline = scan_baseline() },
    { name = "the same, 10000 topics in turn (uncached)", run = uncached_case(),
      baseline = scan_baseline(distinct_topics()) },
  },
}
