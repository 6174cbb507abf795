-- PluginValidator: a plugin's files against the hashes its manifest lists.
local qtforge = require("qtforge")
local fs = require("support.fs")
local plugins = require("support.plugins")

local PluginValidator = qtforge.security.PluginValidator

-- writes plugin.toml with an [integrity] table of `hashes` (file -> hash)
local function with_integrity(dir, name, hashes)
  local lines = { fs.manifest(name, "1.0.0"), "[integrity]\n" }
  local files = {}
  for file in pairs(hashes) do
    files[#files + 1] = file
  end
  table.sort(files)
  for _, file in ipairs(files) do
    lines[#lines + 1] = string.format("%q = %q\n", file, hashes[file])
  end
  fs.write(dir .. "/plugin.toml", table.concat(lines))
end

describe("PluginValidator", function()
  local root, dir

  before_each(function()
    root = fs.temp_dir()
    dir = plugins.folder(root, "signed", {
      source = "return { exports = { f = function() return 1 end } }\n",
      files = { ["lib/util.lua"] = "return 2\n" },
    })
  end)

  after_each(function()
    fs.remove(root)
  end)

  local function seal()
    local hashes = assert(PluginValidator.hash_files(dir))
    hashes["plugin.toml"] = nil
    with_integrity(dir, "signed", hashes)
    return hashes
  end

  it("hashes every file of a folder with sha256", function()
    local hashes = assert(PluginValidator.hash_files(dir))
    assert.are.same({ "init.lua", "lib/util.lua", "plugin.toml" }, (function()
      local names = {}
      for name, hash in pairs(hashes) do
        names[#names + 1] = name
        assert.truthy(hash:match("^sha256:%x+$"))
        assert.are.equal(7 + 64, #hash)
      end
      table.sort(names)
      return names
    end)())
  end)

  it("validates a plugin without [integrity], saying no hashes were checked", function()
    local result = PluginValidator.validate(dir)
    assert.is_true(result.success)
    assert.are.equal("signed", result.plugin_id)
    assert.is_false(result.integrity)
  end)

  it("validates a plugin whose files match its [integrity]", function()
    seal()
    local result = PluginValidator.validate(dir)
    assert.is_true(result.success, tostring(result.error))
    assert.is_true(result.integrity)
    assert.are.equal(2, result.files)
  end)

  it("names a changed file", function()
    seal()
    fs.write(dir .. "/lib/util.lua", "os.execute('rm -rf /')\n")
    local err = plugins.failed(PluginValidator.validate(dir), "integrity_mismatch")
    plugins.contains(err.details, "lib/util.lua: expected sha256:")
    assert.are.equal('the files of plugin "signed" are not the ones its [integrity] lists', err.message)
  end)

  it("names an added file and a missing one", function()
    seal()
    fs.write(dir .. "/extra.lua", "return 3\n")
    os.remove(dir .. "/lib/util.lua")
    local err = plugins.failed(PluginValidator.validate(dir), "integrity_mismatch")
    plugins.contains(err.details, "extra.lua: not listed in [integrity]", "lib/util.lua: listed, but missing")
  end)

  it("refuses hashes in the wrong form and paths outside the folder as manifest errors", function()
    with_integrity(dir, "signed", { ["init.lua"] = "md5:abc" })
    local err = plugins.failed(PluginValidator.validate(dir), "invalid_manifest")
    plugins.contains(err.details, "integrity.init.lua", "sha256:")
    with_integrity(dir, "signed", { ["../escape.lua"] = "sha256:" .. string.rep("0", 64) })
    err = plugins.failed(PluginValidator.validate(dir), "invalid_manifest")
    plugins.contains(err.details, "not a path inside the plugin's folder")
  end)

  it("answers not_found for a path with no plugin, and raises on a non-string path", function()
    plugins.failed(PluginValidator.validate(root .. "/nothing"), "not_found")
    local hashes, err = PluginValidator.hash_files(root .. "/nothing")
    assert.is_nil(hashes)
    assert.are.equal("io_error", err.code)
    local ok, message = pcall(PluginValidator.validate, 42)
    assert.is_false(ok)
    plugins.contains(message, "PluginValidator.validate: argument 'path' must be a path string, got number")
  end)
end)
