-- expect: runtime
-- why: the string metatable's __index is the limited table: no gsub
local s = ("abc"):gsub("a", "b")
return function(W) return W end
