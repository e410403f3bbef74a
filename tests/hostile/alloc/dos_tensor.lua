-- expect: limit
-- why: the sandbox's T library is there for allocation scripts too, under its budgets: a 40 GB tensor is refused
-- before it is made.
return function(layers, target, info)
  local z = T.zeros(100000, 100000)
  return { z:sum() }
end
