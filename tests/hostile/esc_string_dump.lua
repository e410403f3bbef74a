-- expect: runtime
-- why: string.dump is left out of the string table
local code = string.dump(function() return 1 end)
return function(W) return W end
