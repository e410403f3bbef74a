#!/usr/bin/env bash
# test_reference.sh — doc/lua-reference.md and the LuaLS annotations lua/types/{T,ap}.lua stay in step with the
# code: every name the binary registers (T, ap and its submodules, methods of tensors, models, statistics and
# metric objects; enumerated by tests/docs/enumerate.lua) is documented, and nothing documented is gone.
. "$(dirname "$0")/../lib.sh" docs
REF=doc/lua-reference.md

if "$AUTOPRUNE" run tests/docs/enumerate.lua models/ap-tiny >"$work/registered" 2>"$work/err" &&
   [ "$(grep -c '^T\.' "$work/registered")" -ge 40 ] && grep -q '^model:prune$' "$work/registered"; then
    ok "enumerated $(wc -l <"$work/registered") registered names"
else
    not_ok "enumerate the registered names: $(head -c 300 "$work/err")"
fi

# Documented names: the code spans that open each heading line (#### `T.abs(t)` `T.sqrt(t)` ...),
# plus method spellings; a tensor method is documented by its T.<name> (the page says they are the same).
grep -E '^#{2,4} ' "$REF" | grep -oE '`[A-Za-z_][A-Za-z0-9_.:]*' | tr -d '`' | sort -u >"$work/documented"
while IFS= read -r name; do
    case "$name" in
        tensor:*) grep -qx "T.${name#tensor:}" "$work/registered" && doc="T.${name#tensor:}" || doc="t:${name#tensor:}" ;;
        *) doc=$name ;;
    esac
    if grep -qxF "$doc" "$work/documented"; then ok "$name documented in $REF"; else not_ok "$name is registered but not documented in $REF"; fi
done <"$work/registered"

# The reverse: a documented T./ap./method name that the binary no longer registers is stale (a module heading
# such as `ap.json` counts when some registered name lies under it).
stale=0
while IFS= read -r doc; do
    case "$doc" in T.*|ap.*|model:*|stats:*|metric:*|progress:*) ;; *) continue ;; esac
    grep -qxF "$doc" "$work/registered" || grep -qF "$doc." "$work/registered" ||
        { stale=$((stale + 1)); echo "    documented but not registered: $doc"; }
done <"$work/documented"
if [ "$stale" -eq 0 ]; then ok "every documented name is registered"; else not_ok "$stale documented names are not registered"; fi

# LuaLS annotations: each T function and ap function/field is declared, each method on its class.
for f in lua/types/T.lua lua/types/ap.lua; do
    if head -3 "$f" 2>/dev/null | grep -q '^---@meta'; then ok "$f is a ---@meta file"; else not_ok "$f is a ---@meta file"; fi
done
cat lua/types/T.lua lua/types/ap.lua 2>/dev/null >"$work/types"
missing=0
while IFS= read -r name; do
    case "$name" in
        T.*|ap.*) pat="^(function ${name}\(|${name} = )" ;;
        tensor:*) pat="^function Tensor:${name#tensor:}\(" ;;
        model:*) pat="^function Model:${name#model:}\(" ;;
        stats:*) pat="^function Stats:${name#stats:}\(" ;;
        metric:*) pat="^function Metric:${name#metric:}\(" ;;
        progress:*) pat="^function Progress:${name#progress:}\(" ;;
    esac
    grep -qE "$pat" "$work/types" || { missing=$((missing + 1)); echo "    not annotated in lua/types: $name"; }
done <"$work/registered"
if [ "$missing" -eq 0 ]; then ok "lua/types annotates every registered name"; else not_ok "lua/types lacks $missing names"; fi

# The annotation files are valid Lua (LuaLS reads them as code).
for f in lua/types/T.lua lua/types/ap.lua; do
    echo "assert(loadfile('$f'))" >"$work/load.lua"
    if "$AUTOPRUNE" run "$work/load.lua" 2>"$work/err"; then ok "$f parses"; else not_ok "$f parses: $(head -c 200 "$work/err")"; fi
done

echo "1..$n"
[ "$failed" -eq 0 ]
