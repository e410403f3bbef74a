#!/usr/bin/env bash
# tests/search/test_isolate.sh — ap.isolate, the search's last line of defence: a worker that dies of a signal is
# reported as kind "crash" (with the signal), one that hangs as "timeout" at the wall-clock limit, one over its CPU
# limit as "cpu", one out of address space as "oom", one that exits without a result as "lost", an error as
# "error" with the error value; the caller goes on each time, its own state untouched, and no worker is left.
. "$(dirname "$0")/../lib.sh" isolate

cat >"$work/isolate.lua" <<'EOF'
local n = 0
local function check(cond, what)
  n = n + 1
  print((cond and "ok " or "not ok ") .. n .. " - " .. what)
end
local function describe(ok, r)
  if ok then return "ok" end
  return ("%s (%s, signal %s, %.2f s)"):format(tostring(r.kind), tostring(r.message), tostring(r.signal),
                                               r.seconds or -1)
end
local function children()   -- live (non-zombie) child processes of this process
  local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
  local out = {}
  for line in io.popen("ps -o pid=,stat=,comm= --ppid " .. pid):lines() do
    local cpid, stat, comm = line:match("(%d+)%s+(%S+)%s+(%S+)")
    if cpid and comm ~= "ps" and comm ~= "sh" and not stat:match("^Z") then out[#out + 1] = line end
  end
  return out
end

counter = 0
local ok, r = ap.isolate(function() counter = counter + 1; return { a = { 1, 2.5, "x" }, s = ("y"):rep(100000) } end)
check(ok and r.a[2] == 2.5 and r.a[3] == "x" and #r.s == 100000, "a result comes back as a value (100 kB string)")
check(counter == 0, "the worker's changes stay in the worker")
local exact = { 0.1 + 0.2, 237.99764938608303, 1 / 3, 5e-324, 1e300, -2.5e-8 }
ok, r = ap.isolate(function() return exact end)
local same = ok
for i, v in ipairs(exact) do same = same and r[i] == v end
for _, v in ipairs(exact) do same = same and ap.json.decode(ap.json.encode({ v }))[1] == v end
check(same, "numbers cross the pipe and ap.json bit for bit (cJSON alone keeps 15 digits)")

ok, r = ap.isolate(function() os.execute("kill -SEGV $PPID"); while true do end end, { timeout = 20 })
-- under ASan the sanitizer's SEGV handler reports and aborts (abort_on_error=1)
local sanitized = os.getenv("AP_SANITIZED") == "1"
check(not ok and r.kind == "crash" and (r.signal == 11 or sanitized and r.signal == 6),
      "a worker killed by SIGSEGV: " .. describe(ok, r))

ok, r = ap.isolate(function() os.execute("kill -ABRT $PPID"); while true do end end, { timeout = 20 })
check(not ok and r.kind == "crash" and r.signal == 6, "a worker that aborts: " .. describe(ok, r))

local t0 = ap.clock()
ok, r = ap.isolate(function() while true do end end, { timeout = 0.5 })
local dt = ap.clock() - t0
check(not ok and r.kind == "timeout" and dt < 5, ("a hang is killed at the wall-clock limit (%.2f s): %s")
  :format(dt, describe(ok, r)))

ok, r = ap.isolate(function() local x = 0; while true do x = x + 1 end end, { timeout = 30, cpu = 1 })
check(not ok and r.kind == "cpu", "a worker over its CPU-time limit: " .. describe(ok, r))

ok, r = ap.isolate(function() local t = {} for i = 1, 64 do t[i] = ("x"):rep(16 << 20) .. i end return #t end,
                   { timeout = 60, mem_mb = 128 })
-- under ASan the sanitizer's allocator aborts on a refused mmap instead of returning NULL to Lua
check(not ok and (r.kind == "oom" or sanitized and r.kind == "crash"),
      "a worker out of address space: " .. describe(ok, r))

ok, r = ap.isolate(function() os.exit(3) end)
check(not ok and r.kind == "lost", "a worker that exits without a result: " .. describe(ok, r))

ok, r = ap.isolate(function() error({ kind = "shape", message = "bad shape", line = 7 }) end)
check(not ok and r.kind == "error" and type(r.error) == "table" and r.error.kind == "shape" and r.error.line == 7,
      "an error table comes back as the error: " .. describe(ok, r))

ok, r = ap.isolate(function() error("plain message") end)
check(not ok and r.kind == "error" and tostring(r.message):find("plain message", 1, true) ~= nil,
      "a string error comes back as the message: " .. describe(ok, r))

ok, r = ap.isolate(function() return { ppl = 12.5 } end)
check(ok and r.ppl == 12.5, "after every failure the caller goes on: the next worker works")
check(#children() == 0, "no worker is left running (" .. table.concat(children(), "; ") .. ")")
print("1.." .. n)
EOF
cd "$AP_ROOT"
timeout 120 "$AUTOPRUNE" run "$work/isolate.lua" 2>"$work/err"
rc=$?
[ -s "$work/err" ] && sed 's/^/# stderr: /' "$work/err" | head -5
if [ $rc -ne 0 ]; then echo "not ok - the isolate script exited with status $rc"; exit 1; fi
