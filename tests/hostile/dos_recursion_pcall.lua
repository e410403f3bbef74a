-- expect: runtime
-- why: recursion through pcall hits the C stack limit (LUAI_MAXCCALLS), an ordinary error
local function f()
  local ok, e = pcall(f)
  error(e, 0)
end
f()
return function(W) return W end
