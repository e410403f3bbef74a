-- expect: runtime
-- why: require (and with it package.loadlib and C modules) is absent.
return function(layers, target, info)
  local io2 = require("io")
  io2.open("pwned", "w")
end
