-- expect: limit
-- why: a comparator that never returns, inside a pcall: the limit trips inside sort and pcall cannot catch it.
return function(layers, target, info)
  local a = {3, 1, 2}
  while true do
    pcall(table.sort, a, function() while true do end end)
  end
end
