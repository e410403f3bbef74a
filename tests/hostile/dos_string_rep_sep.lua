-- expect: limit
-- why: string.rep with a long separator
local s = ("x"):rep(1e7, ("y"):rep(1000))
return function(W) return W end
