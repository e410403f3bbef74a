/* ap_prune_run.c — a whole pruning run (calibration, allocation, scoring, driver) and its JSON run record. */
#include "ap_prune_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_clock.h"
#include "ap_metric.h"
#include "ap_paths.h"
#include "ap_sandbox.h"
#include "ap_score.h"
#include "ap_tokenizer.h"
#ifndef AP_VERSION
#define AP_VERSION "0"
#endif

void ap_prune_run_opts_default(ap_prune_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->metric = "wanda";
    o->sparsity = 0.5;
    ap_alloc_spec_default(&o->alloc_spec);
    o->sgpt_percdamp = -1;
}

/* ---- options by key ---- */

const char *const ap_prune_run_alloc_keys[] = {"owl_m", "owl_lambda", "tau", "lambda", "lo", "hi", "granularity", NULL};

/* The numeric allocation parameters, in ap_prune_run_alloc_keys order (lo and hi also bound SDSA's clamp). */
static double *alloc_number(ap_alloc_spec *a, int i)
{
    double *const field[] = {&a->owl_m, &a->owl_lambda, &a->sdsa.tau, &a->sdsa.lambda, &a->lo, &a->hi};
    return i < (int)(sizeof field / sizeof field[0]) ? field[i] : NULL;
}

static int parse_number(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

static int parse_int(const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

static ap_status bad_value(const char *key, const char *value, const char *expected, ap_error *err)
{
    return ap_error_set(err, AP_E_ARG, "%s: '%.200s' is not %s", key, value, expected);
}

static ap_status set_alloc_param(ap_alloc_spec *a, const char *key, const char *name, const char *value, ap_error *err)
{
    if (!strcmp(name, "granularity")) {
        if (!strcmp(value, "block"))
            a->sdsa.granularity = AP_ALLOC_PER_BLOCK;
        else if (!strcmp(value, "linear"))
            a->sdsa.granularity = AP_ALLOC_PER_LINEAR;
        else
            return bad_value(key, value, "block or linear", err);
        return AP_OK;
    }
    for (int i = 0; alloc_number(a, i); i++) {
        if (strcmp(name, ap_prune_run_alloc_keys[i]))
            continue;
        double v;
        if (!parse_number(value, &v))
            return bad_value(key, value, "a number", err);
        *alloc_number(a, i) = v;
        a->sdsa.lo = a->lo;
        a->sdsa.hi = a->hi;
        return AP_OK;
    }
    return ap_error_set(err, AP_E_ARG,
                        "unknown allocation parameter '%.200s' (owl_m, owl_lambda, tau, lambda, lo, "
                        "hi, granularity)",
                        name);
}

/* The options whose value is a whole number in a range. */
static ap_status set_integer(ap_prune_run_opts *o, const char *key, const char *value, ap_error *err)
{
    long long n;
    if (!strcmp(key, "nsamples") || !strcmp(key, "seqlen")) {
        int lo = key[0] == 'n' ? 1 : 2;
        if (!parse_int(value, lo, 1 << 20, &n))
            return ap_error_set(err, AP_E_ARG, "%s: '%.200s' is not a whole number in [%d, 2^20]", key, value, lo);
        *(key[0] == 'n' ? &o->nsamples : &o->seqlen) = (int)n;
        return AP_OK;
    }
    if (!parse_int(value, 0, (long long)(~0ull >> 1), &n))
        return ap_error_set(err, AP_E_ARG, "seed: '%.200s' is not a whole number >= 0", value);
    o->random = 1;
    o->seed = (uint64_t)n;
    return AP_OK;
}

ap_status ap_prune_run_opts_set(ap_prune_run_opts *o, const char *key, const char *value, ap_error *err)
{
    if (!strncmp(key, "alloc_param.", 12))
        return set_alloc_param(&o->alloc_spec, key, key + 12, value, err);
    if (!strcmp(key, "metric") || !strcmp(key, "metric_source")) {
        o->metric = value;
        o->metric_is_source = key[6] == '_';
    } else if (!strcmp(key, "sparsity")) {
        if (!parse_number(value, &o->sparsity) || !(o->sparsity >= 0 && o->sparsity < 1))
            return bad_value(key, value, "a number in [0, 1)", err);
    } else if (!strcmp(key, "pattern")) {
        o->pattern = value;
    } else if (!strcmp(key, "group")) {
        if (strcmp(value, "row") && strcmp(value, "layer"))
            return bad_value(key, value, "row or layer", err);
        o->group = value;
    } else if (!strcmp(key, "alloc")) {
        o->alloc = value;
    } else if (!strcmp(key, "calib")) {
        o->calib = value;
    } else if (!strcmp(key, "nsamples") || !strcmp(key, "seqlen") || !strcmp(key, "seed")) {
        return set_integer(o, key, value, err);
    } else if (!strcmp(key, "reconstruct")) {
        if (ap_reconstruct_parse(value, &o->reconstruct))
            return bad_value(key, value, "none, mask or adaptive", err);
    } else {
        return ap_error_set(err, AP_E_ARG, "unknown prune option '%.200s'", key);
    }
    return AP_OK;
}

void ap_prune_run_alloc_record(const ap_prune_run_opts *o,
                               void (*emit)(void *ud, const char *key, const char *str, double num), void *ud)
{
    ap_alloc_spec a = o->alloc_spec;
    emit(ud, "kind", o->targets ? "explicit" : o->alloc ? o->alloc : "uniform", 0);
    for (int i = 0; alloc_number(&a, i); i++)
        emit(ud, ap_prune_run_alloc_keys[i], NULL, *alloc_number(&a, i));
    emit(ud, "granularity", a.sdsa.granularity == AP_ALLOC_PER_LINEAR ? "linear" : "block", 0);
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

ap_status ap_prune_run_windows(const ap_model *m, const char *text, int nsamples, int seqlen, int random, uint64_t seed,
                               int32_t **ids, ap_error *err)
{
    char def[4096];
    if (!text) {
        text = ap_datafile(AP_DATA_CALIB, def, sizeof def);
    }
    int32_t *all = NULL;
    size_t n = 0;
    ap_status st = ap_tokenizer_encode_file(m->dir, text, &all, &n, err);
    if (!st)
        st = ap_calib_windows(all, n, nsamples, seqlen, random, seed, ids, err);
    free(all);
    return st;
}

ap_status ap_prune_run_eval(const ap_model *m, const char *text, int seqlen, int64_t max_windows,
                            ap_progress_fn progress, void *pud, ap_ppl_result *res, ap_error *err)
{
    char def[4096];
    if (!text)
        text = ap_datafile(AP_DATA_WIKITEXT_TEST, def, sizeof def);
    return ap_model_perplexity_file(m, text, seqlen, max_windows, NULL, progress, pud, res, err);
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
    } else if (r->metric_kind == AP_METRIC_NATIVE && !strcmp(o->metric, "native:magnitude")) {
        r->pattern.group = AP_GROUP_LAYER; /* magnitude compares a whole matrix (PROTOCOL.md) */
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

/* ---- allocation scripts: the script turned into one number per unit, in the one sandbox ---- */

/* An allocation is a few dozen numbers: tighter limits than a metric's (0 fields of the caller's get these). */
#define ALLOC_INSTRUCTIONS 20000000ull
#define ALLOC_WALL_MS 2000ull
#define ALLOC_HEAP ((size_t)16 << 20)
#define ALLOC_ENTRY "allocate" /* a script may return {allocate = function ...} */
enum { UNIT_FIELDS = 8 };

static void alloc_limits(ap_limits *lim, const ap_limits *given)
{
    *lim = given ? *given : (ap_limits){0};
    if (!lim->instructions)
        lim->instructions = ALLOC_INSTRUCTIONS;
    if (!lim->wall_ms)
        lim->wall_ms = ALLOC_WALL_MS;
    if (!lim->heap_bytes)
        lim->heap_bytes = ALLOC_HEAP;
}

static ap_value num_field(const char *key, double v)
{
    return (ap_value){.key = key, .kind = AP_VALUE_NUMBER, .number = v};
}

static ap_value int_field(const char *key, int64_t v)
{
    return (ap_value){.key = key, .kind = AP_VALUE_INTEGER, .integer = v};
}

/* The unit's table as the script sees it (doc/allocation.md), into f[0..UNIT_FIELDS). */
static void unit_fields(const ap_alloc_unit *u, ap_value *f)
{
    f[0] = int_field("layer", u->layer);
    f[1] = (ap_value){.key = "name", .kind = AP_VALUE_STRING, .string = u->name ? u->name : "block"};
    f[2] = int_field("numel", u->numel);
    f[3] = num_field("w_skew", u->w_skew);
    f[4] = num_field("w_kurt", u->w_kurt);
    f[5] = num_field("w_mean", u->w_mean);
    f[6] = num_field("w_std", u->w_std);
    f[7] = num_field("outlier_ratio", u->outlier_ratio);
}

/* The sandbox's error, named by the script, into err (the line stays in err->line, as for a metric). */
static ap_status alloc_error(const ap_sandbox *sb, const char *name, ap_error *err)
{
    ap_error e;
    ap_sandbox_error_get(sb, &e);
    ap_error_set(err, e.code, "%s: %s", name, e.msg);
    if (err)
        err->line = e.line;
    return e.code;
}

/* Call the script's function(layers, target, info) on the units; args[3] and fields are the caller's. */
static ap_status alloc_call(ap_sandbox *sb, const ap_alloc_units *u, ap_value *unit, ap_value *fields, double *values)
{
    for (int i = 0; i < u->n; i++) {
        unit_fields(&u->unit[i], fields + (size_t)i * UNIT_FIELDS);
        unit[i] = (ap_value){.kind = AP_VALUE_TABLE, .items = fields + (size_t)i * UNIT_FIELDS, .n = UNIT_FIELDS};
    }
    const ap_value info[] = {int_field("n_layers", u->n_layers), int_field("units", u->n), num_field("lo", u->lo),
                             num_field("hi", u->hi)};
    const ap_value args[] = {
        {.kind = AP_VALUE_TABLE, .items = unit, .n = (size_t)u->n},
        {.kind = AP_VALUE_NUMBER, .number = u->target},
        {.kind = AP_VALUE_TABLE, .items = info, .n = sizeof info / sizeof info[0]},
    };
    return (ap_status)ap_sandbox_call(sb, ALLOC_ENTRY, args, 3, values, (size_t)u->n);
}

ap_status ap_prune_run_alloc_script(const ap_alloc_units *units, const char *path, const char *src,
                                    const ap_limits *limits, double *values, ap_error *err)
{
    if (!units || units->n <= 0 || !values || (!path && !src))
        return ap_error_set(err, AP_E_ARG, "allocation script: no units or no script");
    const char *base = path ? strrchr(path, '/') : NULL;
    const char *name = base ? base + 1 : path ? path : "allocation script";
    ap_limits lim;
    alloc_limits(&lim, limits);
    ap_sandbox *sb = ap_sandbox_new(&lim);
    ap_value *unit = calloc((size_t)units->n, sizeof *unit);
    ap_value *fields = calloc((size_t)units->n * UNIT_FIELDS, sizeof *fields);
    ap_status st = sb && unit && fields ? AP_OK : ap_error_set(err, AP_E_NOMEM, "%s: no memory", name);
    if (!st) {
        int rc = src ? ap_sandbox_source_string(sb, src, 0, name) : ap_sandbox_source_file(sb, path);
        if (rc == AP_KIND_OK)
            rc = alloc_call(sb, units, unit, fields, values);
        st = rc == AP_KIND_OK ? AP_OK : alloc_error(sb, name, err);
    }
    free(unit);
    free(fields);
    ap_sandbox_free(sb);
    return st;
}

/* A scripted allocation: the units from the model (models/prune), the script's numbers from the sandbox, the
 * budget met by models/prune again. */
static ap_status script_alloc(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec,
                              const char *path, double S, double *targets, ap_error *err)
{
    ap_alloc_units u;
    ap_status st = ap_alloc_model_units(m, dense, spec, S, &u, err);
    if (st)
        return st;
    double *values = malloc((size_t)u.n * sizeof *values);
    st = values ? ap_prune_run_alloc_script(&u, path, NULL, NULL, values, err)
                : ap_error_set(err, AP_E_NOMEM, "allocation: no memory");
    if (!st)
        st = ap_alloc_units_targets(&u, values, targets, err);
    free(values);
    ap_alloc_units_free(&u);
    return st;
}

/* The metric as a scoring callback: native, SparseGPT (no score), or a script in a sandbox (*sc, the caller's). */
static ap_status open_metric(const ap_prune_run_opts *o, int n_layers, ap_metric_spec *spec, ap_scorer **sc,
                             ap_prune_run_result *r, ap_error *err)
{
    ap_status st = o->metric_is_source ? ap_metric_spec_source(spec, o->metric, err)
                                       : ap_metric_spec_resolve(spec, o->metric, err);
    if (st)
        return st;
    r->metric_kind = spec->kind;
    if (spec->kind == AP_METRIC_NATIVE || spec->kind == AP_METRIC_SPARSEGPT) {
        snprintf(r->metric_name, sizeof r->metric_name, "%s", o->metric);
        return AP_OK;
    }
    phase(o, "load metric");
    st = ap_scorer_open(sc, spec, o->limits, n_layers, err);
    if (!st)
        snprintf(r->metric_name, sizeof r->metric_name, "%s", ap_scorer_name(*sc));
    return st;
}

/* Per-linear targets: explicit, from an allocation script, or by ap_alloc_model_targets. */
static ap_status allocate(const ap_model *m, const ap_prune_run_opts *o, const ap_calib_stats *stats,
                          const ap_alloc_spec *spec, int scripted, double *targets, ap_error *err)
{
    if (o->targets) {
        memcpy(targets, o->targets, (size_t)m->cfg.n_layers * AP_LIN_COUNT * sizeof *targets);
        return AP_OK;
    }
    if (scripted)
        return script_alloc(m, stats, spec, o->alloc, o->sparsity, targets, err);
    return ap_alloc_model_targets(m, stats, spec, o->sparsity, targets, err);
}

/* The pruning driver, one-shot or sequential; fields: the statistics (AP_XF_*) the metric reads. */
static ap_status drive(ap_model *m, const ap_prune_run_opts *o, const ap_metric_spec *spec, ap_scorer *sc,
                       unsigned fields, const ap_calib_stats *stats, const int32_t *ids, ap_prune_run_result *r,
                       ap_error *err)
{
    int sgpt = spec->kind == AP_METRIC_SPARSEGPT;
    ap_prune_opts po;
    ap_prune_opts_default(&po);
    po.method = sgpt ? AP_METHOD_SPARSEGPT : AP_METHOD_SCORE;
    po.score = spec->kind == AP_METRIC_NATIVE ? spec->native : ap_scorer_score;
    po.score_ud = sc;
    po.pattern = r->pattern;
    po.sparsity = o->sparsity;
    po.targets = r->targets;
    po.sgpt_blocksize = o->sgpt_blocksize;
    po.sgpt_percdamp = o->sgpt_percdamp;
    po.reconstruct = sgpt ? AP_RECONSTRUCT_NONE : o->reconstruct;
    po.batch = batch_for(r->seqlen);
    po.stats = fields;
    po.progress = o->progress;
    po.pud = o->pud;
    phase(o, "prune");
    if (o->oneshot)
        return ap_prune_oneshot(m, stats, &po, &r->rep, err);
    return ap_prune_sequential(m, ids, r->nsamples, r->seqlen, &po, &r->rep, err);
}

ap_status ap_prune_run(ap_model *m, const ap_prune_run_opts *o, ap_prune_run_result *r, ap_error *err)
{
    memset(r, 0, sizeof *r);
    int L = m->cfg.n_layers;
    ap_metric_spec spec;
    ap_scorer *sc = NULL;
    ap_calib_stats *own_stats = NULL;
    int32_t *ids = NULL;
    ap_alloc_spec alloc = o->alloc_spec;
    ap_status st;

    r->nsamples = o->nsamples > 0 ? o->nsamples : 128;
    r->seqlen = o->seqlen > 0 ? o->seqlen : ap_calib_default_seqlen(m);
    if (!(o->sparsity >= 0 && o->sparsity < 1))
        return ap_error_set(err, AP_E_ARG, "sparsity %g outside [0, 1)", o->sparsity);
    r->targets = calloc((size_t)L * AP_LIN_COUNT, sizeof *r->targets);
    if (!r->targets)
        return ap_error_set(err, AP_E_NOMEM, "no memory");
    if ((st = open_metric(o, L, &spec, &sc, r, err)) || (st = resolve_pattern(o, sc, r, err)))
        goto done;
    int sgpt = spec.kind == AP_METRIC_SPARSEGPT;
    int scripted = !o->targets && parse_alloc(o, &alloc);

    /* The statistics calibration gathers: what the metric reads (native: fixed; a script: ap_scorer_fields), all
     * seven for the allocation's dense statistics (ap_alloc_model_facts reads l2 and kurt), Hessians when asked. */
    unsigned fields = 0;
    if (sc)
        fields = ap_scorer_fields(sc);
    else if ((st = ap_metric_fields(&spec, &fields, err))) /* native and sparsegpt: fixed, nothing is opened */
        goto done;

    /* calibration ids: needed unless one-shot statistics were handed over */
    const ap_calib_stats *stats = o->stats;
    int need_dense = !o->targets && (scripted || alloc.kind == AP_ALLOC_OWL);
    if (stats && (sgpt || o->reconstruct) && !stats->hessian) {
        st = ap_error_set(err, AP_E_ARG, "SparseGPT and reconstruct need statistics gathered with Hessians");
        goto done;
    }
    if (stats && need_dense && (stats->fields & (AP_XF_L2 | AP_XF_KURT)) != (AP_XF_L2 | AP_XF_KURT)) {
        st = ap_error_set(err, AP_E_ARG, "the allocation needs statistics gathered with X.l2 and X.kurt");
        goto done;
    }
    if (!o->oneshot || !stats) {
        phase(o, "tokenize");
        double t0 = ap_clock_seconds();
        st = ap_prune_run_windows(m, o->calib, r->nsamples, r->seqlen, o->random, o->seed, &ids, err);
        r->t_tokenize = ap_clock_seconds() - t0;
        if (st)
            goto done;
    }
    if (!stats && (o->oneshot || need_dense)) {
        phase(o, "calibrate");
        double t0 = ap_clock_seconds();
        unsigned want = (need_dense ? (unsigned)AP_XF_MOMENTS : fields) |
                        (o->oneshot && (sgpt || o->reconstruct) ? (unsigned)AP_XF_HESSIAN : 0u);
        st = ap_calib_collect_fields(m, ids, r->nsamples, r->seqlen, want, batch_for(r->seqlen), o->progress, o->pud,
                                     &own_stats, err);
        stats = own_stats;
        r->t_stats = ap_clock_seconds() - t0;
        if (st)
            goto done;
    }
    if (stats) {
        r->nsamples = stats->nsamples;
        r->seqlen = stats->seqlen;
    }
    if (!(st = allocate(m, o, stats, &alloc, scripted, r->targets, err)))
        st = drive(m, o, &spec, sc, fields, stats, ids, r, err);
done:
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

static void add_alloc_field(void *ud, const char *key, const char *str, double num)
{
    if (str)
        cJSON_AddStringToObject(ud, key, str);
    else
        cJSON_AddNumberToObject(ud, key, num);
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
    cJSON_AddStringToObject(j, "method", r->metric_kind == AP_METRIC_SPARSEGPT ? "sparsegpt" : "score");
    cJSON_AddStringToObject(j, "reconstruct", ap_reconstruct_name(o->reconstruct));
    cJSON_AddNumberToObject(j, "sparsity", o->sparsity);
    cJSON_AddStringToObject(j, "pattern", pattern_str(&r->pattern, buf, sizeof buf));
    cJSON_AddStringToObject(j, "group", ap_group_name(r->pattern.group));
    cJSON_AddStringToObject(j, "group_source", r->group_source ? r->group_source : "");
    ap_prune_run_alloc_record(o, add_alloc_field, cJSON_AddObjectToObject(j, "alloc"));
    cJSON *ca = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddStringToObject(ca, "mode", o->oneshot ? "oneshot" : "sequential");
    if (o->stats)
        cJSON_AddStringToObject(ca, "source", o->stats->source);
    else
        cJSON_AddStringToObject(ca, "text", o->calib ? o->calib : ap_datafile_rel(AP_DATA_CALIB));
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
