/* ap_limits.c — sandbox limits set by name, range-checked. */
#include "ap_limits.h"

#include <math.h>
#include <string.h>

const char *const ap_limits_keys[] = {"instructions", "wall_ms",      "heap_bytes",   "tensor_bytes",
                                      "work",         "output_bytes", "source_bytes", NULL};

ap_status ap_limits_set(ap_limits *l, const char *key, double value, ap_error *err)
{
    int which = -1;
    for (int i = 0; ap_limits_keys[i]; i++)
        if (!strcmp(key, ap_limits_keys[i]))
            which = i;
    if (which < 0)
        return ap_error_set(err, AP_E_ARG,
                            "limits: unknown limit '%.100s' (instructions, wall_ms, heap_bytes, "
                            "tensor_bytes, work, output_bytes, source_bytes)",
                            key);
    /* checked as a double first: casting a negative, NaN or out-of-range double to uint64_t is undefined */
    if (!(value >= 0 && value <= AP_LIMITS_MAX) || value != floor(value))
        return ap_error_set(err, AP_E_ARG, "limits.%s = %g: expected a whole number in [0, 2^53]", key, value);
    uint64_t u = (uint64_t)value;
    switch (which) {
    case 0: l->instructions = u; break;
    case 1: l->wall_ms = u; break;
    case 2: l->heap_bytes = (size_t)u; break;
    case 3: l->tensor_bytes = (size_t)u; break;
    case 4: l->work = u; break;
    case 5: l->output_bytes = (size_t)u; break;
    default: l->source_bytes = (size_t)u; break;
    }
    return AP_OK;
}
