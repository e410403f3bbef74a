-- expect: runtime
-- why: replacing _ENV cannot bring back removed globals
local _ENV = setmetatable({}, { __index = _ENV })
return function(W) return W end
