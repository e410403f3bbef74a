-- expect: runtime
-- why: _G is not in the sandbox and _ENV holds only the allow list
local o = _ENV.os or _G.os
return function(W) return o.getenv("HOME") end
