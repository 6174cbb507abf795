-- The few file operations the CLI needs beyond io.open. Plain Lua cannot make
-- a folder or change a file's mode, and qtforge offers neither, so those two
-- run `mkdir -p` and `chmod`, once per command, never in a loop.
local io_open, os_execute, os_remove, os_rename, tostring = io.open, os.execute, os.remove, os.rename, tostring

local fs = {}

-- errno of reading a folder as a file on POSIX systems
local EISDIR = 21

--- `text` as one word for /bin/sh.
function fs.quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

-- Runs `program` on `path` through /bin/sh; whether it succeeded. `--` ends
-- the program's options, so that a path starting with "-" is still a path.
local function run_on(program, path)
  local ok = os_execute(program .. " -- " .. fs.quote(path) .. " 2>/dev/null")
  -- Lua 5.4 returns true or nil, LuaJIT the exit status
  return ok == true or ok == 0
end

--- Whether anything exists at `path` (renaming a path to itself fails only when
--- it is not there, or its folder cannot be written, which the CLI would fail on anyway).
function fs.exists(path)
  return os_rename(path, path) ~= nil
end

--- Whether `path` is a folder.
function fs.is_dir(path)
  local file = io_open(path, "rb")
  if file == nil then
    return false
  end
  local data, _, code = file:read(1)
  file:close()
  return data == nil and code == EISDIR
end

--- The contents of the file at `path`, or nil and a message.
function fs.read(path)
  local file, message = io_open(path, "rb")
  if file == nil then
    return nil, message
  end
  -- opening a folder succeeds; reading it is what fails
  local text, read_message = file:read("*a")
  file:close()
  if text == nil then
    return nil, path .. ": " .. tostring(read_message)
  end
  return text
end

--- A name beside `path` (`path .. suffix`, then a number) that nothing uses
--- yet, for what becomes `path` once complete.
function fs.unused_sibling(path, suffix)
  local candidate, n = path .. suffix, 1
  while fs.exists(candidate) do
    n = n + 1
    candidate = path .. suffix .. n
  end
  return candidate
end

-- `message` of io.open or os.rename without the file name some put first:
-- that name is the temporary one, which means nothing to the user.
local function reason_only(message, name)
  message = tostring(message)
  if message:sub(1, #name + 2) == name .. ": " then
    return message:sub(#name + 3)
  end
  return message
end

-- Writes `text` to the new file `temp`, made owner-only first when `private`;
-- true, or nil and why not.
local function write_new(temp, text, private)
  local file, message = io_open(temp, "wb")
  if file == nil then
    return nil, message
  end
  local ok, problem = true, nil
  if private and not run_on("chmod 600", temp) then
    ok, problem = nil, "cannot make it readable by its owner only"
  end
  if ok then
    ok, problem = file:write(text)
  end
  local closed, close_problem = file:close()
  if ok and not closed then
    ok, problem = nil, close_problem
  end
  return ok, problem
end

--- Writes `text` to `path` through a file beside it that is renamed over `path`
--- once complete: readers see the old file or the whole new one, and a failure
--- leaves nothing behind. `private`: the file is readable by its owner only
--- before `text` goes in. Returns true, or nil and a message.
function fs.write(path, text, private)
  local temp = fs.unused_sibling(path, ".tmp")
  local ok, reason = write_new(temp, text, private)
  if ok then
    ok, reason = fs.rename(temp, path)
  end
  if not ok then
    os_remove(temp)
    return nil, "cannot write " .. path .. ": " .. reason
  end
  return true
end

--- Renames `from` to `to`; true, or nil and why not (without a file name).
function fs.rename(from, to)
  local ok, message = os_rename(from, to)
  if ok then
    return true
  end
  return nil, reason_only(message, from)
end

--- Makes `path` and the folders above it; true, or nil and a message.
function fs.mkdir(path)
  if run_on("mkdir -p", path) then
    return true
  end
  return nil, "cannot create the folder " .. path
end

--- `dir` and `name` joined with one slash.
function fs.join(dir, name)
  if dir:sub(-1) == "/" then
    return dir .. name
  end
  return dir .. "/" .. name
end

return fs
