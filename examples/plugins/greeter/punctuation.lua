-- A module of the greeter's own, loaded with ctx.require("punctuation").
return { mark = "!" }
