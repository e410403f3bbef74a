-- expect: limit
-- why: an infinite loop inside pcall and xpcall: the tripped limit is re-raised, the handler never runs.
return function(layers, target, info)
  pcall(function() while true do end end)
  xpcall(function() while true do end end, function() return "swallowed" end)
  local out = {}
  for i = 1, #layers do out[i] = target end
  return out
end
