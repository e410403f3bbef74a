-- expect: limit
-- why: doubling a string by concatenation: heap limit
local s = "x"
while true do s = s .. s end
