-- expect: shape
-- why: [m, n] + [n, m] does not broadcast
return function(W)
  return W + T.transpose(W)
end
