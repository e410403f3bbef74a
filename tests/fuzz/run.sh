#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [PATTERN] — builds every libFuzzer target (tests/fuzz/fuzz_*.c and
# tests/fuzz/fuzz_*.c) with clang, ASan and UBSan against the library sources (into build-fuzz/), runs
# each for SECONDS (default 60) from its seed corpus (the folder beside it named after the target without
# "fuzz_") and the inputs it once failed on (tests/fuzz/regress/<name>/), prints the executions libFuzzer
# ran, and fails on any finding (crash, leak, timeout, OOM, UB).
# Environment: FUZZ_BUILD (build folder, default build-fuzz), FUZZ_JOBS (make -j, default 2),
# FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 10), CLANG (default clang).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seconds=${1:-60}
pattern=${2:-}
build=${FUZZ_BUILD:-build-fuzz}
clang=${CLANG:-clang}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

if ! command -v "$clang" >/dev/null; then
    echo "tests/fuzz/run.sh: $clang not found (make test-deps installs clang and libclang-rt-14-dev)" >&2
    exit 1
fi

mkdir -p "$build"
# The library, instrumented for coverage (fuzzer-no-link) and sanitized, through the Makefile's own rules
# (clang does not know GCC's optimize attribute, which the kernels use for vectorisation hints).
if ! make --no-print-directory -s -j"${FUZZ_JOBS:-2}" BUILD="$build" CC="$clang" OPT="-O1 -g -fno-omit-frame-pointer" \
        SAN="-fsanitize=fuzzer-no-link $san -Wno-unknown-attributes" "$build/libautoprune.a" "$build/libapcore.a" \
        "$build/internal.flags" >"$build/lib.log" 2>&1; then
    cat "$build/lib.log" >&2
    echo "tests/fuzz/run.sh: building the library with $clang failed" >&2
    exit 1
fi
{ read -r inc; read -r libs; } <"$build/internal.flags"
cflags="-std=c11 -O1 -g -fno-omit-frame-pointer -DAP_DATADIR=\"$root\" $inc"

pass=0 fail=0
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    [ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
    seeds=$(dirname "$src")/${name#fuzz_}
    bin=$build/fuzz/$name
    mkdir -p "$build/fuzz" "$build/corpus/$name" "$build/artifacts/$name"
    # shellcheck disable=SC2086
    if ! "$clang" $cflags -Wall -Werror -fsanitize=fuzzer $san -o "$bin" "$src" $libs \
            2>"$build/fuzz/$name.build.log"; then
        cat "$build/fuzz/$name.build.log" >&2
        echo "not ok - $name: does not build"
        fail=$((fail + 1))
        continue
    fi
    log=$build/fuzz/$name.log
    corpora=("$build/corpus/$name")
    [ -d "$seeds" ] && corpora+=("$seeds")
    [ -d "tests/fuzz/regress/${name#fuzz_}" ] && corpora+=("tests/fuzz/regress/${name#fuzz_}")
    # New inputs go to the first (scratch) corpus only; the seeds in the repo stay as they are.
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$bin" -max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT:-10}" \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$name/" "${corpora[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -eq 0 ] && ! grep -qE '^==[0-9]+==ERROR|^SUMMARY: |runtime error:' "$log"; then
        echo "ok - $name: ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?}, no finding"
        pass=$((pass + 1))
    else
        echo "not ok - $name: finding after ${execs:-?} executions (exit $rc); log $log, input under $build/artifacts/$name/"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|deadly signal' "$log" | head -n 8 | sed 's/^/#   /'
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
