-- expect: runtime
-- why: an inconsistent sort comparator is an ordinary error
local t = {}
for i = 1, 1000 do t[i] = i % 7 end
table.sort(t, function(a, b) return true end)
return function(W) return W end
