-- expect: runtime
-- why: loadfile is not in the sandbox
local f = loadfile("/etc/passwd")
return function(W) return W end
