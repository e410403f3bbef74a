-- expect: limit
-- why: pcall cannot swallow the tripped instruction limit
local ok = pcall(function() while true do end end)
return function(W) return W end
