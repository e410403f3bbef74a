/* autoprune.h — the public embedding API: run pruning-metric Lua scripts in a sandbox and score weights with them.
 *
 * This is the one header another tool needs. It depends only on the C standard library (no Lua, no autoprune
 * internals): handles are opaque, tensors are plain row-major float arrays.
 *
 * Worked example (error handling shortened; link with `pkg-config --libs autoprune`):
 *
 *     #include <autoprune.h>
 *     #include <stdio.h>
 *
 *     int main(void) {
 *         ap_sandbox *sb = ap_sandbox_new(NULL);               // NULL = default limits
 *         const char *src = "return function(W, X, info) return W:abs() * X.l2 end";   // Wanda
 *         if (ap_sandbox_load_string(sb, src, 0, "wanda") != AP_KIND_OK) {
 *             int line; const char *msg; int kind = ap_sandbox_error(sb, &msg, &line);
 *             fprintf(stderr, "%s: line %d: %s\n", ap_kind_name(kind), line, msg);
 *             return 1;
 *         }
 *         float W[2 * 3] = {1, -2, 3, -4, 5, -6};                // [out = 2, in = 3], row-major
 *         float l2[3] = {1, 0.5f, 2};                             // one value per input channel
 *         ap_xstats X = {0};  X.l2 = l2;  X.tokens = 128;          // absent statistics stay NULL
 *         ap_layer_info info = {1, 32, "q_proj", 0.5};
 *         float S[2 * 3];                                          // caller's buffer, [out, in]
 *         if (ap_sandbox_score(sb, W, 2, 3, &X, &info, S) == AP_KIND_OK)
 *             printf("%g %g %g\n", S[0], S[1], S[2]);              // 1 1 6
 *         ap_sandbox_free(sb);
 *         return 0;
 *     }
 *
 * The metric contract (what a script sees: W, X, info, the T tensor functions, the sandbox) is
 * doc/metric-api.md. Each load and each score runs in a fresh Lua state under the limits below; a script can
 * neither keep state between calls nor reach the host.
 *
 * Threads: a sandbox is used by one thread at a time; several sandboxes may run in several threads at once
 * (there is no global mutable state). ap_sandbox_interrupt alone may be called from any thread, at any time
 * while the sandbox exists.
 *
 * Ownership: every pointer passed in is borrowed for the duration of the call only (the sandbox copies the
 * source, W and X). An ap_sandbox is the caller's, freed with ap_sandbox_free. Strings returned by
 * ap_sandbox_error, ap_sandbox_output and ap_sandbox_group are owned by the sandbox and valid until its next
 * load/score call or ap_sandbox_free; ap_kind_name and ap_version return static strings. */
#ifndef AUTOPRUNE_H
#define AUTOPRUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AP_API __attribute__((visibility("default")))
#else
#define AP_API
#endif

/* Result kinds. The values equal the library's internal ap_status codes; the first six are the metric contract's
 * error kinds, AP_KIND_INTERRUPTED means ap_sandbox_interrupt stopped the run. */
typedef enum {
    AP_KIND_OK = 0,
    AP_KIND_SYNTAX = 1,      /* the script does not parse (or is a binary chunk, or is too long) */
    AP_KIND_RUNTIME = 2,     /* the script raised an error */
    AP_KIND_LIMIT = 3,       /* a limit below was exceeded; pcall in the script cannot catch this */
    AP_KIND_SHAPE = 4,       /* shapes do not broadcast, or the score does not broadcast to [out, in] */
    AP_KIND_NONFINITE = 5,   /* the score holds NaN or Inf */
    AP_KIND_TYPE = 6,        /* the script returned the wrong type (not a function, no score tensor, bad group) */
    AP_KIND_IO = 7,          /* ap_sandbox_load_file could not read the file */
    AP_KIND_ARG = 10,        /* the caller passed a bad argument (NULL, negative size, no metric loaded) */
    AP_KIND_NOMEM = 11,      /* the host ran out of memory */
    AP_KIND_INTERRUPTED = 14 /* ap_sandbox_interrupt was called */
} ap_kind;

/* Limits of one run (one load or one score call). 0 in a field means "use the default" given here. */
typedef struct ap_limits {
    uint64_t instructions; /* Lua VM instructions, all code of the run          default 100 000 000 (~0.5 s) */
    uint64_t wall_ms;      /* wall-clock time of the run, ms                     default 30 000 */
    size_t heap_bytes;     /* Lua heap (tables, strings, closures)               default 64 MiB */
    size_t tensor_bytes;   /* tensor payloads alive at once   default 16 x size of W + 64 MiB (auto per call) */
    uint64_t work;         /* elements touched by tensor primitives (m*n*k for matmul)
                                                                    default 256 x numel(W) + 100 000 000 (auto) */
    size_t output_bytes;   /* text written by print()                            default 64 KiB */
    size_t source_bytes;   /* size of the script                                 default 64 KiB */
} ap_limits;

/* What the last run used (ap_sandbox_usage). */
typedef struct ap_usage {
    uint64_t instructions; /* counted in steps of 1000 */
    size_t peak_heap_bytes;
    size_t peak_tensor_bytes;
    uint64_t work;
    double wall_ms;
    size_t output_bytes;
} ap_usage;

/* The statistics of X as bits: what a script read (ap_sandbox_x_reads), declared (needs = {...}), or what a run
 * did not gather (ap_xstats.missing). */
#define AP_X_L2 0x01u
#define AP_X_SQ 0x02u
#define AP_X_MEAN 0x04u
#define AP_X_STD 0x08u
#define AP_X_ABSMAX 0x10u
#define AP_X_SKEW 0x20u
#define AP_X_KURT 0x40u
#define AP_X_HINV 0x80u
#define AP_X_ALL 0xffu

/* Statistics of a linear layer's input over n calibration tokens; each array has `in` floats (borrowed).
 * NULL means absent: the script then sees nil for that field (a runtime error naming it when its bit is in
 * `missing`), except that l2 and sq are derived from each other when only one is given (l2 = sqrt(sq * tokens)).
 * Extra named statistics may be passed too. */
typedef struct ap_xstats {
    const float *l2; /* sqrt(sum_t x_tj^2)   (Wanda's ||X_j||_2) */
    const float *sq; /* sum_t x_tj^2 / n */
    const float *mean;
    const float *std;    /* population standard deviation */
    const float *absmax; /* max_t |x_tj| */
    const float *skew;   /* population skewness */
    const float *kurt;   /* excess kurtosis */
    double tokens;       /* n */
    size_t n_extra;      /* further statistics, X[extra_names[i]] = extra[i] ([in] floats each) */
    const char *const *extra_names;
    const float *const *extra;
    unsigned missing; /* AP_X_* bits of statistics the run did not gather: reading one is an error */
} ap_xstats;

/* The `info` table a script sees (out and in are taken from W's shape). */
typedef struct ap_layer_info {
    int layer; /* 1-based block index */
    int n_layers;
    const char *name; /* "q_proj", ..., "down_proj"; NULL = "" */
    double sparsity;  /* this layer's target sparsity */
} ap_layer_info;

typedef struct ap_sandbox ap_sandbox;

/* Fill *limits with the defaults above (auto fields stay 0). */
AP_API void ap_limits_default(ap_limits *limits);

/* A new sandbox with these limits (NULL = defaults; copied). NULL only when out of memory.
 * Free with ap_sandbox_free. */
AP_API ap_sandbox *ap_sandbox_new(const ap_limits *limits);
AP_API void ap_sandbox_free(ap_sandbox *sb); /* NULL is fine */

/* Load a metric: the source is copied, compiled (text only) and run once in a fresh state to check that it
 * returns a function or a table {score = function, group = "row"|"layer"}. len 0 = strlen(src).
 * `name` (may be NULL) names the script in messages. Returns AP_KIND_OK or the error kind (see ap_sandbox_error). */
AP_API int ap_sandbox_load_string(ap_sandbox *sb, const char *src, size_t len, const char *name);
AP_API int ap_sandbox_load_file(ap_sandbox *sb, const char *path);

/* Score one layer: runs the loaded metric on a fresh copy of W ([out, in] row-major) and X in a fresh state,
 * checks the result broadcasts to [out, in] and is finite, and writes it to scores (out*in floats, the
 * caller's). On error scores' contents are unspecified. */
AP_API int ap_sandbox_score(ap_sandbox *sb, const float *W, int64_t out, int64_t in, const ap_xstats *X,
                            const ap_layer_info *info, float *scores);

/* The comparison group the loaded script declared: "row" or "layer"; "row" when it declared none
 * (then ap_sandbox_group_declared returns 0). */
AP_API const char *ap_sandbox_group(const ap_sandbox *sb);
AP_API int ap_sandbox_group_declared(const ap_sandbox *sb);
/* The statistics of X the loaded script declared with needs = {"l2", ...} in its returned table (AP_X_* bits), and
 * those its score calls have read since it was loaded: together, what calibration must gather for it. */
AP_API unsigned ap_sandbox_x_needs(const ap_sandbox *sb);
AP_API unsigned ap_sandbox_x_reads(const ap_sandbox *sb);

/* The last error: returns its kind (AP_KIND_OK when the last call succeeded); *message (may be NULL) receives a
 * one-line message, *line (may be NULL) the script line or 0 where there is none. */
AP_API int ap_sandbox_error(const ap_sandbox *sb, const char **message, int *line);
/* "ok", "syntax", "runtime", "limit", "shape", "nonfinite", "type", "io", "arg", "nomem", "interrupted". */
AP_API const char *ap_kind_name(int kind);

/* Usage of the last load or score call. */
AP_API void ap_sandbox_usage(const ap_sandbox *sb, ap_usage *usage);
/* What the script printed during the last call (at most output_bytes; *len may be NULL). */
AP_API const char *ap_sandbox_output(const ap_sandbox *sb, size_t *len);

/* Stop the run in progress from any thread (async-signal-safe: it only sets an atomic flag). The run ends with
 * AP_KIND_INTERRUPTED within about a thousand VM instructions or before the next tensor primitive starts.
 * When no run is in progress, the next one is stopped; the flag is cleared when a run ends interrupted. */
AP_API void ap_sandbox_interrupt(ap_sandbox *sb);

/* The library's version, e.g. "0.1.0". */
AP_API const char *ap_version(void);

#ifdef __cplusplus
}
#endif

#endif
