-- expect: runtime
-- why: package.loadlib would load native code (CVE-2022-0543)
local f = package.loadlib("/lib/x86_64-linux-gnu/libc.so.6", "system")
f("touch pwned")
return function(W) return W end
