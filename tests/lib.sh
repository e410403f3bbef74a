# tests/lib.sh — the preamble the shell tests share: where the repo and the binary are, a scratch folder `$work`
# removed on exit, and check(), which prints one TAP line per check. Source it first thing:
#   . "$(dirname "$0")/../lib.sh" NAME        (NAME names the scratch folder /tmp/ap-NAME.XXXXXX)
set -u
AP_ROOT=${AP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
AUTOPRUNE=${AUTOPRUNE:-$AP_ROOT/build/autoprune}
PY=${PYTHON:-/usr/bin/python3}
case "$AUTOPRUNE" in /*) ;; *) AUTOPRUNE=$PWD/$AUTOPRUNE ;; esac
cd "$AP_ROOT" || exit 1
work=$(mktemp -d "/tmp/ap-${1:-test}.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=0 failed=0
check() {  # check "description" command... : passes when the command succeeds
    local what=$1
    shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else failed=$((failed + 1)); echo "not ok $n - $what"; fi
}
