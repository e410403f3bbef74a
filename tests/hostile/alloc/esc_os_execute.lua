-- expect: runtime
-- why: os is absent: no shell.
return function(layers, target, info)
  os.execute("touch pwned")
  return {}
end
