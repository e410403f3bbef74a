/* ap_prune.h — the layer-wise pruning driver: sequential (Wanda's block-by-block procedure) and one-shot (cached
 * dense statistics), scores from a caller's callback (models/ never runs Lua) or SparseGPT, per-linear target
 * sparsities from an allocation, and the run report (per-linear realised sparsity, timings). */
#ifndef AP_PRUNE_H
#define AP_PRUNE_H

#include <stdint.h>
#include <string.h>

#include "ap_calib.h"
#include "ap_error.h"
#include "ap_mask.h"
#include "ap_model.h"

/* Score one linear: write out·in scores (higher = keep) into scores (the caller's buffer). W and x are borrowed
 * for the call; W must not be modified. layer is 0-based. Return AP_OK or an error (err filled). */
typedef ap_status (*ap_score_fn)(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                                 const ap_xview *x, double sparsity, float *scores, ap_error *err);

/* Native scores, the fast path (bit-identical to the Lua metrics lua/metrics/{magnitude,wanda}.lua):
 * magnitude |W|; wanda |W| · X.l2 with X.l2 = (float) sqrt(Σx²), multiplied in float32. ud unused. */
ap_status ap_score_magnitude(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                             const ap_xview *x, double sparsity, float *scores, ap_error *err);
ap_status ap_score_wanda(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                         const ap_xview *x, double sparsity, float *scores, ap_error *err);

typedef enum { AP_METHOD_SCORE = 0, AP_METHOD_SPARSEGPT = 1 } ap_prune_method;

/* Weight reconstruction after a score metric's mask (AP_METHOD_SCORE; needs Hessian statistics). */
typedef enum ap_reconstruct {
    AP_RECONSTRUCT_NONE = 0,    /* the mask alone */
    AP_RECONSTRUCT_MASK = 1,    /* SparseGPT's OBS update of the kept weights with the metric's mask
                                  * (ap_sparsegpt_update) */
    AP_RECONSTRUCT_ADAPTIVE = 2 /* SparseGPT with the metric as its saliency, asked at every column block on the
                                  * updated weights (ap_sparsegpt_scored; unstructured only) */
} ap_reconstruct;

/* "none", "mask", "adaptive": the spelling of the run record, the CLI and m:prune. */
static inline const char *ap_reconstruct_name(ap_reconstruct r)
{
    return r == AP_RECONSTRUCT_MASK ? "mask" : r == AP_RECONSTRUCT_ADAPTIVE ? "adaptive" : "none";
}

/* The inverse of ap_reconstruct_name; 0 and *r set, or -1 for any other string. */
static inline int ap_reconstruct_parse(const char *s, ap_reconstruct *r)
{
    for (int i = AP_RECONSTRUCT_NONE; i <= AP_RECONSTRUCT_ADAPTIVE; i++)
        if (s && !strcmp(s, ap_reconstruct_name((ap_reconstruct)i))) {
            *r = (ap_reconstruct)i;
            return 0;
        }
    return -1;
}

typedef struct ap_prune_opts {
    ap_prune_method method;
    ap_score_fn score; /* AP_METHOD_SCORE: required */
    void *score_ud;
    ap_pattern pattern;         /* row / layer / N:M (N:M ignores the sparsities) */
    double sparsity;            /* the global target */
    const double *targets;      /* [n_layers · AP_LIN_COUNT] per-linear targets (borrowed), NULL = all sparsity */
    int sgpt_blocksize;         /* SparseGPT column block (0 = 128) */
    double sgpt_percdamp;       /* SparseGPT dampening (< 0 = 0.01) */
    ap_reconstruct reconstruct; /* AP_METHOD_SCORE, needs Hessian statistics (see ap_reconstruct) */
    int batch;                  /* windows per forward batch (0 = 8) */
    unsigned stats;             /* AP_XF_* the score reads, all the sequential driver gathers besides the Hessians
                                  * SparseGPT and reconstruction need (ap_prune_opts_default: all seven) */
    ap_progress_fn progress;    /* (linears done, total), may be NULL */
    void *pud;
} ap_prune_opts;
void ap_prune_opts_default(ap_prune_opts *o);

typedef struct ap_prune_linear {
    int layer; /* 0-based */
    ap_linear_kind kind;
    int64_t numel, zeros;
    double target;
} ap_prune_linear;

typedef struct ap_prune_report {
    int n;                                               /* n_layers · AP_LIN_COUNT */
    ap_prune_linear *lin;                                /* owned, [n]; block-major, kinds in ap_linear_kind order */
    int64_t numel, zeros;                                /* over all pruned linears */
    double realised;                                     /* zeros / numel */
    double t_calib, t_score, t_mask, t_forward, t_total; /* seconds */
} ap_prune_report;
void ap_prune_report_free(ap_prune_report *r);

/* One-shot: every linear scored with the dense statistics `st` (from ap_calib_collect on the dense model; must
 * hold Hessians for SparseGPT). Edits m's weights in place. On error the model may be partly pruned. */
ap_status ap_prune_oneshot(ap_model *m, const ap_calib_stats *st, const ap_prune_opts *o, ap_prune_report *rep,
                           ap_error *err);

/* Sequential (PROTOCOL.md): ids [nsamples·seqlen] (borrowed) embedded once; for each block, statistics from the
 * current hidden states (the output of the already-pruned earlier blocks), the seven linears pruned, the block
 * re-run with its pruned weights to give the next block's input. Keeps nsamples·seqlen·hidden floats alive. */
ap_status ap_prune_sequential(ap_model *m, const int32_t *ids, int nsamples, int seqlen, const ap_prune_opts *o,
                              ap_prune_report *rep, ap_error *err);

#endif
