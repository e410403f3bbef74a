-- expect: runtime
-- why: rawget/rawset are not in the sandbox
local d = rawget(string, "dump")
return function(W) return W end
