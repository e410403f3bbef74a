#!/usr/bin/env bash
# check_ap_small.sh — ap-small's dense WikiText-2 test perplexity (seqlen 512) through `autoprune eval`, within
# 0.1% of the independent reference in tests/model/reference.json. Takes minutes, so it is not part of `make test`.
# Usage: tests/model/check_ap_small.sh [--model DIR] [--threads N]   (default model: ../shared/models/ap-small)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${AP_SMALL:-$root/../shared/models/ap-small}
threads=()
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2; shift 2 ;;
        --threads) threads=(--threads "$2"); shift 2 ;;
        *) echo "usage: $0 [--model DIR] [--threads N]" >&2; exit 2 ;;
    esac
done
bin=${AUTOPRUNE:-$root/build/autoprune}
[ -d "$model" ] || { echo "not ok 1 - no model folder at $model (give --model DIR)"; exit 1; }
out=$("$bin" eval --model "$model" --json --quiet "${threads[@]}") || { echo "not ok 1 - autoprune eval failed"; exit 1; }
echo "# $out"
/usr/bin/python3 - "$out" "$root/tests/model/reference.json" <<'PY'
import json, sys
r, ref = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))["ap-small"]
rel = abs(r["ppl"] / ref["dense_ppl_ref"] - 1)
ok1 = rel < 1e-3
ok2 = r["windows"] == ref["windows"] and r["tokens"] == ref["tokens_test"] and r["seqlen"] == 512
print("%sok 1 - ap-small dense ppl %.6f within 0.1%% of the reference %.6f (relative difference %.2g)"
      % ("" if ok1 else "not ", r["ppl"], ref["dense_ppl_ref"], rel))
print("%sok 2 - tokens %d, seqlen %d, windows %d" % ("" if ok2 else "not ", r["tokens"], r["seqlen"], r["windows"]))
print("# %.1f s, %.0f tokens/s, %d threads" % (r["seconds"], r["tokens_per_second"], r["threads"]))
print("1..2")
sys.exit(0 if ok1 and ok2 else 1)
PY
