-- expect: limit
-- why: keeping ever more tensors alive: tensor byte limit after a full GC
return function(W)
  local keep = {}
  for i = 1, 1e6 do keep[i] = W * i end
  return W
end
