-- expect: runtime
-- why: os is not in the sandbox
os.execute("touch pwned")
return function(W) return W end
