-- qtforge new NAME [--dir DIR]: a plugin folder to start from.
local ipairs, pcall, tostring = ipairs, pcall, tostring

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
plugin id or DIR/NAME exists.]],
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

function new.run(out, opts, words)
  local name = words[1]
  local problem = id_problem(name)
  if problem then
    out:error(problem .. " (lower-case letters, digits, '_', '.', '-', starting with a letter or digit;"
      .. " at most 64)")
    return 1
  end
  local root = fs.join(opts["--dir"] or ".", name)
  if fs.exists(root) then
    out:error(root .. " exists; not touching it")
    return 1
  end
  local made, message = fs.mkdir(root .. "/spec")
  if not made then
    out:error(message)
    return 1
  end
  for _, file in ipairs(files(name)) do
    local path = root .. "/" .. file[1]
    local ok, write_problem = fs.write(path, templates.render(file[2], name))
    if not ok then
      out:error(write_problem)
      return 1
    end
    out:line("created " .. path)
  end
  return 0
end

return new
