-- expect: shape
-- why: a negative tensor size
return function(W) return T.zeros(-1, 4) end
