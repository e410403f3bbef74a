/* ap_score.h — scoring linears with a metric script through the sandbox: the ap_score_fn the pruning core calls
 * (models/ never runs Lua). What a metric argument names is ap_metric.h's business. */
#ifndef AP_SCORE_H
#define AP_SCORE_H

#include "ap_error.h"
#include "ap_metric.h"
#include "ap_calib.h"
#include "ap_prune.h"
#include "autoprune.h"

typedef struct ap_scorer ap_scorer;

/* The statistics (AP_XF_*, moments only) a metric reads: fixed for NATIVE (magnitude none, wanda l2) and
 * SPARSEGPT (none); a script is opened and probed as ap_scorer_open does (its load errors are returned). */
ap_status ap_metric_fields(const ap_metric_spec *spec, unsigned *fields, ap_error *err);

/* Load a metric script (spec resolved by ap_metric_spec_resolve: FILE, NAME or SOURCE; NATIVE and SPARSEGPT are
 * not scripts, AP_E_ARG) into a sandbox with these limits (NULL = defaults).
 * n_layers goes into every info table. *out is the caller's (ap_scorer_free). Load errors keep their contract
 * kind (syntax, runtime, type, limit, io) and line. */
ap_status ap_scorer_open(ap_scorer **out, const ap_metric_spec *spec, const ap_limits *limits, int n_layers,
                         ap_error *err);
void ap_scorer_free(ap_scorer *s);
/* The group the script declared: 1 and *g set when it declared one ("row" or "layer"), else 0. */
int ap_scorer_group(const ap_scorer *s, ap_group_kind *g);
/* The statistics of X the metric reads (AP_XF_* of ap_calib.h, moments only: Hessians are the run's choice): what
 * it read when scored on the check's synthetic layers at open, plus its declared needs = {...}; all seven when
 * the script failed on the synthetic layers (then nothing is known about it). */
unsigned ap_scorer_fields(const ap_scorer *s);
/* The script's name (file name or "metric"), owned by s. */
const char *ap_scorer_name(const ap_scorer *s);
/* Total usage summed over the score calls so far (instructions, work, wall ms; peaks are maxima). */
void ap_scorer_usage(const ap_scorer *s, ap_usage *u);

/* The ap_score_fn: ud is an ap_scorer. Each call runs the script in a fresh Lua state under the limits; the
 * result must broadcast to [out, in] and be finite, else the error (kind shape / nonfinite / limit / runtime
 * ...) with the script line. */
ap_status ap_scorer_score(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                          const ap_xview *x, double sparsity, float *scores, ap_error *err);

#endif
