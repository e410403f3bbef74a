/* ap_calib.h — calibration: windows of a token stream, and the per-linear input statistics of the metric contract
 * (X.l2, X.sq, X.mean, X.std, X.absmax, X.skew, X.kurt, X.tokens) accumulated in one pass in double, optionally
 * with the Hessian XᵀX for SparseGPT; only the statistics a run's metric reads are gathered (ap_calib_fields). */
#ifndef AP_CALIB_H
#define AP_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"
#include "ap_model.h"
#include "ap_threads.h"

/* The four distinct inputs of a decoder block: q/k/v read the attention input, gate/up the MLP input. */
typedef enum { AP_IN_ATTN, AP_IN_O, AP_IN_MLP, AP_IN_DOWN, AP_IN_COUNT } ap_input_kind;
ap_input_kind ap_linear_input(ap_linear_kind k);

/* Choose nsamples windows of seqlen tokens from ids[0..n_ids).
 * random == 0: evenly spaced as PROTOCOL.md says, start_k = floor(k·(n_ids − seqlen)/nsamples) in integer
 * arithmetic; random != 0: starts drawn uniformly from [0, n_ids − seqlen] by a splitmix64 stream seeded with seed.
 * *out ([nsamples·seqlen], caller frees with free()). Needs n_ids >= seqlen >= 2, nsamples >= 1. */
ap_status ap_calib_windows(const int32_t *ids, size_t n_ids, int nsamples, int seqlen, int random, uint64_t seed,
                           int32_t **out, ap_error *err);

/* The statistics a calibration gathers, as bits: the same values as autoprune.h's AP_X_* (the sandbox's names
 * for them; models/ does not include it), AP_XF_HESSIAN standing for X.hinv and everything built on XᵀX. */
enum {
    AP_XF_L2 = 0x01,
    AP_XF_SQ = 0x02,
    AP_XF_MEAN = 0x04,
    AP_XF_STD = 0x08,
    AP_XF_ABSMAX = 0x10,
    AP_XF_SKEW = 0x20,
    AP_XF_KURT = 0x40,
    AP_XF_HESSIAN = 0x80,
    AP_XF_MOMENTS = 0x7f /* the seven statistics of the contract */
};

/* The AP_XF_* bit of a statistic's name ("l2", "sq", "mean", "std", "absmax", "skew", "kurt"; "hinv" is
 * AP_XF_HESSIAN), 0 for any other name; and the name of bit i (0..7). */
unsigned ap_calib_field(const char *name);
const char *ap_calib_field_name(int i);

/* Running sums of one input over n tokens, in double. One allocation holds s1..absmax; only the sums the fields
 * need are kept up to date (l2/sq: Σx²; mean: Σx; std: Σx, Σx²; skew: to Σx³; kurt: to Σx⁴; absmax). */
typedef struct ap_xacc {
    int64_t in;                /* channels */
    unsigned fields;           /* AP_XF_* gathered */
    int64_t n;                 /* tokens seen */
    double *s1, *s2, *s3, *s4; /* [in] Σx, Σx², Σx³, Σx⁴ (owned) */
    double *absmax;            /* [in] max |x| (owned, same allocation as s1) */
    double *xtx;               /* [in, in] Σ x xᵀ (full symmetric, row-major), owned, or NULL when not asked */
} ap_xacc;

ap_status ap_xacc_init(ap_xacc *a, int64_t in, int hessian, ap_error *err); /* all seven, Hessian if asked */
ap_status ap_xacc_init_fields(ap_xacc *a, int64_t in, unsigned fields, ap_error *err);
void ap_xacc_free(ap_xacc *a);
void ap_xacc_reset(ap_xacc *a);
/* Add x [rows, in] (borrowed). The moments are split over pool's threads by strips of channels (pool may be NULL:
 * this thread only); the Hessian part goes through BLAS ssyrk in float per call, then into double. */
ap_status ap_xacc_add(ap_xacc *a, const float *x, int64_t rows, ap_pool *pool, ap_error *err);
/* Hessian 2/n · XᵀX as SparseGPT wants it, into H [in, in] (caller's). Needs a->xtx. */
void ap_xacc_hessian(const ap_xacc *a, double *H);

/* The contract's statistics of one input, as float32 rows of `in` values (what a metric script sees). */
typedef struct ap_xview {
    int64_t in;
    double tokens;
    const float *l2, *sq, *mean, *std, *absmax, *skew, *kurt; /* borrowed from the owner (ap_xderived) */
    const float *hinv; /* diagonal of SparseGPT's inverse-Hessian factor (ap_sparsegpt_hinv_diag), or NULL: set
                          * by the pruning driver when the run holds Hessians, never by ap_xderived */
} ap_xview;

/* Owner of one ap_xview's arrays (one allocation of 7·in floats). */
typedef struct ap_xderived {
    float *buf;
    ap_xview v;
} ap_xderived;
/* Population moments from the sums: std = sqrt(m2), skew = m3/m2^1.5, kurt = m4/m2² − 3; where m2 == 0 (or the
 * channel never varied) skew = kurt = 0 so that every value is finite. A statistic whose sums were not gathered
 * stays NULL in the view. */
ap_status ap_xderived_make(ap_xderived *d, const ap_xacc *a, ap_error *err);
void ap_xderived_free(ap_xderived *d);

/* The statistics of all inputs of one block. */
typedef struct ap_block_stats {
    ap_xacc acc[AP_IN_COUNT];
    ap_xderived x[AP_IN_COUNT]; /* filled by ap_block_stats_finish */
    int finished;
} ap_block_stats;

ap_status ap_block_stats_init(ap_block_stats *b, const ap_model *m, int hessian, ap_error *err);
ap_status ap_block_stats_init_fields(ap_block_stats *b, const ap_model *m, unsigned fields, ap_error *err);
void ap_block_stats_free(ap_block_stats *b);
void ap_block_stats_reset(ap_block_stats *b);
ap_status ap_block_stats_finish(ap_block_stats *b, ap_error *err);

/* State of an observer that fills one block's statistics (pass to ap_model_block with ap_calib_observer).
 * Inputs shared by q/k/v and gate/up are accumulated once (at q and gate). The first error is kept in err. */
typedef struct ap_calib_obs {
    ap_block_stats *stats;
    ap_pool *pool; /* borrowed, may be NULL */
    ap_status status;
    ap_error err;
} ap_calib_obs;
void ap_calib_observer(void *ud, int layer, ap_linear_kind which, const float *x, int64_t n_rows, int64_t in);

/* Statistics of the dense model for every block, gathered once (one-shot mode) and reused by every metric. */
typedef struct ap_calib_stats {
    int n_layers;
    int nsamples, seqlen;
    int64_t tokens;         /* nsamples · seqlen */
    int hessian;            /* whether acc[].xtx are held */
    unsigned fields;        /* AP_XF_* gathered */
    ap_block_stats *blocks; /* owned, [n_layers] */
    char source[512];       /* what they were computed from (text path, sampling), for run records */
} ap_calib_stats;

/* Run the windows (ids [nsamples·seqlen], borrowed) through the model as it is, block by block, in batches of
 * `batch` windows (0 = automatic), collecting statistics of every block. *out is the caller's
 * (ap_calib_stats_free). progress (may be NULL) gets (blocks done, n_layers). */
ap_status ap_calib_collect(const ap_model *m, const int32_t *ids, int nsamples, int seqlen, int hessian, int batch,
                           ap_progress_fn progress, void *pud, ap_calib_stats **out, ap_error *err);
/* The same, gathering only `fields` (AP_XF_*; AP_XF_HESSIAN for the Hessians). ap_calib_collect gathers all seven. */
ap_status ap_calib_collect_fields(const ap_model *m, const int32_t *ids, int nsamples, int seqlen, unsigned fields,
                                  int batch, ap_progress_fn progress, void *pud, ap_calib_stats **out, ap_error *err);
void ap_calib_stats_free(ap_calib_stats *s);

/* Save / load the statistics (sums in double, little-endian binary with a header naming the shape) so that a
 * search can reuse them across processes. The file is checked against the model's shapes on load. */
ap_status ap_calib_stats_save(const ap_calib_stats *s, const char *path, ap_error *err);
ap_status ap_calib_stats_load(const ap_model *m, const char *path, ap_calib_stats **out, ap_error *err);

/* The default calibration seqlen for a model: its context, capped at 2048. */
int ap_calib_default_seqlen(const ap_model *m);

#endif
