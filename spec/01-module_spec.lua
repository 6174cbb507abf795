-- The `qtforge` table itself: metadata, submodule entry points, one table per state.
local qtforge = require("qtforge")

describe("require('qtforge')", function()
  it("carries the version and module metadata", function()
    assert.are.equal("string", type(qtforge.version))
    assert.truthy(qtforge.version:match("^%d+%.%d+%.%d+"))
    assert.are.equal("qtforge " .. qtforge.version, qtforge._VERSION)
    assert.are.equal("MIT", qtforge._LICENSE)
    assert.are.equal("string", type(qtforge._DESCRIPTION))
  end)

  it("says which Lua it was built for, matching the interpreter", function()
    if jit then
      assert.are.equal("luajit", qtforge.lua_flavor)
    else
      assert.are.equal("lua54", qtforge.lua_flavor)
    end
  end)

  it("returns the same table every time", function()
    assert.are.equal(qtforge, require("qtforge"))
    package.loaded.qtforge = nil
    assert.are.equal(qtforge, require("qtforge"))
  end)

  it("offers each submodule as its own module, the same table as the field", function()
    for _, name in ipairs({ "utils", "core", "communication", "managers", "security", "monitoring", "transactions",
      "orchestration" }) do
      package.loaded["qtforge." .. name] = nil
      assert.are.equal(qtforge[name], require("qtforge." .. name), name)
    end
  end)

  it("the version is a valid Version", function()
    local v = qtforge.utils.Version.parse(qtforge.version)
    assert.are.equal(qtforge.version, v:to_string())
  end)
end)
