-- expect: runtime
-- why: __gc is not reachable through the tensor's method table; calling it twice must not double free
local t = T.zeros(2, 2)
local gc = t.__gc
gc(t)
gc(t)
return function(W) return W end
