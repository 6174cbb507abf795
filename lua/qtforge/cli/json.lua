-- A small JSON encoder for what the CLI prints: plugin infos and bus payloads.
-- qtforge's ConfigurationManager can save JSON, but only to a file, it reads
-- dotted keys as paths, and it writes an empty list as {}; plugin infos are
-- full of empty lists (tags, exports, dependencies), so the CLI encodes itself.
local getmetatable, ipairs, pairs, setmetatable, tostring, type = getmetatable, ipairs, pairs,
  setmetatable, tostring, type
local math_floor, math_huge = math.floor, math.huge
local string_byte, string_format, string_gsub, string_rep = string.byte, string.format, string.gsub, string.rep
local table_concat, table_sort = table.concat, table.sort

local json = {}

-- A table with this metatable is an object even when empty; other empty
-- tables are lists.
local OBJECT = { __name = "qtforge.cli.json.object" }

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }

local function escape_char(char)
  return ESCAPES[char] or string_format("\\u%04x", string_byte(char))
end

local function encode_string(text)
  return '"' .. string_gsub(text, '[%c"\\]', escape_char) .. '"'
end

local function encode_number(number, lenient)
  if number ~= number or number == math_huge or number == -math_huge then
    if lenient then
      return "null"
    end
    error("cannot encode " .. tostring(number) .. " in JSON", 0)
  end
  -- integers as integers under both interpreters (LuaJIT has no integer subtype)
  if number == math_floor(number) and number > -2 ^ 53 and number < 2 ^ 53 then
    return string_format("%d", number)
  end
  return string_format("%.17g", number)
end

-- Whether `t` is a list: its keys are exactly 1..#t (an empty table is one
-- unless marked as an object).
local function is_list(t)
  if getmetatable(t) == OBJECT then
    return false
  end
  local count = 0
  for _ in pairs(t) do
    count = count + 1
  end
  for key in pairs(t) do
    if type(key) ~= "number" or key < 1 or key > count or key ~= math_floor(key) then
      return false
    end
  end
  return true
end

-- The keys of object `t` with their JSON text, sorted by it (numbers become
-- strings, as JSON keys must be).
local function sorted_keys(t, lenient)
  local keys = {}
  for key in pairs(t) do
    local kind, text = type(key), key
    if kind == "number" then
      text = encode_number(key, lenient)
    elseif kind ~= "string" then
      if not lenient then
        error("cannot encode a table key of type " .. kind .. " in JSON", 0)
      end
      text = tostring(key)
    end
    keys[#keys + 1] = { text = text, key = key }
  end
  table_sort(keys, function(a, b)
    return a.text < b.text
  end)
  return keys
end

local encode_value

local function encode_table(t, state, depth)
  if state.seen[t] then
    if state.lenient then
      return '"(a table that contains itself)"'
    end
    error("cannot encode a table that contains itself in JSON", 0)
  end
  state.seen[t] = true
  local parts = {}
  local list = is_list(t)
  if list then
    for i, item in ipairs(t) do
      parts[i] = encode_value(item, state, depth + 1)
    end
  else
    for i, entry in ipairs(sorted_keys(t, state.lenient)) do
      parts[i] = encode_string(entry.text) .. state.colon .. encode_value(t[entry.key], state, depth + 1)
    end
  end
  state.seen[t] = nil
  local open, close = list and "[" or "{", list and "]" or "}"
  if #parts == 0 then
    return open .. close
  end
  if state.indent == nil then
    return open .. table_concat(parts, ",") .. close
  end
  local inner = "\n" .. string_rep(state.indent, depth + 1)
  return open .. inner .. table_concat(parts, "," .. inner) .. "\n" .. string_rep(state.indent, depth) .. close
end

function encode_value(value, state, depth)
  local kind = type(value)
  if kind == "nil" then
    return "null"
  elseif kind == "boolean" then
    return tostring(value)
  elseif kind == "number" then
    return encode_number(value, state.lenient)
  elseif kind == "string" then
    return encode_string(value)
  elseif kind == "table" and (getmetatable(value) == nil or getmetatable(value) == OBJECT) then
    return encode_table(value, state, depth)
  elseif state.lenient then
    -- a Version, an Error, a function: what tostring says of it
    return encode_string(tostring(value))
  end
  error("cannot encode a value of type " .. kind .. " in JSON", 0)
end

--- `value` as JSON text. `opts.indent` (a string) pretty-prints; `opts.lenient`
--- writes what JSON cannot hold (functions, userdata, tables with a metatable,
--- NaN) as strings or null instead of raising. Raises on a cycle.
function json.encode(value, opts)
  opts = opts or {}
  local state = { seen = {}, indent = opts.indent, lenient = opts.lenient, colon = opts.indent and ": " or ":" }
  return encode_value(value, state, 0)
end

--- Marks `t` as an object, so that it encodes as {} when empty; returns `t`.
function json.object(t)
  return setmetatable(t or {}, OBJECT)
end

return json
