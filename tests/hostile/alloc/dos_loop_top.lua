-- expect: limit
-- why: the infinite loop at the top of the chunk, before any function is returned.
local i = 0
while true do i = i + 1 end
