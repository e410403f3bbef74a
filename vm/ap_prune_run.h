/* ap_prune_run.h — one pruning run as `autoprune prune` and the Lua binding (ap.model) do it: options →
 * calibration (or cached dense statistics) → allocation → scores (metric script, native, or SparseGPT) → driver
 * → report, and the run record as JSON. Also the evaluation helper (perplexity of a text file). */
#ifndef AP_PRUNE_RUN_H
#define AP_PRUNE_RUN_H

#include <cJSON.h>

#include "ap_alloc_model.h"
#include "ap_prune.h"
#include "autoprune.h"

typedef struct ap_prune_run_opts {
    const char *metric;       /* file, lua/metrics NAME, source text, "native:wanda", "native:magnitude", or
                                    "sparsegpt", read by ap_metric_spec_resolve (vm/ap_metric.h) */
    int metric_is_source;     /* metric is Lua source, whatever it looks like (m:prune{metric_source=}) */
    double sparsity;          /* global target (N:M: ignored) */
    const char *pattern;      /* "unstructured" (NULL) or "N:M" */
    const char *group;        /* "row" | "layer" | NULL (the script's declared group, else row;
                                    native:magnitude defaults to layer) */
    const char *alloc;        /* "uniform" (NULL) | "owl" | "sdsa" | path of an allocation script
                                    (doc/allocation.md; units per block, or per linear with
                                    alloc_spec.sdsa.granularity = AP_ALLOC_PER_LINEAR) */
    ap_alloc_spec alloc_spec; /* parameters (kind is set from alloc) */
    const double *targets;    /* [n_layers·7] explicit per-linear targets (e.g. from an allocation script);
                                    overrides alloc when not NULL (borrowed) */
    const char *calib;        /* calibration text (NULL = <datadir>/data/calib.txt) */
    int nsamples;             /* 0 = 128 */
    int seqlen;               /* 0 = model context capped at 2048 */
    int random;               /* seeded random windows instead of evenly spaced */
    uint64_t seed;
    int oneshot;                 /* statistics of the dense model once instead of sequential */
    const ap_calib_stats *stats; /* one-shot: cached dense statistics to use (borrowed); NULL = gather them */
    const ap_limits *limits;     /* sandbox limits for the metric (NULL = defaults) */
    int sgpt_blocksize;          /* 0 = 128 */
    double sgpt_percdamp;        /* < 0 = 0.01 */
    ap_reconstruct reconstruct;  /* score metrics: after the mask (see ap_reconstruct in ap_prune.h) */
    ap_progress_fn progress;     /* (done, total) of the current phase; may be NULL */
    void (*phase)(void *pud, const char *phase); /* called as a phase starts ("tokenize", "calibrate", ...) */
    void *pud;
} ap_prune_run_opts;
void ap_prune_run_opts_default(ap_prune_run_opts *o);

/* Set one option by key from its text, the one place where front ends' strings become options (the CLI's
 * flags, m:prune's fields). Keys: metric, metric_source, sparsity, pattern, group (row|layer), alloc, calib,
 * nsamples, seqlen, seed, reconstruct (none|mask|adaptive), and alloc_param.K with K one of
 * ap_prune_run_alloc_keys (owl_m, owl_lambda, tau, lambda, lo, hi: numbers; granularity: block|linear). String
 * values are borrowed for the options' life. An unknown key or a bad value is AP_E_ARG naming both. */
ap_status ap_prune_run_opts_set(ap_prune_run_opts *o, const char *key, const char *value, ap_error *err);

/* The allocation parameter keys, NULL-terminated: owl_m, owl_lambda, tau, lambda, lo, hi, granularity. */
extern const char *const ap_prune_run_alloc_keys[];

/* The allocation as a run used it (every parameter, defaults filled in), one call of emit per field: kind
 * ("uniform", "owl", "sdsa", "explicit" or the script path), then each of ap_prune_run_alloc_keys. A field has
 * either a string (granularity, kind; num unused) or a number (str NULL). The records (JSON run record,
 * m:prune's result.alloc) are written by this one function, so they name the fields as alloc_param does. */
void ap_prune_run_alloc_record(const ap_prune_run_opts *o,
                               void (*emit)(void *ud, const char *key, const char *str, double num), void *ud);

typedef struct ap_prune_run_result {
    ap_prune_report rep;
    ap_pattern pattern;       /* what was used */
    const char *group_source; /* "pattern", "option", "script", "default" */
    double *targets;          /* owned, [n_layers·7] */
    int nsamples, seqlen;
    double t_tokenize, t_stats; /* seconds outside the driver (tokenize + windows, one-shot statistics) */
    char metric_name[256];
    int metric_kind; /* ap_metric_kind (vm/ap_metric.h) the metric resolved to */
    ap_usage usage;  /* sandbox usage summed over the score calls (metric scripts only) */
} ap_prune_run_result;
void ap_prune_run_result_free(ap_prune_run_result *r);

/* Calibration ids of a run: tokenize text with the model's tokenizer, choose the windows. *ids caller frees. */
ap_status ap_prune_run_windows(const ap_model *m, const char *text, int nsamples, int seqlen, int random, uint64_t seed,
                               int32_t **ids, ap_error *err);

/* Prune m in place. On error m may be partly pruned (callers restore it; the CLI writes nothing). */
ap_status ap_prune_run(ap_model *m, const ap_prune_run_opts *o, ap_prune_run_result *res, ap_error *err);

/* An allocation script (doc/allocation.md) run on units in the sandbox (ap_sandbox_call): its
 * function(layers, target, info) gives one number per unit, checked to be a list of units->n finite numbers and
 * written to values[0..n) (only on success). The budget is not applied here: ap_alloc_units_targets does that.
 * The script is src (named by path, may be NULL) or, when src is NULL, the file path. limits: 0 fields (or NULL)
 * = the allocation defaults, 20 M instructions, 2 s, 16 MiB of heap, 64 KiB of source. Errors: the sandbox's
 * kinds (syntax, runtime, limit, type, shape, nonfinite, io), the message "NAME: ...", the line in err->line. */
ap_status ap_prune_run_alloc_script(const ap_alloc_units *units, const char *path, const char *src,
                                    const ap_limits *limits, double *values, ap_error *err);

/* Perplexity of a text file (NULL = <datadir>/data/wikitext-2-raw/wiki.test.raw) by the protocol. */
ap_status ap_prune_run_eval(const ap_model *m, const char *text, int seqlen, int64_t max_windows,
                            ap_progress_fn progress, void *pud, ap_ppl_result *res, ap_error *err);

/* The run record (inputs, versions, per-linear sparsities, timings) as a new cJSON object (caller deletes). */
cJSON *ap_prune_run_json(const ap_model *m, const ap_prune_run_opts *o, const ap_prune_run_result *r);

#endif
