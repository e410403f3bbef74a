-- expect: limit
-- why: print goes to the sandbox's bounded buffer, not the terminal.
return function(layers, target, info)
  while true do print(("x"):rep(1000)) end
end
