#!/usr/bin/env bash
# test_report.sh — `autoprune report`: a small offline search run, its report.html rendered in headless Chromium
# (Debian's chromium), the rendered DOM checked against the run's data (tests/report/check_dom.py), a screenshot
# taken, HTML escaping of a hostile best.lua, a folder with missing files, and the command's usage errors.
. "$(dirname "$0")/../lib.sh" report
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
render() {  # render FILE.html OUT.dom [OUT.png]: the DOM after layout (and a screenshot)
    local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
                 --disable-component-update --disable-sync --user-data-dir="$(mktemp -d "$work/chr.XXXXXX")")
    timeout 120 "$CHROMIUM" "${flags[@]}" --dump-dom "file://$1" >"$2" 2>"$work/chromium.err" || return 1
    [ -z "${3:-}" ] || timeout 120 "$CHROMIUM" "${flags[@]}" --window-size=1000,2400 --screenshot="$3" "file://$1" \
        >/dev/null 2>>"$work/chromium.err"
}

# ---- a small run: 2 generations of 4 symbolic candidates, no final test evaluation (~20 s) ----
run=$work/runs/r
check "a small offline search run" eval '"$AUTOPRUNE" run lua/search.lua --quick --generations 1 --population 4 --no-final --llm off --name r --runs-dir "$work/runs" >"$work/search.log" 2>&1 || { tail -5 "$work/search.log"; false; }'
for f in facts.json events.jsonl archive.json best.lua; do check "the run wrote $f" test -s "$run/$f"; done

check "report --json exits 0 and names the page" eval '"$AUTOPRUNE" report --json "$run" >"$work/out" && grep -q "\"path\":\"$run/report.html\"" "$work/out" && grep -q "\"charts\":4" "$work/out"'
check "report.html exists" test -s "$run/report.html"
check "the page is self-contained (no script, no external reference)" eval 'test -s "$run/report.html" && ! grep -qiE "<script|https?://|src=" "$run/report.html"'
check "plain text output by default" eval '"$AUTOPRUNE" report "$run" | grep -q "^wrote $run/report.html (4 charts)$"'
check "--quiet prints nothing" eval 'out=$("$AUTOPRUNE" report --quiet "$run") && [ -z "$out" ]'
check "--out writes elsewhere" eval '"$AUTOPRUNE" report --quiet --out "$work/elsewhere.html" "$run" && cmp -s <(sed "\$d" "$work/elsewhere.html") <(sed "\$d" "$run/report.html")'

# ---- rendered in headless Chromium ----
check "chromium is installed (Makefile test-deps)" test -n "$CHROMIUM"
check "chromium renders the page" eval 'render "$run/report.html" "$work/dom.html" "$work/report.png" || { tail -3 "$work/chromium.err"; false; }'
"$PY" tests/report/check_dom.py "$run" "$work/dom.html" >"$work/dom.tap"
dom_rc=$?
while IFS= read -r line; do
    case "$line" in
        "ok "*) n=$((n + 1)); echo "ok $n - DOM: ${line#ok * - }" ;;
        "not ok "*) n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - DOM: ${line#not ok * - }" ;;
    esac
done <"$work/dom.tap"
check "the DOM checks ran and passed" eval '[ "$dom_rc" -eq 0 ] && grep -q "^ok " "$work/dom.tap"'
check "the screenshot is a PNG of some size" eval '[ "$(head -c 8 "$work/report.png" | od -An -tx1 | tr -d " \n")" = "89504e470d0a1a0a" ] && [ "$(stat -c %s "$work/report.png")" -gt 30000 ]'
[ -n "${AP_KEEP_REPORT:-}" ] && cp "$work/report.png" "$run/report.html" "$AP_KEEP_REPORT/" 2>/dev/null

# ---- the best metric's source is escaped ----
hostile=$work/hostile
mkdir -p "$hostile"
printf -- '-- </pre><script>alert(1)</script> <img src=x onerror=alert(2)> & "quotes" '"'"'single'"'"'\nreturn function(W) return W:abs() end\n' >"$hostile/best.lua"
check "report of a folder with only best.lua" eval '"$AUTOPRUNE" report --quiet "$hostile"'
check "missing files are noted, not fatal" eval 'grep -q "No allocations in facts.json" "$hostile/report.html" && grep -q "No generation records" "$hostile/report.html"'
check "markup in best.lua arrives as text" eval 'render "$hostile/report.html" "$work/hdom.html" && "$PY" tests/report/check_dom.py "$hostile" "$work/hdom.html" hostile >"$work/h.tap" || { cat "$work/h.tap"; false; }'

# ---- usage and failures ----
check "no RUN_DIR: status 2" eval '"$AUTOPRUNE" report 2>/dev/null; [ $? -eq 2 ]'
check "unknown option: status 2" eval '"$AUTOPRUNE" report --frob "$run" 2>/dev/null; [ $? -eq 2 ]'
check "a missing folder: status 1 with a message" eval '"$AUTOPRUNE" report "$work/nope" 2>"$work/err"; [ $? -eq 1 ] && grep -q "not a run folder" "$work/err"'
check "report --help: status 0" eval '"$AUTOPRUNE" report --help | grep -q "usage: autoprune report"'

echo "1..$n"
[ "$failed" -eq 0 ]
