#!/usr/bin/env bash
# test_repl.sh — `autoprune repl`: through a pipe (expressions printed as lua5.4 prints them, statements,
# multi-line chunks, errors on stderr with the status, os.exit, --model) and on a pseudo-terminal made by
# script(1) (banner, prompt, Readline tab completion of T.ab and m:cal, history recall with the up arrow).
. "$(dirname "$0")/../lib.sh" repl
repl() {  # repl INPUT [ARGS...]: run the repl on INPUT through a pipe; stdout, stderr, status in $work/{out,err,rc}
    local input=$1
    shift
    printf '%b' "$input" | "$AUTOPRUNE" repl "$@" >"$work/out" 2>"$work/err"
    echo $? >"$work/rc"
}
out_is() { printf '%b' "$1" | cmp -s - "$work/out" || { echo "    stdout: $(head -c 300 "$work/out" | od -c | head -5)"; false; }; }
rc_is() { [ "$(cat "$work/rc")" = "$1" ] || { echo "    status $(cat "$work/rc"), wanted $1; stderr: $(head -c 300 "$work/err")"; false; }; }

# ---- pipe ----
repl '1 + 1\n"a", nil, 2.5\nlocal x = 3\nprint("p")\nt = {}\nt\n' 
check "a pipe: expressions print their values, statements nothing, no prompt" eval 'rc_is 0 && grep -q "^table: 0x" "$work/out" && [ "$(head -3 "$work/out")" = "$(printf "2\na\tnil\t2.5\np")" ] && [ ! -s "$work/err" ]'
repl 'function f(a)\n  return a * 2\nend\nf(21)\nT.ones(2, 3):sum()\nap.version == ap.version\n'
check "a multi-line function, then calls; T and ap are there" eval 'rc_is 0 && out_is "42\n6.0\ntrue\n"'
repl 'error("boom")\nprint("after")\n'
check "an error goes to stderr with its line and a traceback; the repl goes on; status 1" eval 'rc_is 1 && grep -q "^stdin:1: boom$" "$work/err" && grep -q "stack traceback" "$work/err" && out_is "after\n"'
repl 'x = = 1\n2\n'
check "a syntax error is reported and the repl goes on" eval 'rc_is 1 && grep -q "^stdin:1: unexpected symbol" "$work/err" && out_is "2\n"'
repl 'ap.metric("return function(W) return W:nope() end"):score(T.ones(2, 2), {})\n'
check "an ap error table is described (kind: message)" eval 'rc_is 1 && grep -qE "^(runtime|type): .*nope" "$work/err"'
repl 'function g()\n'
check "an unfinished chunk at the end of input is an error" eval 'rc_is 1 && grep -q "unfinished chunk" "$work/err"'
repl 'print(1)\nos.exit(3)\nprint(2)\n'
check "os.exit(3) ends with status 3" eval 'rc_is 3 && out_is "1\n"'
repl 'm:info().n_layers\nm:sparsity()\n' --model models/ap-tiny
check "--model opens the model as m" eval 'rc_is 0 && out_is "4\n0.0\n"'
repl 'print(1)\n' --model "$work/none"
check "--model with a bad folder: message and status 1" eval 'rc_is 1 && grep -q "autoprune repl: " "$work/err"'
check "--help: status 0" eval '"$AUTOPRUNE" repl --help | grep -q "usage: autoprune repl"'
check "an unknown option: status 2" eval '"$AUTOPRUNE" repl --frob </dev/null 2>/dev/null; [ $? -eq 2 ]'
check "empty input: status 0, no output" eval 'repl "" && rc_is 0 && [ ! -s "$work/out" ]'

# ---- a terminal: script(1) gives the repl a pseudo-terminal; keystrokes come as typeahead ----
if command -v script >/dev/null; then
    tty_run() {  # tty_run KEYS: the repl on a pty; the screen (CR and bracketed-paste codes removed) in $work/tty
        printf '%b' "$1" | TERM=xterm timeout 60 script -qfec "$AUTOPRUNE repl --model models/ap-tiny" /dev/null 2>&1 |
            tr -d '\r' | sed 's/\x1b\[?2004[hl]//g' >"$work/tty"
    }
    tty_run 'x = T.ab\t\nx == T.abs\n\033[A\nm:cal\t == m.calibrate\n\004'
    check "terminal: a banner and a prompt" eval 'grep -q "^autoprune .*T and ap are loaded; the model is m" "$work/tty" && grep -q "^> " "$work/tty"'
    check "terminal: tab completes T.ab to T.abs" grep -q '^> x = T.abs$' "$work/tty"
    check "terminal: the completed line ran (x == T.abs is true)" eval '[ "$(grep -c "^true$" "$work/tty")" -ge 2 ]'
    check "terminal: the up arrow recalls the previous line" eval '[ "$(grep -c "^> x == T.abs$" "$work/tty")" -eq 2 ]'
    check "terminal: tab completes a model method (m:cal -> m:calibrate)" grep -q '^> m:calibrate == m.calibrate$' "$work/tty"
else
    check "script(1) is available for the terminal checks" false
fi

echo "1..$n"
[ "$failed" -eq 0 ]
