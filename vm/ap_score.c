/* ap_score.c — metric scripts as the pruning core's scoring callback, through the sandbox (vm/sandbox/ap_sandbox.h). */
#include "ap_score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_sandbox.h"

struct ap_scorer {
    ap_sandbox *sb;
    int n_layers;
    ap_usage total;
};

ap_status ap_scorer_open(ap_scorer **out, const ap_metric_spec *spec, const ap_limits *limits, int n_layers,
                         ap_error *err)
{
    *out = NULL;
    if (spec->kind != AP_METRIC_FILE && spec->kind != AP_METRIC_NAME && spec->kind != AP_METRIC_SOURCE)
        return ap_error_set(err, AP_E_ARG, "metric '%.200s' is %s, not a script", spec->text,
                            ap_metric_kind_name(spec->kind));
    ap_scorer *s = calloc(1, sizeof *s);
    if (!s || !(s->sb = ap_sandbox_new(limits))) {
        free(s);
        return ap_error_set(err, AP_E_NOMEM, "no memory for a sandbox");
    }
    s->n_layers = n_layers;
    int kind = spec->kind == AP_METRIC_SOURCE ? ap_sandbox_load_string(s->sb, spec->text, 0, "metric")
                                              : ap_sandbox_load_file(s->sb, spec->path);
    if (kind != AP_KIND_OK) {
        ap_sandbox_error_get(s->sb, err);
        ap_scorer_free(s);
        return (ap_status)kind;
    }
    *out = s;
    return AP_OK;
}

void ap_scorer_free(ap_scorer *s)
{
    if (s) {
        ap_sandbox_free(s->sb);
        free(s);
    }
}

int ap_scorer_group(const ap_scorer *s, ap_group_kind *g)
{
    if (!ap_sandbox_group_declared(s->sb))
        return 0;
    *g = strcmp(ap_sandbox_group(s->sb), "layer") == 0 ? AP_GROUP_LAYER : AP_GROUP_ROW;
    return 1;
}

const char *ap_scorer_name(const ap_scorer *s)
{
    return ap_sandbox_name(s->sb);
}

void ap_scorer_usage(const ap_scorer *s, ap_usage *u)
{
    *u = s->total;
}

ap_status ap_scorer_score(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                          const ap_xview *x, double sparsity, float *scores, ap_error *err)
{
    ap_scorer *s = ud;
    ap_xstats X;
    memset(&X, 0, sizeof X);
    if (x) {
        X.l2 = x->l2;
        X.sq = x->sq;
        X.mean = x->mean;
        X.std = x->std;
        X.absmax = x->absmax;
        X.skew = x->skew;
        X.kurt = x->kurt;
        X.tokens = x->tokens;
        if (x->hinv) {   /* X.hinv: only when the run holds Hessians (metric contract, doc/metric-api.md) */
            static const char *const hinv_name[] = {"hinv"};
            X.n_extra = 1;
            X.extra_names = hinv_name;
            X.extra = &x->hinv;
        }
    }
    ap_layer_info info = {layer + 1, s->n_layers, ap_linear_name(kind), sparsity};
    int k = ap_sandbox_score(s->sb, W, out, in, x ? &X : NULL, &info, scores);
    ap_usage u;
    ap_sandbox_usage(s->sb, &u);
    s->total.instructions += u.instructions;
    s->total.work += u.work;
    s->total.wall_ms += u.wall_ms;
    s->total.output_bytes += u.output_bytes;
    if (u.peak_heap_bytes > s->total.peak_heap_bytes) s->total.peak_heap_bytes = u.peak_heap_bytes;
    if (u.peak_tensor_bytes > s->total.peak_tensor_bytes) s->total.peak_tensor_bytes = u.peak_tensor_bytes;
    if (k != AP_KIND_OK) {
        ap_sandbox_error_get(s->sb, err);
        return (ap_status)k;
    }
    return AP_OK;
}
