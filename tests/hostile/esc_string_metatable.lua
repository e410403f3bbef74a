-- expect: runtime
-- why: getmetatable is not in the sandbox
local mt = getmetatable("")
mt.__index = { evil = true }
return function(W) return W end
