-- expect: runtime
-- why: debug is not in the sandbox (sethook would remove the limits)
debug.sethook()
while true do end
