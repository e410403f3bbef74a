-- expect: limit
-- why: an endless loop of tensor operations: the work budget trips even though no instruction count is reached
return function(W)
  local s = W
  while true do s = (s + 1):abs() end
end
