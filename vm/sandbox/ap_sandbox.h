/* ap_sandbox.h — the metric sandbox inside the library: the public API of autoprune.h plus what the rest of
 * autoprune needs (the error as an ap_error record). The implementation is vm/sandbox/ap_sandbox.c.
 *
 * How a run works (one load or one score call): a fresh lua_State with our allocator (heap limit), an
 * environment built from an allow list (the metric contract's globals only), a count hook every 1000 VM
 * instructions that checks the instruction budget, the wall-clock deadline and the interrupt flag, and an
 * ap_budget given to the tensor binding that charges tensor bytes and work and checks the same deadline and
 * flag. A tripped limit is sticky: the hook then fires on every instruction and raises again, and the
 * sandbox's pcall/xpcall re-raise it, so a script cannot swallow it. The state is closed with the limit still
 * tripped, so no script code can run afterwards. */
#ifndef AP_SANDBOX_H
#define AP_SANDBOX_H

#include "ap_error.h"
#include "autoprune.h"

/* The last error of sb as an ap_error record (code AP_OK when the last call succeeded). */
void ap_sandbox_error_get(const ap_sandbox *sb, ap_error *err);

/* The limits in force (defaults filled in; auto fields stay 0). */
void ap_sandbox_limits(const ap_sandbox *sb, ap_limits *limits);

/* The name given at load (file name or "metric"); owned by sb. */
const char *ap_sandbox_name(const ap_sandbox *sb);

#endif
