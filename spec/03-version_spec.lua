-- qtforge.utils.Version: semantic versions, precedence and ranges.
local qtforge = require("qtforge")
local Version = qtforge.utils.Version

describe("Version", function()
  describe("construction", function()
    it("builds from numbers, defaulting minor and patch to 0", function()
      local v = Version(1, 2, 3)
      assert.are.equal(1, v:major())
      assert.are.equal(2, v:minor())
      assert.are.equal(3, v:patch())
      assert.are.equal("1.0.0", Version(1):to_string())
      assert.are.equal("1.4.0", Version.new(1, 4):to_string())
    end)

    it("takes prerelease and build tags", function()
      local v = Version(1, 2, 3, "rc.1", "build.5")
      assert.are.equal("rc.1", v:prerelease())
      assert.are.equal("build.5", v:build())
      assert.are.equal("1.2.3-rc.1+build.5", v:to_string())
      assert.is_true(v:is_prerelease())
    end)

    it("answers nil for absent tags", function()
      local v = Version(1, 2, 3)
      assert.is_nil(v:prerelease())
      assert.is_nil(v:build())
      assert.is_false(v:is_prerelease())
    end)

    it("parses when given a single string", function()
      assert.are.equal(Version.parse("2.0.1-beta"), Version("2.0.1-beta"))
    end)

    it("accepts the largest component a Lua number holds exactly", function()
      assert.are.equal("9007199254740991.0.0", Version(2 ^ 53 - 1):to_string())
    end)
  end)

  describe("parse", function()
    local cases = {
      { "0.0.0", 0, 0, 0, nil, nil },
      { "1.2.3", 1, 2, 3, nil, nil },
      { "1.2.3-rc.1", 1, 2, 3, "rc.1", nil },
      { "1.2.3+build.5", 1, 2, 3, nil, "build.5" },
      { "10.20.30-alpha.beta.1+exp.sha.5114f85", 10, 20, 30, "alpha.beta.1", "exp.sha.5114f85" },
      { "  4.5.6  ", 4, 5, 6, nil, nil },
    }
    for _, case in ipairs(cases) do
      it("reads " .. string.format("%q", case[1]), function()
        local v = Version.parse(case[1])
        assert.are.same(
          { case[2], case[3], case[4], case[5], case[6] },
          { v:major(), v:minor(), v:patch(), v:prerelease(), v:build() }
        )
      end)
    end

    it("round-trips through to_string and tostring", function()
      for _, text in ipairs({ "1.2.3", "1.2.3-rc.1", "1.2.3+b", "1.2.3-x.7.z.92+meta" }) do
        assert.are.equal(text, Version.parse(text):to_string())
        assert.are.equal(text, tostring(Version.parse(text)))
      end
    end)

    it("concatenates into strings", function()
      assert.are.equal("v1.2.3", "v" .. Version(1, 2, 3))
      assert.are.equal("1.2.3!", Version(1, 2, 3) .. "!")
    end)
  end)

  describe("comparison", function()
    local ordered = {
      "0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
      "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0",
    }

    it("follows semver precedence with <, <=, > and >=", function()
      for i = 1, #ordered do
        for j = 1, #ordered do
          local a, b = Version.parse(ordered[i]), Version.parse(ordered[j])
          assert.are.equal(i < j, a < b, ordered[i] .. " < " .. ordered[j])
          assert.are.equal(i <= j, a <= b, ordered[i] .. " <= " .. ordered[j])
          assert.are.equal(i > j, a > b, ordered[i] .. " > " .. ordered[j])
          assert.are.equal(i >= j, a >= b, ordered[i] .. " >= " .. ordered[j])
        end
      end
    end)

    it("compares numerically, not as text", function()
      assert.is_true(Version(1, 9, 0) < Version(1, 10, 0))
      assert.is_true(Version(2) < Version(10))
    end)

    it("sorts a list with table.sort", function()
      local list = {}
      for i = #ordered, 1, -1 do
        list[#list + 1] = Version.parse(ordered[i])
      end
      table.sort(list)
      for i, v in ipairs(list) do
        assert.are.equal(ordered[i], v:to_string())
      end
    end)

    it("== compares every part, build metadata included", function()
      assert.is_true(Version(1, 2, 3) == Version.parse("1.2.3"))
      assert.is_true(Version(1, 2, 3, "rc.1") == Version.parse("1.2.3-rc.1"))
      assert.is_false(Version(1, 2, 3) == Version(1, 2, 4))
      assert.is_false(Version.parse("1.0.0+a") == Version.parse("1.0.0+b"))
    end)

    it("ignores build metadata for precedence", function()
      local a, b = Version.parse("1.0.0+a"), Version.parse("1.0.0+b")
      assert.is_false(a < b)
      assert.is_false(b < a)
      assert.is_true(a <= b and b <= a)
      assert.are.equal(0, a:compare(b))
    end)

    it("compare gives -1, 0 or 1 and takes strings", function()
      assert.are.equal(-1, Version(1, 2, 3):compare("1.2.4"))
      assert.are.equal(0, Version(1, 2, 3):compare(Version(1, 2, 3)))
      assert.are.equal(1, Version.compare("2.0.0", "1.99.99"))
      assert.are.equal(-1, Version.compare("1.0.0-rc.1", "1.0.0"))
    end)

    if not jit then
      it("under Lua 5.4, compares with a version string on either side", function()
        assert.is_true(Version(1, 2, 3) < "1.3.0")
        assert.is_true("1.0.0" <= Version(1, 0, 0))
      end)
    end
  end)

  describe("satisfies", function()
    local cases = {
      { "1.2.3", "^1.2", true },
      { "1.9.9", "^1.2", true },
      { "2.0.0", "^1.2", false },
      { "1.1.0", "^1.2", false },
      { "0.2.5", "^0.2", true },
      { "0.3.0", "^0.2", false },
      { "1.2.9", "~1.2.3", true },
      { "1.3.0", "~1.2.3", false },
      { "1.5.0", ">=1.0, <2.0", true },
      { "2.0.0", ">=1.0, <2.0", false },
      { "1.2.3", "=1.2.3", true },
      { "3.0.0", "*", true },
      { "1.3.0-rc.1", "^1.2", false },
      { "1.3.0-rc.2", ">=1.3.0-rc.1", true },
    }
    for _, case in ipairs(cases) do
      it(string.format("%s in %q is %s", case[1], case[2], tostring(case[3])), function()
        assert.are.equal(case[3], Version.parse(case[1]):satisfies(case[2]))
      end)
    end
  end)

  describe("is_compatible_with", function()
    it("needs the same major and a minor at least as high", function()
      local v = Version(1, 4, 0)
      assert.is_true(v:is_compatible_with(Version(1, 2, 0)))
      assert.is_true(v:is_compatible_with(Version(1, 4, 9)))
      assert.is_true(v:is_compatible_with("1.0.0"))
      assert.is_false(v:is_compatible_with(Version(1, 5, 0)))
      assert.is_false(v:is_compatible_with(Version(2, 0, 0)))
      assert.is_false(v:is_compatible_with(Version(0, 4, 0)))
    end)
  end)

  describe("is", function()
    it("tells versions from other values", function()
      assert.is_true(Version.is(Version(1)))
      assert.is_false(Version.is("1.0.0"))
      assert.is_false(Version.is({ _major = 1 }))
    end)
  end)

  describe("with bad input", function()
    it("parse names the function and the input", function()
      assert.has_error(function()
        Version.parse("x.y")
      end, 'Version.parse: "x.y" is not a semantic version '
        .. "(unexpected character 'x' while parsing major version number)")
    end)

    it("parse rejects every malformed form", function()
      local malformed = { "", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3+", "v1.2.3", "1.2.3-rc..1", "a.b.c" }
      for _, bad in ipairs(malformed) do
        local ok, message = pcall(Version.parse, bad)
        assert.is_false(ok, bad)
        assert.truthy(message:find("Version.parse: " .. string.format("%q", bad), 1, true), message)
      end
    end)

    it("parse rejects components a Lua number cannot hold exactly", function()
      assert.has_error(function()
        Version.parse("9007199254740992.0.0")
      end, 'Version.parse: "9007199254740992.0.0" is not a semantic version '
        .. "(major version number is larger than 2^53 - 1)")
    end)

    it("parse rejects non-strings", function()
      assert.has_error(function()
        Version.parse(nil)
      end, "Version.parse: expected a version string, got nil")
      assert.has_error(function()
        Version.parse(123)
      end, "Version.parse: expected a version string, got number")
    end)

    it("the constructor rejects negative, fractional and non-numeric parts", function()
      assert.has_error(function()
        Version(-1)
      end, "Version: argument #1 (major) must be an integer from 0 to 2^53 - 1, got -1")
      assert.has_error(function()
        Version(1, 2.5)
      end, "Version: argument #2 (minor) must be an integer from 0 to 2^53 - 1, got 2.5")
      assert.has_error(function()
        Version(1, 2, "3")
      end, 'Version: argument #3 (patch) must be an integer from 0 to 2^53 - 1, got "3"')
      assert.has_error(function()
        Version({})
      end)
    end)

    it("the constructor rejects NaN, infinity and values past 2^53", function()
      for _, bad in ipairs({ 0 / 0, math.huge, -math.huge, 2 ^ 53 }) do
        local ok, message = pcall(Version, bad)
        assert.is_false(ok)
        assert.truthy(message:find("Version: argument #1 (major)", 1, true), message)
      end
    end)

    it("the constructor rejects malformed tags", function()
      assert.has_error(function()
        Version(1, 0, 0, "rc..1")
      end)
      assert.has_error(function()
        Version(1, 0, 0, nil, "a b")
      end)
      assert.has_error(function()
        Version(1, 0, 0, 7)
      end, "Version: prerelease tag must be a string, got number")
    end)

    it("satisfies rejects a malformed range, naming it", function()
      local ok, message = pcall(Version(1, 0, 0).satisfies, Version(1, 0, 0), ">>1")
      assert.is_false(ok)
      assert.truthy(message:find('Version:satisfies: ">>1" is not a version range', 1, true), message)
      assert.has_error(function()
        Version(1):satisfies(nil)
      end, 'Version:satisfies: expected a range string such as "^1.2", got nil')
    end)

    it("methods called with . instead of : say so", function()
      assert.has_error(function()
        Version(1).major()
      end, "Version:major: call it with ':' on a Version, got nil")
      assert.has_error(function()
        Version(1).satisfies("^1")
      end, "Version:satisfies: call it with ':' on a Version, got \"^1\"")
    end)

    it("comparing with something that is not a version is an error", function()
      assert.has_error(function()
        Version(1):compare(42)
      end, "Version:compare: expected a Version or a version string, got 42")
      assert.has_error(function()
        Version(1):is_compatible_with("nope")
      end)
    end)

    it("leaves existing versions untouched after a failed call", function()
      local v = Version(1, 2, 3)
      pcall(v.satisfies, v, ">>")
      pcall(v.compare, v, {})
      assert.are.equal("1.2.3", v:to_string())
      assert.is_true(v:satisfies("^1"))
    end)
  end)
end)

describe("Version components", function()
  it("are integers even when given as floats", function()
    local v = Version(1.0, 2.0, 3.0)
    assert.are.equal("1.2.3", v:to_string())
    if math.type then
      assert.are.equal("integer", math.type(v:major()))
      assert.are.equal("integer", math.type(Version.parse("1.2.3"):patch()))
    end
  end)
end)
