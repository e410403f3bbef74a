#!/usr/bin/env bash
# test_hostile.sh — every tests/hostile/*.lua through `autoprune check --json`: exit status 1, the kind its
# "-- expect: KIND" header names, a one-line message (also one line on stderr without --json), within the wall
# limit + 1 s, bounded memory, no side effect (a canary file untouched, nothing created), and a good metric
# checked right after it in the same process passes; then all of them in one run without --json.
# Environment: AUTOPRUNE (the CLI), AP_ROOT (repo root), AP_SANITIZED (set under ASan: no ulimit -v, looser RSS).
. "$(dirname "$0")/../lib.sh" hostile
WALL_MS=3000                                   # the wall limit given to check
MAX_SECONDS=$(( WALL_MS / 1000 + 1 ))          # allowed: the wall limit + 1 s
if [ -n "${AP_SANITIZED:-}" ]; then MAX_RSS_KB=$((3 * 1024 * 1024)); else MAX_RSS_KB=$((1024 * 1024)); fi
GOOD=$AP_ROOT/lua/metrics/wanda.lua

PEAK_RSS=$AP_ROOT/tests/hostile/peak_rss.py         # runs a command, notes the peak RSS of its process tree

echo "canary $$" >"$work/canary.txt"
canary_sum=$(sha256sum <"$work/canary.txt")

# check_one FILE EXPECTED_KIND
check_one() {
    local f=$1 expect=$2 name
    name=$(basename "$f")
    local t0 t1 rc
    t0=$(date +%s%N)
    (
        cd "$work" || exit 99
        [ -z "${AP_SANITIZED:-}" ] && ulimit -v $((4 * 1024 * 1024))
        HOME=$work "$PY" "$PEAK_RSS" "$work/rss" \
            "$AUTOPRUNE" check --json --wall-ms "$WALL_MS" "$f" "$GOOD" >"$work/out" 2>"$work/err"
    )
    rc=$?
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    local rss
    rss=$(tail -1 "$work/rss" 2>/dev/null)
    local verdict
    verdict=$("$PY" - "$work/out" "$expect" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
expect = sys.argv[2]
try:
    first, second = json.loads(lines[0]), json.loads(lines[1])
except Exception as e:
    print("bad JSON output (%s): %r" % (e, lines[:2])); sys.exit()
if len(lines) != 2: print("expected 2 JSON lines, got %d" % len(lines)); sys.exit()
msg = first.get("message") or ""
if first.get("ok") is not False: print("hostile script passed: %r" % first); sys.exit()
if first.get("kind") != expect: print("kind %s, expected %s: %s" % (first.get("kind"), expect, msg)); sys.exit()
if not msg or "\n" in msg or "\r" in msg or len(msg) > 400: print("message not one short line: %r" % msg); sys.exit()
if second.get("ok") is not True: print("the good metric after it failed: %r" % second); sys.exit()
print("OK %s: %s" % (first["kind"], msg))
EOF
)
    if [ "$rc" -eq 1 ] && [[ "$verdict" == OK* ]]; then
        ok "$name: exit 1, ${verdict#OK }"
    else
        not_ok "$name: exit $rc, $verdict"
    fi
    if [ "$ms" -le $((MAX_SECONDS * 1000)) ]; then ok "$name: ${ms} ms"; else not_ok "$name: took ${ms} ms"; fi
    if [ -n "$rss" ] && [ "$rss" -le "$MAX_RSS_KB" ]; then ok "$name: peak RSS ${rss} KB"; else not_ok "$name: peak RSS '${rss}' KB"; fi
    local extra
    extra=$(ls -A "$work" | grep -v -x -e canary.txt -e out -e err -e rss -e binary.luac)
    if [ "$(sha256sum <"$work/canary.txt")" = "$canary_sum" ] && [ -z "$extra" ]; then
        ok "$name: no side effect"
    else
        not_ok "$name: side effect (canary changed or new files: $extra)"
    fi
}

count=0
for f in "$AP_ROOT"/tests/hostile/*.lua; do
    expect=$(sed -n 's/^-- expect: \([a-z]*\).*/\1/p' "$f" | head -1)
    if [ -z "$expect" ]; then not_ok "$(basename "$f"): no '-- expect:' header"; continue; fi
    check_one "$f" "$expect"
    count=$((count + 1))
done

# A binary chunk is refused as such: text chunks only. Made with luac when installed, else a hand-made
# Lua 5.4 header (the refusal happens on the signature, before anything after it is read).
echo 'return function(W) return W end' >"$work/src.lua"
if ! { command -v luac5.4 >/dev/null && luac5.4 -o "$work/binary.luac" "$work/src.lua"; }; then
    printf '\033LuaT\000\031\223\r\n\032\n\004\010\010xV\000\000' >"$work/binary.luac"
fi
rm -f "$work/src.lua"
check_one "$work/binary.luac" syntax
count=$((count + 1))

# Without --json, all of them in one process: exactly one stderr line per script, "FILE[:LINE]: KIND: message",
# in order (so each script after a hostile one still ran and was judged on its own).
files=("$AP_ROOT"/tests/hostile/*.lua "$work/binary.luac")
(cd "$work" && "$AUTOPRUNE" check --wall-ms "$WALL_MS" "${files[@]}" >/dev/null 2>"$work/err")
rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$work/err")" -eq "${#files[@]}" ]; then
    ok "plain mode: exit 1, ${#files[@]} stderr lines for ${#files[@]} scripts"
else
    not_ok "plain mode: exit $rc, $(wc -l <"$work/err") stderr lines for ${#files[@]} scripts"
fi
i=0
while IFS= read -r line; do
    f=${files[$i]}
    expect=$(sed -n 's/^-- expect: \([a-z]*\).*/\1/p' "$f" 2>/dev/null | head -1)
    [ -z "$expect" ] && expect=syntax                          # binary.luac
    case "$line" in
        "$f: $expect: "* | "$f:"[0-9]*": $expect: "*) ok "plain mode: $line" ;;
        *) not_ok "plain mode: '$line' is not '$f[:LINE]: $expect: ...'" ;;
    esac
    i=$((i + 1))
done <"$work/err"

if [ "$count" -ge 40 ]; then ok "$count hostile scripts checked"; else not_ok "only $count hostile scripts"; fi
echo "1..$n"
[ "$failed" -eq 0 ]
