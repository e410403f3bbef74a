-- expect: runtime
-- why: io is not in the sandbox: calling io.open indexes nil
local f = io.open("canary.txt", "w")
f:write("pwned")
return function(W) return W end
