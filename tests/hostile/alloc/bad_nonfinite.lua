-- expect: nonfinite
-- why: NaN in the list.
return function(layers, target, info)
  local out = {}
  for i = 1, #layers do out[i] = 0 / 0 end
  return out
end
