-- expect: runtime
-- why: the string metatable is locked and its __index holds only the allow-listed functions: no dump, no patterns.
return function(layers, target, info)
  local mt = getmetatable("")
  return { ("x"):dump() }
end
