-- expect: runtime
-- why: dofile is not in the sandbox
dofile("/etc/passwd")
return function(W) return W end
