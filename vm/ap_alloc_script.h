/* ap_alloc_script.h — scripted allocation: a Lua function from per-layer statistics to per-layer sparsities, run
 * in a small sandbox of its own, its result validated and renormalised exactly to the budget (ap_alloc.h). */
#ifndef AP_ALLOC_SCRIPT_H
#define AP_ALLOC_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

/* One allocation unit (a decoder block, or one linear) as the script sees it, in the list `layers`:
 *   { layer = 1-based block, name = "block" | "q_proj" | ..., numel = parameters, w_skew =, w_kurt =, w_mean =,
 *     w_std = (moments of |W| of the unit), outlier_ratio = (OWL's D: fraction of Wanda scores > 5·mean; 0 when
 *     not computed) }. Strings are borrowed for the call. */
typedef struct ap_alloc_unit {
    int layer;
    const char *name;
    int64_t numel;
    double w_skew, w_kurt, w_mean, w_std, outlier_ratio;
} ap_alloc_unit;

/* Limits of one script run; 0 = default. */
typedef struct ap_alloc_script_limits {
    uint64_t instructions;   /* Lua VM instructions            default 20 000 000 */
    uint64_t wall_ms;        /* wall-clock time                default 2 000 */
    size_t heap_bytes;       /* Lua heap                       default 16 MiB */
    size_t source_bytes;     /* script size                    default 64 KiB */
} ap_alloc_script_limits;

/* The script: a Lua 5.4 text chunk that returns `function(layers, target, info)` (or a table whose field
 * `allocate` is that function); info = { n_layers =, units = #layers, lo =, hi = }. It returns a list of
 * #layers numbers, each finite and in [0, 1). The result is then clamped to [lo, hi] and shifted by one common
 * constant so that the numel-weighted mean is exactly target (ap_alloc_renormalise): a script decides the
 * shape of the allocation, the budget is always met.
 * Sandbox: globals assert error ipairs next pairs select tonumber tostring type rawequal rawlen, math (no
 * random), string (byte char format len lower upper sub reverse; also as methods), table (concat insert
 * remove sort unpack pack), utf8. No pcall (so nothing can swallow a limit), no load/require/io/os/debug,
 * no setmetatable/getmetatable. Errors: AP_E_SYNTAX, AP_E_RUNTIME (raised error, out-of-range value),
 * AP_E_LIMIT, AP_E_TYPE (not a function / not a list of numbers), AP_E_SHAPE (wrong count),
 * AP_E_NONFINITE, AP_E_ARG, AP_E_NOMEM; err->line is the script line where there is one.
 * out[0..n) is written only on success. src is borrowed (len 0 = strlen); name (may be NULL) names it in
 * messages; limits may be NULL. */
ap_status ap_alloc_script_run(const char *src, size_t len, const char *name, const ap_alloc_unit *units, int n,
                              int n_layers, double target, double lo, double hi,
                              const ap_alloc_script_limits *limits, double *out, ap_error *err);
/* The same with the source read from a file (bounded by source_bytes). */
ap_status ap_alloc_script_run_file(const char *path, const ap_alloc_unit *units, int n, int n_layers, double target,
                                   double lo, double hi, const ap_alloc_script_limits *limits, double *out,
                                   ap_error *err);

#endif
