#!/usr/bin/env bash
# tests/valgrind/test_valgrind.sh — valgrind memcheck on the CLI smoke tests: check, eval on ap-tiny, prune with
# --out, and a two-generation offline search (in process, --no-isolate). Each run must report zero errors and
# zero definitely lost bytes. Sizes are tiny (one CPU, short windows, small texts) so the whole unit stays within
# a few minutes. Skipped (with a TAP "# SKIP" line) only under a sanitizer build, where valgrind cannot run.
. "$(dirname "$0")/../lib.sh" valgrind
if [ "${AP_SANITIZED:-0}" = 1 ]; then
    echo "ok 1 # SKIP valgrind cannot run a binary built with AddressSanitizer (the plain build runs this)"
    exit 0
fi
if ! command -v valgrind >/dev/null; then
    not_ok "valgrind is not installed (make test-deps)"
    exit 1
fi
head -c 20000 data/wikitext-2-raw/wiki.test.raw >"$work/small.txt"
export OPENBLAS_NUM_THREADS=1

# vg NAME ARGS...: run the CLI under memcheck on one CPU (one worker thread); TAP line from valgrind's summary.
vg() {
    local name=$1 log=$work/$1.vg start=$SECONDS rc
    shift
    taskset -c 0 valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --error-exitcode=99 --track-fds=no --log-file="$log" \
        "$AUTOPRUNE" "$@" >"$work/$name.out" 2>"$work/$name.err"
    rc=$?
    local errors definite
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    if grep -q "All heap blocks were freed" "$log"; then
        definite=0
    else
        definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    fi
    if [ "$rc" -eq 0 ] && [ "${errors:-x}" = 0 ] && [ "${definite:-x}" = 0 ]; then
        ok "valgrind $name: 0 errors, 0 bytes definitely lost ($((SECONDS - start)) s)"
    else
        not_ok "valgrind $name: exit $rc, errors ${errors:-?}, definitely lost ${definite:-?} bytes"
        grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|.*definitely lost)" "$log" |
            head -n 10 | sed 's/^/#   /'
        tail -n 3 "$work/$name.err" | sed 's/^/#   stderr: /'
    fi
}

vg check check lua/metrics/wanda.lua lua/metrics/ria.lua
vg eval eval --model models/ap-tiny --text "$work/small.txt" --windows 2 --seqlen 64 --threads 1 --quiet
vg prune prune --model models/ap-tiny --metric wanda --sparsity 0.5 --nsamples 2 --seqlen 64 \
    --calib "$work/small.txt" --out "$work/pruned" --quiet
if [ -s "$work/pruned/model.safetensors" ] && [ -s "$work/pruned/prune.json" ]; then
    ok "the pruned folder was written under valgrind"
else
    not_ok "the pruned folder was written under valgrind"
fi
vg search run lua/search.lua --name V --runs-dir "$work/runs" --no-isolate --no-final --generations 2 \
    --population 1 --nsamples 2 --proxy-windows 1 --seqlen 64 --allocs uniform --calib "$work/small.txt" \
    --valid "$work/small.txt"
if grep -q '"type":"end"' "$work/runs/V/events.jsonl" 2>/dev/null && grep -q "gen 2" "$work/search.out"; then
    ok "the search under valgrind ran two generations to its end"
else
    not_ok "the search under valgrind ran two generations to its end"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
