-- expect: runtime
-- why: load (and so binary chunks) is not in the sandbox
local f = load("\27Lua\84\0\25\147\13\10\26\10", "x", "b")
return function(W) return W end
