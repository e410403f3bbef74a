-- expect: nonfinite
-- why: 0/0 scores
return function(W, X, info) return W * (0/0) end
