-- expect: runtime
-- why: ("").dump must not reach the full string library through the string metatable
local code = ("").dump(function() return 1 end)
return function(W) return W end
