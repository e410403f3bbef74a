-- expect: limit
-- why: a string doubled until it cannot be: the heap limit, not the machine, says no.
local s = "0123456789abcdef"
while true do s = s .. s end
