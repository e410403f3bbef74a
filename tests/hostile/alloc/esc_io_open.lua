-- expect: runtime
-- why: io is absent: no file can be written.
return function(layers, target, info)
  local f = io.open("pwned", "w")
  f:write("x")
  return {}
end
