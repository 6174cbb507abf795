-- PluginManager:health(): each plugin's health() hook, run and read safely.
local fs = require("support.fs")
local plugins = require("support.plugins")

local contains = plugins.contains

describe("PluginManager:health", function()
  local root, manager, logs

  before_each(function()
    root = fs.temp_dir()
    manager, logs = plugins.manager()
  end)

  after_each(function()
    manager:shutdown()
    fs.remove(root)
  end)

  local function load(name, source, lines)
    local result = manager:load_plugin(plugins.folder(root, name, { source = source, lines = lines }))
    assert.is_true(result.success, tostring(result.error))
  end

  it("is healthy with no plugins", function()
    assert.are.same({ healthy = true, plugins = {} }, manager:health())
  end)

  it("reads true, false, and tables with ok or healthy, keeping their plain fields", function()
    load("yes", "return { health = function() return true end }")
    load("no", "return { health = function() return false end }")
    load("table_ok", "return { health = function() return { ok = true, queue = 3, note = 'fine', f = print } end }")
    load("table_bad", "return { health = function() return { healthy = false, reason = 'disk full' } end }")
    load("plain", "return {}")
    local report = manager:health()
    assert.is_false(report.healthy)
    assert.is_true(report.plugins.yes.healthy)
    assert.is_false(report.plugins.no.healthy)
    assert.is_true(report.plugins.table_ok.healthy)
    assert.are.same({ ok = true, queue = 3, note = "fine" }, report.plugins.table_ok.details)
    assert.is_false(report.plugins.table_bad.healthy)
    assert.are.equal("disk full", report.plugins.table_bad.details.reason)
    assert.is_true(report.plugins.plain.healthy)
    assert.are.equal("running", report.plugins.plain.state)
  end)

  it("makes a plugin whose hook raises unhealthy, with the error and its line", function()
    load("raiser", "return { health = function()\n  error('no database')\nend }")
    local entry = manager:health().plugins.raiser
    assert.is_false(entry.healthy)
    assert.are.equal("unhealthy", entry.error.code)
    contains(entry.error.message, "no database")
    contains(entry.error.details, "init.lua:2")
    assert.are.equal("running", manager:get_plugin("raiser"):state())
  end)

  it("reports a failed plugin unhealthy with its last error, without calling its hook", function()
    load("ticker", "return { update = function() error('tick failed') end,"
      .. " health = function() print('health ran'); return true end }")
    manager:update_all_plugins(0.1)
    local entry = manager:health().plugins.ticker
    assert.is_false(entry.healthy)
    assert.are.equal("failed", entry.state)
    contains(tostring(entry.error), "tick failed")
    for _, line in ipairs(logs) do
      assert.are_not.equal("health ran", line.message)
    end
  end)

  it("reads a sandboxed plugin's answer without running its metamethods", function()
    load("tricky", "return { health = function() return setmetatable({}, { __index = function() while true do end end"
      .. " }) end }")
    local entry = manager:health().plugins.tricky
    assert.is_true(entry.healthy)
    assert.are.same({}, entry.details)
  end)

  it("stops a health hook that runs past its quota", function()
    load("spinner", "return { health = function() while true do end end }", "[limits]\ninstructions = 10000\n")
    local entry = manager:health().plugins.spinner
    assert.is_false(entry.healthy)
    contains(entry.error.message, "quota")
  end)

  it("raises when not called with ':'", function()
    local ok, err = pcall(manager.health)
    assert.is_false(ok)
    contains(err, "PluginManager:health")
  end)
end)
