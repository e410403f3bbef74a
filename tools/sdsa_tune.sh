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
if [ ! -x "$exe" ] || [ tools/sdsa_tune.c -nt "$exe" ] || [ "$BUILD/libautoprune.a" -nt "$exe" ]; then
    # shellcheck disable=SC2046
    cc -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -Istdlib -Ivm -Imodels -DAP_DATADIR="\"$PWD\"" \
        $(pkg-config --cflags lua5.4 openblas libcjson) tools/sdsa_tune.c "$BUILD/libautoprune.a" \
        $(pkg-config --libs lua5.4 openblas libcurl libcjson) -llapacke -lreadline -lm -pthread -o "$exe"
fi
${NICE:-nice -n 10} "$exe" "$@"
