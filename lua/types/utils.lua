---@meta qtforge.utils

---@class qtforge.utils
---@field Version qtforge.VersionClass
local utils = {}

---Seconds since a fixed moment, from a monotonic clock (never jumps with the system time).
---@return number
function utils.monotonic() end

---Blocks the thread for `seconds` (for plain Lua scripts; in OpenResty use ngx.sleep, in LÖVE love.timer.sleep).
---@param seconds number
function utils.sleep(seconds) end

---A semantic version (semver 2.0). Immutable.
---`<` and `<=` follow semver precedence (build metadata ignored); `==` compares every
---part. Under Lua 5.4 either side of `<`/`<=` may also be a version string.
---@class qtforge.Version
---@operator concat(string): string
local Version = {}

---@return integer
function Version:major() end

---@return integer
function Version:minor() end

---@return integer
function Version:patch() end

---The prerelease tag (`"rc.1"`), or nil for a release.
---@return string?
function Version:prerelease() end

---The build metadata (`"build.5"`), or nil when there is none.
---@return string?
function Version:build() end

---@return boolean
function Version:is_prerelease() end

---The canonical text, such as `"1.2.3-rc.1+build.5"`; also `tostring(v)`.
---@return string
function Version:to_string() end

---Semver precedence against `other`: -1, 0 or 1.
---@param other qtforge.Version|string
---@return -1|0|1
function Version:compare(other) end

---Whether the version lies in `range`: `"^1.2"`, `"~1.2.3"`, `">=1.0, <2.0"`, `"=1.2.3"`, `"*"`.
---A prerelease matches only a range naming a prerelease of the same major.minor.patch.
---@param range string
---@return boolean
function Version:satisfies(range) end

---Whether code written against `other` works with this version: same major, minor not lower.
---@param other qtforge.Version|string
---@return boolean
function Version:is_compatible_with(other) end

---@class qtforge.VersionClass
---@overload fun(major: integer, minor?: integer, patch?: integer, prerelease?: string, build?: string): qtforge.Version
---@overload fun(text: string): qtforge.Version
local VersionClass = {}

---@param major integer
---@param minor? integer defaults to 0
---@param patch? integer defaults to 0
---@param prerelease? string such as `"rc.1"`
---@param build? string such as `"build.5"`
---@return qtforge.Version
function VersionClass.new(major, minor, patch, prerelease, build) end

---Parses `"1.2.3"`, `"1.2.3-rc.1"`, `"1.2.3-rc.1+build.5"`; raises on anything else.
---@param text string
---@return qtforge.Version
function VersionClass.parse(text) end

---Whether `value` is a Version.
---@param value any
---@return boolean
function VersionClass.is(value) end

---Semver precedence of two versions or version strings: -1, 0 or 1.
---@param a qtforge.Version|string
---@param b qtforge.Version|string
---@return -1|0|1
function VersionClass.compare(a, b) end

return utils
