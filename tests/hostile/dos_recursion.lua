-- expect: runtime
-- why: unbounded non-tail recursion: Lua's own stack limit (1M slots, within the heap limit) raises 'stack overflow'
local function f(n) return 1 + f(n + 1) end
return function(W) return W * f(1) end
