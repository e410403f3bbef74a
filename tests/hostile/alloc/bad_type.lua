-- expect: type
-- why: a string, not a list of numbers (and there is no setmetatable to build a proxy list with).
return function(layers, target, info)
  return "0.5, 0.5, 0.5"
end
