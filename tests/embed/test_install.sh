#!/usr/bin/env bash
# test_install.sh — `make install PREFIX=<temp>` lays out a usable prefix: the binary finds its data under
# <prefix>/share/autoprune, libautoprune.so exports only the public API of autoprune.h, doc/examples/embed.c and
# the header's own worked example build through pkg-config against the installed library (shared and static)
# and print the right scores, and `man -l` renders the installed man page.
. "$(dirname "$0")/../lib.sh" install
AP_BUILD=${AP_BUILD:-build}
case "$AP_BUILD" in /*) ;; *) AP_BUILD=$AP_ROOT/$AP_BUILD ;; esac
P=$work/prefix
export PKG_CONFIG_PATH=$P/lib/pkgconfig
# Under the sanitizer build the library's objects need the sanitizer runtime in the example too.
SAN=
[ -n "${AP_SANITIZED:-}" ] && SAN="-fsanitize=address,undefined"

# Install what the build folder under test holds: `-o all` keeps make from rebuilding anything there (a rebuild
# with the default flags would mix objects into a sanitizer build folder).
check "make install into a temp prefix" eval 'make -s -o all BUILD="$AP_BUILD" PREFIX="$P" install >"$work/install.log" 2>&1 || { tail -5 "$work/install.log"; false; }'
for f in bin/autoprune include/autoprune.h lib/libautoprune.a lib/libautoprune.so lib/pkgconfig/autoprune.pc \
         share/autoprune/lua/search.lua share/autoprune/lua/metrics/wanda.lua share/autoprune/prompts \
         share/man/man1/autoprune.1; do
    check "installed $f" test -e "$P/$f"
done
check "autoprune.pc names the prefix and version" eval 'grep -qx "prefix=$P" "$P/lib/pkgconfig/autoprune.pc" && [ "$(pkg-config --modversion autoprune)" = "$("$P/bin/autoprune" --version | cut -d" " -f2)" ]'

# The installed program uses its own share/autoprune, not the source tree it was built from.
echo 'print(ap.datadir())' >"$work/dd.lua"
check "installed binary's data dir is <prefix>/share/autoprune" eval '[ "$(env -u AUTOPRUNE_HOME "$P/bin/autoprune" run "$work/dd.lua")" = "$(cd "$P/share/autoprune" && pwd -P)" ]'
check "installed binary checks an installed metric" env -u AUTOPRUNE_HOME "$P/bin/autoprune" check --quiet --shape 64x32 "$P/share/autoprune/lua/metrics/wanda.lua"
echo 'print(package.searchpath("search", package.path))' >"$work/req.lua"
check "require searches <prefix>/share/autoprune/lua" eval '[ "$(env -u AUTOPRUNE_HOME "$P/bin/autoprune" run "$work/req.lua")" -ef "$P/share/autoprune/lua/search.lua" ]'

# Only the public API is exported: exactly the functions autoprune.h marks AP_API.
nm -D --defined-only "$P/lib/libautoprune.so" | awk '{print $3}' | sort >"$work/exported"
grep -oE '^AP_API [^(]*\(' vm/sandbox/autoprune.h | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort >"$work/public"
check "libautoprune.so exports exactly the AP_API functions ($(wc -l <"$work/public") of them)" eval 'diff "$work/public" "$work/exported" && [ -s "$work/public" ]'

want_embed() {  # the expected output of doc/examples/embed.c
    grep -qx "autoprune $(pkg-config --modversion autoprune)" "$1" &&
    grep -qx "metric wanda, group row (declared 1)" "$1" &&
    grep -qx "row 0 scores: 1 1 6 1  pruned: 0 1" "$1" &&
    grep -qx "row 1 scores: 0.5 3 14 2  pruned: 0 3" "$1" &&
    grep -q "^score broken: error kind=[a-z]* line=2: " "$1"
}
CF="-std=c11 -Wall -Wextra -Werror $SAN"
# (-Wl,--as-needed in the static link: Debian's gcc has it on by default, but -fsanitize=address turns it off, and
# the second -lautoprune that pkg-config --static names would then pull libautoprune.so in as well.)
check "embed.c builds against the shared library via pkg-config" eval 'cc $CF doc/examples/embed.c $(pkg-config --cflags --libs autoprune) -o "$work/embed_shared"'
check "shared build links libautoprune.so from the prefix" eval 'LD_LIBRARY_PATH=$P/lib ldd "$work/embed_shared" | grep -q "$P/lib/libautoprune.so"'
check "embed (shared) prints the Wanda scores and the error report" eval 'LD_LIBRARY_PATH=$P/lib "$work/embed_shared" >"$work/out_shared" && want_embed "$work/out_shared" || cat "$work/out_shared"'
check "embed.c builds against the static library via pkg-config --static" eval 'cc $CF doc/examples/embed.c $(pkg-config --cflags autoprune) -Wl,-Bstatic -lautoprune -Wl,-Bdynamic -Wl,--as-needed $(pkg-config --static --libs autoprune) -o "$work/embed_static"'
check "static build needs no libautoprune.so" eval '! ldd "$work/embed_static" | grep -q libautoprune'
check "embed (static) prints the same" eval '"$work/embed_static" >"$work/out_static" && want_embed "$work/out_static" && cmp -s "$work/out_static" "$work/out_shared"'

# The worked example at the top of the installed header compiles as written and prints what it promises.
sed -n '/^ \* Worked example/,/^ \*     }$/p' "$P/include/autoprune.h" | sed -n '/^ \*     /p' | sed -E 's/^ \*     //' | sed -E 's@//.*$@@' >"$work/header_example.c"
check "the header's worked example builds" eval 'cc $CF "$work/header_example.c" $(pkg-config --cflags --libs autoprune) -o "$work/header_example" 2>"$work/hx.err" || { cat "$work/hx.err"; false; }'
check "the header's worked example prints 1 1 6" eval '[ "$(LD_LIBRARY_PATH=$P/lib "$work/header_example")" = "1 1 6" ]'

# The man page renders and names every command the binary lists.
check "man -l renders autoprune.1" eval 'MANWIDTH=100 man -l "$P/share/man/man1/autoprune.1" >"$work/man.txt" 2>"$work/man.err" && grep -q "autoprune" "$work/man.txt" && ! grep -qi "warning" "$work/man.err"'
for c in $("$P/bin/autoprune" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
    check "man page documents command '$c'" grep -q "^ *autoprune $c" "$work/man.txt"
done

echo "1..$n"
[ "$failed" -eq 0 ]
