-- expect: type
-- why: the metric returns a string
return function(W, X, info) return "keep everything" end
