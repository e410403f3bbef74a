-- expect: limit
-- why: a 40 GB tensor: tensor byte limit
return function(W) return T.zeros(1e5, 1e5) end
