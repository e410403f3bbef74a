-- expect: runtime
-- why: a comparator that raises: an ordinary runtime error with the comparator's line, nothing swallowed.
return function(layers, target, info)
  local a = {}
  for i = 1, 100 do a[i] = -i end
  table.sort(a, function(x, y)
    error("comparator refuses")
  end)
  return a
end
