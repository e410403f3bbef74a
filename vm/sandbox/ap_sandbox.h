/* ap_sandbox.h — the one sandbox for untrusted Lua inside the library: the public API of autoprune.h (metric
 * scoring) plus what the rest of autoprune needs (the error as an ap_error record, and ap_sandbox_call, which
 * runs any other script, e.g. an allocation script, under the same environment and limits). The
 * implementation is vm/sandbox/ap_sandbox.c.
 *
 * How a run works (one load, score or call): a fresh lua_State with our allocator (heap limit), an
 * environment built from an allow list (the metric contract's globals only), a count hook every 1000 VM
 * instructions that checks the instruction budget, the wall-clock deadline and the interrupt flag, and an
 * ap_budget given to the tensor binding that charges tensor bytes and work and checks the same deadline and
 * flag. A tripped limit is sticky: the hook then fires on every instruction and raises again, and the
 * sandbox's pcall/xpcall re-raise it, so a script cannot swallow it. The state is closed with the limit still
 * tripped, so no script code can run afterwards. */
#ifndef AP_SANDBOX_H
#define AP_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"
#include "autoprune.h"

/* The last error of sb as an ap_error record (code AP_OK when the last call succeeded). */
void ap_sandbox_error_get(const ap_sandbox *sb, ap_error *err);

/* The limits in force (defaults filled in; auto fields stay 0). */
void ap_sandbox_limits(const ap_sandbox *sb, ap_limits *limits);

/* The name given at load (file name or "metric"); owned by sb. */
const char *ap_sandbox_name(const ap_sandbox *sb);

/* ---- calling a script with data: "this function, this data, these limits, a list of numbers back" ----
 *
 * Internal, not AP_API: its one caller is autoprune's scripted allocation (vm/ap_prune_run.c). The public ABI
 * is the metric contract; exporting a C description of Lua data would freeze this struct for embedders before
 * a second use has shown what it needs (tests/embed/test_install.sh checks the exports are exactly AP_API). */

/* Lua data described in C: a number, an integer, a string, or a table of such values. Inside a table an entry
 * with a key is a field (t[key] = value), one without is the next list item (t[#t + 1] = value). Everything
 * is borrowed for the call; tables nest at most AP_VALUE_MAX_DEPTH deep. */
typedef enum { AP_VALUE_NUMBER, AP_VALUE_INTEGER, AP_VALUE_STRING, AP_VALUE_TABLE } ap_value_kind;
typedef struct ap_value {
    const char *key; /* inside a table: the field name; NULL = a list item (and for arguments) */
    ap_value_kind kind;
    double number;                /* AP_VALUE_NUMBER */
    int64_t integer;              /* AP_VALUE_INTEGER */
    const char *string;           /* AP_VALUE_STRING (NULL = "") */
    const struct ap_value *items; /* AP_VALUE_TABLE: its n entries */
    size_t n;
} ap_value;
#define AP_VALUE_MAX_DEPTH 16

/* Give sb a script to call: the source is copied (len 0 = strlen) or read from path (bounded by the source
 * limit), and compiled only by ap_sandbox_call. It replaces a loaded metric (ap_sandbox_score then refuses).
 * Returns AP_KIND_OK, AP_KIND_LIMIT (too long), AP_KIND_IO, AP_KIND_NOMEM or AP_KIND_ARG. */
int ap_sandbox_source_string(ap_sandbox *sb, const char *src, size_t len, const char *name);
int ap_sandbox_source_file(ap_sandbox *sb, const char *path);

/* Run the script in a fresh state, exactly as a metric is run: the same allow-list environment (T included),
 * allocator, instruction/time/work/output hooks and structured errors. Its chunk must return a function, or a
 * table whose field `entry` (read raw) is one; that function is called with args[0..nargs) and must return a
 * list of exactly n numbers, read raw into out[0..n) (written only on success). Errors (ap_sandbox_error):
 * syntax, runtime, limit (pcall cannot catch it), type (no function; not a list; an item not a number), shape
 * (not n items), nonfinite, arg (bad description), interrupted; with the script line where there is one. */
int ap_sandbox_call(ap_sandbox *sb, const char *entry, const ap_value *args, size_t nargs, double *out, size_t n);

#endif
