-- expect: runtime
-- why: Lua 5.4.4's "stack overflow when the C stack overflows while handling an error" case must not crash;
-- the script survives the nested errors and then fails on purpose
local function loop()
  assert(pcall(loop))
end
local err, msg = xpcall(loop, loop)
error("survived the C-stack overflow inside a message handler")
