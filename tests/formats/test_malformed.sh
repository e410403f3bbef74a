#!/usr/bin/env bash
# tests/formats/test_malformed.sh — the malformed-file suite through the CLI: every corrupt safetensors file
# (autoprune run + ap.load_tensors) and every corrupt checkpoint folder / config.json (autoprune eval --model)
# that make_corrupt.py writes must exit with status 1 (0 for the control cases) and an error naming the file
# and the field, never a crash or a hang, under a time limit and an address-space limit (ulimit -v).
# tests/c/test_malformed.c checks the same files straight through the library.
. "$(dirname "$0")/../lib.sh" malformed-sh
export OPENBLAS_NUM_THREADS=1

if "$PY" "$AP_ROOT/tests/formats/make_corrupt.py" "$work/suite" --tiny "$AP_ROOT/models/ap-tiny" >/dev/null; then
    ok "make_corrupt.py wrote $(wc -l <"$work/suite/manifest.tsv") cases"
else
    not_ok "make_corrupt.py failed"; echo "1..$n"; exit 1
fi
if [ ! -x "$AUTOPRUNE" ]; then not_ok "no CLI at $AUTOPRUNE"; echo "1..$n"; exit 1; fi
cat >"$work/load.lua" <<'LUA'
local t = ap.load_tensors(arg[1])
local n = 0
for _ in pairs(t) do n = n + 1 end
print("loaded " .. n .. " tensors")
LUA

# Address space: 2 GB is far above what these loads need (sanitizers reserve terabytes of shadow: no limit).
if [ -n "${AP_SANITIZED:-}" ]; then
    limit=unlimited; echo "# no ulimit -v under sanitizers"
else
    limit=2000000
fi

# run_case DESC EXPECT_RC NAME FRAGMENT CMD...: exit status, no signal/timeout, message names NAME and FRAGMENT.
run_case() {
    local desc=$1 want=$2 name=$3 frag=$4 rc start=$SECONDS
    shift 4
    ( ulimit -v "$limit"; exec timeout 20 "$@" ) >"$work/out" 2>"$work/err"
    rc=$?
    local msg
    msg=$(head -c 600 "$work/err" | head -n 1)
    if [ "$rc" -ne "$want" ]; then
        not_ok "$desc: exit status $rc, wanted $want (${msg})"
    elif [ "$want" -ne 0 ] && { ! grep -qF -- "$name" "$work/err" || ! grep -qF -- "$frag" "$work/err"; }; then
        not_ok "$desc: message lacks '$name' or '$frag' (${msg})"
    else
        ok "$desc: status $rc in $((SECONDS - start))s${msg:+ ($msg)}"
    fi
}

while IFS=$'\t' read -r kind rel expect frag desc; do
    path=$work/suite/$rel
    want=1
    case "$kind" in
        st)
            [ "$expect" = ok ] && want=0
            run_case "run load_tensors $rel [$desc]" "$want" "$(basename "$rel")" "$frag" \
                "$AUTOPRUNE" run "$work/load.lua" "$path" ;;
        ck)
            # the control folder is a valid checkpoint whose tensors do not fit the config: still status 1
            [ "$expect" = ok ] && frag=$rel
            run_case "eval --model $rel [$desc]" "$want" "$rel" "$frag" \
                "$AUTOPRUNE" eval --model "$path" --quiet --threads 1 --windows 1 --seqlen 16 ;;
        cfg)
            [ "$expect" = ok ] && want=0
            run_case "eval --model $rel [$desc]" "$want" "$rel/config.json" "$frag" \
                "$AUTOPRUNE" eval --model "$path" --quiet --threads 1 --windows 1 --seqlen 16 ;;
        *) not_ok "manifest: unknown kind '$kind'" ;;
    esac
done <"$work/suite/manifest.tsv"

echo "1..$n"
[ "$failed" -eq 0 ]
