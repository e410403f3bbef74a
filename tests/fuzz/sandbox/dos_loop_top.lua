-- expect: limit
-- why: endless loop at top level: instruction limit
while true do end
