-- expect: runtime
-- why: repeating an empty string 2^63-1 times must return at once, not loop inside C
local s = string.rep("", math.maxinteger, "")
error("survived: " .. #s)
