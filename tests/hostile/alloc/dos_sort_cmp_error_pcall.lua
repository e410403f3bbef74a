-- expect: limit
-- why: an erroring comparator caught by pcall, forever: each protected call is charged, so the loop meets the
-- instruction limit.
return function(layers, target, info)
  local a = {}
  for i = 1, 50 do a[i] = i end
  while true do
    pcall(table.sort, a, function() error("again") end)
  end
end
