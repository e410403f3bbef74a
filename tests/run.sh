#!/usr/bin/env bash
# tests/run.sh — runs every test unit (C test binaries, tests/**/test_*.sh, tests/**/test_*.py),
# counts TAP lines ("ok" / "not ok") and prints the closing line "N passed, N failed".
# Usage: tests/run.sh [PATTERN]   (PATTERN filters unit names, e.g. "tensor")
# Environment: AP_BUILD (build dir, default build), AP_JOBS (units run in parallel, default 2).
set -u
cd "$(dirname "$0")/.."
export AP_ROOT=$PWD
export AP_BUILD=${AP_BUILD:-build}
case "$AP_BUILD" in /*) ;; *) AP_BUILD=$PWD/$AP_BUILD ;; esac
export AUTOPRUNE=$AP_BUILD/autoprune
export PYTHON=/usr/bin/python3
pattern=${1:-}
jobs=${AP_JOBS:-2}
logdir=$(mktemp -d /tmp/ap-tests.XXXXXX)

units=()
for f in "$AP_BUILD"/tests/test_*; do [ -x "$f" ] && units+=("$f"); done
while IFS= read -r f; do units+=("$f"); done < <(find tests -name 'test_*.sh' -o -name 'test_*.py' | grep -v '/fuzz/' | sort)

run_unit() {  # unit logfile
    local u=$1 log=$2 start=$SECONDS rc
    case "$u" in
        *.py) timeout 900 "$PYTHON" "$u" >"$log" 2>&1; rc=$? ;;
        *.sh) timeout 900 bash "$u" >"$log" 2>&1; rc=$? ;;
        *)    timeout 900 "$u" >"$log" 2>&1; rc=$? ;;
    esac
    echo "$rc $((SECONDS - start))" >"$log.rc"
}

selected=()
for u in "${units[@]}"; do
    [ -n "$pattern" ] && [[ "$u" != *"$pattern"* ]] && continue
    selected+=("$u")
done

i=0
for u in "${selected[@]}"; do
    run_unit "$u" "$logdir/$i.log" &
    i=$((i + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait

passed=0 failed=0 i=0
for u in "${selected[@]}"; do
    log=$logdir/$i.log
    read -r rc secs <"$log.rc"
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $u exited with status $rc" >>"$log"; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $u ran no check" >>"$log"; fi
    passed=$((passed + p)); failed=$((failed + f))
    name=${u#"$AP_BUILD"/}
    printf '%-48s %4d passed %3d failed  %4ss\n' "$name" "$p" "$f" "$secs"
    if [ "$f" -ne 0 ]; then grep -E '^not ok|rror|Sanitizer' "$log" | head -20 | sed 's/^/    /'; fi
    i=$((i + 1))
done
rm -rf "$logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
