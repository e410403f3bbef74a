#!/usr/bin/env bash
# test_stats_fields.sh — calibration gathers only the statistics a metric reads, from the Lua API: m:calibrate{needs}
# and {metric}, stats:info().needs, a metric reading a statistic that was not gathered (an error naming it), and
# m:facts on statistics without X.l2/X.kurt (an error naming them, never a read of a missing array).
. "$(dirname "$0")/../lib.sh" stats-fields
cat >"$work/fields.lua" <<'LUA'
local m = ap.model.load("models/ap-tiny")
local function line(...) print(table.concat({...}, "\t")) end
local st = m:calibrate{quiet = true, nsamples = 2, seqlen = 32, needs = {"l2"}}
line("needs", table.concat(st:info().needs, ","))
line("metric", table.concat(m:calibrate{quiet = true, nsamples = 2, seqlen = 32, metric = "native:wanda"}:info().needs, ","))
line("script", table.concat(m:calibrate{quiet = true, nsamples = 2, seqlen = 32,
  metric = "return function(W, X) return W:abs() * (X.absmax + X.std) end"}:info().needs, ","))
line("all", table.concat(m:calibrate{quiet = true, nsamples = 2, seqlen = 32}:info().needs, ","))
local ok = pcall(m.prune, m, {metric = "wanda", sparsity = 0.5, stats = st})
line("wanda", tostring(ok), string.format("%.4f", m:sparsity()))
m:reset()
local e
ok, e = pcall(m.prune, m, {metric_source = "return function(W, X) return W:abs() * X.mean end", sparsity = 0.5,
                           stats = st})
line("mean", tostring(ok), type(e) == "table" and e.message or tostring(e))
m:reset()
ok, e = pcall(m.facts, m, st)
line("facts", tostring(ok), type(e) == "table" and e.message or tostring(e))
ok, e = pcall(m.calibrate, m, {quiet = true, needs = {"hinv"}})
line("badneed", tostring(ok), tostring(e))
LUA
"$AUTOPRUNE" run "$work/fields.lua" >"$work/out" 2>"$work/err"
rc=$?
has() { grep -qP -- "$1" "$work/out"; }
check "the script runs (exit $rc: $(head -c 300 "$work/err"))" eval '[ $rc -eq 0 ]'
check "m:calibrate{needs = {\"l2\"}} gathers l2 only" has '^needs\tl2$'
check "m:calibrate{metric = \"native:wanda\"} gathers l2 only" has '^metric\tl2$'
check "m:calibrate{metric = SOURCE} gathers what the script reads (absmax, std)" has '^script\tstd,absmax$|^script\tabsmax,std$'
check "m:calibrate{} gathers all seven" has '^all\tl2,sq,mean,std,absmax,skew,kurt$'
check "Wanda prunes with l2-only statistics" has '^wanda\ttrue\t0\.5'
check "a metric reading X.mean on l2-only statistics fails naming X.mean" has '^mean\tfalse\t.*X\.mean was not gathered'
check "m:facts on l2-only statistics fails naming kurt" has '^facts\tfalse\t.*X\.l2 and X\.kurt.*no kurt'
check "needs = {\"hinv\"} is refused (Hessians are hessian = true)" has '^badneed\tfalse\t.*needs\[1\]'
echo "1..$n"
[ "$failed" -eq 0 ]
