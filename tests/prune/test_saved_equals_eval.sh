#!/usr/bin/env bash
# tests/prune/test_saved_equals_eval.sh — the perplexity `prune --eval` prints is that of the folder it writes, also
# for methods that update weights (SparseGPT, reconstruct): updated weights are rounded to the checkpoint's dtype
# (bf16 for ap-tiny) before anything is measured.
. "$(dirname "$0")/../lib.sh" saved-equals-eval
ppl_of() {  # the ppl of an eval record, or of a prune record's "eval" part
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(repr(d.get("eval", d)["ppl"]))'
}

for method in "sparsegpt" "wanda --reconstruct"; do
    name=${method%% *}
    # shellcheck disable=SC2086
    "$AUTOPRUNE" prune --model models/ap-tiny --metric $method --sparsity 0.7 --nsamples 16 --eval \
        --eval-windows 24 --out "$work/$name" --json --quiet >"$work/$name.json" 2>"$work/$name.err"
    rc=$?
    check "$method: prune --out --eval exits 0 ($(head -c 200 "$work/$name.err"))" eval '[ $rc -eq 0 ]'
    p1=$(ppl_of <"$work/$name.json" 2>/dev/null || echo none)
    "$AUTOPRUNE" eval --model "$work/$name" --windows 24 --json --quiet >"$work/$name.eval.json" 2>/dev/null
    p2=$(ppl_of <"$work/$name.eval.json" 2>/dev/null || echo other)
    check "$method: printed perplexity $p1 == the written folder's $p2" eval '[ "$p1" = "$p2" ]'
done
echo "1..$n"
[ "$failed" -eq 0 ]
