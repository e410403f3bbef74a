#!/usr/bin/env bash
# bench/results.sh — produce doc/results.md: WikiText-2 test perplexity (seqlen 512, the protocol) of dense and of
# magnitude, Wanda, RIA and SparseGPT × uniform, OWL and SDSA allocation × 50/60/70/80% unstructured, and 2:4 and
# 4:8, for ap-tiny and ap-small, through `autoprune prune ... --eval --json`.
#
# Every run's JSON record is kept in doc/results-data/<model>/<key>.json; a record that exists is not run again,
# so the script resumes where it stopped (delete a file, or pass --force, to redo it). The markdown is rendered
# from whatever records exist, with missing cells marked, so a partial run still gives an honest table.
#
# Usage: bench/results.sh [--models "ap-tiny ap-small"] [--only KEYREGEX] [--render-only] [--force] [--jobs N]
# Environment: AUTOPRUNE (default build/autoprune), AP_SMALL (ap-small folder, default ../shared/models/ap-small),
#              NICE (default "nice -n 10"), EVAL_WINDOWS_<model> (e.g. EVAL_WINDOWS_ap_small=128: evaluate that
#              model on the first N test windows only, to save time; the table then says so; default all 793).
# Methods: magnitude = native:magnitude (per-matrix, bit-identical masks to lua/metrics/magnitude.lua),
#          wanda = native:wanda (per-row, identical to lua/metrics/wanda.lua), ria = lua/metrics/ria.lua
#          (per-matrix, as it declares), sparsegpt = the native SparseGPT. Calibration: the protocol's default
#          (128 evenly spaced windows of 512 tokens of data/calib.txt, sequential).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AUTOPRUNE=${AUTOPRUNE:-$ROOT/build/autoprune}
AP_SMALL=${AP_SMALL:-$ROOT/../shared/models/ap-small}
NICE=${NICE:-nice -n 10}
MODELS="ap-tiny ap-small"
ONLY=""
RENDER_ONLY=0
FORCE=0
JOBS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --render-only) RENDER_ONLY=1; shift ;;
        --force) FORCE=1; shift ;;
        --jobs) JOBS=$2; shift 2 ;;
        *) echo "usage: $0 [--models LIST] [--only KEYREGEX] [--render-only] [--force] [--jobs N]" >&2; exit 2 ;;
    esac
done
DATA=$ROOT/doc/results-data
TEST=$ROOT/data/wikitext-2-raw/wiki.test.raw

model_dir() { case "$1" in ap-tiny) echo "$ROOT/models/ap-tiny" ;; ap-small) echo "$AP_SMALL" ;; *) echo "$1" ;; esac; }

# key → autoprune arguments. Keys: dense | METHOD@S+ALLOC | METHOD@N:M
METHODS="magnitude wanda ria sparsegpt"
ALLOCS="uniform owl sdsa"
keys() {  # most wanted first (70%, the search's target, then N:M), so a partial run is still useful
    echo dense
    for s in 0.7; do for m in $METHODS; do for a in $ALLOCS; do echo "$m@$s+$a"; done; done; done
    for m in $METHODS; do echo "$m@2:4"; echo "$m@4:8"; done
    for s in 0.5 0.6 0.8; do for m in $METHODS; do for a in $ALLOCS; do echo "$m@$s+$a"; done; done; done
}
args_for() {  # key
    local key=$1 m s a
    case "$key" in
        *@*:*) m=${key%@*}; echo "--metric $(metric_arg "$m") --pattern ${key#*@}" ;;
        *) m=${key%@*}; s=${key#*@}; a=${s#*+}; s=${s%+*}
           echo "--metric $(metric_arg "$m") --sparsity $s --alloc $a" ;;
    esac
}
metric_arg() { case "$1" in magnitude|wanda) echo "native:$1" ;; *) echo "$1" ;; esac; }

run_one() {  # model key
    local model=$1 key=$2 dir out tmp
    dir=$(model_dir "$model")
    out=$DATA/$model/$key.json
    [ -s "$out" ] && [ "$FORCE" -eq 0 ] && return 0
    tmp=$(mktemp "$DATA/$model/.run.XXXXXX")
    local var=EVAL_WINDOWS_${model//-/_} windows=()
    [ -n "${!var:-}" ] && windows=(--eval-windows "${!var}")
    local start=$SECONDS
    local cmd
    if [ "$key" = dense ]; then
        cmd=("$AUTOPRUNE" eval --model "$dir" --text "$TEST" ${windows[@]+--windows "${windows[1]}"} --json)
    else
        # shellcheck disable=SC2046
        cmd=("$AUTOPRUNE" prune --model "$dir" $(args_for "$key") --eval --eval-text "$TEST" "${windows[@]}" --json)
    fi
    if $NICE "${cmd[@]}" >"$tmp" 2>"$tmp.err"; then
        mv "$tmp" "$out"
        echo "$model $key: done in $((SECONDS - start)) s" >&2
    else
        echo "$model $key: FAILED ($(tail -1 "$tmp.err"))" >&2
        rm -f "$tmp"
    fi
    rm -f "$tmp.err"
}

if [ "$RENDER_ONLY" -eq 0 ]; then
    [ -x "$AUTOPRUNE" ] || { echo "$AUTOPRUNE not built (make)" >&2; exit 1; }
    for model in $MODELS; do
        mkdir -p "$DATA/$model"
        [ -d "$(model_dir "$model")" ] || { echo "no model folder for $model: $(model_dir "$model")" >&2; continue; }
        while read -r key; do
            [ -n "$ONLY" ] && ! [[ "$key" =~ $ONLY ]] && continue
            run_one "$model" "$key" &
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
        done < <(keys)
        wait
    done
fi

/usr/bin/python3 "$ROOT/bench/results_render.py" "$DATA" "$ROOT/doc/results.md" "$ROOT/../shared/reference/results.json"
echo "wrote doc/results.md" >&2
