-- expect: runtime
-- why: unpacking 10^8 values is refused
local t = { table.unpack({}, 1, 1e8) }
return function(W) return W end
