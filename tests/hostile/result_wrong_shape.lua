-- expect: shape
-- why: a [in, out] score for an [out, in] weight
return function(W, X, info) return T.transpose(W:abs()) end
