-- A single-file plugin: its manifest travels in the table it returns.
local entries = {}
local keep = 5

return {
  manifest = {
    name = "logbook",
    version = "1.0.0",
    description = "Keeps the last lines other plugins write",
    exports = { "write", "lines" },
    config = { keep = 5 },
    capabilities = { "config:read" }, -- ctx.config; a sandboxed plugin gets what it declares
  },

  on_load = function(ctx)
    keep = ctx.config.keep
  end,

  on_configure = function(config)
    if config.keep < 1 then
      error("keep must be at least 1")
    end
    keep = config.keep
  end,

  exports = {
    write = function(line)
      entries[#entries + 1] = line
      if #entries > keep then
        table.remove(entries, 1)
      end
    end,
    lines = function()
      return entries
    end,
  },
}
