-- expect: shape
-- why: one number for eight units.
return function(layers, target, info)
  return { target }
end
