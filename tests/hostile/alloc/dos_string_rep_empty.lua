-- expect: limit
-- why: an empty string with a separator repeated 2^62 times: its size is checked first, no loop in C.
return function(layers, target, info)
  return { #string.rep("", 2^62, ",") }
end
