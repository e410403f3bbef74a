/* ap_limits.h — sandbox limits set by name: the one place that turns "heap_bytes = 1e6" (a Lua table field, a CLI
 * flag) into an ap_limits field, range-checked, so no front end casts a negative or NaN double to uint64_t. */
#ifndef AP_LIMITS_H
#define AP_LIMITS_H

#include "ap_error.h"
#include "autoprune.h"

/* The keys, in ap_limits field order, NULL-terminated: instructions, wall_ms, heap_bytes, tensor_bytes, work,
 * output_bytes, source_bytes. */
extern const char *const ap_limits_keys[];

/* The largest value a limit takes: 2^53, where doubles still count every integer. */
#define AP_LIMITS_MAX 9007199254740992.0

/* Set l->key = value. value must be a whole number in [0, AP_LIMITS_MAX] (0 = the default); a negative, NaN,
 * fractional or larger value, or an unknown key, is AP_E_ARG naming the key and the value. */
ap_status ap_limits_set(ap_limits *l, const char *key, double value, ap_error *err);

#endif
