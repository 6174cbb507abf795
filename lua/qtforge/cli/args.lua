-- Command-line arguments of one qtforge command: options and positional words.
-- A command declares what it takes; anything else is a usage error, which the
-- caller reports with the command's usage and exit status 2.
local assert, ipairs, tonumber, tostring = assert, ipairs, tonumber, tostring
local string_format = string.format

local args = {}

-- What an option takes: "flag" (no value), "value" (one, the last one given
-- wins), "list" (one value each time it appears, kept in order), "number" (a
-- positive number of seconds).
local KINDS = { flag = true, value = true, list = true, number = true }

local function option_value(kind, name, text)
  -- an empty folder, prefix or key is never meant: `--dir=` would be "/NAME"
  if text == "" then
    return nil, string_format("option %s needs a value", name)
  end
  if kind == "number" then
    local number = tonumber(text)
    -- NaN is refused (it equals nothing), and inf: "forever" is the default
    if number == nil or number ~= number or number <= 0 or number == math.huge then
      return nil, string_format("option %s takes a positive number of seconds, got %q", name, text)
    end
    return number
  end
  return text
end

local function store(opts, kind, name, value)
  if kind == "list" then
    local list = opts[name] or {}
    list[#list + 1] = value
    opts[name] = list
  else
    opts[name] = value
  end
end

-- Reads one option at argv[i]; returns the index of the next word, or nil and
-- the problem.
local function read_option(spec, argv, i, opts)
  local word = argv[i]
  local name, inline = word:match("^(%-%-[^=]+)=(.*)$")
  name = name or word
  if name == "-h" or name == "--help" then
    opts.help = true
    return i + 1
  end
  local kind = spec.options and spec.options[name]
  if kind == nil then
    return nil, string_format("unknown option %s", name)
  end
  assert(KINDS[kind], "unknown option kind " .. tostring(kind))
  if kind == "flag" then
    if inline then
      return nil, string_format("option %s takes no value", name)
    end
    opts[name] = true
    return i + 1
  end
  local text, next_index = inline, i + 1
  if text == nil then
    text, next_index = argv[i + 1], i + 2
    if text == nil then
      return nil, string_format("option %s needs a value", name)
    end
  end
  local value, problem = option_value(kind, name, text)
  if value == nil then
    return nil, problem
  end
  store(opts, kind, name, value)
  return next_index
end

local function count_problem(spec, count)
  local least, most = spec.positional[1], spec.positional[2]
  if count < least then
    return "missing " .. spec.positional.name
  elseif most and count > most then
    return "too many arguments"
  end
end

--- Parses `argv` (a list of strings, which the caller has checked) against
--- `spec`: `spec.options` maps option names ("--dir") to a kind (see KINDS),
--- `spec.positional` is `{ least, most, name = "what is missing" }` (`most`
--- nil: no limit), `spec.required` the options that must be given. Returns
--- `opts` (by option name, plus `help` when -h/--help was given) and the
--- positional words, or nil and what is wrong. `--name=value` and `--name
--- value` both work, with a value that is not empty; `--` ends the options.
function args.parse(spec, argv)
  local opts, words = {}, {}
  local i = 1
  while argv[i] ~= nil do
    local word = argv[i]
    if word == "--" then
      for j = i + 1, #argv do
        words[#words + 1] = argv[j]
      end
      break
    elseif word:sub(1, 1) == "-" and word ~= "-" then
      local next_index, problem = read_option(spec, argv, i, opts)
      if next_index == nil then
        return nil, problem
      end
      i = next_index
    else
      words[#words + 1] = word
      i = i + 1
    end
  end
  if not opts.help then
    local problem = count_problem(spec, #words)
    if problem then
      return nil, problem
    end
    for _, name in ipairs(spec.required or {}) do
      if opts[name] == nil then
        return nil, "missing option " .. name
      end
    end
  end
  return opts, words
end

--- argv[first..] as a list of its own (table.unpack is not in every LuaJIT).
function args.slice(argv, first)
  local list = {}
  for i, word in ipairs(argv) do
    if i >= first then
      list[#list + 1] = word
    end
  end
  return list
end

return args
