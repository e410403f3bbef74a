-- expect: runtime
-- why: setmetatable is not in the sandbox (no __gc finalizers on user tables)
setmetatable({}, { __gc = function() while true do end end })
return function(W) return W end
