-- expect: runtime
-- why: getmetatable is not in the sandbox, so the tensor metatable cannot be read
local mt = getmetatable(T.zeros(1, 1))
return function(W) return W end
