-- expect: limit
-- why: table.move over 2^62 slots loops inside C without allocating: charged as work first
table.move({}, 1, math.maxinteger // 2, 2)
return function(W) return W end
