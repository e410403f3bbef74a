-- expect: limit
-- why: printing without end: output limit
while true do print(("x"):rep(1000)) end
