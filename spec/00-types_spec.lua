-- The LuaLS definitions under lua/types/ must describe everything public:
-- this walks the module and the pure-Lua modules beside it (the OpenResty and
-- LÖVE adapters, the qtforge command) and fails when a function or field has
-- no stub.
local qtforge = require("qtforge")
local fs = require("support.fs")

local STUB_DIR = "lua/types/"

local function escape(s)
  return (s:gsub("%p", "%%%0"))
end

local function read_stub(name)
  return assert(fs.read(STUB_DIR .. name), "cannot read " .. STUB_DIR .. name)
end

local function read_stubs()
  local text = {}
  local files = { "qtforge.lua", "utils.lua", "core.lua", "communication.lua", "managers.lua", "security.lua",
    "monitoring.lua", "transactions.lua", "orchestration.lua", "openresty.lua", "love.lua", "cli.lua" }
  for _, name in ipairs(files) do
    text[#text + 1] = read_stub(name)
  end
  return table.concat(text, "\n")
end

-- The sorted string keys of `t` whose value `wanted(value)` accepts: public
-- ones, and with `metadata` also _VERSION, _DESCRIPTION, _LICENSE.
local function public_names(t, wanted, metadata)
  local names = {}
  for name, value in pairs(t) do
    if type(name) == "string" and wanted(value) and (not name:match("^_") or (metadata and name:match("^_%u+$"))) then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

local function public_functions(t)
  return public_names(t, function(value)
    return type(value) == "function"
  end)
end

-- the keys of `t` that hold something other than a function, module metadata included
local function public_fields(t)
  return public_names(t, function(value)
    return type(value) ~= "function"
  end, true)
end

-- The names of the `---@field`s of `---@class <class>` in `text` (the
-- comment lines that follow the class line), as a set.
local function class_fields(text, class)
  local fields = {}
  local at = text:find("\n%-%-%-@class " .. escape(class) .. "[:\n ]")
  assert(at, "no ---@class " .. class)
  local body = text:sub(at + 1):match("^[^\n]*\n(.-)\n[^%-]") or ""
  for line in (body .. "\n"):gmatch("([^\n]*)\n") do
    local name = line:match("^%-%-%-@field ([%w_]+)%??%s")
    if name then
      fields[name] = true
    end
  end
  return fields
end

-- The names `function <owner><sep><name>(` defines in `text`, sorted.
local function stubbed_functions(text, owner, sep)
  local names = {}
  for name in text:gmatch("\nfunction " .. escape(owner .. sep) .. "([%w_]+)%(") do
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

-- the Lua tables behind core's objects, kept in the registry by the module
local core_classes = debug.getregistry()["qtforge.core.classes"]

local bus_classes = debug.getregistry()["qtforge.communication.classes"]
local manager_classes = debug.getregistry()["qtforge.managers.classes"]
local security_classes = debug.getregistry()["qtforge.security.classes"]
local reloader_methods = getmetatable(qtforge.monitoring.PluginHotReloadManager(qtforge.core.PluginManager())).__index
local collector_methods = getmetatable(qtforge.monitoring.PluginMetricsCollector({ enabled = false })).__index
local transaction_classes = debug.getregistry()["qtforge.transactions.classes"]
local orchestration_classes = debug.getregistry()["qtforge.orchestration.classes"]

-- each class: its label, the table users call, its stub name, the table holding
-- its objects' methods, and their stub name
local CLASSES = {
  { "qtforge.Error", qtforge.Error, "ErrorClass", getmetatable(qtforge.Error("x", "y")).__index, "Error" },
  { "qtforge.utils.Version", qtforge.utils.Version, "VersionClass", getmetatable(qtforge.utils.Version(1)).__index,
    "Version" },
  { "qtforge.core.PluginManager", qtforge.core.PluginManager, "PluginManagerClass", core_classes._Manager,
    "PluginManager" },
  { "qtforge.core.PluginLifecycleManager", qtforge.core.PluginLifecycleManager, "PluginLifecycleManagerClass",
    core_classes._Lifecycle, "PluginLifecycleManager" },
  { "qtforge.core.PluginDependencyResolver", qtforge.core.PluginDependencyResolver,
    "PluginDependencyResolverClass", core_classes._Resolver, "PluginDependencyResolver" },
  { "qtforge.core.PluginLoader", qtforge.core.PluginLoader, "PluginLoader", {}, "PluginLoader" },
  { "a plugin handle", {}, "Plugin", core_classes._HandleMethods, "Plugin" },
  { "qtforge.core.PluginRegistry", {}, "PluginRegistry", core_classes._Registry, "PluginRegistry" },
  { "qtforge.communication.MessageBus", qtforge.communication.MessageBus, "MessageBusClass", bus_classes._Bus,
    "MessageBus" },
  { "qtforge.communication.Message", qtforge.communication.Message, "MessageClass", {}, "Message" },
  { "a subscription", {}, "Subscription", bus_classes._Subscription, "Subscription" },
  { "qtforge.communication.RequestResponseSystem", qtforge.communication.RequestResponseSystem,
    "RequestResponseSystemClass", bus_classes._RequestResponse, "RequestResponseSystem" },
  { "a request", {}, "Request", bus_classes._Request, "Request" },
  { "a responder", {}, "Responder", bus_classes._Responder, "Responder" },
  { "a pending request", {}, "PendingRequest", bus_classes._Pending, "PendingRequest" },
  { "a service provider", {}, "Provider", bus_classes._Provider, "Provider" },
  { "qtforge.communication.ServiceContract", qtforge.communication.ServiceContract, "ServiceContractClass",
    bus_classes._Contract, "ServiceContract" },
  { "a plugin's bus", {}, "PluginBus", bus_classes._PluginBus, "PluginBus" },
  { "qtforge.managers.ConfigurationManager", qtforge.managers.ConfigurationManager, "ConfigurationManagerClass",
    manager_classes.config._ConfigurationManager, "ConfigurationManager" },
  { "a configuration scope", {}, "ConfigScope", manager_classes.config._Scope, "ConfigScope" },
  { "qtforge.managers.LoggingManager", qtforge.managers.LoggingManager, "LoggingManagerClass",
    manager_classes.logging._LoggingManager, "LoggingManager" },
  { "qtforge.managers.ResourceManager", qtforge.managers.ResourceManager, "ResourceManagerClass",
    manager_classes.resources._ResourceManager, "ResourceManager" },
  { "a resource", {}, "Resource", manager_classes.resources._Resource, "Resource" },
  { "a plugin's resources", {}, "PluginResources", manager_classes.resources._PluginResources, "PluginResources" },
  { "qtforge.security.PluginValidator", qtforge.security.PluginValidator, "PluginValidator", {}, "PluginValidator" },
  { "qtforge.security.TrustManager", qtforge.security.TrustManager, "TrustManagerClass",
    getmetatable(qtforge.security.TrustManager()).__index, "TrustManager" },
  { "qtforge.security.SecurityManager", qtforge.security.SecurityManager, "SecurityManagerClass",
    security_classes._SecurityManager, "SecurityManager" },
  { "qtforge.security.PermissionSystem", qtforge.security.PermissionSystem, "PermissionSystemClass",
    security_classes._PermissionSystem, "PermissionSystem" },
  { "qtforge.monitoring.PluginHotReloadManager", qtforge.monitoring.PluginHotReloadManager,
    "PluginHotReloadManagerClass", reloader_methods, "PluginHotReloadManager" },
  { "qtforge.monitoring.PluginMetricsCollector", qtforge.monitoring.PluginMetricsCollector,
    "PluginMetricsCollectorClass", collector_methods, "PluginMetricsCollector" },
  { "qtforge.transactions.PluginTransactionManager", qtforge.transactions.PluginTransactionManager,
    "PluginTransactionManagerClass", transaction_classes._PluginTransactionManager, "PluginTransactionManager" },
  { "a transaction", {}, "Transaction", transaction_classes._Transaction, "Transaction" },
  { "qtforge.orchestration.Workflow", qtforge.orchestration.Workflow, "WorkflowClass",
    orchestration_classes._Workflow.__index, "Workflow" },
  { "qtforge.orchestration.PluginOrchestrator", qtforge.orchestration.PluginOrchestrator, "PluginOrchestratorClass",
    orchestration_classes._Orchestrator.__index, "PluginOrchestrator" },
  { "a workflow run", {}, "Execution", orchestration_classes._Execution.__index, "Execution" },
}

describe("lua/types", function()
  local stubs = read_stubs()

  it("declares every field of the qtforge table", function()
    for name in pairs(qtforge) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge." .. name)
    end
  end)

  it("declares every field and function of qtforge.utils", function()
    for name, value in pairs(qtforge.utils) do
      if type(value) == "function" then
        assert.truthy(stubs:find("function utils%." .. escape(name) .. "%("), "no stub for qtforge.utils." .. name)
      else
        assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.utils." .. name)
      end
    end
  end)

  it("declares every field of qtforge.communication", function()
    for name in pairs(qtforge.communication) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.communication." .. name)
    end
  end)

  it("declares every field of qtforge.managers", function()
    for name in pairs(qtforge.managers) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.managers." .. name)
    end
  end)

  it("declares every field of qtforge.security", function()
    for name in pairs(qtforge.security) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.security." .. name)
    end
  end)

  it("declares every field of qtforge.transactions", function()
    for name in pairs(qtforge.transactions) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.transactions." .. name)
    end
  end)

  it("declares every field of qtforge.orchestration", function()
    for name in pairs(qtforge.orchestration) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.orchestration." .. name)
    end
  end)

  it("declares every field of qtforge.monitoring", function()
    for name in pairs(qtforge.monitoring) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.monitoring." .. name)
    end
  end)

  it("declares every field of qtforge.core", function()
    for name in pairs(qtforge.core) do
      assert.truthy(stubs:find("---@field " .. escape(name) .. " "), "no ---@field for qtforge.core." .. name)
    end
  end)

  for _, class in ipairs(CLASSES) do
    local label, class_table, class_stub, methods, instance_stub = class[1], class[2], class[3], class[4], class[5]

    it("declares every function of " .. label, function()
      for _, name in ipairs(public_functions(class_table)) do
        local pattern = "function " .. class_stub .. "%." .. escape(name) .. "%("
        assert.truthy(stubs:find(pattern), "no stub for " .. label .. "." .. name)
      end
    end)

    it("declares every method of " .. label .. " objects", function()
      for _, name in ipairs(public_functions(methods)) do
        local pattern = "function " .. instance_stub .. ":" .. escape(name) .. "%("
        assert.truthy(stubs:find(pattern), "no stub for " .. label .. ":" .. name)
      end
    end)
  end
end)

-- The pure-Lua modules: each with its stub file, the local the stub's
-- functions hang on, and the class of the module table.
local PURE_MODULES = {
  { "qtforge.openresty", "openresty.lua", "openresty", "qtforge.openresty" },
  { "qtforge.love", "love.lua", "qtforge_love", "qtforge.love" },
  { "qtforge.cli", "cli.lua", "cli", "qtforge.cli" },
}

describe("lua/types for the pure-Lua modules", function()
  it("can require qtforge.openresty outside nginx", function()
    assert.is_nil(rawget(_G, "ngx"))
    assert.are.equal("function", type(require("qtforge.openresty").init_worker))
  end)

  for _, entry in ipairs(PURE_MODULES) do
    local module_name, stub_file, owner, class = entry[1], entry[2], entry[3], entry[4]

    it("declares every function of " .. module_name, function()
      local module, text = require(module_name), read_stub(stub_file)
      local names = public_functions(module)
      assert.is_true(#names > 0, module_name .. " has no public function")
      for _, name in ipairs(names) do
        assert.truthy(text:find("\nfunction " .. escape(owner) .. "%." .. escape(name) .. "%("),
          "no stub for " .. module_name .. "." .. name)
      end
    end)

    it("declares every other field of " .. module_name .. " on its class", function()
      local module, fields = require(module_name), class_fields(read_stub(stub_file), class)
      for _, name in ipairs(public_fields(module)) do
        assert.truthy(fields[name], "no ---@field for " .. module_name .. "." .. name .. " in ---@class " .. class)
      end
    end)

    it("declares no function " .. module_name .. " lacks", function()
      local module = require(module_name)
      for _, name in ipairs(stubbed_functions(read_stub(stub_file), owner, ".")) do
        assert.are.equal("function", type(module[name]), stub_file .. " declares " .. module_name .. "." .. name)
      end
    end)
  end

  describe("the attachment qtforge.love.attach returns", function()
    local text = read_stub("love.lua")

    -- an attachment outside LÖVE, in dev mode and with a plugins folder so
    -- that every field is set; detached and its folder removed afterwards
    local function with_attachment(fn)
      local dir = fs.temp_dir()
      local attachment = require("qtforge.love").attach({ love = {}, dev = true, plugins = dir })
      finally(function()
        attachment:detach()
        attachment.manager:shutdown()
        fs.remove(dir)
      end)
      fn(attachment)
    end

    it("declares every method", function()
      with_attachment(function(attachment)
        local names = public_functions(getmetatable(attachment).__index)
        -- the walk sees at least the methods docs/love.md names
        for _, documented in ipairs({ "errors", "clear_errors", "dispatch", "detach" }) do
          assert.is_function(attachment[documented])
        end
        for _, name in ipairs(names) do
          assert.truthy(text:find("\nfunction LoveAttachment:" .. escape(name) .. "%("),
            "no stub for the attachment's method " .. name)
        end
      end)
    end)

    it("declares every field", function()
      with_attachment(function(attachment)
        local fields = class_fields(text, "qtforge.LoveAttachment")
        local names = public_fields(attachment)
        -- the walk sees at least the fields docs/love.md names, all set here
        for _, documented in ipairs({ "manager", "reloader", "results", "plugins_dir", "dev" }) do
          assert.is_not_nil(attachment[documented], documented)
        end
        for _, name in ipairs(names) do
          assert.truthy(fields[name], "no ---@field for the attachment's field " .. name)
        end
      end)
    end)

    it("declares no method an attachment lacks", function()
      with_attachment(function(attachment)
        local names = stubbed_functions(text, "LoveAttachment", ":")
        assert.is_true(#names > 0)
        for _, name in ipairs(names) do
          assert.are.equal("function", type(attachment[name]), "love.lua declares the attachment's method " .. name)
        end
      end)
    end)
  end)
end)
