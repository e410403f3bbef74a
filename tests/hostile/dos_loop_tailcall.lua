-- expect: limit
-- why: endless tail calls use no stack: instruction limit
local function f(n) return f(n + 1) end
return function(W) return f(1) end
