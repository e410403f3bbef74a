#!/usr/bin/env bash
# test_cli.sh — the CLI frame (--help, --version, exit statuses), `autoprune check` (text and --json, limits,
# several files) and `autoprune run` (arg, require "ap", T, ap.load_tensors/save_tensors round trips including
# F16/BF16/1-D files written by Python, ap.metric scoring and its error table, os.exit status).
. "$(dirname "$0")/../lib.sh" cli

# ---- the frame ----
check "no command: usage error 2" status_is 2 "$AUTOPRUNE"
check "--help exits 0 and lists check and run" eval 'status_is 0 "$AUTOPRUNE" --help && out_has "check" && out_has "run"'
check "--version prints the version" eval 'status_is 0 "$AUTOPRUNE" --version && out_has "^autoprune [0-9][0-9.]*$"'
check "an unknown command is a usage error" eval 'status_is 2 "$AUTOPRUNE" frobnicate && err_has "unknown command"'

# ---- check ----
check "check --help exits 0" eval 'status_is 0 "$AUTOPRUNE" check --help && out_has "usage: autoprune check"'
check "check without a file: 2" status_is 2 "$AUTOPRUNE" check
check "check with an unknown option: 2" status_is 2 "$AUTOPRUNE" check --frob lua/metrics/wanda.lua
check "check with a limit option missing its value: 2" status_is 2 "$AUTOPRUNE" check lua/metrics/wanda.lua --wall-ms
check "check --shape sets the synthetic layer's shape" eval \
    'status_is 0 "$AUTOPRUNE" check --json --shape 7x5 lua/metrics/ria.lua && grep -q "\"peak_tensor_bytes\":[0-9]\{1,5\}," "$work/out"'
check "check --shape with a bad value: 2" status_is 2 "$AUTOPRUNE" check --shape 3x lua/metrics/wanda.lua
check "check lua/metrics/*.lua passes" eval 'status_is 0 "$AUTOPRUNE" check lua/metrics/*.lua && [ "$(grep -c ": ok" "$work/out")" -eq 3 ]'

cat >"$work/bad_line.lua" <<'EOF'
return function(W, X, info)
  local s = W:abs()
  return s + T.zeros(3, 7)
end
EOF
check "an invalid script: exit 1, one stderr line FILE:LINE: kind: message" eval \
    'status_is 1 "$AUTOPRUNE" check "$work/bad_line.lua" && [ "$(wc -l <"$work/err")" -eq 1 ] && err_has "^$work/bad_line.lua:3: shape: "'
check "--json with a good and a bad file: exit 1, one object per file" eval \
    'status_is 1 "$AUTOPRUNE" check --json lua/metrics/ria.lua "$work/bad_line.lua" && "$PY" -c "
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
assert a[\"ok\"] is True and a[\"group\"] == \"layer\" and a[\"group_declared\"] is True, a
assert a[\"usage\"][\"peak_tensor_bytes\"] > 0 and a[\"usage\"][\"work\"] > 0, a
assert b == {**b, \"ok\": False, \"kind\": \"shape\", \"line\": 3}, b
" "$work/out"'
check "a missing file: exit 1, kind io" eval \
    'status_is 1 "$AUTOPRUNE" check --json "$work/nope.lua" && grep -q "\"kind\":\"io\"" "$work/out"'
cat >"$work/printer.lua" <<'EOF'
print("hello from", "the metric")
return function(W, X, info) return W:abs() * X.l2 end
EOF
check "print output is captured into the JSON result" eval \
    'status_is 0 "$AUTOPRUNE" check --json "$work/printer.lua" && grep -q "\"output\":\"hello from\\\\tthe metric\\\\n" "$work/out"'
echo 'while true do end' >"$work/spin.lua"
t0=$(date +%s%N)
check "--wall-ms stops a loop the instruction limit would not" eval \
    'status_is 1 "$AUTOPRUNE" check --instructions 1000000000000 --wall-ms 300 "$work/spin.lua" && err_has "limit: wall-clock limit of 300 ms"'
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "... within the wall limit + 1 s (${ms} ms)" [ "$ms" -lt 1300 ]
check "--heap bounds the Lua heap" eval \
    'printf "local t = {}\nfor i = 1, 1e6 do t[i] = {} end\nreturn function(W) return W end\n" >"$work/heap.lua" &&
     status_is 1 "$AUTOPRUNE" check --heap 1M "$work/heap.lua" && err_has "limit: Lua heap limit of 1048576"'
check "a syntax error names its line" eval \
    'printf "return function(W)\n  return W +\nend\n" >"$work/syn.lua" && status_is 1 "$AUTOPRUNE" check "$work/syn.lua" && err_has "syn.lua:3: syntax: "'

# ---- run ----
check "run --help exits 0" eval 'status_is 0 "$AUTOPRUNE" run --help && out_has "usage: autoprune run"'
check "run without a script: 2" status_is 2 "$AUTOPRUNE" run
check "run with an unknown option: 2" status_is 2 "$AUTOPRUNE" run --frob x.lua
check "run with a missing script: 1" status_is 1 "$AUTOPRUNE" run "$work/nope.lua"

cat >"$work/args.lua" <<'EOF'
print(arg[0], arg[1], arg[2], arg[3], #arg, select("#", ...), ...)
EOF
check "run sets arg and ... the usual way (options after the script belong to it)" eval \
    'status_is 0 "$AUTOPRUNE" run "$work/args.lua" one --help "three four" &&
     [ "$(cat "$work/out")" = "$(printf "%s\tone\t--help\tthree four\t3\t3\tone\t--help\tthree four" "$work/args.lua")" ]'

cat >"$work/env.lua" <<'EOF'
assert(require("ap") == ap, "require 'ap' gives the global ap")
assert(type(T.zeros) == "function" and type(io.open) == "function" and type(os.time) == "function")
assert(ap.version:match("^%d+%.%d+"), ap.version)
assert(package.path:find(ap.datadir() .. "/lua/?.lua", 1, true), package.path)
assert(type(ap.json) == "table" and type(ap.isolate) == "function", "submodules registered")
print("env ok")
EOF
check "run: full stdlib, T, ap (global and require), package.path under the data dir" eval \
    'status_is 0 "$AUTOPRUNE" run "$work/env.lua" && out_has "env ok"'
check "AUTOPRUNE_HOME sets the data dir" eval \
    'echo "print(ap.datadir())" >"$work/dd.lua" && AUTOPRUNE_HOME=/opt/elsewhere status_is 0 "$AUTOPRUNE" run "$work/dd.lua" && out_has "^/opt/elsewhere$"'

cat >"$work/roundtrip.lua" <<'EOF'
local dir = arg[1]
local a = T.full(3, 4, 0.25) + T.ones(3, 4) * -2
local b = T.zeros(1, 5) + 7.5
ap.save_tensors(dir .. "/rt.safetensors", { alpha = a, ["beta.weight"] = b })
local t = ap.load_tensors(dir .. "/rt.safetensors")
local r, c = t.alpha:shape()
assert(r == 3 and c == 4, "alpha shape")
assert((t.alpha - a):abs():amax() == 0, "alpha values")
assert((t["beta.weight"] - b):abs():amax() == 0, "beta values")
ap.save_tensors(dir .. "/h.safetensors", { h = T.full(2, 2, 1 / 3) }, "F16")
local h = ap.load_tensors(dir .. "/h.safetensors").h
assert(math.abs(h:amax() - 1 / 3) < 1e-3 and h:amax() ~= 1 / 3, "F16 rounding")
local py = ap.load_tensors(dir .. "/py.safetensors")
local r1, c1 = py.vec:shape()
assert(r1 == 1 and c1 == 3 and py.vec:sum() == 6, "1-D F32 becomes [1, n]")
local r2, c2 = py.bf:shape()
assert(r2 == 2 and c2 == 2 and py.bf:sum() == 10, "BF16 [2, 2]")
local r3, c3 = py.cube:shape()
assert(r3 == 6 and c3 == 4 and py.cube:sum() == 276, "F16 [2, 3, 4] becomes [6, 4]")
print("roundtrip ok")
EOF
"$PY" - "$work/py.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
vec = np.array([1, 2, 3], dtype=np.float32).tobytes()
bf = (np.array([1, 2, 3, 4], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
cube = np.arange(24, dtype=np.float16).tobytes()
tensors, off, data = {}, 0, b""
for name, dt, shape, raw in [("vec", "F32", [3], vec), ("bf", "BF16", [2, 2], bf), ("cube", "F16", [2, 3, 4], cube)]:
    tensors[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
    off += len(raw); data += raw
h = json.dumps(tensors).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
EOF
check "run: ap.save_tensors/ap.load_tensors round trip (F32, F16; Python-written F32 1-D, BF16, F16 3-D)" eval \
    'status_is 0 "$AUTOPRUNE" run "$work/roundtrip.lua" "$work" && out_has "roundtrip ok"'
check "the saved file is valid safetensors for Python" "$PY" -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
assert h['alpha']['dtype'] == 'F32' and h['alpha']['shape'] == [3, 4], h
import numpy as np
s, e = h['alpha']['data_offsets']
assert np.allclose(np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32), -1.75)
" "$work/rt.safetensors"

cat >"$work/metric.lua" <<'EOF'
local W = T.full(4, 3, -2) + T.ones(4, 3)           -- all -1
local X = { l2 = T.full(1, 3, 2), tokens = 8 }
local m = ap.metric("wanda")
assert(m:group() == "row")
local S = m:score(W, X, { layer = 1, n_layers = 2, name = "q_proj", sparsity = 0.5 })
assert(S:sum() == 24, "wanda by name")
local r = ap.metric("return { group = 'layer', score = function(W, X) return W:abs() * X.sq end }")
local g, declared = r:group()
assert(g == "layer" and declared == true)
assert(r:score(W, X):sum() == 12 * 4 / 8, "X.sq derived from X.l2 and tokens")
assert(r:usage().peak_tensor_bytes > 0)
local ok, e = pcall(function()
  return ap.metric("return function(W)\n  error('boom')\nend"):score(W, X)
end)
assert(not ok and e.kind == "runtime" and e.message == "boom" and e.line == 2, tostring(e))
ok, e = pcall(ap.metric, "return function(W) while true do end end", { instructions = 100000 })
assert(ok, "a looping metric still loads")
ok, e = pcall(function() return e:score(W, X) end)
assert(not ok and e.kind == "limit", tostring(e))
ok, e = pcall(ap.metric, "no_such_metric_name")
assert(not ok and e.kind == "io", tostring(e))
print(tostring(select(2, pcall(ap.metric, "return 1"))))
EOF
check "run: ap.metric by name and by source, :score, :group, error tables {kind, message, line}" eval \
    'status_is 0 "$AUTOPRUNE" run "$work/metric.lua" && out_has "^type: the script returned number"'
check "run: an error exits 1 with the message on stderr" eval \
    'echo "error(\"kaputt\")" >"$work/err.lua" && status_is 1 "$AUTOPRUNE" run "$work/err.lua" && err_has "kaputt"'
check "run: an ap error table is described, not shown as a table address" eval \
    'echo "ap.load_tensors(\"/nonexistent.safetensors\")" >"$work/err2.lua" && status_is 1 "$AUTOPRUNE" run "$work/err2.lua" && err_has "autoprune run: io: "'
check "run: os.exit status passes through" eval 'echo "os.exit(3)" >"$work/exit.lua" && status_is 3 "$AUTOPRUNE" run "$work/exit.lua"'
check "run: a script from standard input" eval 'echo "print(1 + 1)" | status_is 0 "$AUTOPRUNE" run - && out_has "^2$"'

echo "1..$n"
[ "$failed" -eq 0 ]
