#!/usr/bin/env bash
# test_layers.sh — the rooms (source folders) include only downwards: every #include "x.h" in a room's .c/.h must
# name a header of the room itself or of a room it may use (the table below, the same as doc/architecture.md's
# picture), every header name is unique across the rooms (the Makefile puts every room on the include path),
# every room opens with a README.md, and every source file opens with a comment naming itself and what it owns.
. "$(dirname "$0")/../lib.sh" layers

# room: the rooms it may include from (besides itself). Lowest first; vm/sandbox + stdlib form libautoprune.
declare -A may=(
    [stdlib]=""
    [models/format]="stdlib"
    [models/tokenizer]="stdlib models/format"
    [models/forward]="stdlib models/format models/tokenizer"
    [models/prune]="stdlib models/format models/tokenizer models/forward"
    [vm/sandbox]="stdlib"
    [vm/llm]="stdlib"
    [vm]="stdlib models/format models/tokenizer models/forward models/prune vm/sandbox"
    [vm/host]="stdlib models/format models/tokenizer models/forward models/prune vm/sandbox vm/llm vm"
    [vm/cli]="stdlib models/format models/tokenizer models/forward models/prune vm/sandbox vm/llm vm vm/host"
)
cd "$AP_ROOT"

# upward ROOT: one "file->header(room)" word per include that leaves the file's room for one it may not use,
# after a "dup:" word per header name found in two rooms
upward() {
    local root=$1 room f inc target b
    declare -A home=()
    for room in "${!may[@]}"; do
        for f in "$root/$room"/*.h; do
            [ -e "$f" ] || continue
            b=$(basename "$f")
            [ -n "${home[$b]:-}" ] && echo "dup:$b(${home[$b]},$room)"
            home[$b]=$room
        done
    done
    for room in "${!may[@]}"; do
        for f in "$root/$room"/*.c "$root/$room"/*.h; do
            [ -e "$f" ] || continue
            while read -r inc; do
                target=${home[$inc]:-}
                [ -z "$target" ] && { echo "${f#"$root"/}->$inc(in no room)"; continue; }
                [ "$target" = "$room" ] && continue
                case " ${may[$room]} " in *" $target "*) ;; *) echo "${f#"$root"/}->$inc($target)" ;; esac
            done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
        done
    done
}

# every .c/.h file under a source folder belongs to a room of the table
stray=$(git ls-files 'stdlib/*.[ch]' 'models/*.[ch]' 'vm/*.[ch]' | while read -r f; do
    [ -n "${may[$(dirname "$f")]+x}" ] || echo "$f"; done)
check "every C source lies in a room of the table${stray:+: $stray}" test -z "$stray"

bad=$(upward "$AP_ROOT" | tr '\n' ' ')
check "no include crosses a room upwards or sideways, header names unique${bad:+: $bad}" test -z "$bad"

# The checker catches what it is for: a scratch copy of the rooms with one upward include and one duplicate name.
cp -r stdlib models vm "$work/"
echo '#include "ap_lua.h"' >>"$work/stdlib/ap_error.h"
cp "$work/vm/host/lap_sys.h" "$work/models/forward/lap_sys.h"
bad=$(upward "$work" | tr '\n' ' ')
check "the checker reports an upward include stdlib -> vm/host ($bad)" eval '[[ "$bad" == *"stdlib/ap_error.h->ap_lua.h(vm/host)"* ]]'
check "the checker reports a header name in two rooms" eval '[[ "$bad" == *"dup:lap_sys.h"* ]]'

noreadme=""
for room in "${!may[@]}" models; do [ -f "$room/README.md" ] || noreadme="$noreadme $room"; done
check "every room has a README.md${noreadme:+ (missing:$noreadme)}" test -z "$noreadme"

nohead=$(git ls-files 'stdlib/*.[ch]' 'models/*.[ch]' 'vm/*.[ch]' | while read -r f; do
    head -1 "$f" | grep -q "^/\* $(basename "$f") — " || echo "$f"; done)
check "every source file opens with '/* NAME — what it owns'${nohead:+: $nohead}" test -z "$nohead"

# libautoprune (stdlib + vm/sandbox) needs none of curl, cJSON, readline, LAPACK
libdeps=$(grep -lE '#include <(curl|cjson|readline|lapacke)' stdlib/*.[ch] vm/sandbox/*.[ch] 2>/dev/null)
check "stdlib/ and vm/sandbox/ include no curl, cJSON, readline or LAPACKE${libdeps:+: $libdeps}" test -z "$libdeps"
echo "1..$n"
[ "$failed" -eq 0 ]
