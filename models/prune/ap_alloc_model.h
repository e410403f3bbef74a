/* ap_alloc_model.h — allocation glue: a model and its statistics → allocation units, their facts, and per-linear
 * target sparsities (uniform / OWL / SDSA here, or the values of an allocation script renormalised to the
 * budget). The arithmetic on plain arrays lives in ap_alloc.h; running a script is vm's (models/ never runs Lua). */
#ifndef AP_ALLOC_MODEL_H
#define AP_ALLOC_MODEL_H

#include <stdint.h>

#include "ap_alloc.h"
#include "ap_calib.h"
#include "ap_error.h"
#include "ap_model.h"

/* How to allocate: the kind and its parameters. */
typedef enum { AP_ALLOC_UNIFORM = 0, AP_ALLOC_OWL = 1, AP_ALLOC_SDSA = 2 } ap_alloc_kind;
typedef struct ap_alloc_spec {
    ap_alloc_kind kind;
    double owl_m, owl_lambda; /* OWL: M = 5, λ = 0.08 */
    double lo, hi;            /* clamp bounds of any unit's target: 0, 0.99 */
    ap_sdsa_params sdsa;      /* SDSA: ap_sdsa_defaults; source must be AP_SDSA_SRC_WEIGHT here */
} ap_alloc_spec;
void ap_alloc_spec_default(ap_alloc_spec *s);
const char *ap_alloc_kind_name(ap_alloc_kind k);

/* Fill targets[n_layers · AP_LIN_COUNT] for a global target S. OWL needs the dense statistics (dense, the
 * outlier ratio of the pooled Wanda scores |W|·X.l2 of each block); uniform and SDSA do not (dense may be NULL).
 * Per-block allocations give all seven linears of a block the same target. */
ap_status ap_alloc_model_targets(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec, double S,
                                 double *targets, ap_error *err);

/* ---- facts about units, for allocation scripts and LLM prompts ---- */

/* Per-unit statistics for allocation scripts and LLM prompts: per block (units = n_layers) the OWL outlier ratio
 * D_l of the pooled Wanda scores (needs dense; else 0) and the moments of the pooled |W|. */
ap_status ap_alloc_model_block_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                        ap_error *err);

/* The same per linear: D[l·7 + k] = outlier ratio of that linear's Wanda scores alone. */
ap_status ap_alloc_model_linear_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                         ap_error *err);

/* Facts about every linear for allocation scripts and LLM prompts. Moments are of |W|; the x_* facts and
 * wanda_outlier_ratio need dense statistics (dense may be NULL: they are then 0). */
typedef struct ap_linear_facts {
    int layer; /* 0-based */
    ap_linear_kind kind;
    int64_t numel;
    double w_skew, w_kurt;      /* skewness and excess kurtosis of |W| */
    double w_absmean, w_norm;   /* mean |W|, Frobenius norm */
    double x_l2_mean;           /* mean over input channels of X.l2 */
    double x_outlier_ratio;     /* fraction of input channels with X.l2 > M · mean X.l2 */
    double x_kurt_mean;         /* mean over input channels of X.kurt */
    double wanda_outlier_ratio; /* fraction of |W|·X.l2 scores > M · their mean (OWL's D of the linear) */
} ap_linear_facts;
ap_status ap_alloc_model_facts(const ap_model *m, const ap_calib_stats *dense, double M, ap_linear_facts *facts,
                               ap_error *err);

/* The number of weights of each block's seven linears, [n_layers]. */
void ap_alloc_model_block_numel(const ap_model *m, int64_t *numel);

/* ---- scripted allocation: the units a script sees, and its values turned into targets ---- */

/* One allocation unit (a decoder block, or one linear) as an allocation script sees it (doc/allocation.md):
 * moments of |W| of the unit and OWL's outlier ratio D (0 when not computed). name is a static string. */
typedef struct ap_alloc_unit {
    int layer;        /* 1-based block */
    const char *name; /* "block" | "q_proj" | ... */
    int64_t numel;
    double w_skew, w_kurt, w_mean, w_std, outlier_ratio;
} ap_alloc_unit;

/* The units of one allocation and what a script is told about them. */
typedef struct ap_alloc_units {
    ap_alloc_unit *unit; /* [n], owned (ap_alloc_units_free) */
    int n;               /* n_layers (per block) or n_layers · AP_LIN_COUNT (per linear, block-major) */
    int n_layers;
    double target, lo, hi; /* the global target S and the clamp bounds of spec */
} ap_alloc_units;

/* Units per block, or per linear when spec->sdsa.granularity is AP_ALLOC_PER_LINEAR, with the moments of |W| and
 * (per block, with dense statistics) OWL's outlier ratio of the pooled Wanda scores. Free with
 * ap_alloc_units_free. */
ap_status ap_alloc_model_units(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec, double S,
                               ap_alloc_units *units, ap_error *err);
void ap_alloc_units_free(ap_alloc_units *units);

/* A script's values (one per unit, values[0..n)) → targets[n_layers · AP_LIN_COUNT]: each value must lie in
 * [0, 1) (else AP_E_RUNTIME); they are clamped to [lo, hi] and shifted by one common constant so that the
 * numel-weighted mean is exactly the target (ap_alloc_renormalise): a script decides the shape, the budget is
 * always met. values is renormalised in place; targets is written only on success. */
ap_status ap_alloc_units_targets(const ap_alloc_units *units, double *values, double *targets, ap_error *err);

#endif
