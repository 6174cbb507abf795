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
    assert.is_nil(result.source)
  end)

  it("validates a plugin whose files match its [integrity]", function()
    seal()
    local result = PluginValidator.validate(dir)
    assert.is_true(result.success, tostring(result.error))
    assert.is_true(result.integrity)
    assert.are.equal(2, result.files)
    assert.are.equal("manifest", result.source)
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

  it("leaves plugin.sig out of the files [integrity] must list", function()
    seal()
    fs.write(dir .. "/plugin.sig", "anything\n")
    assert.is_nil(assert(PluginValidator.hash_files(dir))["plugin.sig"])
    local result = PluginValidator.validate(dir)
    assert.is_true(result.success, tostring(result.error))
    assert.are.equal(2, result.files)
  end)

  describe("with a qtforge.lock", function()
    local lock_path

    before_each(function()
      lock_path = root .. "/qtforge.lock"
      plugins.folder(root, "other", {})
    end)

    it("writes the hashes of every plugin folder in the directory", function()
      fs.mkdir(root .. "/not_a_plugin")
      local result = PluginValidator.lock(root)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal(lock_path, result.path)
      assert.are.equal(2, result.plugins)
      local text = assert(fs.read(lock_path))
      plugins.contains(text, "# qtforge.lock: written by PluginValidator.lock; do not edit", "version = 1",
        "[plugins.signed]", 'version = "1.0.0"', "[plugins.signed.files]", '"lib/util.lua" = "sha256:',
        '"plugin.toml" = "sha256:', "[plugins.other.files]")
      assert.is_nil(text:find("not_a_plugin", 1, true))
    end)

    it("validates a plugin without [integrity] against the lock, its manifest included", function()
      assert.is_true(PluginValidator.lock(root).success)
      local result = PluginValidator.validate(dir)
      assert.is_true(result.success, tostring(result.error))
      assert.is_true(result.integrity)
      assert.are.equal("lock", result.source)
      assert.are.equal(3, result.files)
      -- a path to the manifest finds the same lock
      assert.are.equal("lock", PluginValidator.validate(dir .. "/plugin.toml").source)
    end)

    it("names every file changed, added or removed since the lock", function()
      assert.is_true(PluginValidator.lock(root).success)
      fs.write(dir .. "/lib/util.lua", "os.execute('rm -rf /')\n")
      fs.write(dir .. "/extra.lua", "return 3\n")
      os.remove(dir .. "/init.lua")
      fs.write(dir .. "/main.lua", "return {}\n")
      fs.write(dir .. "/plugin.toml", fs.manifest("signed", "1.0.0", 'entry = "main.lua"\n'))
      local err = plugins.failed(PluginValidator.validate(dir), "integrity_mismatch")
      plugins.contains(err.message, 'the files of plugin "signed" are not the ones ', "qtforge.lock lists")
      plugins.contains(err.details, "lib/util.lua: expected sha256:", "plugin.toml: expected sha256:",
        "init.lua: listed, but missing", "extra.lua: not listed in qtforge.lock",
        "main.lua: not listed in qtforge.lock")
    end)

    it("lets [integrity] take precedence over the lock", function()
      assert.is_true(PluginValidator.lock(root).success)
      seal() -- rewrites plugin.toml: the lock no longer matches it
      local result = PluginValidator.validate(dir)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("manifest", result.source)
      assert.are.equal(2, result.files)
    end)

    it("leaves plugin.sig out of what it lists and checks", function()
      fs.write(dir .. "/plugin.sig", "signed before the lock\n")
      assert.is_true(PluginValidator.lock(root).success)
      assert.is_nil(fs.read(lock_path):find("plugin.sig", 1, true))
      fs.write(dir .. "/plugin.sig", "signed again after it\n")
      local result = PluginValidator.validate(dir)
      assert.is_true(result.success, tostring(result.error))
      assert.are.equal("lock", result.source)
    end)

    it("checks nothing for a folder the lock does not list", function()
      assert.is_true(PluginValidator.lock(root).success)
      local late = plugins.folder(root, "late", {})
      local result = PluginValidator.validate(late)
      assert.is_true(result.success, tostring(result.error))
      assert.is_false(result.integrity)
      assert.is_nil(result.source)
    end)

    it("answers parse_error, naming the lock and the line, for a lock that does not read", function()
      fs.write(lock_path, "version = 1\n[plugins.signed]\nversion = \"1.0.0\"\n[plugins.signed.files]\n"
        .. '"init.lua" = "md5:00"\n')
      local err = plugins.failed(PluginValidator.validate(dir), "parse_error")
      plugins.contains(err.message, lock_path, "line 5")
      plugins.contains(err.details, 'plugins.signed.files.init.lua: "md5:00" is not "sha256:"')
      fs.write(lock_path, "version = 7\n")
      err = plugins.failed(PluginValidator.validate(dir), "parse_error")
      plugins.contains(err.details, "lock format version 7 is not supported")
    end)

    it("writes no lock when a plugin's manifest does not read", function()
      fs.write(root .. "/other/plugin.toml", 'name = "other"\n')
      local err = plugins.failed(PluginValidator.lock(root), "invalid_manifest")
      plugins.contains(err.details, "version")
      assert.is_nil(fs.read(lock_path))
    end)

    it("answers io_error for a directory that is not there, and raises on a non-string dir", function()
      plugins.failed(PluginValidator.lock(root .. "/nothing"), "io_error")
      local ok, message = pcall(function()
        PluginValidator.lock({ root })
      end)
      assert.is_false(ok)
      plugins.contains(message, "PluginValidator.lock: argument 'dir' must be a path string, got table")
      assert.truthy(message:find("50%-security_integrity_spec%.lua:%d+:"), message)
    end)
  end)
end)
