/* ap_check.h — checking a metric script as `autoprune check` does: load it in the sandbox and score two synthetic
 * layers of a realistic shape (heavy-tailed activations, outlier channels, statistics computed from the samples).
 * Shared by the CLI and by ap.check, so a search checks candidates exactly as a researcher does. */
#ifndef AP_CHECK_H
#define AP_CHECK_H

#include <stdint.h>

#include "autoprune.h"

typedef struct ap_check_layers ap_check_layers;

/* Two synthetic layers: W [out, in] gate_proj of layer 1 and W [in, out] down_proj of layer 4, deterministic.
 * Caller frees with ap_check_layers_free; NULL when out of memory. */
ap_check_layers *ap_check_layers_new(int64_t out, int64_t in);
void ap_check_layers_free(ap_check_layers *layers);

/* Load a metric into sb (path != NULL: from that file, else from src/len named `name`) and score the layers.
 * Returns AP_KIND_OK or the error kind (details through ap_sandbox_error(sb, ...)); *usage (may be NULL) receives
 * the sum of the runs' usage (peaks as maxima). `layers` may be NULL: they are made for this call. */
int ap_check_metric(ap_sandbox *sb, const char *path, const char *src, size_t len, const char *name,
                    const ap_check_layers *layers, ap_usage *usage);

#endif
