-- expect: runtime
-- why: os is not in the sandbox (os.remove would delete the canary)
return function(W)
  os.remove("canary.txt")
  return W
end
