#!/usr/bin/env bash
# tests/security/test_security_doc.sh — doc/security.md stays in step: its sandbox-policy table lists every
# tests/hostile/*.lua script with its header (tools/hostile_table.py --check), every fuzz target and test the page
# names exists, and no figure placeholder is left.
. "$(dirname "$0")/../lib.sh" security-doc
out=$(/usr/bin/python3 tools/hostile_table.py --check 2>&1)
check "hostile table in step: $out" eval '/usr/bin/python3 tools/hostile_table.py --check >/dev/null 2>&1'
for src in tests/fuzz/fuzz_*.c tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    check "doc/security.md gives the fuzzing figure of $t" eval "grep -q '^| \`$t\`' doc/security.md"
done
missing=""
for f in $(grep -o '`tests/[A-Za-z0-9_./-]*\.\(sh\|py\|c\)`' doc/security.md | tr -d '`' | sort -u); do
    [ -e "$f" ] || missing="$missing $f"
done
check "every test the page names exists${missing:+ (missing:$missing)}" eval '[ -z "$missing" ]'
check "no figure placeholder left" eval '! grep -qE "^(FUZZ_TABLE|ISOLATE_FIGURES|VALGRIND_FIGURES)|(FAULTS|CRASH)_FIGURES" doc/security.md'
echo "1..$n"
[ "$failed" -eq 0 ]
