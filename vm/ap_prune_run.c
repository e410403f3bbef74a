/* ap_prune_run.c — a whole pruning run (calibration, allocation, scoring, driver) and its JSON run record. */
#include "ap_prune_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_alloc_script.h"
#include "ap_paths.h"
#include "ap_score.h"
#ifndef AP_VERSION
#define AP_VERSION "0"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* <data dir>/rel, or rel itself when no data dir is found (then the open names the missing file). */
static const char *datafile(char *buf, size_t n, const char *rel)
{
    if (!ap_datapath(buf, n, rel))
        snprintf(buf, n, "%s", rel);
    return buf;
}

void ap_prune_run_opts_default(ap_prune_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->metric = "wanda";
    o->sparsity = 0.5;
    ap_alloc_spec_default(&o->alloc_spec);
    o->sgpt_percdamp = -1;
}

void ap_prune_run_result_free(ap_prune_run_result *r)
{
    if (r) {
        ap_prune_report_free(&r->rep);
        free(r->targets);
        memset(r, 0, sizeof *r);
    }
}

static void phase(const ap_prune_run_opts *o, const char *what)
{
    if (o->phase)
        o->phase(o->pud, what);
}

static int batch_for(int seqlen)
{
    int b = 4096 / (seqlen > 0 ? seqlen : 1);
    return b < 1 ? 1 : b > 16 ? 16 : b;
}

ap_status ap_prune_run_windows(const ap_model *m, const char *text, int nsamples, int seqlen, int random,
                               uint64_t seed, int32_t **ids, ap_error *err)
{
    char def[4096];
    if (!text) {
        text = datafile(def, sizeof def, "data/calib.txt");
    }
    int32_t *all = NULL;
    size_t n = 0;
    ap_status st = ap_calib_tokenize_file(m->dir, text, &all, &n, err);
    if (!st)
        st = ap_calib_windows(all, n, nsamples, seqlen, random, seed, ids, err);
    free(all);
    return st;
}

ap_status ap_prune_run_eval(const ap_model *m, const char *text, int seqlen, int64_t max_windows,
                            ap_progress_fn progress, void *pud, ap_ppl_result *res, ap_error *err)
{
    char def[4096];
    if (!text) {
        text = datafile(def, sizeof def, "data/wikitext-2-raw/wiki.test.raw");
    }
    if (seqlen <= 0)
        seqlen = ap_calib_default_seqlen(m);
    int32_t *ids = NULL;
    size_t n = 0;
    ap_status st = ap_calib_tokenize_file(m->dir, text, &ids, &n, err);
    if (!st)
        st = ap_model_perplexity(m, ids, n, seqlen, max_windows, progress, pud, res, err);
    free(ids);
    return st;
}

/* The comparison group: an N:M pattern wins, then an explicit option, then the script's declaration. */
static ap_status resolve_pattern(const ap_prune_run_opts *o, ap_scorer *sc, ap_prune_run_result *r, ap_error *err)
{
    int n = 0, m = 0;
    ap_status st = ap_pattern_parse_nm(o->pattern ? o->pattern : "unstructured", &n, &m, err);
    if (st)
        return st;
    if (m > 0) {
        r->pattern = (ap_pattern){AP_GROUP_NM, n, m};
        r->group_source = "pattern";
        return AP_OK;
    }
    r->pattern = (ap_pattern){AP_GROUP_ROW, 0, 0};
    ap_group_kind g;
    if (o->group) {
        if (!strcmp(o->group, "row"))
            r->pattern.group = AP_GROUP_ROW;
        else if (!strcmp(o->group, "layer"))
            r->pattern.group = AP_GROUP_LAYER;
        else
            return ap_error_set(err, AP_E_ARG, "group '%s': expected row or layer", o->group);
        r->group_source = "option";
    } else if (sc && ap_scorer_group(sc, &g)) {
        r->pattern.group = g;
        r->group_source = "script";
    } else if (o->metric && !strcmp(o->metric, "native:magnitude")) {
        r->pattern.group = AP_GROUP_LAYER;   /* magnitude compares a whole matrix (PROTOCOL.md) */
        r->group_source = "default";
    } else {
        r->group_source = "default";
    }
    return AP_OK;
}

/* Returns 1 when alloc names a script (anything but uniform/owl/sdsa), else sets spec->kind and returns 0. */
static int parse_alloc(const ap_prune_run_opts *o, ap_alloc_spec *spec)
{
    *spec = o->alloc_spec;
    const char *a = o->alloc ? o->alloc : "uniform";
    if (!strcmp(a, "uniform"))
        spec->kind = AP_ALLOC_UNIFORM;
    else if (!strcmp(a, "owl"))
        spec->kind = AP_ALLOC_OWL;
    else if (!strcmp(a, "sdsa"))
        spec->kind = AP_ALLOC_SDSA;
    else
        return 1;
    return 0;
}

/* An allocation script (vm/ap_alloc_script.h): units per block (or per linear with granularity=linear) with the
 * moments of |W| and OWL's outlier ratio from the dense statistics. */
static ap_status script_alloc(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec,
                              const char *path, double S, double *targets, ap_error *err)
{
    int L = m->cfg.n_layers, per_linear = spec->sdsa.granularity == AP_ALLOC_PER_LINEAR;
    int n = per_linear ? L * AP_LIN_COUNT : L;
    ap_linear_facts *f = calloc((size_t)L * AP_LIN_COUNT, sizeof *f);
    ap_alloc_unit *u = calloc((size_t)n, sizeof *u);
    double *D = calloc((size_t)L, sizeof *D), *s = calloc((size_t)n, sizeof *s);
    ap_status st = f && u && D && s ? AP_OK : ap_error_set(err, AP_E_NOMEM, "allocation: no memory");
    if (!st)
        st = ap_prune_facts(m, dense, spec->owl_m, f, err);
    if (!st && !per_linear)
        st = ap_prune_block_outliers(m, dense, spec->owl_m, D, err);
    for (int i = 0; i < n && !st; i++) {
        if (per_linear) {
            u[i] = (ap_alloc_unit){f[i].layer + 1, ap_linear_name(f[i].kind), f[i].numel, f[i].w_skew, f[i].w_kurt,
                                   f[i].w_absmean, 0, f[i].wanda_outlier_ratio};
            ap_alloc_moments mo;
            const float *w = m->blocks[f[i].layer].lin[f[i].kind].w;
            st = ap_alloc_moments_pooled(&w, &f[i].numel, 1, 1, &mo, err);
            u[i].w_std = mo.std;
        } else {
            const float *ptr[AP_LIN_COUNT];
            int64_t len[AP_LIN_COUNT], tot = 0;
            for (int k = 0; k < AP_LIN_COUNT; k++) {
                ptr[k] = m->blocks[i].lin[k].w;
                len[k] = m->blocks[i].lin[k].out * m->blocks[i].lin[k].in;
                tot += len[k];
            }
            ap_alloc_moments mo;
            st = ap_alloc_moments_pooled(ptr, len, AP_LIN_COUNT, 1, &mo, err);
            u[i] = (ap_alloc_unit){i + 1, "block", tot, mo.skew, mo.kurt, mo.mean, mo.std, D[i]};
        }
    }
    if (!st)
        st = ap_alloc_script_run_file(path, u, n, L, S, spec->lo, spec->hi, NULL, s, err);
    for (int i = 0; !st && i < L * AP_LIN_COUNT; i++)
        targets[i] = per_linear ? s[i] : s[i / AP_LIN_COUNT];
    free(f);
    free(u);
    free(D);
    free(s);
    return st;
}

ap_status ap_prune_run(ap_model *m, const ap_prune_run_opts *o, ap_prune_run_result *r, ap_error *err)
{
    memset(r, 0, sizeof *r);
    int L = m->cfg.n_layers;
    int sgpt = o->metric && !strcmp(o->metric, "sparsegpt");
    ap_score_fn native = ap_score_native(o->metric);
    ap_scorer *sc = NULL;
    ap_calib_stats *own_stats = NULL;
    int32_t *ids = NULL;
    ap_alloc_spec spec = o->alloc_spec;
    ap_status st = AP_OK;

    r->nsamples = o->nsamples > 0 ? o->nsamples : 128;
    r->seqlen = o->seqlen > 0 ? o->seqlen : ap_calib_default_seqlen(m);
    if (!(o->sparsity >= 0 && o->sparsity < 1))
        return ap_error_set(err, AP_E_ARG, "sparsity %g outside [0, 1)", o->sparsity);
    r->targets = calloc((size_t)L * AP_LIN_COUNT, sizeof *r->targets);
    if (!r->targets)
        return ap_error_set(err, AP_E_NOMEM, "no memory");
    if (sgpt || native)
        snprintf(r->metric_name, sizeof r->metric_name, "%s", o->metric);
    else {
        phase(o, "load metric");
        st = ap_scorer_open(&sc, o->metric, o->limits, L, err);
        if (!st)
            snprintf(r->metric_name, sizeof r->metric_name, "%s", ap_scorer_name(sc));
    }
    if (!st)
        st = resolve_pattern(o, sc, r, err);
    int scripted = 0;
    if (!st && !o->targets)
        scripted = parse_alloc(o, &spec);

    /* The statistics calibration gathers: what the metric reads (native: fixed; a script: ap_scorer_fields), all
     * seven for the allocation's dense statistics (ap_prune_facts reads l2 and kurt), Hessians when asked. */
    unsigned fields = 0;
    if (sc)
        fields = ap_scorer_fields(sc);
    else if (!st)
        st = ap_metric_fields(o->metric, &fields, err);   /* native and sparsegpt: fixed, nothing is opened */

    /* calibration ids: needed unless one-shot statistics were handed over */
    const ap_calib_stats *stats = o->stats;
    int need_dense = !o->targets && !st && (scripted || spec.kind == AP_ALLOC_OWL);
    int need_ids = o->oneshot ? !stats : 1;
    if (!st && stats && (sgpt || o->reconstruct) && !stats->hessian)
        st = ap_error_set(err, AP_E_ARG, "SparseGPT and reconstruct need statistics gathered with Hessians");
    if (!st && stats && need_dense && (stats->fields & (AP_XF_L2 | AP_XF_KURT)) != (AP_XF_L2 | AP_XF_KURT))
        st = ap_error_set(err, AP_E_ARG, "the allocation needs statistics gathered with X.l2 and X.kurt");
    if (!st && need_ids) {
        phase(o, "tokenize");
        double t0 = now_s();
        st = ap_prune_run_windows(m, o->calib, r->nsamples, r->seqlen, o->random, o->seed, &ids, err);
        r->t_tokenize = now_s() - t0;
    }
    if (!st && !stats && (o->oneshot || need_dense)) {
        phase(o, "calibrate");
        double t0 = now_s();
        unsigned want = (need_dense ? (unsigned)AP_XF_MOMENTS : fields) |
                        (o->oneshot && (sgpt || o->reconstruct) ? (unsigned)AP_XF_HESSIAN : 0u);
        st = ap_calib_collect_fields(m, ids, r->nsamples, r->seqlen, want, batch_for(r->seqlen), o->progress, o->pud,
                                     &own_stats, err);
        stats = own_stats;
        r->t_stats = now_s() - t0;
    }
    if (!st && stats) {
        r->nsamples = stats->nsamples;
        r->seqlen = stats->seqlen;
    }
    if (!st) {
        if (o->targets)
            memcpy(r->targets, o->targets, (size_t)L * AP_LIN_COUNT * sizeof *r->targets);
        else if (scripted)
            st = script_alloc(m, stats, &spec, o->alloc, o->sparsity, r->targets, err);
        else
            st = ap_prune_allocate(m, stats, &spec, o->sparsity, r->targets, err);
    }
    if (!st) {
        ap_prune_opts po;
        ap_prune_opts_default(&po);
        po.method = sgpt ? AP_METHOD_SPARSEGPT : AP_METHOD_SCORE;
        po.score = native ? native : ap_scorer_score;
        po.score_ud = sc;
        po.pattern = r->pattern;
        po.sparsity = o->sparsity;
        po.targets = r->targets;
        po.sgpt_blocksize = o->sgpt_blocksize;
        po.sgpt_percdamp = o->sgpt_percdamp;
        po.reconstruct = sgpt ? 0 : o->reconstruct;
        po.batch = batch_for(r->seqlen);
        po.stats = fields;
        po.progress = o->progress;
        po.pud = o->pud;
        phase(o, "prune");
        if (o->oneshot)
            st = ap_prune_oneshot(m, stats, &po, &r->rep, err);
        else
            st = ap_prune_sequential(m, ids, r->nsamples, r->seqlen, &po, &r->rep, err);
    }
    if (sc)
        ap_scorer_usage(sc, &r->usage);
    ap_scorer_free(sc);
    ap_calib_stats_free(own_stats);
    free(ids);
    if (st) {
        free(r->targets);
        r->targets = NULL;
    }
    return st;
}

/* ---- JSON ---- */

static const char *pattern_str(const ap_pattern *p, char *buf, size_t n)
{
    if (p->group == AP_GROUP_NM)
        snprintf(buf, n, "%d:%d", p->n, p->m);
    else
        snprintf(buf, n, "unstructured");
    return buf;
}

cJSON *ap_prune_run_json(const ap_model *m, const ap_prune_run_opts *o, const ap_prune_run_result *r)
{
    char buf[64];
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "tool", "autoprune");
    cJSON_AddStringToObject(j, "version", AP_VERSION);
    cJSON_AddStringToObject(j, "command", "prune");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(j, "finished", buf);
    cJSON_AddStringToObject(j, "model", m->dir);
    cJSON_AddStringToObject(j, "architecture", m->cfg.arch_name);
    cJSON_AddStringToObject(j, "metric", o->metric ? o->metric : "");
    cJSON_AddStringToObject(j, "metric_name", r->metric_name);
    cJSON_AddStringToObject(j, "method", !strcmp(o->metric ? o->metric : "", "sparsegpt") ? "sparsegpt" : "score");
    cJSON_AddStringToObject(j, "reconstruct", o->reconstruct == 2 ? "adaptive" : o->reconstruct ? "mask" : "none");
    cJSON_AddNumberToObject(j, "sparsity", o->sparsity);
    cJSON_AddStringToObject(j, "pattern", pattern_str(&r->pattern, buf, sizeof buf));
    cJSON_AddStringToObject(j, "group", ap_group_name(r->pattern.group));
    cJSON_AddStringToObject(j, "group_source", r->group_source ? r->group_source : "");
    cJSON *al = cJSON_AddObjectToObject(j, "alloc");
    cJSON_AddStringToObject(al, "kind", o->targets ? "explicit" : o->alloc ? o->alloc : "uniform");
    cJSON_AddNumberToObject(al, "owl_m", o->alloc_spec.owl_m);
    cJSON_AddNumberToObject(al, "owl_lambda", o->alloc_spec.owl_lambda);
    cJSON_AddNumberToObject(al, "sdsa_tau", o->alloc_spec.sdsa.tau);
    cJSON_AddNumberToObject(al, "sdsa_lambda", o->alloc_spec.sdsa.lambda);
    cJSON_AddStringToObject(al, "sdsa_granularity",
                            o->alloc_spec.sdsa.granularity == AP_ALLOC_PER_LINEAR ? "linear" : "block");
    cJSON_AddNumberToObject(al, "lo", o->alloc_spec.lo);
    cJSON_AddNumberToObject(al, "hi", o->alloc_spec.hi);
    cJSON *ca = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddStringToObject(ca, "mode", o->oneshot ? "oneshot" : "sequential");
    if (o->stats)
        cJSON_AddStringToObject(ca, "source", o->stats->source);
    else
        cJSON_AddStringToObject(ca, "text", o->calib ? o->calib : "data/calib.txt");
    cJSON_AddNumberToObject(ca, "nsamples", r->nsamples);
    cJSON_AddNumberToObject(ca, "seqlen", r->seqlen);
    cJSON_AddStringToObject(ca, "sampling", o->random ? "random" : "even");
    if (o->random)
        cJSON_AddNumberToObject(ca, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "realised_sparsity", r->rep.realised);
    cJSON_AddNumberToObject(j, "zeros", (double)r->rep.zeros);
    cJSON_AddNumberToObject(j, "pruned_params", (double)r->rep.numel);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < r->rep.n; i++) {
        const ap_prune_linear *pl = &r->rep.lin[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "layer", pl->layer + 1);
        cJSON_AddStringToObject(e, "name", ap_linear_name(pl->kind));
        cJSON_AddNumberToObject(e, "numel", (double)pl->numel);
        cJSON_AddNumberToObject(e, "zeros", (double)pl->zeros);
        cJSON_AddNumberToObject(e, "target", pl->target);
        cJSON_AddNumberToObject(e, "sparsity", pl->numel ? (double)pl->zeros / (double)pl->numel : 0.0);
        cJSON_AddItemToArray(layers, e);
    }
    cJSON *t = cJSON_AddObjectToObject(j, "timings");
    cJSON_AddNumberToObject(t, "tokenize", r->t_tokenize);
    cJSON_AddNumberToObject(t, "statistics", r->t_stats + r->rep.t_calib);
    cJSON_AddNumberToObject(t, "forward", r->rep.t_forward);
    cJSON_AddNumberToObject(t, "score", r->rep.t_score);
    cJSON_AddNumberToObject(t, "mask", r->rep.t_mask);
    cJSON_AddNumberToObject(t, "prune_total", r->rep.t_total);
    if (r->usage.instructions || r->usage.work) {
        cJSON *u = cJSON_AddObjectToObject(j, "sandbox");
        cJSON_AddNumberToObject(u, "instructions", (double)r->usage.instructions);
        cJSON_AddNumberToObject(u, "work", (double)r->usage.work);
        cJSON_AddNumberToObject(u, "wall_ms", r->usage.wall_ms);
        cJSON_AddNumberToObject(u, "peak_tensor_bytes", (double)r->usage.peak_tensor_bytes);
    }
    return j;
}
