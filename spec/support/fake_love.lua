-- A stand-in for the parts of LÖVE's `love` table that qtforge.love touches,
-- for in-process specs: a love.graphics that keeps a stack (push/pop, with
-- "all" saving the colour), records what is drawn and printed, and a
-- love.filesystem whose source folder a spec chooses.
local unpack = table.unpack or unpack

local fake_love = {}

local function graphics()
  local g = { stack = {}, color = { 1, 1, 1, 1 }, ops = {}, printed = {}, active = true }

  local function note(op)
    g.ops[#g.ops + 1] = op
  end

  function g.push(kind)
    kind = kind or "transform"
    g.stack[#g.stack + 1] = { kind = kind, color = { unpack(g.color) } }
    note("push:" .. kind)
  end

  function g.pop()
    local top = table.remove(g.stack)
    if top == nil then
      -- what LÖVE raises on a pop without a push
      error("Minimum stack depth reached (more pops than pushes?)", 2)
    end
    if top.kind == "all" then
      g.color = top.color
    end
    note("pop")
  end

  function g.getStackDepth()
    return #g.stack
  end

  function g.setColor(r, green, b, a)
    g.color = { r, green, b, a or 1 }
  end

  function g.getColor()
    return unpack(g.color)
  end

  function g.origin()
    note("origin")
  end

  function g.getFont()
    return {
      getHeight = function()
        return 14
      end,
    }
  end

  function g.getWidth()
    return 800
  end

  function g.rectangle(mode)
    note("rectangle:" .. tostring(mode))
  end

  function g.print(text, x, y)
    g.printed[#g.printed + 1] = { text = text, x = x, y = y }
    note("print")
  end

  function g.isActive()
    return g.active
  end

  return g
end

--- A fresh `love` table. `opts.graphics = false` leaves love.graphics out (a
--- headless run); `opts.source`, `opts.fused` and `opts.base` make a
--- love.filesystem whose getSource(), isFused() and getSourceBaseDirectory()
--- answer them. The game's callbacks are the spec's to set.
function fake_love.new(opts)
  opts = opts or {}
  local lv = {}
  if opts.graphics ~= false then
    lv.graphics = graphics()
  end
  if opts.source ~= nil then
    lv.filesystem = {
      getSource = function()
        return opts.source
      end,
      isFused = function()
        return opts.fused == true
      end,
      getSourceBaseDirectory = function()
        return opts.base
      end,
    }
  end
  return lv
end

return fake_love
