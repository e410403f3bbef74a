-- expect: runtime
-- why: require and package are not in the sandbox
local os = require("os")
os.execute("touch pwned")
return function(W) return W end
