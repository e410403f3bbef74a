#!/usr/bin/env bash
# test_progress.sh — output conventions shared by every command: a progress bar with rate and ETA on stderr only
# when it is a terminal (script(1) provides one) and never with --quiet or --json nor in a pipe (eval, prune, and
# ap.model's calibrate/eval/prune in a script); --json prints exactly one JSON line on stdout; every command answers
# --help with status 0 and an unknown option with status 2 (exit statuses 0 ok, 1 failed, 2 usage).
. "$(dirname "$0")/../lib.sh" progress
on_tty() {  # on_tty OUT ARGS...: run autoprune ARGS on a pseudo-terminal (stdout and stderr both go to OUT)
    local out=$1
    shift
    local cmd
    printf -v cmd '%q ' "$AUTOPRUNE" "$@"
    TERM=xterm timeout 300 script -qfec "$cmd" /dev/null </dev/null >"$out" 2>&1
}
bar_in() {  # bar_in FILE LABEL UNIT: a drawn bar of that step with a rate and an ETA
    grep -aqE "$2 +\[[#.]{24}\] [0-9]+/[0-9]+ $3  [0-9.]+ [a-z]+/s  ETA [0-9]" "$1"
}
no_bar() { ! grep -aqE '\[[#.]{24}\]|ETA' "$1"; }

command -v script >/dev/null || { echo "not ok 1 - script(1) (util-linux) is needed for the terminal checks"; exit 1; }
EV=(eval --windows 3)
PR=(prune --model models/ap-tiny --metric wanda --sparsity 0.5 --nsamples 4 --eval --eval-windows 2)

check "eval on a terminal: a bar with tokens/s and ETA" eval 'on_tty "$work/t" "${EV[@]}" && bar_in "$work/t" evaluate windows && grep -aq "tok/s" "$work/t"'
check "eval in a pipe: nothing on stderr" eval '"$AUTOPRUNE" "${EV[@]}" >"$work/o" 2>"$work/e" && [ ! -s "$work/e" ] && grep -q "^ppl" "$work/o"'
check "eval --quiet on a terminal: no bar" eval 'on_tty "$work/t" "${EV[@]}" --quiet && no_bar "$work/t" && grep -aq "^ppl" "$work/t"'
check "eval --json on a terminal: no bar, one JSON line" eval 'on_tty "$work/t" "${EV[@]}" --json && no_bar "$work/t" && [ "$(tr -d "\r" <"$work/t" | grep -c .)" -eq 1 ] && tr -d "\r" <"$work/t" | "$PY" -c "import json,sys; json.loads(sys.stdin.read())"'

check "prune on a terminal: bars for pruning and evaluation" eval 'on_tty "$work/t" "${PR[@]}" && bar_in "$work/t" prune linears && bar_in "$work/t" evaluate windows'
check "prune in a pipe: no bar on stderr" eval '"$AUTOPRUNE" "${PR[@]}" >"$work/o" 2>"$work/e" && no_bar "$work/e" && [ ! -s "$work/e" ]'
check "prune --quiet on a terminal: no bar" eval 'on_tty "$work/t" "${PR[@]}" --quiet && no_bar "$work/t" && grep -aq "^realised sparsity" "$work/t"'
check "prune --json: one JSON line on stdout, nothing on stderr" eval '"$AUTOPRUNE" "${PR[@]}" --json >"$work/o" 2>"$work/e" && [ "$(grep -c . "$work/o")" -eq 1 ] && "$PY" -c "import json,sys; json.load(open(sys.argv[1]))" "$work/o" && [ ! -s "$work/e" ]'

cat >"$work/model.lua" <<'LUA'
local m = ap.model.load(arg[1])
local quiet = arg[2] == "quiet"
local st = m:calibrate { nsamples = 4, seqlen = 128, quiet = quiet }
m:prune { metric = "wanda", sparsity = 0.5, stats = st, quiet = quiet }
print(("ppl %.2f"):format(m:eval { windows = 2, quiet = quiet }.ppl))
LUA
check "ap.model on a terminal: calibrate, prune and evaluate bars" eval 'on_tty "$work/t" run "$work/model.lua" models/ap-tiny && bar_in "$work/t" calibrate windows && bar_in "$work/t" prune linears && bar_in "$work/t" evaluate windows'
check "ap.model with quiet = true on a terminal: no bar" eval 'on_tty "$work/t" run "$work/model.lua" models/ap-tiny quiet && no_bar "$work/t" && grep -aq "^ppl" "$work/t"'
check "ap.model in a pipe: no bar" eval '"$AUTOPRUNE" run "$work/model.lua" models/ap-tiny >"$work/o" 2>"$work/e" && [ ! -s "$work/e" ] && grep -q "^ppl" "$work/o"'

cat >"$work/bar.lua" <<'LUA'
local b = ap.progress("gen 1", "candidates", { quiet = arg[1] == "quiet" })
for i = 1, 3 do b:done(); print("candidate " .. i); b:update(i, 3) end
b:done()
LUA
check "ap.progress on a terminal: the same bar, lines printed in between stay clean" eval 'on_tty "$work/t" run "$work/bar.lua" && bar_in "$work/t" "gen 1" candidates && [ "$(tr "\r" "\n" <"$work/t" | sed "s/\x1b\[K//g" | grep -c "^candidate [123]$")" -eq 3 ]'
check "ap.progress with quiet, and in a pipe: no bar" eval 'on_tty "$work/t" run "$work/bar.lua" quiet && no_bar "$work/t" && "$AUTOPRUNE" run "$work/bar.lua" >"$work/o" 2>"$work/e" && [ ! -s "$work/e" ] && [ "$(grep -c "^candidate" "$work/o")" -eq 3 ]'

check "the search on a terminal: calibration and a bar per generation with ETA" eval 'on_tty "$work/t" run lua/search.lua --quick --generations 0 --no-final --llm off --name p --runs-dir "$work/runs" && bar_in "$work/t" calibrate windows && bar_in "$work/t" "gen 0" candidates && grep -aq "gen 0  #1 " "$work/t"'

# Every command: --help on stdout with status 0; an unknown option is a usage error (2) naming the usage.
cmds=$("$AUTOPRUNE" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}')
check "the command table lists check run eval prune report repl" eval '[ "$(echo $cmds)" = "check run eval prune report repl" ]'
for c in $cmds; do
    check "$c --help: status 0, usage on stdout" eval '"$AUTOPRUNE" $c --help >"$work/o" 2>"$work/e" && grep -q "^usage: autoprune $c" "$work/o" && [ ! -s "$work/e" ]'
    check "$c --no-such-option: status 2 with the usage on stderr" eval '"$AUTOPRUNE" $c --no-such-option </dev/null >"$work/o" 2>"$work/e"; [ $? -eq 2 ] && grep -q "usage: autoprune $c" "$work/e"'
done
check "--help of the commands documents the exit statuses" eval 'for c in $cmds; do "$AUTOPRUNE" $c --help | tr "\n" " " | grep -q "Exit status: 0" || { echo "    $c"; exit 1; }; done'

echo "1..$n"
[ "$failed" -eq 0 ]
