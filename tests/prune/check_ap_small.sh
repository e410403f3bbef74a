#!/usr/bin/env bash
# tests/prune/check_ap_small.sh — the pruning checks of test_prune_tiny.py on ap-small (not in make test: about
# 20 prune + eval runs of an 18.9M-parameter model): every reference configuration of tests/prune/reference.json
# (realised sparsity exact, OWL's per-block sparsities, ppl within 1% / 3%), the written folder's zeros and reload,
# Lua wanda == native. TAP output; exit status 1 when a check fails.
# usage: tests/prune/check_ap_small.sh [MODEL_DIR]   (default ../shared/models/ap-small; or $AP_SMALL)
set -u
cd "$(dirname "$0")/../.."
export AP_ROOT=$PWD
export AP_BUILD=${AP_BUILD:-build}
export AUTOPRUNE=${AUTOPRUNE:-$AP_ROOT/$AP_BUILD/autoprune}
MODEL=${1:-${AP_SMALL:-$AP_ROOT/../shared/models/ap-small}}
exec /usr/bin/python3 tests/prune/check_model.py --model "$MODEL" --name ap-small
