#!/usr/bin/env bash
# test_reconstruct.sh — `prune --reconstruct` / `--reconstruct-adaptive` and m:prune{reconstruct=...} on ap-tiny:
# the metric's sparsity is kept exactly, the weight update lowers the perplexity, the run record says which mode
# ran, the adaptive mode refuses N:M, one-shot statistics without Hessians are refused with a clear error, and
# X.hinv turns a script into SparseGPT itself.
. "$(dirname "$0")/../lib.sh" rec
field() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

common=(--model models/ap-tiny --sparsity 0.7 --oneshot --nsamples 16 --eval
        --eval-text data/wikitext-2-raw/wiki.valid.raw --eval-windows 8 --json --quiet)
for mode in none mask adaptive; do
    flag=()
    [ "$mode" = mask ] && flag=(--reconstruct)
    [ "$mode" = adaptive ] && flag=(--reconstruct-adaptive)
    "$AUTOPRUNE" prune --metric wanda "${common[@]}" "${flag[@]}" >"$work/$mode.json" 2>"$work/$mode.err" ||
        echo "    $mode: $(tail -1 "$work/$mode.err")"
done
for mode in none mask adaptive; do
    check "$mode: the run record says reconstruct=$mode" \
        test "$(field "$work/$mode.json" "j['reconstruct']" 2>/dev/null)" = "$mode"
done
check "mask: exactly the zeros of the plain Wanda mask" \
    test "$(field "$work/mask.json" "j['zeros']")" = "$(field "$work/none.json" "j['zeros']")"
check "adaptive (per row): the same per-row quota, so the same count of zeros" \
    test "$(field "$work/adaptive.json" "j['zeros']")" = "$(field "$work/none.json" "j['zeros']")"
ppl() { field "$work/$1.json" "j['eval']['ppl']"; }
check "mask: the OBS update lowers the perplexity ($(ppl mask) < $(ppl none))" \
    "$PY" -c "import sys; sys.exit(not float('$(ppl mask)') < 0.95 * float('$(ppl none)'))"
check "adaptive: lowers it too ($(ppl adaptive) < $(ppl none))" \
    "$PY" -c "import sys; sys.exit(not float('$(ppl adaptive)') < 0.95 * float('$(ppl none)'))"
check "adaptive with 2:4 is refused" \
    bash -c '! "$0" prune --model models/ap-tiny --metric wanda --pattern 2:4 --oneshot --nsamples 4 \
        --reconstruct-adaptive --quiet 2>"$1/nm.err" && grep -q "unstructured only" "$1/nm.err"' "$AUTOPRUNE" "$work"
cat >"$work/noh.lua" <<'EOF'
local m = ap.model.load("models/ap-tiny")
local st = m:calibrate { nsamples = 2, seqlen = 64, quiet = true }
local ok, err = pcall(m.prune, m, { metric = "wanda", sparsity = 0.5, stats = st, reconstruct = true })
print(ok, type(err) == "table" and err.message or tostring(err))
local ok2, err2 = pcall(m.prune, m, { metric = "wanda", sparsity = 0.5, stats = st, reconstruct = "bogus" })
print(ok2, type(err2) == "table" and err2.message or tostring(err2))
for _, params in ipairs { { tau = 1 }, { tau = 1, granularity = "block" } } do
  local pr = m:prune { metric = "wanda", sparsity = 0.5, stats = st, alloc = "sdsa", alloc_params = params }
  print("granularity", params.granularity or "-", pr.alloc.granularity, pr.alloc.tau)
  m:reset()
end
EOF
"$AUTOPRUNE" run "$work/noh.lua" >"$work/noh.out" 2>&1
check "one-shot stats without Hessians: reconstruct refused, saying why" grep -q "false.*Hessian" "$work/noh.out"
check "reconstruct = 'bogus' refused" grep -q 'false.*reconstruct must be' "$work/noh.out"
check "alloc_params = { tau = 1 } keeps the default granularity (per linear)" \
    grep -q '^granularity	-	linear	1' "$work/noh.out"
check "alloc_params granularity = block is taken" grep -q '^granularity	block	block	1' "$work/noh.out"
# X.hinv (metric contract extension): SparseGPT's own saliency w²/d² written as a script, under the adaptive
# update and compared per layer, is SparseGPT: the written models are byte for byte the same
cat >"$work/obs.lua" <<'EOF'
return { group = "layer", score = function(W, X, info) return W:square() / X.hinv:square() end }
EOF
check "autoprune check accepts a metric that reads X.hinv" "$AUTOPRUNE" check "$work/obs.lua"
small=(--model models/ap-tiny --sparsity 0.6 --nsamples 16 --quiet)
"$AUTOPRUNE" prune "${small[@]}" --metric "$work/obs.lua" --reconstruct-adaptive --out "$work/obs" >/dev/null 2>&1
"$AUTOPRUNE" prune "${small[@]}" --metric sparsegpt --out "$work/sgpt" >/dev/null 2>&1
check "w²/X.hinv² + adaptive update writes the same model as native SparseGPT" \
    cmp -s "$work/obs/model.safetensors" "$work/sgpt/model.safetensors"
check "without Hessians X.hinv is nil: the run fails naming the field" \
    bash -c '! "$0" prune --model models/ap-tiny --metric "$1/obs.lua" --sparsity 0.5 --nsamples 4 --quiet \
        2>"$1/nohinv.err" && grep -q "hinv" "$1/nohinv.err"' "$AUTOPRUNE" "$work"
echo "1..$n"
[ "$failed" -eq 0 ]
