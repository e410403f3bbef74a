# tests/lib.sh — the preamble the shell tests share: where the repo and the binary are, a scratch folder `$work`
# removed on exit, and the TAP helpers: check(), which runs a command and prints one TAP line, and ok / not_ok for a
# verdict the test reached itself. The test ends with `echo "1..$n"; [ "$failed" -eq 0 ]`. Source it first thing:
#   . "$(dirname "$0")/../lib.sh" NAME        (NAME names the scratch folder /tmp/ap-NAME.XXXXXX)
# A check on an expression is `check "what" eval 'EXPR'`.
set -u
AP_ROOT=${AP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
AUTOPRUNE=${AUTOPRUNE:-$AP_ROOT/build/autoprune}
PY=${PYTHON:-/usr/bin/python3}
case "$AUTOPRUNE" in /*) ;; *) AUTOPRUNE=$PWD/$AUTOPRUNE ;; esac
cd "$AP_ROOT" || exit 1
work=$(mktemp -d "/tmp/ap-${1:-test}.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }                                  # ok "description"
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }  # not_ok "description"
check() {  # check "description" command... : passes when the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# For CLI tests: status_is runs a command into $work/out and $work/err and checks its exit status; out_has and
# err_has grep those.
status_is() {  # status_is N command... : the command's exit status is N (output kept in $work/out, $work/err)
    local want=$1
    shift
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || { echo "    exit $rc, wanted $want; stderr: $(head -c 300 "$work/err")"; return 1; }
}
out_has() { grep -q -- "$1" "$work/out"; }
err_has() { grep -q -- "$1" "$work/err"; }
