-- A stand-in for the parts of lua-nginx-module's `ngx` that qtforge.openresty
-- uses, for in-process specs: ngx.log and ngx.exit record their calls,
-- ngx.now is a clock the spec moves, ngx.timer.every keeps the functions it
-- is given, ngx.worker answers what the spec sets, and ngx.shared holds
-- dictionaries with get, incr, safe_set and flush_all as nginx's behave.
local fake_ngx = {}

local Dict = {}
Dict.__index = Dict

--- A lua_shared_dict. `dict.store` is its content; `dict.full = true` makes
--- safe_set answer "no memory"; `dict.on_get(key)`, when set, runs in each get
--- after it read its value (a spec's way to act between two reads of a worker).
function fake_ngx.dict()
  return setmetatable({ store = {}, full = false, on_get = nil }, Dict)
end

function Dict:get(key)
  local value = self.store[key]
  if self.on_get ~= nil then
    self.on_get(key)
  end
  return value
end

function Dict:incr(key, value, init)
  local current = self.store[key]
  if current == nil then
    if init == nil then
      return nil, "not found"
    end
    current = init
  end
  if type(current) ~= "number" then
    return nil, "not a number"
  end
  current = current + value
  self.store[key] = current
  return current
end

function Dict:safe_set(key, value)
  if self.full then
    return false, "no memory"
  end
  self.store[key] = value
  return true
end

function Dict:flush_all()
  self.store = {}
end

local LEVEL_NAMES = { [4] = "error", [5] = "warn", [6] = "notice", [7] = "info", [8] = "debug" }

--- A fresh `ngx`. Besides nginx's fields it has `logs` ({ level, text } each,
--- level as "error", "warn", ...), `exits` (the statuses given to ngx.exit),
--- `timers` ({ interval, fn } each), `clock` (what ngx.now answers),
--- `phase`, `worker_id`, `worker_pid`, `worker_count`, `timer_error` (when
--- set, ngx.timer.every fails with it), and `shared` to put dicts in.
function fake_ngx.new()
  local ngx = {
    DEBUG = 8, INFO = 7, NOTICE = 6, WARN = 5, ERR = 4, CRIT = 3, ALERT = 2, EMERG = 1, STDERR = 0,
    OK = 0, ERROR = -1, DECLINED = -5,
    HTTP_OK = 200, HTTP_UNAUTHORIZED = 401, HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404,
    HTTP_TOO_MANY_REQUESTS = 429, HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_SERVICE_UNAVAILABLE = 503,
    logs = {}, exits = {}, timers = {},
    clock = 1000, phase = "init_worker",
    worker_id = 0, worker_pid = 4000, worker_count = 2,
    timer_error = nil,
    ctx = {}, arg = {}, shared = {},
  }

  function ngx.log(level, ...)
    local parts = {}
    for i = 1, select("#", ...) do
      parts[i] = tostring((select(i, ...)))
    end
    ngx.logs[#ngx.logs + 1] = { level = LEVEL_NAMES[level] or tostring(level), text = table.concat(parts) }
  end

  function ngx.exit(status)
    ngx.exits[#ngx.exits + 1] = status
  end

  function ngx.now()
    return ngx.clock
  end

  function ngx.get_phase()
    return ngx.phase
  end

  ngx.worker = {
    id = function()
      return ngx.worker_id
    end,
    pid = function()
      return ngx.worker_pid
    end,
    count = function()
      return ngx.worker_count
    end,
  }

  ngx.timer = {
    every = function(interval, fn)
      if ngx.timer_error ~= nil then
        return nil, ngx.timer_error
      end
      ngx.timers[#ngx.timers + 1] = { interval = interval, fn = fn }
      return true
    end,
  }

  return ngx
end

--- The texts of the lines logged at `level` ("error", "warn", ...) that contain `part`.
function fake_ngx.lines(ngx, level, part)
  local found = {}
  for _, line in ipairs(ngx.logs) do
    if line.level == level and (part == nil or line.text:find(part, 1, true)) then
      found[#found + 1] = line.text
    end
  end
  return found
end

return fake_ngx
