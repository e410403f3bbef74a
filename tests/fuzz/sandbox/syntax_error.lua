-- expect: syntax
-- why: a syntax error names its line
return function(W, X, info)
  return W:abs() *
end
