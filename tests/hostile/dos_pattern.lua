-- expect: runtime
-- why: pattern functions (find/match/gmatch/gsub) are left out: they backtrack in C without bound
local s = string.rep("a", 40)
local i = s:find(string.rep("a*", 40) .. "b")
return function(W) return W end
