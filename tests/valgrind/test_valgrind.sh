#!/usr/bin/env bash
# tests/valgrind/test_valgrind.sh — valgrind memcheck on the CLI smoke tests: check, eval on ap-tiny, prune with
# --out, and a two-generation offline search (in process, --no-isolate). Each run must report zero errors and
# zero definitely lost bytes. Sizes are tiny (one CPU, short windows, small texts) so the whole unit stays within
# a few minutes. Skipped (with a TAP "# SKIP" line) only under a sanitizer build, where valgrind cannot run.
set -u
AP_ROOT=${AP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
AUTOPRUNE=${AUTOPRUNE:-$AP_ROOT/build/autoprune}
cd "$AP_ROOT"
n=0 failed=0
if [ "${AP_SANITIZED:-0}" = 1 ]; then
    echo "ok 1 # SKIP valgrind cannot run a binary built with AddressSanitizer (the plain build runs this)"
    exit 0
fi
if ! command -v valgrind >/dev/null; then
    echo "not ok 1 - valgrind is not installed (make test-deps)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 20000 data/wikitext-2-raw/wiki.test.raw >"$tmp/small.txt"
export OPENBLAS_NUM_THREADS=1

# vg NAME ARGS...: run the CLI under memcheck on one CPU (one worker thread); TAP line from valgrind's summary.
vg() {
    local name=$1 log=$tmp/$1.vg start=$SECONDS rc
    shift
    taskset -c 0 valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --error-exitcode=99 --track-fds=no --log-file="$log" \
        "$AUTOPRUNE" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    local errors definite
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    if grep -q "All heap blocks were freed" "$log"; then
        definite=0
    else
        definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    fi
    n=$((n + 1))
    if [ "$rc" -eq 0 ] && [ "${errors:-x}" = 0 ] && [ "${definite:-x}" = 0 ]; then
        echo "ok $n - valgrind $name: 0 errors, 0 bytes definitely lost ($((SECONDS - start)) s)"
    else
        echo "not ok $n - valgrind $name: exit $rc, errors ${errors:-?}, definitely lost ${definite:-?} bytes"
        grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|.*definitely lost)" "$log" |
            head -n 10 | sed 's/^/#   /'
        tail -n 3 "$tmp/$name.err" | sed 's/^/#   stderr: /'
        failed=$((failed + 1))
    fi
}

vg check check lua/metrics/wanda.lua lua/metrics/ria.lua
vg eval eval --model models/ap-tiny --text "$tmp/small.txt" --windows 2 --seqlen 64 --threads 1 --quiet
vg prune prune --model models/ap-tiny --metric wanda --sparsity 0.5 --nsamples 2 --seqlen 64 \
    --calib "$tmp/small.txt" --out "$tmp/pruned" --quiet
n=$((n + 1))
if [ -s "$tmp/pruned/model.safetensors" ] && [ -s "$tmp/pruned/prune.json" ]; then
    echo "ok $n - the pruned folder was written under valgrind"
else
    echo "not ok $n - the pruned folder was written under valgrind"; failed=$((failed + 1))
fi
vg search run lua/search.lua --name V --runs-dir "$tmp/runs" --no-isolate --no-final --generations 2 \
    --population 1 --nsamples 2 --proxy-windows 1 --seqlen 64 --allocs uniform --calib "$tmp/small.txt" \
    --valid "$tmp/small.txt"
n=$((n + 1))
if grep -q '"type":"end"' "$tmp/runs/V/events.jsonl" 2>/dev/null && grep -q "gen 2" "$tmp/search.out"; then
    echo "ok $n - the search under valgrind ran two generations to its end"
else
    echo "not ok $n - the search under valgrind ran two generations to its end"; failed=$((failed + 1))
fi
echo "1..$n"
[ "$failed" -eq 0 ]
