-- expect: limit
-- why: a loop of pcalls: instruction limit
while true do pcall(error, "x") end
