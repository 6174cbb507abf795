-- qtforge new NAME [--dir DIR]: a plugin folder to start from.
local ipairs, pcall, tostring = ipairs, pcall, tostring
local os_remove = os.remove

local qtforge = require("qtforge")
local fs = require("qtforge.cli.fs")
local templates = require("qtforge.cli.templates")

local new = {
  synopsis = "new NAME [--dir DIR]",
  summary = "create a plugin folder from a template",
  positional = { 1, 1, name = "NAME" },
  options = { ["--dir"] = "value" },
  help = [[
Creates the folder DIR/NAME (DIR defaults to the current folder, and is made
when missing) holding a plugin that loads and works as it is:

  plugin.toml            its manifest: id NAME, version 0.1.0, its capabilities
  init.lua               on_load, on_start and an export `execute`, using ctx.log and ctx.bus
  spec/NAME_spec.lua     a busted spec that loads it with a PluginManager and calls execute
  README.md

NAME is the plugin id: lower-case letters, digits, '_', '.', '-', starting with
a letter or digit, at most 64 characters. Exit status 1 when NAME is not a
plugin id, DIR/NAME exists, or a file cannot be written (nothing is left
behind: the files go to a hidden folder first, renamed to DIR/NAME at the end).]],
}

-- The files of a new plugin, by path inside its folder.
local function files(name)
  return {
    { "plugin.toml", templates.MANIFEST },
    { "init.lua", templates.ENTRY },
    { "spec/" .. name .. "_spec.lua", templates.SPEC },
    { "README.md", templates.README },
  }
end

-- Whether qtforge takes `name` as a plugin id: asked of the resolver, which
-- checks ids as a load does, so the rule lives in one place.
local function id_problem(name)
  local resolver = qtforge.core.PluginDependencyResolver()
  local ok, message = pcall(resolver.add, resolver, { id = name, version = "0.1.0" })
  if ok then
    return nil
  end
  return tostring(message):match('(".*" is not a plugin id)') or tostring(message)
end

-- Removes what write_files wrote into `staging`, and `staging` itself.
local function remove_staged(staging, written)
  for i = #written, 1, -1 do
    os_remove(staging .. "/" .. written[i])
  end
  os_remove(staging .. "/spec")
  os_remove(staging)
end

-- Writes the files of plugin `name` into the new folder `staging`; the paths
-- written (inside it), or nil and the problem, leaving nothing behind.
local function write_files(staging, name)
  local made, message = fs.mkdir(staging .. "/spec")
  if not made then
    return nil, message
  end
  local written = {}
  for _, file in ipairs(files(name)) do
    local ok, problem = fs.write(staging .. "/" .. file[1], templates.render(file[2], name))
    if not ok then
      remove_staged(staging, written)
      return nil, problem
    end
    written[#written + 1] = file[1]
  end
  return written
end

-- The plugin is written in a hidden folder beside DIR/NAME, then renamed to
-- it: a failure half-way leaves no half-made plugin behind.
local function create(dir, root, name)
  local staging = fs.unused_sibling(fs.join(dir, "." .. name), ".new")
  local written, problem = write_files(staging, name)
  if not written then
    return nil, problem
  end
  local renamed, reason = fs.rename(staging, root)
  if not renamed then
    remove_staged(staging, written)
    return nil, "cannot create " .. root .. ": " .. reason
  end
  return written
end

function new.run(out, opts, words)
  local name = words[1]
  local problem = id_problem(name)
  if problem then
    out:error(problem .. " (lower-case letters, digits, '_', '.', '-', starting with a letter or digit;"
      .. " at most 64)")
    return 1
  end
  local dir = opts["--dir"] or "."
  local root = fs.join(dir, name)
  if fs.exists(root) then
    out:error(root .. " exists; not touching it")
    return 1
  end
  local written, create_problem = create(dir, root, name)
  if not written then
    out:error(create_problem)
    return 1
  end
  for _, file in ipairs(written) do
    out:line("created " .. root .. "/" .. file)
  end
  return 0
end

return new
