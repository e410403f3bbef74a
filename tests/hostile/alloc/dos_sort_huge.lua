-- expect: limit
-- why: table.sort of a large list with a comparator that does real work: the sort is charged as work and every
-- comparator call runs under the instruction limit (the old allocation sandbox exposed sort unwrapped).
return function(layers, target, info)
  local a = {}
  for i = 1, 4e5 do a[i] = (i * 7919) % 400009 end
  table.sort(a, function(x, y)
    local s = 0
    for k = 1, 20 do s = s + k end
    return x < y
  end)
  return a
end
