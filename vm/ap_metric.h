/* ap_metric.h — what a metric argument names: a file, a shipped NAME (lua/metrics/NAME.lua), source text, a
 * native fast path or SparseGPT. One resolver, so `autoprune prune --metric`, `autoprune check`, ap.metric,
 * ap.check and m:prune read the same string the same way (rule in doc/metrics.md). */
#ifndef AP_METRIC_H
#define AP_METRIC_H

#include "ap_error.h"
#include "ap_prune.h"

typedef enum ap_metric_kind {
    AP_METRIC_FILE,     /* an existing file: path */
    AP_METRIC_NAME,     /* a shipped metric: path = <datadir>/lua/metrics/NAME.lua */
    AP_METRIC_SOURCE,   /* Lua source text: text */
    AP_METRIC_NATIVE,   /* "native:wanda", "native:magnitude": native */
    AP_METRIC_SPARSEGPT /* "sparsegpt": the pruning core's own method, no score */
} ap_metric_kind;

typedef struct ap_metric_spec {
    ap_metric_kind kind;
    const char *text;   /* the argument as given (borrowed); the source for AP_METRIC_SOURCE */
    char path[4096];    /* FILE and NAME: the file to load */
    ap_score_fn native; /* NATIVE: the scoring callback */
} ap_metric_spec;

/* Resolve a metric argument, first match wins:
 *   1. an existing regular file                                    FILE
 *   2. "native:wanda" | "native:magnitude" (other native:* errors)   NATIVE
 *   3. "sparsegpt"                                                  SPARSEGPT
 *   4. a NAME ([A-Za-z0-9_-]+) with <datadir>/lua/metrics/NAME.lua  NAME (else an io error naming NAME)
 *   5. one word that looks like a path (ends in .lua or holds '/') an io error naming the missing file
 *   6. anything else (a newline, spaces, parentheses, ...)          SOURCE
 * Empty or NULL is AP_E_ARG. */
ap_status ap_metric_spec_resolve(ap_metric_spec *s, const char *text, ap_error *err);

/* text is Lua source, whatever it looks like (m:prune{metric_source=}). */
ap_status ap_metric_spec_source(ap_metric_spec *s, const char *text, ap_error *err);

/* "file", "name", "source", "native", "sparsegpt". */
const char *ap_metric_kind_name(ap_metric_kind k);

#endif
