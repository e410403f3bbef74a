-- expect: limit
-- why: a table that grows without end: the 16 MiB heap limit of an allocation script stops it.
return function(layers, target, info)
  local t, i = {}, 0
  while true do
    i = i + 1
    t[i] = { i, tostring(i), layers }
  end
end
