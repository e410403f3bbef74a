-- expect: limit
-- why: string.rep of a terabyte: checked against the heap limit before allocating
local s = string.rep("x", 2^40)
return function(W) return W end
