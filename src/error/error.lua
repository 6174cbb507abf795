-- qtforge.Error: the value a failed result carries in its `error` field.
-- A plain table with a shared metatable, so `err.code` is a field read and
-- `"text" .. err` and `tostring(err)` work in every host.
local error, getmetatable, setmetatable, type = error, getmetatable, setmetatable, type
local string_format, string_match = string.format, string.match

local CODE_PATTERN = "^[%a][%w_]*$"

local Error = { __name = "qtforge.Error" }

local function describe(value)
  if type(value) == "string" then
    return string_format("%q", value)
  end
  return type(value)
end

local function text_of(err)
  local line = err.code .. ": " .. err.message
  if err.details ~= "" then
    line = line .. " (" .. err.details .. ")"
  end
  return line
end

Error.__tostring = text_of

-- Either side of `..` may be the error: "failed: " .. err, err .. "!".
function Error.__concat(a, b)
  if getmetatable(a) == Error then
    a = text_of(a)
  end
  if getmetatable(b) == Error then
    b = text_of(b)
  end
  return a .. b
end

function Error.__eq(a, b)
  return a.code == b.code and a.message == b.message and a.details == b.details
end

-- `level` is where the caller sits, seen from the function that called `new`.
local function new(level, code, message, details)
  if type(code) == "table" and getmetatable(code) == nil then
    code, message, details = code.code, code.message, code.details
  end
  if type(code) ~= "string" or not string_match(code, CODE_PATTERN) then
    local got = describe(code)
    error("qtforge.Error: argument 'code' must be an identifier such as \"not_found\", got " .. got, level + 1)
  end
  if type(message) ~= "string" then
    error("qtforge.Error: argument 'message' must be a string, got " .. describe(message), level + 1)
  end
  if details == nil then
    details = ""
  elseif type(details) ~= "string" then
    error("qtforge.Error: argument 'details' must be a string or nil, got " .. describe(details), level + 1)
  end
  return setmetatable({ code = code, message = message, details = details }, Error)
end

--- Builds an error: Error(code, message, details) or Error{code =, message =, details =}.
function Error.new(...)
  local err = new(2, ...)
  return err
end

--- Whether `value` is an Error.
function Error.is(value)
  return getmetatable(value) == Error
end

--- The error as a plain table (no metatable), for serialising or logging.
function Error.to_table(err)
  if getmetatable(err) ~= Error then
    error("qtforge.Error.to_table: argument #1 must be an Error, got " .. describe(err), 2)
  end
  return { code = err.code, message = err.message, details = err.details }
end

Error.__index = { to_table = Error.to_table }

-- Error(...) and Error.new(...) are the same; the class table is its own metatable.
local class = setmetatable({ new = Error.new, is = Error.is, to_table = Error.to_table }, {
  __call = function(_, ...)
    local err = new(2, ...)
    return err
  end,
  __name = "qtforge.Error class",
  __tostring = function()
    return "qtforge.Error"
  end,
})

return class, Error
