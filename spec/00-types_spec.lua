-- The LuaLS definitions under lua/types/ must describe everything public:
-- this walks the module and fails when a function or field has no stub.
local qtforge = require("qtforge")

local function read_stubs()
  local dir = "lua/types/"
  local text = {}
  local files = { "qtforge.lua", "utils.lua", "core.lua", "communication.lua", "managers.lua", "security.lua",
    "monitoring.lua", "transactions.lua", "orchestration.lua" }
  for _, name in ipairs(files) do
    local file = assert(io.open(dir .. name, "r"))
    text[#text + 1] = file:read("a")
    file:close()
  end
  return table.concat(text, "\n")
end

local function escape(s)
  return (s:gsub("%p", "%%%0"))
end

local function public_functions(t)
  local names = {}
  for name, value in pairs(t) do
    if type(name) == "string" and type(value) == "function" and not name:match("^_") then
      names[#names + 1] = name
    end
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
