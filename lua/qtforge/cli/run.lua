-- qtforge run DIR: a host for trying plugins out. Loads every plugin in DIR,
-- reloads them as their files change, and prints what happens.
local ipairs, pcall, tostring = ipairs, pcall, tostring
local table_concat = table.concat

local qtforge = require("qtforge")
local output = require("qtforge.cli.output")
local json = require("qtforge.cli.json")
local plugins = require("qtforge.cli.plugins")

local monotonic = qtforge.utils.monotonic

local run = {
  synopsis = "run DIR [--for SECONDS] [--tick SECONDS]",
  summary = "host the plugins in a folder, reloading them as they change",
  positional = { 1, 1, name = "DIR" },
  options = { ["--for"] = "number", ["--tick"] = "number" },
  help = [[
A host for trying plugins out: loads every plugin in DIR (manager:load_directory),
watches DIR (PluginHotReloadManager: a changed plugin reloads, a new plugin folder
loads, a removed one unloads), calls update_all_plugins every tick, and prints one
line per happening on stdout:

  event <type> <plugin>[: error]   the manager's lifecycle events (loaded, started,
                                   reloaded, reload_failed, failed, unloaded, ...)
  bus <topic> from <sender>: <data as JSON>   every message on the manager's bus
  log <level> <plugin>: <message>  what plugins log at info and above
  watching <DIR>                   once the plugins loaded and DIR is watched

  --for SECONDS    stop after this long (default: until Ctrl-C)
  --tick SECONDS   time between two update_all_plugins (default 0.05)

Plugins run sandboxed under the default policy, as in a PluginManager(). On
stopping, every plugin is unloaded (its events printed). Exit status 0; 1 when
DIR is not a folder, is itself a plugin folder or cannot be watched, or when a
plugin failed to load at start; 130 after Ctrl-C.]],
}

local DEFAULT_TICK = 0.05

-- log levels printed, by name; trace and debug would drown the rest
local SHOWN_LEVELS = { info = true, warn = true, error = true }

local function describe_changes(changes)
  local parts = {}
  for _, kind in ipairs({ "added", "removed", "changed" }) do
    if changes[kind] and #changes[kind] > 0 then
      parts[#parts + 1] = kind .. " " .. table_concat(changes[kind], ", ")
    end
  end
  return table_concat(parts, "; ")
end

--- One event as a line.
local function event_line(event)
  local line = "event " .. event.type
  if event.plugin_id then
    line = line .. " " .. event.plugin_id
  end
  if event.dependency then
    line = line .. " (dependency " .. event.dependency .. ")"
  end
  if event.error then
    line = line .. ": " .. tostring(event.error)
  elseif event.changes then
    line = line .. ": " .. describe_changes(event.changes)
  end
  return line
end

--- One bus message as a line; its data as JSON, whatever it holds.
local function message_line(message)
  local line = "bus " .. tostring(message.type) .. " from " .. tostring(message.sender or "host")
  if message.data ~= nil then
    line = line .. ": " .. json.encode(message.data, { lenient = true })
  end
  return line
end

-- What the loop raises to stop as Ctrl-C does
local INTERRUPTED = "interrupted!"

-- A manager whose logs, events and bus messages become lines on `out`, and
-- the state its listeners share with the loop (`interrupted`).
local function printing_manager(out)
  local state = { interrupted = false }
  local function say(line)
    out:line(line)
    out:flush()
  end
  local manager = qtforge.core.PluginManager({
    log = function(level, plugin_id, message)
      if SHOWN_LEVELS[level] then
        say("log " .. level .. " " .. tostring(plugin_id or "qtforge") .. ": " .. tostring(message))
      end
    end,
  })
  manager:on_event(function(event)
    say(event_line(event))
    -- Ctrl-C in a plugin's hook: the manager catches it and fails the plugin
    if event.type == "failed" and output.is_interrupt(event.error) then
      state.interrupted = true
    end
  end)
  manager:bus():subscribe("#", function(message)
    say(message_line(message))
  end)
  return manager, state
end

local function load_all(manager, dir)
  local failed = 0
  for _, result in ipairs(manager:load_directory(dir)) do
    if not result.success then
      failed = failed + 1
    end
  end
  return failed
end

-- Ticks until `duration` (nil: forever) has passed: updates, then applies
-- the changes the watcher saw, then sleeps until the next tick.
local function loop(manager, reloader, state, tick, duration)
  local deadline = duration and monotonic() + duration
  while true do
    manager:update_all_plugins()
    -- update_all_plugins polls only every 0.25 s; an author saving wants it now
    reloader:poll()
    if state.interrupted then
      error(INTERRUPTED, 0)
    end
    local now = monotonic()
    if deadline and now >= deadline then
      return
    end
    qtforge.utils.sleep(deadline and math.min(tick, deadline - now) or tick)
  end
end

-- Watches, loads, ticks; returns the exit status. Raises on Ctrl-C.
local function host(out, manager, reloader, state, dir, opts)
  reloader:on_watch_error(function(message)
    out:error("watching: " .. tostring(message))
  end)
  local watched, watch_error = reloader:watch_directory(dir)
  if not watched then
    out:error(tostring(watch_error))
    return 1
  end
  local failed = load_all(manager, dir)
  out:line("watching " .. dir)
  out:flush()
  loop(manager, reloader, state, opts["--tick"] or DEFAULT_TICK, opts["--for"])
  return failed > 0 and 1 or 0
end

function run.run(out, opts, words)
  local dir = words[1]
  local problem = plugins.holder_problem(dir)
  if problem then
    out:error(problem)
    return 1
  end
  local manager, state = printing_manager(out)
  local reloader = qtforge.monitoring.PluginHotReloadManager(manager)
  local ok, status = pcall(host, out, manager, reloader, state, dir, opts)
  -- whatever stopped the host, Ctrl-C included, the plugins get to unload
  reloader:close()
  manager:shutdown()
  if not ok then
    error(status, 0)
  end
  return status
end

return run
