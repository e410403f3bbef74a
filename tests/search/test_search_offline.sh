#!/usr/bin/env bash
# tests/search/test_search_offline.sh — an offline GCoT search (symbolic proposer) on the shipped model: it finishes,
# writes events.jsonl / archive.json / best.lua / report.md / facts.json, evaluates duplicates once, never reads the
# test file for selection, and --resume continues a finished run without re-evaluating anything; --confirm picks by
# a validation stage under the final protocol.
. "$(dirname "$0")/../lib.sh" search-offline
forward_checks() {  # FILE: the "ok - ..." / "not ok - ..." lines a Python block wrote, counted as checks here
    local line
    while read -r line; do
        case "$line" in
            "ok - "*) ok "${line#ok - }" ;;
            "not ok - "*) not_ok "${line#not ok - }" ;;
            *) echo "# $line" ;;
        esac
    done <"$1"
}

args=(run lua/search.lua --name s1 --runs-dir "$work" --generations 2 --population 4 --nsamples 8
      --proxy-windows 2 --allocs uniform,sdsa --no-final --seed 7)
"$AUTOPRUNE" "${args[@]}" >"$work/out1" 2>"$work/err1"
rc=$?
check "offline search exits 0 (stderr: $(head -c 300 "$work/err1"))" eval '[ $rc -eq 0 ]'
run=$work/s1
for f in events.jsonl archive.json best.lua report.md facts.json; do
    check "run folder has $f" eval "[ -s '$run/$f' ]"
done
check "stdout says where the report is" eval "grep -q 'report: .*s1/report.md' '$work/out1'"
check "best.lua passes autoprune check" eval "'$AUTOPRUNE' check '$run/best.lua' >/dev/null 2>&1"

$PY - "$run" >"$work/py" 2>&1 <<'PYEOF'
import json, sys
run = sys.argv[1]
events = [json.loads(l) for l in open(run + "/events.jsonl")]
arch = json.load(open(run + "/archive.json"))
cands = arch["candidates"]
kinds = {e["type"] for e in events}
def ok(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
ok({"start", "dense", "candidate", "check", "evaluation", "generation", "end"} <= kinds, "event kinds: %s" % sorted(kinds))
ok(len(cands) >= 6 + 4, "seeds (3 metrics x 2 allocations) plus 2 generations: %d candidates" % len(cands))
seeds = [c for c in cands if c["origin"] == "seed"]
ok(len(seeds) == 6 and {c["alloc"] for c in seeds} == {"uniform", "sdsa"}, "six seed candidates over both allocations")
evals = [e for e in events if e["type"] == "evaluation"]
ok(len(evals) == len({e["id"] for e in evals}), "every candidate evaluated once")
ok(all(c["status"] in ("ok", "failed") for c in cands), "no candidate left unevaluated")
good = [c for c in cands if c["status"] == "ok"]
ok(all(c["fitness"] > 1 for c in good), "fitness values are perplexities")
best = min(good, key=lambda c: (c["fitness"], c["id"]))
ok(open(run + "/best.lua").read().endswith(best["code"]), "best.lua holds the best candidate's code")
sym = [c for c in cands if c["origin"] == "symbolic"]
ok(all(c.get("parents") for c in sym if c["generation"] > 0), "symbolic candidates record their parents")
facts = json.load(open(run + "/facts.json"))
ok(len(facts["facts"]) == 4 * 7 and set(facts["allocations"]) == {"uniform", "sdsa"}, "facts.json: 28 linears, both allocations")
start = [e for e in events if e["type"] == "start"][0]
ok("test" not in json.dumps([e for e in events if e["type"] in ("dense", "evaluation")]) and
   start["config"]["valid"].endswith("wiki.valid.raw"), "selection uses the validation file")
PYEOF
forward_checks "$work/py"

before=$(grep -c '"type":"evaluation"' "$run/events.jsonl")
"$AUTOPRUNE" run lua/search.lua --resume s1 --runs-dir "$work" --generations 2 --population 4 --nsamples 8 \
    --proxy-windows 2 --allocs uniform,sdsa --no-final --seed 7 >"$work/out2" 2>"$work/err2"
rc=$?
after=$(grep -c '"type":"evaluation"' "$run/events.jsonl")
check "resuming a finished run exits 0" eval '[ $rc -eq 0 ]'
check "resuming a finished run evaluates nothing again ($before -> $after)" eval '[ "$before" -eq "$after" ]'

# --seed drives the symbolic proposer: generation 1 of another run with seed 7 proposes what s1 proposed, seed 8
# proposes something else (the code of each generation-1 candidate, in order).
gen1_codes() { "$PY" -c 'import json,sys; print(json.dumps([c["code"] for c in json.load(open(sys.argv[1]))["candidates"] if c.get("generation") == 1]))' "$1/archive.json"; }
for s in 7 8; do
    "$AUTOPRUNE" run lua/search.lua --name seed$s --runs-dir "$work" --generations 1 --population 4 --nsamples 8 \
        --proxy-windows 2 --allocs uniform,sdsa --no-final --seed $s >"$work/out_seed$s" 2>&1
done
check "the same --seed proposes the same generation 1" eval '[ "$(gen1_codes "$work/seed7")" = "$(gen1_codes "$run")" ] && [ "$(gen1_codes "$run")" != "[]" ]'
check "another --seed proposes another generation 1" eval '[ "$(gen1_codes "$work/seed8")" != "$(gen1_codes "$run")" ]'

# --confirm: the best distinct set-ups by proxy pruned again sequentially and scored on validation; the lowest is the
# pick (best.lua), the report has the table, the reference SparseGPT is scored beside them; resume keeps them
cargs=(run lua/search.lua --name c1 --runs-dir "$work" --generations 1 --population 2 --nsamples 8 --proxy-windows 2
       --allocs uniform --reconstruct adaptive --seed-allocs uniform --reference --confirm 3 --confirm-windows 2
       --final-nsamples 8 --no-final --seed 3)
"$AUTOPRUNE" "${cargs[@]}" >"$work/out3" 2>"$work/err3"
rc=$?
check "search with --confirm exits 0 ($(head -c 300 "$work/err3"))" eval '[ $rc -eq 0 ]'
$PY - "$work/c1" >"$work/py2" 2>&1 <<'PYEOF'
import json, sys
run = sys.argv[1]
arch = json.load(open(run + "/archive.json"))
conf = [c for c in arch["candidates"] if "confirm" in c]
def ok(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
ok(len(conf) == 3 and all(isinstance(c["confirm"], float) and c["confirm"] > 1 for c in conf),
   "three candidates confirmed with a perplexity each (%d)" % len(conf))
ranked = sorted((c for c in arch["candidates"] if c["status"] == "ok"), key=lambda c: (c["fitness"], c["id"]))
ok({c["id"] for c in conf} <= {c["id"] for c in ranked[:6]}, "the confirmed are among the best by proxy")
pick = min(conf, key=lambda c: c["confirm"])
ok(open(run + "/best.lua").read().endswith(pick["code"]) and ("candidate %d," % pick["id"]) in open(run + "/best.lua").read(),
   "best.lua is the lowest confirmation perplexity (candidate %d)" % pick["id"])
ok(isinstance(arch.get("reference_confirm"), float), "native SparseGPT scored under the confirmation protocol")
report = open(run + "/report.md").read()
ok("## Confirmation on validation" in report and ("candidate %d, the lowest confirmation" % pick["id"]) in report,
   "report.md has the confirmation table and names the pick")
ev = [json.loads(l) for l in open(run + "/events.jsonl")]
ok(len([e for e in ev if e["type"] == "confirm"]) == 4, "one confirm event per candidate plus the reference")
ok("hinv" in " ".join(c["code"] for c in arch["candidates"] if c["origin"] == "seed"),
   "with reconstruction the seeds include SparseGPT's saliency written with X.hinv")
PYEOF
forward_checks "$work/py2"
before=$(grep -c '"type":"confirm"' "$work/c1/events.jsonl")
"$AUTOPRUNE" "${cargs[@]/--name/--resume}" >/dev/null 2>&1
after=$(grep -c '"type":"confirm"' "$work/c1/events.jsonl")
check "resuming confirms nothing again ($before -> $after)" eval '[ "$before" -eq "$after" ]'

echo "1..$n"
[ "$failed" -eq 0 ]
