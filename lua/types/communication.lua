---@meta qtforge.communication

---@class qtforge.communication
---@field MessageBus qtforge.MessageBusClass
---@field Message qtforge.MessageClass
---@field RequestResponseSystem qtforge.RequestResponseSystemClass
---@field ServiceContract qtforge.ServiceContractClass
---@field STOP table returned by a handler, stops delivery of that message to the handlers after it
local communication = {}

---A message. Subscribers receive the object itself, not a copy.
---@class qtforge.Message
---@field type string the topic, dot-separated (`plugin.audio.status`)
---@field data any
---@field sender? string the id of the plugin that published it (set by `ctx.bus`, not forgeable)
---@field id integer unique within the Lua state
---@field timestamp number seconds since the Unix epoch; for messages built by `publish(type, data)` it is read on first access
---@field headers table<string, any> made on first access for messages built by `publish(type, data)`

---@class qtforge.MessageClass
---@overload fun(fields?: { type?: string, data?: any, sender?: string, headers?: table }): qtforge.Message
local MessageClass = {}

---Builds a message with a fresh `id` and the current `timestamp`.
---@param fields? { type?: string, data?: any, sender?: string, headers?: table }
---@return qtforge.Message
function MessageClass.new(fields) end

---@class qtforge.MessageBusOptions
---@field log? fun(level: string, source: string, message: string) receives handler errors (default: stderr)
---@field on_error? fun(err: qtforge.Error, message: qtforge.Message, subscription: qtforge.Subscription)
---@field max_queue? integer how many messages `post` may queue before it refuses (default 100000)
---@field route_cache? integer how many topics keep a handler array before the cache starts over (default 4096)

---@class qtforge.MessageBusClass
---@overload fun(opts?: qtforge.MessageBusOptions): qtforge.MessageBus
local MessageBusClass = {}

---@param opts? qtforge.MessageBusOptions
---@return qtforge.MessageBus
function MessageBusClass.new(opts) end

---@class qtforge.SubscribeOptions
---@field priority? integer higher runs first; equal priorities run in subscription order (default 0)
---@field once? boolean removed before its first delivery
---@field filter? fun(message: qtforge.Message): boolean the handler runs only when this returns a true value

---@class qtforge.BusStats
---@field published integer messages published (and flushed)
---@field delivered integer handler calls
---@field errors integer handlers and filters that raised
---@field posted integer messages queued by `post`
---@field queued integer messages waiting for `flush`
---@field subscriptions integer
---@field routes_cached integer topics whose handler array is cached
---@field pending_requests integer asynchronous requests whose callback has not run yet

---@class qtforge.MessageBus
---@field STOP table the same as `qtforge.communication.STOP`
local MessageBus = {}

---Subscribes `fn(message)` to a pattern: `*` matches one segment, `#` zero or more.
---@param pattern string
---@param fn fun(message: qtforge.Message): any return `STOP` to stop delivery to later handlers
---@param opts? qtforge.SubscribeOptions
---@return qtforge.Subscription
function MessageBus:subscribe(pattern, fn, opts) end

---Delivers a message now, in order; returns how many handlers ran. A handler's error is reported, the rest still run.
---@param message_or_type qtforge.Message|string
---@param data? any with a topic string
---@param headers? table with a topic string: the message's headers (`broadcast = true` hands it to `on_broadcast` listeners)
---@return integer
function MessageBus:publish(message_or_type, data, headers) end

---Queues a message for the next `flush()` (or `manager:update_all_plugins()`).
---@param message_or_type qtforge.Message|string
---@param data? any
---@param headers? table with a topic string: the message's headers
---@return boolean queued
---@return qtforge.Error? err `queue_full`
function MessageBus:post(message_or_type, data, headers) end

---Delivers the messages queued before the call and runs the callbacks of answered async requests.
---@return integer delivered messages
function MessageBus:flush() end

---Registers `fn(err, message, subscription)` for failing handlers and filters.
---@param fn fun(err: qtforge.Error, message: qtforge.Message, subscription: qtforge.Subscription)
---@return fun() remove
function MessageBus:on_error(fn) end

---Registers `fn(message)`, called with each message published or flushed whose headers say `broadcast = true`,
---before its handlers: how a host carries such messages to other processes. Not a subscription: not counted.
---@param fn fun(message: qtforge.Message)
---@return fun() remove
function MessageBus:on_broadcast(fn) end

---The patterns that have subscriptions, sorted.
---@return string[]
function MessageBus:topics() end

---How many subscriptions a message on `topic` reaches; without a topic, all subscriptions.
---@param topic? string
---@return integer
function MessageBus:subscriber_count(topic) end

---@return qtforge.BusStats
function MessageBus:stats() end

---The bus's own RequestResponseSystem (the request and service methods below use it).
---@return qtforge.RequestResponseSystem
function MessageBus:request_response() end

---@param type string
---@param fn fun(data: any, request: qtforge.Request): any
---@return qtforge.Responder
function MessageBus:respond(type, fn) end

---@param type string
---@param data any
---@param opts? { timeout?: number }
---@return qtforge.RequestResult
function MessageBus:request(type, data, opts) end

---@param type string
---@param data any
---@param callback fun(result: qtforge.RequestResult)
---@param opts? { timeout?: number } seconds, default 30
---@return qtforge.PendingRequest
function MessageBus:request_async(type, data, callback, opts) end

---@param contract qtforge.ServiceContract
---@return qtforge.ServiceContract
function MessageBus:register_contract(contract) end

---@param contract qtforge.ServiceContract
---@param implementation table methods called as `implementation:method(...)`
---@return qtforge.Provider
function MessageBus:provide(contract, implementation) end

---@param name string
---@param range? string a version range, default `"*"`
---@return table proxy calls as `proxy:method(...)`, checked against the contract
function MessageBus:service(name, range) end

---@param name string
---@param range? string
---@return boolean
function MessageBus:has_provider(name, range) end

---@class qtforge.Subscription
---@field id integer
---@field pattern string
---@field priority integer
---@field once boolean
---@field owner_id? string the plugin that subscribed
local Subscription = {}

---Removes the subscription; it is not called again, even later in a publish under way.
---@return boolean removed false when it was already gone
function Subscription:unsubscribe() end

---@return boolean
function Subscription:active() end

---@class qtforge.RequestResult: qtforge.Result
---@field value? any the responder's answer

---@class qtforge.RequestResponseSystemClass
---@overload fun(opts?: { log?: fun(level: string, source: string, message: string) }): qtforge.RequestResponseSystem
local RequestResponseSystemClass = {}

---@param opts? { log?: fun(level: string, source: string, message: string) }
---@return qtforge.RequestResponseSystem
function RequestResponseSystemClass.new(opts) end

---@class qtforge.RequestResponseSystem
local RequestResponseSystem = {}

---Registers the responder of `type`: `fn(data, request)` returns the answer, or calls `request:defer()` and answers later.
---@param type string
---@param fn fun(data: any, request: qtforge.Request): any
---@return qtforge.Responder
function RequestResponseSystem:respond(type, fn) end

---Asks now: the answer, or `no_responder`, `handler_error`, `timeout`.
---@param type string
---@param data any
---@param opts? { timeout?: number }
---@return qtforge.RequestResult
function RequestResponseSystem:request(type, data, opts) end

---Asks; `callback(result)` runs on a later `flush()` once answered or timed out.
---@param type string
---@param data any
---@param callback fun(result: qtforge.RequestResult)
---@param opts? { timeout?: number }
---@return qtforge.PendingRequest
function RequestResponseSystem:request_async(type, data, callback, opts) end

---Runs the callbacks of answered and timed-out async requests.
---@return integer
function RequestResponseSystem:flush() end

---@return string[]
function RequestResponseSystem:responders() end

---@param contract qtforge.ServiceContract
---@return qtforge.ServiceContract
function RequestResponseSystem:register_contract(contract) end

---@param contract qtforge.ServiceContract
---@param implementation table
---@return qtforge.Provider
function RequestResponseSystem:provide(contract, implementation) end

---@param name string
---@param range? string
---@return table proxy
function RequestResponseSystem:service(name, range) end

---@param name string
---@param range? string
---@return boolean
function RequestResponseSystem:has_provider(name, range) end

---@return { name: string, version: qtforge.Version, contract: qtforge.ServiceContract, provided: boolean, plugin_id?: string }[]
function RequestResponseSystem:contracts() end

---@class qtforge.Request
---@field id integer
---@field type string
---@field data any
---@field sender? string
local Request = {}

---Marks the request as answered later with `reply` or `fail`.
---@return qtforge.Request
function Request:defer() end

---@param value any
---@return boolean settled false when already answered, timed out or cancelled
function Request:reply(value) end

---@param problem any an Error, or a message for a `handler_error`
---@return boolean
function Request:fail(problem) end

---@return boolean
function Request:answered() end

---@class qtforge.Responder
local Responder = {}

---@return boolean
function Responder:unregister() end

---@return boolean
function Responder:active() end

---@class qtforge.PendingRequest
---@field id integer
---@field type string
local PendingRequest = {}

---Drops the request: its callback will not run.
---@return boolean
function PendingRequest:cancel() end

---@return boolean
function PendingRequest:done() end

---@class qtforge.Provider
local Provider = {}

---@return boolean
function Provider:withdraw() end

---@return boolean
function Provider:active() end

---@class qtforge.ContractMethod
---@field params string[] type specs: `string`, `number`, `integer`, `boolean`, `table`, `function`, `userdata`, `thread`, `nil`, `any`; `|` joins, a trailing `?` allows nil
---@field returns? string[]

---@class qtforge.ServiceContractClass
---@overload fun(definition: { name: string, version: string, description?: string, methods: table<string, qtforge.ContractMethod> }): qtforge.ServiceContract
local ServiceContractClass = {}

---@param definition { name: string, version: string, description?: string, methods: table<string, qtforge.ContractMethod> }
---@return qtforge.ServiceContract
function ServiceContractClass.new(definition) end

---@class qtforge.ServiceContract
---@field name string
---@field version qtforge.Version
---@field description string
---@field methods table<string, table> the compiled checks of each method
---@field signature string the methods in one canonical line; equal signatures make equal contracts
local ServiceContract = {}

---@return string[]
function ServiceContract:method_names() end

---A plugin's bus (`ctx.bus`): the manager's bus; what the plugin subscribes,
---answers and provides is removed when it unloads, and its messages carry its id.
---@class qtforge.PluginBus
---@field STOP table
local PluginBus = {}

---@param message_or_type qtforge.Message|string
---@param data? any
---@param headers? table the message's headers (`broadcast = true`: see `MessageBus:on_broadcast`)
---@return integer
function PluginBus:publish(message_or_type, data, headers) end

---@param message_or_type qtforge.Message|string
---@param data? any
---@param headers? table
---@return boolean, qtforge.Error?
function PluginBus:post(message_or_type, data, headers) end

---@param pattern string
---@param fn fun(message: qtforge.Message): any
---@param opts? qtforge.SubscribeOptions
---@return qtforge.Subscription
function PluginBus:subscribe(pattern, fn, opts) end

---@param type string
---@param fn fun(data: any, request: qtforge.Request): any
---@return qtforge.Responder
function PluginBus:respond(type, fn) end

---@param type string
---@param data any
---@param opts? { timeout?: number }
---@return qtforge.RequestResult
function PluginBus:request(type, data, opts) end

---@param type string
---@param data any
---@param callback fun(result: qtforge.RequestResult)
---@param opts? { timeout?: number }
---@return qtforge.PendingRequest
function PluginBus:request_async(type, data, callback, opts) end

---@param contract qtforge.ServiceContract
---@return qtforge.ServiceContract
function PluginBus:register_contract(contract) end

---@param contract qtforge.ServiceContract
---@param implementation table
---@return qtforge.Provider
function PluginBus:provide(contract, implementation) end

---@param name string
---@param range? string
---@return table proxy
function PluginBus:service(name, range) end

---@param name string
---@param range? string
---@return boolean
function PluginBus:has_provider(name, range) end

---@return string[]
function PluginBus:topics() end

---@param topic? string
---@return integer
function PluginBus:subscriber_count(topic) end

---@return qtforge.BusStats
function PluginBus:stats() end

return communication
