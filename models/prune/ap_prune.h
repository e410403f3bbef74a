/* ap_prune.h — the layer-wise pruning driver: sequential (Wanda's block-by-block procedure) and one-shot (cached
 * dense statistics), scores from a caller's callback (models/ never runs Lua) or SparseGPT, per-linear target
 * sparsities from an allocation, and the run report (per-linear realised sparsity, timings). */
#ifndef AP_PRUNE_H
#define AP_PRUNE_H

#include <stdint.h>

#include "ap_alloc.h"
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

typedef struct ap_prune_opts {
    ap_prune_method method;
    ap_score_fn score;           /* AP_METHOD_SCORE: required */
    void *score_ud;
    ap_pattern pattern;          /* row / layer / N:M (N:M ignores the sparsities) */
    double sparsity;             /* the global target */
    const double *targets;       /* [n_layers · AP_LIN_COUNT] per-linear targets (borrowed), NULL = all sparsity */
    int sgpt_blocksize;          /* SparseGPT column block (0 = 128) */
    double sgpt_percdamp;        /* SparseGPT dampening (< 0 = 0.01) */
    int reconstruct;             /* AP_METHOD_SCORE, needs Hessian statistics: 1 = after the metric's mask,
                                  * SparseGPT's OBS update of the kept weights with that mask (ap_sparsegpt_update);
                                  * 2 = adaptive: SparseGPT with the metric as its saliency, asked at every column
                                  * block on the updated weights (ap_sparsegpt_scored; unstructured only) */
    int batch;                   /* windows per forward batch (0 = 8) */
    unsigned stats;              /* AP_XF_* the score reads, all the sequential driver gathers besides the Hessians
                                  * SparseGPT and reconstruction need (ap_prune_opts_default: all seven) */
    ap_progress_fn progress;     /* (linears done, total), may be NULL */
    void *pud;
} ap_prune_opts;
void ap_prune_opts_default(ap_prune_opts *o);

typedef struct ap_prune_linear {
    int layer;                   /* 0-based */
    ap_linear_kind kind;
    int64_t numel, zeros;
    double target;
} ap_prune_linear;

typedef struct ap_prune_report {
    int n;                       /* n_layers · AP_LIN_COUNT */
    ap_prune_linear *lin;        /* owned, [n]; block-major, kinds in ap_linear_kind order */
    int64_t numel, zeros;        /* over all pruned linears */
    double realised;             /* zeros / numel */
    double t_calib, t_score, t_mask, t_forward, t_total;   /* seconds */
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

/* ---- allocation glue: model + statistics → per-linear targets (the arithmetic lives in ap_alloc.h) ---- */

typedef enum { AP_ALLOC_UNIFORM = 0, AP_ALLOC_OWL = 1, AP_ALLOC_SDSA = 2 } ap_alloc_kind;
typedef struct ap_alloc_spec {
    ap_alloc_kind kind;
    double owl_m, owl_lambda;    /* OWL: M = 5, λ = 0.08 */
    double lo, hi;               /* clamp bounds of any unit's target: 0, 0.99 */
    ap_sdsa_params sdsa;         /* SDSA: ap_sdsa_defaults; source must be AP_SDSA_SRC_WEIGHT here */
} ap_alloc_spec;
void ap_alloc_spec_default(ap_alloc_spec *s);
const char *ap_alloc_kind_name(ap_alloc_kind k);

/* Fill targets[n_layers · AP_LIN_COUNT] for a global target S. OWL needs the dense statistics (dense, the
 * outlier ratio of the pooled Wanda scores |W|·X.l2 of each block); uniform and SDSA do not (dense may be NULL).
 * Per-block allocations give all seven linears of a block the same target. */
ap_status ap_prune_allocate(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec, double S,
                            double *targets, ap_error *err);

/* Per-unit statistics for allocation scripts and LLM prompts: per block (units = n_layers) the OWL outlier ratio
 * D_l of the pooled Wanda scores (needs dense; else 0) and the moments of the pooled |W|. */
ap_status ap_prune_block_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                  ap_error *err);

/* The same per linear: D[l·7 + k] = outlier ratio of that linear's Wanda scores alone. */
ap_status ap_prune_linear_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                   ap_error *err);

/* Facts about every linear for allocation scripts and LLM prompts. Moments are of |W|; the x_* facts and
 * wanda_outlier_ratio need dense statistics (dense may be NULL: they are then 0). */
typedef struct ap_linear_facts {
    int layer;                   /* 0-based */
    ap_linear_kind kind;
    int64_t numel;
    double w_skew, w_kurt;       /* skewness and excess kurtosis of |W| */
    double w_absmean, w_norm;    /* mean |W|, Frobenius norm */
    double x_l2_mean;            /* mean over input channels of X.l2 */
    double x_outlier_ratio;      /* fraction of input channels with X.l2 > M · mean X.l2 */
    double x_kurt_mean;          /* mean over input channels of X.kurt */
    double wanda_outlier_ratio;  /* fraction of |W|·X.l2 scores > M · their mean (OWL's D of the linear) */
} ap_linear_facts;
ap_status ap_prune_facts(const ap_model *m, const ap_calib_stats *dense, double M, ap_linear_facts *facts,
                         ap_error *err);

/* The number of weights of each block's seven linears, [n_layers]. */
void ap_prune_block_numel(const ap_model *m, int64_t *numel);

#endif
