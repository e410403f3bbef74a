-- expect: limit
-- why: the same list sorted again and again with the cheapest comparator: few VM instructions run, but each sort
-- is charged as work and the wall clock runs; whichever limit comes first stops it.
return function(layers, target, info)
  local a = {}
  for i = 1, 2e5 do a[i] = i end
  while true do table.sort(a) end
end
