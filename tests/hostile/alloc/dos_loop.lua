-- expect: limit
-- why: the plain infinite loop, in the allocation function.
return function(layers, target, info)
  while true do end
end
