-- expect: type
-- why: the chunk returns no metric
local x = 1
