-- expect: runtime
-- why: debug.getregistry would reach the host's registry
local r = debug.getregistry()
return function(W) return W end
