-- expect: limit
-- why: many reps of a mebibyte each, all kept: the heap limit stops it.
return function(layers, target, info)
  local keep = {}
  for i = 1, 1e6 do keep[i] = string.rep("x", 1 << 20, tostring(i)) end
  return keep
end
