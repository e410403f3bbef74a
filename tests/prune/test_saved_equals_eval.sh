#!/usr/bin/env bash
# tests/prune/test_saved_equals_eval.sh — the perplexity `prune --eval` prints is that of the folder it writes, also
# for methods that update weights (SparseGPT, reconstruct): updated weights are rounded to the checkpoint's dtype
# (bf16 for ap-tiny) before anything is measured.
set -u
AP_ROOT=${AP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
AUTOPRUNE=${AUTOPRUNE:-$AP_ROOT/build/autoprune}
cd "$AP_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
ppl_of() {  # the ppl of an eval record, or of a prune record's "eval" part
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(repr(d.get("eval", d)["ppl"]))'
}

for method in "sparsegpt" "wanda --reconstruct"; do
    name=${method%% *}
    # shellcheck disable=SC2086
    "$AUTOPRUNE" prune --model models/ap-tiny --metric $method --sparsity 0.7 --nsamples 16 --eval \
        --eval-windows 24 --out "$tmp/$name" --json --quiet >"$tmp/$name.json" 2>"$tmp/$name.err"
    check "$method: prune --out --eval exits 0 ($(head -c 200 "$tmp/$name.err"))" '[ $? -eq 0 ]'
    p1=$(ppl_of <"$tmp/$name.json" 2>/dev/null || echo none)
    "$AUTOPRUNE" eval --model "$tmp/$name" --windows 24 --json --quiet >"$tmp/$name.eval.json" 2>/dev/null
    p2=$(ppl_of <"$tmp/$name.eval.json" 2>/dev/null || echo other)
    check "$method: printed perplexity $p1 == the written folder's $p2" '[ "$p1" = "$p2" ]'
done
echo "1..$n"
[ "$failed" -eq 0 ]
