#!/usr/bin/env bash
# test_man.sh — doc/autoprune.1 stays in step with the binary: it renders without warnings, has a section for
# every command of `autoprune --help`, and names every option each command's --help lists.
. "$(dirname "$0")/../lib.sh" man

check "man -l renders doc/autoprune.1 without warnings" eval 'MANWIDTH=200 man -l doc/autoprune.1 >"$work/man.txt" 2>"$work/err" && [ ! -s "$work/err" ] && grep -q "^NAME" "$work/man.txt"'
for c in $("$AUTOPRUNE" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
    check "section for 'autoprune $c'" grep -q "^ *autoprune $c\b" "$work/man.txt"
    missing=
    for o in $("$AUTOPRUNE" $c --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        grep -qe "$o\b" "$work/man.txt" || missing="$missing $o"
    done
    check "every option of '$c --help' is in the man page${missing:+ (missing:$missing)}" test -z "$missing"
done
check "the man page documents the exit statuses 0, 1, 2" eval 'sed -n "/^EXIT STATUS/,/^[A-Z]/p" "$work/man.txt" | grep -qE "^ +2 *$|^ +2 +usage"'
echo "1..$n"
[ "$failed" -eq 0 ]
