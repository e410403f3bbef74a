#!/usr/bin/env bash
# test_hostile_alloc.sh — every tests/hostile/alloc/*.lua run as an allocation script (alloc_driver.c: the path
# of `autoprune prune --alloc FILE`, ap_prune_run_alloc_script in the one sandbox): exit status 1, the kind its
# "-- expect: KIND" header names, a one-line message, within the allocation wall limit (2 s) + 1.5 s, bounded
# memory, no side effect (a canary file untouched, nothing created), and a good allocation script run right
# after it in the same process passes. The shipped lua/alloc scripts pass.
# Environment: AP_BUILD (build folder with internal.flags), AP_SANITIZED (set under ASan: sanitized driver,
# no ulimit -v, looser RSS).
. "$(dirname "$0")/../lib.sh" hostile-alloc
BUILD=${AP_BUILD:-build}
MAX_MS=3500                                   # the 2 s wall limit + 1.5 s (two Python and one driver start)
if [ -n "${AP_SANITIZED:-}" ]; then MAX_RSS_KB=$((3 * 1024 * 1024)); else MAX_RSS_KB=$((1024 * 1024)); fi
GOOD=$AP_ROOT/lua/alloc/depth_ramp.lua
PEAK_RSS=$AP_ROOT/tests/hostile/peak_rss.py         # runs a command, notes the peak RSS of its process tree

mkdir -p "$work/bin" "$work/run"
driver=$work/bin/alloc_driver
{ read -r cflags; read -r libs; } <"$BUILD/internal.flags"
san=""
[ -n "${AP_SANITIZED:-}" ] && san="-fsanitize=address,undefined"
# shellcheck disable=SC2086
check "alloc_driver.c builds against $BUILD" cc -std=c11 -O1 -g $san $cflags -o "$driver" \
    tests/hostile/alloc_driver.c $libs
echo "canary $$" >"$work/run/canary.txt"
canary_sum=$(sha256sum <"$work/run/canary.txt")

# verdict OUT EXPECT: "OK kind: message" when the first line is the expected failure and the second passed.
verdict() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
try:
    first, second = json.loads(lines[0]), json.loads(lines[1])
except Exception as e:
    print("bad JSON output (%s): %r" % (e, lines[:2])); sys.exit()
msg = first.get("message") or ""
if len(lines) != 2: print("expected 2 JSON lines, got %d" % len(lines))
elif first.get("ok") is not False: print("hostile script passed: %r" % first)
elif first.get("kind") != sys.argv[2]: print("kind %s, expected %s: %s" % (first.get("kind"), sys.argv[2], msg))
elif not msg or len(msg) > 400: print("message not one short line: %r" % msg)
elif second.get("ok") is not True: print("the good script after it failed: %r" % second)
else: print("OK %s: %s" % (first["kind"], msg))
PYEOF
}

run_one() {  # FILE EXPECTED_KIND
    local f=$1 expect=$2 name t0 ms rc rss v extra
    name=alloc/$(basename "$f")
    t0=$(date +%s%N)
    (
        cd "$work/run" || exit 99
        [ -z "${AP_SANITIZED:-}" ] && ulimit -v $((4 * 1024 * 1024))
        HOME=$work/run "$PY" "$PEAK_RSS" "$work/rss" "$driver" "$f" "$GOOD" >"$work/out" 2>"$work/err"
    )
    rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    rss=$(tail -1 "$work/rss" 2>/dev/null)
    v=$(verdict "$work/out" "$expect")
    check "$name: exit $rc (want 1), ${v#OK }" test "$rc" -eq 1 -a "${v:0:2}" = OK
    check "$name: ${ms} ms" test "$ms" -le "$MAX_MS"
    check "$name: peak RSS ${rss:-?} KB" test -n "$rss" -a "${rss:-0}" -le "$MAX_RSS_KB"
    extra=$(ls -A "$work/run" | grep -v -x canary.txt)
    check "$name: no side effect${extra:+ (new: $extra)}" \
        test "$(sha256sum <"$work/run/canary.txt")" = "$canary_sum" -a -z "$extra"
}

count=0
for f in "$AP_ROOT"/tests/hostile/alloc/*.lua; do
    expect=$(sed -n 's/^-- expect: \([a-z]*\).*/\1/p' "$f" | head -1)
    check "alloc/$(basename "$f"): has an '-- expect:' header" test -n "$expect"
    [ -n "$expect" ] && run_one "$f" "$expect" && count=$((count + 1))
done
check "$count hostile allocation scripts run" test "$count" -ge 20
shipped=$(cd "$work/run" && "$driver" "$AP_ROOT"/lua/alloc/*.lua 2>&1)
check "the shipped lua/alloc scripts pass ($(echo "$shipped" | tr '\n' ' '))" \
    test "$(echo "$shipped" | grep -c '^{"ok":true}$')" -eq "$(ls "$AP_ROOT"/lua/alloc/*.lua | wc -l)"
echo "1..$n"
[ "$failed" -eq 0 ]
