-- A small JSON encoder for what the CLI prints: plugin infos and bus payloads.
-- qtforge's ConfigurationManager can save JSON, but only to a file, it reads
-- dotted keys as paths, and it writes an empty list as {}; plugin infos are
-- full of empty lists (tags, exports, dependencies), so the CLI encodes itself.
local error, getmetatable, ipairs, next, pcall, rawget, setmetatable, tonumber, tostring, type = error,
  getmetatable, ipairs, next, pcall, rawget, setmetatable, tonumber, tostring, type
local math_floor, math_huge, math_type = math.floor, math.huge, math.type
local string_byte, string_find, string_format, string_gsub, string_rep, string_sub = string.byte, string.find,
  string.format, string.gsub, string.rep, string.sub
local table_concat, table_sort = table.concat, table.sort

local json = {}

-- A table with this metatable is an object even when empty; other empty
-- tables are lists.
local OBJECT = { __name = "qtforge.cli.json.object" }

-- What getmetatable says of the lists qtforge makes from manifest data (mlua
-- marks them with a metatable that hides itself as `false`).
local MLUA_ARRAY = false

-- How Lua prints the light userdata that mlua makes of a JSON null (a null
-- pointer), under the C libraries' different %p.
local NULL_TEXTS = { ["userdata: (nil)"] = true, ["userdata: NULL"] = true, ["userdata: 0x0"] = true,
  ["userdata: 0000000000000000"] = true, ["userdata: 00000000"] = true }

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }

-- U+FFFD, written for each byte that is not part of valid UTF-8
local REPLACEMENT = "\\ufffd"

local function escape_char(char)
  return ESCAPES[char] or string_format("\\u%04x", string_byte(char))
end

-- The length of the valid UTF-8 sequence starting at byte `i` of `text`, or
-- nil when there is none (a stray continuation byte, an overlong form, a
-- surrogate, a code point past U+10FFFF, a sequence cut short).
local function utf8_length(text, i)
  local first, second = string_byte(text, i, i + 1)
  local length, low, high
  if first >= 0xC2 and first <= 0xDF then
    length, low, high = 2, 0x80, 0xBF
  elseif first >= 0xE0 and first <= 0xEF then
    length = 3
    low = first == 0xE0 and 0xA0 or 0x80
    high = first == 0xED and 0x9F or 0xBF
  elseif first >= 0xF0 and first <= 0xF4 then
    length = 4
    low = first == 0xF0 and 0x90 or 0x80
    high = first == 0xF4 and 0x8F or 0xBF
  else
    return nil
  end
  if second == nil or second < low or second > high then
    return nil
  end
  for j = i + 2, i + length - 1 do
    local byte = string_byte(text, j)
    if byte == nil or byte < 0x80 or byte > 0xBF then
      return nil
    end
  end
  return length
end

-- `text` with every byte outside valid UTF-8 replaced by U+FFFD: JSON text is
-- UTF-8, and a reader may refuse anything else.
local function valid_utf8(text)
  if not string_find(text, "[\128-\255]") then
    return text
  end
  local parts, i, count = {}, 1, #text
  while i <= count do
    local byte = string_byte(text, i)
    local length = byte < 0x80 and 1 or utf8_length(text, i)
    parts[#parts + 1] = length and string_sub(text, i, i + length - 1) or REPLACEMENT
    i = i + (length or 1)
  end
  return table_concat(parts)
end

local function encode_string(text)
  -- escape first: the replacement is an escape of its own, left as it is
  return '"' .. valid_utf8(string_gsub(text, '[%c"\\]', escape_char)) .. '"'
end

-- The shortest of %.14g .. %.17g that reads back as `number`: 0.1, not
-- 0.10000000000000001.
local function shortest_float(number)
  for digits = 14, 16 do
    local text = string_format("%." .. digits .. "g", number)
    if tonumber(text) == number then
      return text
    end
  end
  return string_format("%.17g", number)
end

local function encode_number(number, lenient)
  if number ~= number or number == math_huge or number == -math_huge then
    if lenient then
      return "null"
    end
    error("cannot encode " .. tostring(number) .. " in JSON", 0)
  end
  -- Lua 5.4 integers exactly, whatever their size; floats that hold a whole
  -- number as integers too (LuaJIT has no integer subtype)
  if (math_type and math_type(number) == "integer")
    or (number == math_floor(number) and number > -2 ^ 53 and number < 2 ^ 53) then
    return string_format("%d", number)
  end
  return shortest_float(number)
end

local function is_null(value)
  return type(value) == "userdata" and getmetatable(value) == nil and NULL_TEXTS[tostring(value)] == true
end

-- Whether `t` is a list: its keys are exactly 1..n (an empty table is one
-- unless marked as an object). Raw iteration: no __pairs runs.
local function is_list(t)
  if getmetatable(t) == OBJECT then
    return false
  end
  local count = 0
  for _ in next, t do
    count = count + 1
  end
  for key in next, t do
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
  for key in next, t do
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
    -- is_list found the keys to be 1..n: rawget reads them without __index
    local i = 1
    while rawget(t, i) ~= nil do
      parts[i] = encode_value(rawget(t, i), state, depth + 1)
      i = i + 1
    end
  else
    for i, entry in ipairs(sorted_keys(t, state.lenient)) do
      parts[i] = encode_string(entry.text) .. state.colon .. encode_value(rawget(t, entry.key), state, depth + 1)
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

-- Whether `t` is data to encode: a plain table, one marked as an object, or a
-- list qtforge made.
local function is_data(t)
  local metatable = getmetatable(t)
  return metatable == nil or metatable == OBJECT or metatable == MLUA_ARRAY
end

-- What tostring says of `value`, or a placeholder when its __tostring fails:
-- lenient encoding never raises.
local function described(value)
  local ok, text = pcall(tostring, value)
  return ok and text or "(a " .. type(value) .. ")"
end

function encode_value(value, state, depth)
  local kind = type(value)
  if kind == "nil" or is_null(value) then
    return "null"
  elseif kind == "boolean" then
    return tostring(value)
  elseif kind == "number" then
    return encode_number(value, state.lenient)
  elseif kind == "string" then
    return encode_string(value)
  elseif kind == "table" and is_data(value) then
    return encode_table(value, state, depth)
  elseif state.lenient then
    -- a Version, an Error, a function: what tostring says of it
    return encode_string(described(value))
  end
  error("cannot encode a value of type " .. kind .. " in JSON", 0)
end

--- `value` as JSON text, valid UTF-8 whatever bytes its strings hold (a byte
--- that is not part of a UTF-8 character becomes U+FFFD). `opts.indent` (a
--- string) pretty-prints; `opts.lenient` writes what JSON cannot hold
--- (functions, userdata, tables with a metatable, NaN, a cycle) as strings or
--- null instead of raising. mlua's null (a JSON null in qtforge data) is null.
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
