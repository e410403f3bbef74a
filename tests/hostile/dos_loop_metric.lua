-- expect: limit
-- why: endless loop inside the metric: instruction limit
return function(W, X, info)
  local i = 0
  while true do i = i + 1 end
end
