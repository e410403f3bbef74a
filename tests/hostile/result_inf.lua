-- expect: nonfinite
-- why: log(0) = -inf in the score
return function(W, X, info) return (W - W):log() end
