-- expect: runtime
-- why: collectgarbage is not in the sandbox
collectgarbage("stop")
local t = {}
for i = 1, 1e7 do t[i] = {} end
return function(W) return W end
