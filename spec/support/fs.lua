-- Real files for specs: a fresh temp folder per use, plugin folders written
-- from tables, everything removed afterwards.
local fs = {}

local function shell_quote(path)
  return "'" .. path:gsub("'", "'\\''") .. "'"
end

local function run(command)
  local ok = os.execute(command)
  -- Lua 5.4 returns true/nil, LuaJIT returns the exit status
  return ok == true or ok == 0
end

--- A new empty folder under the system temp dir.
function fs.temp_dir()
  local base = os.tmpname()
  os.remove(base)
  assert(run("mkdir -p " .. shell_quote(base)), "cannot create " .. base)
  return base
end

function fs.remove(path)
  run("rm -rf " .. shell_quote(path))
end

function fs.mkdir(path)
  assert(run("mkdir -p " .. shell_quote(path)), "cannot create " .. path)
end

--- Writes `text` to `path`, creating parent folders.
function fs.write(path, text)
  local dir = path:match("^(.*)/[^/]*$")
  if dir then
    fs.mkdir(dir)
  end
  local file = assert(io.open(path, "wb"))
  file:write(text)
  file:close()
  return path
end

function fs.read(path)
  local file = io.open(path, "rb")
  if not file then
    return nil
  end
  local text = file:read("*a")
  file:close()
  return text
end

--- Writes a plugin folder: `files` maps relative paths to contents.
function fs.plugin(root, name, files)
  local dir = root .. "/" .. name
  for rel, text in pairs(files) do
    fs.write(dir .. "/" .. rel, text)
  end
  return dir
end

--- A plugin.toml for `name` with optional extra lines.
function fs.manifest(name, version, extra)
  return string.format('name = "%s"\nversion = "%s"\napi-version = "1.0"\n%s', name, version or "1.0.0", extra or "")
end

return fs
