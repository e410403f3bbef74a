-- expect: runtime
-- why: coroutine is not in the sandbox (each coroutine has its own hook count)
local co = coroutine.wrap(function() while true do end end)
co()
return function(W) return W end
