-- expect: type
-- why: the metric returns nothing
return function(W, X, info) end
