-- expect: limit
-- why: string.rep of a terabyte: refused before it allocates (the old allocation sandbox had no rep; this one has
-- the metric sandbox's wrapped rep).
return function(layers, target, info)
  local s = ("ab"):rep(2^39)
  return { #s }
end
