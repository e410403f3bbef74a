#!/usr/bin/env bash
# tools/sdsa_tune.sh — tune SDSA on WikiText-2 VALIDATION (never test): build tools/sdsa_tune.c against the
# library, then prune with each configuration (sequential, the protocol's calibration) and print one JSON line
# per configuration with the validation perplexity. Results of the tuning that set the defaults are in
# doc/results.md ("SDSA tuning").
# Usage: tools/sdsa_tune.sh MODEL METRIC SPARSITY MAX_WINDOWS CONFIG...   (CONFIG: uniform | owl |
#        sdsa:TAU:LAMBDA[:block|linear[:LO:HI]]; MAX_WINDOWS 0 = the whole validation file)
# Environment: AP_BUILD (default build), NICE (default "nice -n 10").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${AP_BUILD:-build}
exe=$BUILD/tools/sdsa_tune
mkdir -p "$BUILD/tools"
if [ ! -x "$exe" ] || [ tools/sdsa_tune.c -nt "$exe" ] || [ "$BUILD/libapcore.a" -nt "$exe" ]; then
    make -s BUILD="$BUILD" "$BUILD/internal.flags" "$BUILD/libapcore.a" "$BUILD/libautoprune.a"
    { read -r cflags; read -r libs; } <"$BUILD/internal.flags"
    # shellcheck disable=SC2086
    cc -std=c11 -O2 -Wall -Wextra -DAP_DATADIR="\"$PWD\"" $cflags tools/sdsa_tune.c $libs -o "$exe"
fi
${NICE:-nice -n 10} "$exe" "$@"
