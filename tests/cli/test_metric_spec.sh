#!/usr/bin/env bash
# test_metric_spec.sh — one reading of a metric argument (vm/ap_metric.h, doc/metrics.md) across `prune --metric`,
# `check`, ap.metric, ap.check and m:prune: each kind (file, NAME, source, native, sparsegpt) and each error;
# ap_limits_set's refusals (negative, NaN, fractional, huge, unknown) from Lua and the CLI; the keyed
# prune-options setter refusing bad alloc params the same way from the CLI and m:prune.
. "$(dirname "$0")/../lib.sh" metric-spec
tiny=(--model models/ap-tiny --sparsity 0.5 --nsamples 2 --seqlen 32 --quiet)

# ---- the regression: a file whose name holds "return" is a file everywhere ----
printf 'return function(W, X) return W:abs() end\n' >"$work/my_return.lua"
check "prune --metric my_return.lua prunes with the file (it was compiled as Lua source)" eval \
    '(cd "$work" && status_is 0 "$AUTOPRUNE" prune "${tiny[@]/models/$AP_ROOT/models}" --metric my_return.lua) &&
     out_has "^realised sparsity 0.5"'
check "check my_return.lua checks the file" eval \
    '(cd "$work" && status_is 0 "$AUTOPRUNE" check my_return.lua) && out_has "^my_return.lua: ok"'

# ---- each kind, from the CLI ----
check "check NAME: a shipped metric by name" eval 'status_is 0 "$AUTOPRUNE" check wanda && out_has "^wanda: ok (group row,"'
check "check SOURCE: one line of Lua" eval \
    'status_is 0 "$AUTOPRUNE" check "return function(W) return W:abs() end" && out_has ": ok"'
check "check native:wanda: refused, not a script" eval \
    'status_is 1 "$AUTOPRUNE" check native:wanda && err_has "^native:wanda: arg: .*not a metric script"'
check "check a missing .lua file: io error naming it" eval \
    'status_is 1 "$AUTOPRUNE" check nope_missing.lua && err_has "^nope_missing.lua: io: metric file .nope_missing.lua.: no such file"'
check "check a missing path with a '/': io error, not compiled as source" eval \
    'status_is 1 "$AUTOPRUNE" check no/such/metric && err_has "no such file"'
check "check an unknown NAME: io error naming the shipped path it looked for" eval \
    'status_is 1 "$AUTOPRUNE" check no_such_metric_name && err_has "no shipped metric .*lua/metrics/no_such_metric_name.lua"'
check "check --json of a missing file: ok false, kind io" eval \
    'status_is 1 "$AUTOPRUNE" check --json nope_missing.lua && out_has "\"ok\":false" && out_has "\"kind\":\"io\""'
check "prune --metric NAME (wanda) runs" status_is 0 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda
check "prune --metric native:nope: the error lists the native metrics" eval \
    'status_is 1 "$AUTOPRUNE" prune "${tiny[@]}" --metric native:nope && err_has "native:wanda, native:magnitude"'
check "prune --metric nope.lua: io error naming the file" eval \
    'status_is 1 "$AUTOPRUNE" prune "${tiny[@]}" --metric nope.lua && err_has "io: metric file .nope.lua.: no such file"'
check "prune --json records method sparsegpt for --metric sparsegpt, reconstruct none" eval \
    'status_is 0 "$AUTOPRUNE" prune "${tiny[@]}" --metric sparsegpt --json &&
     out_has "\"method\":\"sparsegpt\"" && out_has "\"reconstruct\":\"none\""'
check "prune --json: alloc record keys are the --alloc-param keys" eval \
    'status_is 0 "$AUTOPRUNE" prune "${tiny[@]}" --metric native:magnitude --alloc sdsa --alloc-param tau=0.5 --json &&
     out_has "\"alloc\":{\"kind\":\"sdsa\",\"owl_m\":5,\"owl_lambda\":0.08,\"tau\":0.5,"'

# ---- the keyed setter: bad values are usage errors naming the key ----
check "--alloc-param tau=abc: usage error naming the key" eval \
    'status_is 2 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda --alloc-param tau=abc && err_has "alloc_param.tau: .abc. is not a number"'
check "--alloc-param bogus=1: unknown parameter" eval \
    'status_is 2 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda --alloc-param bogus=1 && err_has "unknown allocation parameter .bogus."'
check "--alloc-param granularity=row: refused" eval \
    'status_is 2 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda --alloc-param granularity=row && err_has "block or linear"'
check "--group diagonal: refused by the setter" eval \
    'status_is 2 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda --group diagonal && err_has "row or layer"'
check "--sparsity 1.5: refused" eval 'status_is 2 "$AUTOPRUNE" prune "${tiny[@]}" --metric wanda --sparsity 1.5'

# ---- limits through ap_limits_set from the CLI ----
check "check --heap above 2^53: usage error" status_is 2 "$AUTOPRUNE" check --heap 99999999999999999 wanda
check "check --instructions 0: usage error" status_is 2 "$AUTOPRUNE" check --instructions 0 wanda

# ---- Lua: ap.metric, ap.check, m:prune ----
cp "$work/my_return.lua" "$work/lua_return.lua"
cat >"$work/spec.lua" <<EOF
local dir = "$work"
local function fails(f, ...)
  local ok, e = pcall(f, ...)
  return not ok and tostring(type(e) == "table" and (e.kind .. ": " .. e.message) or e) or "no error"
end
local function say(...) print(table.concat({ ... }, "\t")) end
-- each kind
say("metric.file", ap.metric(dir .. "/lua_return.lua"):name())
say("metric.name", (ap.metric("wanda"):group()))
say("metric.source", (ap.metric("return { group = 'layer', score = function(W) return W:abs() end }"):group()))
say("metric.native", fails(ap.metric, "native:wanda"))
say("metric.sparsegpt", fails(ap.metric, "sparsegpt"))
say("metric.missing", fails(ap.metric, dir .. "/missing.lua"))
say("metric.empty", fails(ap.metric, ""))
local c = ap.check(dir .. "/lua_return.lua")
say("check.file", tostring(c.ok), tostring(c.usage.peak_heap_bytes > 0), tostring(c.usage.output_bytes))
local n = ap.check("native:magnitude")
say("check.native", tostring(n.ok), n.kind)
local m = ap.check("missing/metric.lua")
say("check.missing", tostring(m.ok), m.kind, m.message)
-- limits: ap_limits_set refuses before any cast
for _, v in ipairs { -1, 0/0, 1.5, 2^60, math.huge } do
  say("limits", tostring(v), fails(ap.metric, "wanda", { heap_bytes = v }))
end
say("limits.unknown", fails(ap.metric, "wanda", { heap = 1 }))
say("limits.type", fails(ap.check, "wanda", { work = "lots" }))
say("limits.ok", tostring(ap.check("wanda", { instructions = 2^40, heap_bytes = 1e8 }).ok))
-- m:prune
local model = ap.model.load("models/ap-tiny")
local st = model:calibrate { nsamples = 2, seqlen = 32, quiet = true }
local r = model:prune { metric = dir .. "/lua_return.lua", sparsity = 0.5, stats = st }
say("prune.file", ("%.3f"):format(r.realised))
model:reset()
r = model:prune { metric_source = "wanda", sparsity = 0.5, stats = st } -- not source: a syntax error
say("prune.source_forced", "ran")
EOF
"$AUTOPRUNE" run "$work/spec.lua" >"$work/lua.out" 2>&1
lua_has() { grep -q -- "$1" "$work/lua.out" || { echo "    lua output: $(head -c 1500 "$work/lua.out")"; return 1; }; }
check "ap.metric(FILE) loads a file whose name holds 'return'" lua_has "^metric.file	.*/lua_return.lua$"
check "ap.metric(NAME) loads the shipped metric" lua_has "^metric.name	row"
check "ap.metric(SOURCE) loads one line of source" lua_has "^metric.source	layer"
check "ap.metric(native:wanda) is a bad argument" lua_has "^metric.native	.*bad argument #1 .*is native, not a metric script"
check "ap.metric(sparsegpt) is a bad argument" lua_has "^metric.sparsegpt	.*is sparsegpt, not a metric script"
check "ap.metric(missing .lua) raises io naming the file" lua_has "^metric.missing	io: metric file .*missing.lua.: no such file"
check "ap.metric('') raises arg" lua_has "^metric.empty	arg: no metric given"
check "ap.check(FILE) ok, usage has peak_heap_bytes and output_bytes" lua_has "^check.file	true	true	0"
check "ap.check(native) is ok=false, not a raise" lua_has "^check.native	false	arg"
check "ap.check(missing path) is ok=false kind io" lua_has "^check.missing	false	io	metric file"
check "limits: -1 refused" lua_has "^limits	-1	.*bad argument #2 .*limits.heap_bytes = -1: expected a whole number"
check "limits: NaN refused" lua_has "^limits	[-]*nan	.*limits.heap_bytes = [-]*nan: expected"
check "limits: 1.5 refused" lua_has "^limits	1.5	.*expected a whole number"
check "limits: 2^60 refused" lua_has "^limits	1.1529215046068e+18	.*expected a whole number in \[0, 2^53\]"
check "limits: inf refused" lua_has "^limits	inf	.*expected a whole number"
check "limits: an unknown key refused" lua_has "^limits.unknown	.*unknown limit 'heap'"
check "limits: a string value refused" lua_has "^limits.type	.*work: number expected, got string"
check "limits: large whole numbers are taken" lua_has "^limits.ok	true"
check "m:prune{metric=FILE with 'return' in its name}" lua_has "^prune.file	0.500"
check "m:prune{metric_source=...} compiles the text even when it is a NAME" lua_has "syntax: "
cat >"$work/prune_bad.lua" <<'EOF'
local model = ap.model.load("models/ap-tiny")
local st = model:calibrate { nsamples = 2, seqlen = 32, quiet = true }
for _, o in ipairs {
  { limits = { instructions = -5 } }, { limits = { wall_ms = 0/0 } }, { alloc = "sdsa", alloc_params = { tau = "x" } },
  { alloc = "sdsa", alloc_params = { bogus = 1 } }, { group = "diagonal" }, { reconstruct = "bogus" },
} do
  o.metric, o.sparsity, o.stats = "wanda", 0.5, st
  local ok, e = pcall(model.prune, model, o)
  print("bad", tostring(ok), type(e), tostring(e))
end
local r = model:prune { metric = "native:wanda", sparsity = 0.5, stats = st, alloc = "sdsa",
                        alloc_params = { tau = 0.1 + 0.2, M = 7 } }
print("alloc", ("%.17g"):format(r.alloc.tau), r.alloc.owl_m, r.alloc.granularity, r.alloc.kind)
EOF
"$AUTOPRUNE" run "$work/prune_bad.lua" >"$work/lua.out" 2>&1
check "m:prune limits.instructions = -5: a bad argument (a string), not UB" \
    lua_has "^bad	false	string	.*limits.instructions = -5: expected a whole number"
check "m:prune limits.wall_ms = NaN: refused" lua_has "^bad	false	string	.*limits.wall_ms = [-]*nan"
check "m:prune alloc_params.tau = 'x': the setter's message" lua_has "^bad	false	string	.*alloc_param.tau: 'x' is not a number"
check "m:prune alloc_params.bogus: unknown parameter" lua_has "^bad	false	string	.*unknown allocation parameter 'bogus'"
check "m:prune group = diagonal: row or layer" lua_has "^bad	false	string	.*group: 'diagonal' is not row or layer"
check "m:prune reconstruct = bogus: refused" lua_has "^bad	false	string	.*reconstruct must be"
check "m:prune alloc_params numbers reach the spec exactly (0.1 + 0.2), M is owl_m" \
    lua_has "^alloc	0.30000000000000004	7[.0]*	linear	sdsa"
echo "1..$n"
[ "$failed" -eq 0 ]
