/* ap_alloc.h — per-layer sparsity allocation (uniform, OWL, SDSA) and the exact parameter-weighted budget.
 *
 * An allocation is a list of n units (a unit is a decoder block or a single linear, as the caller chooses), each
 * with its parameter count numel[i]; the allocator returns target sparsities s[i] with
 *     Σ numel[i]·s[i] = target · Σ numel[i]      (to rounding, |error| < 1e-12 on the weighted mean)
 * and every s[i] inside [lo, hi] ⊂ [0, 1). Exactness is about the *targets*: the mask then rounds each unit's
 * count per comparison group (⌊in·s⌋ per row, ⌊numel·s⌋ per layer, n of m for N:M), so the realised count of
 * zeros can fall short of target·Σnumel by less than one weight per group. See doc/allocation.md. */
#ifndef AP_ALLOC_H
#define AP_ALLOC_H

#include <stdint.h>

#include "ap_error.h"

/* Shift s[0..n) by one common constant c and clamp to [lo, hi] so that the numel-weighted mean equals target
 * exactly: s_i ← clamp(s_i + c, lo, hi) with c the root of the (monotone, piecewise-linear) budget equation.
 * Requires 0 <= lo <= target <= hi < 1, numel[i] > 0, finite s. s is edited in place (borrowed). */
ap_status ap_alloc_renormalise(double *s, const int64_t *numel, int n, double target, double lo, double hi,
                               ap_error *err);
/* The numel-weighted mean of s (helper for callers and tests). */
double ap_alloc_weighted_mean(const double *s, const int64_t *numel, int n);

/* Uniform: s[i] = target. */
ap_status ap_alloc_uniform(double *s, int n, double target, ap_error *err);

/* OWL (Yin et al. 2024), as PROTOCOL.md states it: given per-block outlier ratios D[0..n),
 *     r = (D − min D)/(max D − min D) · 2λ,   density = r − mean_w(r) + (1 − S),   s = 1 − density
 * i.e. s_l = S − (r_l − mean_w r), mean over numel weights (for equal blocks, the plain mean of the paper).
 * If every D is equal, r = 0 (uniform). If a value leaves [lo, hi] it is clamped and the budget re-met by
 * ap_alloc_renormalise (never the case for the protocol's S ≤ 0.8, λ = 0.08). numel may be NULL (equal units). */
ap_status ap_alloc_owl(double *s, const double *D, const int64_t *numel, int n, double target, double lambda, double lo,
                       double hi, ap_error *err);
/* OWL's outlier ratio of one block: the fraction of the pooled scores (k arrays scores[j] of len[j] values, e.g.
 * the Wanda scores of the block's seven linears) strictly above M · (mean of the pooled scores). Scores must be
 * finite. */
ap_status ap_alloc_outlier_ratio(const float *const *scores, const int64_t *len, int k, double M, double *D,
                                 ap_error *err);

/* Moments of a pooled set of values, in double, two passes (mean first, then central moments). */
typedef struct ap_alloc_moments {
    int64_t n;
    double mean, std; /* population std */
    double skew;      /* population skewness m3 / m2^1.5 (0 when std == 0) */
    double kurt;      /* excess kurtosis m4 / m2² − 3 (0 when std == 0) */
} ap_alloc_moments;
/* Moments of the k arrays pooled together; of |x| when absval != 0 (SDSA uses the skew of |W|). */
ap_status ap_alloc_moments_pooled(const float *const *x, const int64_t *len, int k, int absval, ap_alloc_moments *m,
                                  ap_error *err);

/* SDSA — skew-aware dynamic sparsity allocation (ours; formula in doc/allocation.md):
 *     z_l = (skew_l − mean_w skew)/std_w skew          (standardised over units; all equal → uniform)
 *     p_l = softmax(z / τ)_l
 *     o_l = λ · (p_l − mean_w p) / max_k |p_k − mean_w p|
 *     s_l = S − o_l, then clamp to [lo, hi] and exact renormalisation (ap_alloc_renormalise)
 * Higher skew → larger p → lower sparsity. τ → ∞ gives offsets linear in skew (OWL-like min-max shape);
 * small τ concentrates the protection on the most skewed units. */
typedef enum { AP_SDSA_SRC_WEIGHT = 0, AP_SDSA_SRC_SCORE = 1 } ap_sdsa_source;
typedef enum { AP_ALLOC_PER_BLOCK = 0, AP_ALLOC_PER_LINEAR = 1 } ap_alloc_granularity;
typedef struct ap_sdsa_params {
    double tau;                       /* softmax temperature on standardised skew, > 0 */
    double lambda;                    /* largest offset from the target, >= 0 */
    double lo, hi;                    /* clamp bounds, 0 <= lo <= S <= hi < 1 */
    ap_sdsa_source source;            /* skew of |W| (default) or of the metric's scores: for the caller */
    ap_alloc_granularity granularity; /* one sparsity per block (pooled linears) or per linear: for the caller */
} ap_sdsa_params;
void ap_sdsa_defaults(ap_sdsa_params *p);
/* skew[0..n) per unit, numel[0..n) per unit (> 0); writes s[0..n). */
ap_status ap_alloc_sdsa(double *s, const double *skew, const int64_t *numel, int n, double target,
                        const ap_sdsa_params *p, ap_error *err);

#endif
