-- The few file operations the CLI needs beyond io.open. Plain Lua cannot make
-- a folder or tell one from a file, and qtforge offers neither, so folders are
-- made by `mkdir -p`, once per command, never in a loop.
local io_open, os_execute, os_rename = io.open, os.execute, os.rename

local fs = {}

-- errno of reading a folder as a file on POSIX systems
local EISDIR = 21

--- `text` as one word for /bin/sh.
function fs.quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
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
  local text = file:read("*a")
  file:close()
  return text
end

--- Writes `text` to `path`; true, or nil and a message.
function fs.write(path, text)
  local file, message = io_open(path, "wb")
  if file == nil then
    return nil, message
  end
  local ok, write_message = file:write(text)
  file:close()
  if not ok then
    return nil, write_message
  end
  return true
end

--- Makes `path` and the folders above it; true, or nil and a message.
function fs.mkdir(path)
  local ok = os_execute("mkdir -p " .. fs.quote(path) .. " 2>/dev/null")
  -- Lua 5.4 returns true or nil, LuaJIT the exit status
  if ok == true or ok == 0 then
    return true
  end
  return nil, "cannot create the folder " .. path
end

--- Makes `path` readable and writable by its owner only; true, or nil and a message.
function fs.private(path)
  local ok = os_execute("chmod 600 " .. fs.quote(path) .. " 2>/dev/null")
  if ok == true or ok == 0 then
    return true
  end
  return nil, "cannot restrict the permissions of " .. path
end

--- `dir` and `name` joined with one slash.
function fs.join(dir, name)
  if dir:sub(-1) == "/" then
    return dir .. name
  end
  return dir .. "/" .. name
end

return fs
