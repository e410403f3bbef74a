-- expect: shape
-- why: 2^62 x 2^62 elements overflow the shape check
return function(W) return T.ones(2^62, 2^62) end
