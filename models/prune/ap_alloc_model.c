/* ap_alloc_model.c — allocation glue: model + statistics → units, facts and per-linear targets. */
#include "ap_alloc_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ap_prune.h"

void ap_alloc_spec_default(ap_alloc_spec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = AP_ALLOC_UNIFORM;
    s->owl_m = 5.0;
    s->owl_lambda = 0.08;
    s->lo = 0.0;
    s->hi = 0.99;
    ap_sdsa_defaults(&s->sdsa);
}

const char *ap_alloc_kind_name(ap_alloc_kind k)
{
    return k == AP_ALLOC_OWL ? "owl" : k == AP_ALLOC_SDSA ? "sdsa" : "uniform";
}

void ap_alloc_model_block_numel(const ap_model *m, int64_t *numel)
{
    for (int l = 0; l < m->cfg.n_layers; l++) {
        numel[l] = 0;
        for (int k = 0; k < AP_LIN_COUNT; k++)
            numel[l] += m->blocks[l].lin[k].out * m->blocks[l].lin[k].in;
    }
}

ap_status ap_alloc_model_block_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                        ap_error *err)
{
    if (!dense || dense->n_layers != m->cfg.n_layers)
        return ap_error_set(err, AP_E_ARG, "OWL needs the dense model's calibration statistics");
    ap_status st = AP_OK;
    float *buf[AP_LIN_COUNT] = {0};
    for (int l = 0; l < m->cfg.n_layers && !st; l++) {
        const float *ptr[AP_LIN_COUNT];
        int64_t len[AP_LIN_COUNT];
        for (int k = 0; k < AP_LIN_COUNT && !st; k++) {
            const ap_linear *L = &m->blocks[l].lin[k];
            len[k] = L->out * L->in;
            if (!buf[k] && !(buf[k] = malloc((size_t)len[k] * sizeof(float))))
                st = ap_error_set(err, AP_E_NOMEM, "OWL: no memory for scores");
            if (!st)
                st = ap_score_wanda(NULL, l, (ap_linear_kind)k, L->w, L->out, L->in,
                                    &dense->blocks[l].x[ap_linear_input((ap_linear_kind)k)].v, 0, buf[k], err);
            ptr[k] = buf[k];
        }
        if (!st)
            st = ap_alloc_outlier_ratio(ptr, len, AP_LIN_COUNT, M, &D[l], err);
    }
    for (int k = 0; k < AP_LIN_COUNT; k++)
        free(buf[k]);
    return st;
}

static ap_status sdsa_skews(const ap_model *m, int per_linear, double *skew, ap_error *err)
{
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const float *ptr[AP_LIN_COUNT];
        int64_t len[AP_LIN_COUNT];
        for (int k = 0; k < AP_LIN_COUNT; k++) {
            ptr[k] = m->blocks[l].lin[k].w;
            len[k] = m->blocks[l].lin[k].out * m->blocks[l].lin[k].in;
        }
        if (per_linear) {
            for (int k = 0; k < AP_LIN_COUNT; k++) {
                ap_alloc_moments mo;
                ap_status st = ap_alloc_moments_pooled(&ptr[k], &len[k], 1, 1, &mo, err);
                if (st)
                    return st;
                skew[l * AP_LIN_COUNT + k] = mo.skew;
            }
        } else {
            ap_alloc_moments mo;
            ap_status st = ap_alloc_moments_pooled(ptr, len, AP_LIN_COUNT, 1, &mo, err);
            if (st)
                return st;
            skew[l] = mo.skew;
        }
    }
    return AP_OK;
}

ap_status ap_alloc_model_targets(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec, double S,
                                 double *targets, ap_error *err)
{
    int L = m->cfg.n_layers;
    int per_linear = spec->kind == AP_ALLOC_SDSA && spec->sdsa.granularity == AP_ALLOC_PER_LINEAR;
    int units = per_linear ? L * AP_LIN_COUNT : L;
    double *s = calloc((size_t)units, sizeof *s), *stat = calloc((size_t)units, sizeof *stat);
    int64_t *numel = calloc((size_t)units, sizeof *numel);
    ap_status st = AP_OK;
    if (!s || !stat || !numel)
        st = ap_error_set(err, AP_E_NOMEM, "allocation: no memory");
    if (!st) {
        if (per_linear)
            for (int i = 0; i < units; i++)
                numel[i] = m->blocks[i / AP_LIN_COUNT].lin[i % AP_LIN_COUNT].out *
                           m->blocks[i / AP_LIN_COUNT].lin[i % AP_LIN_COUNT].in;
        else
            ap_alloc_model_block_numel(m, numel);
    }
    if (!st) {
        switch (spec->kind) {
        case AP_ALLOC_UNIFORM: st = ap_alloc_uniform(s, units, S, err); break;
        case AP_ALLOC_OWL:
            st = ap_alloc_model_block_outliers(m, dense, spec->owl_m, stat, err);
            if (!st)
                st = ap_alloc_owl(s, stat, numel, units, S, spec->owl_lambda, spec->lo, spec->hi, err);
            break;
        case AP_ALLOC_SDSA:
            if (spec->sdsa.source != AP_SDSA_SRC_WEIGHT)
                st = ap_error_set(err, AP_E_UNSUPPORTED, "SDSA: only the |W| skew source is implemented here");
            if (!st)
                st = sdsa_skews(m, per_linear, stat, err);
            if (!st)
                st = ap_alloc_sdsa(s, stat, numel, units, S, &spec->sdsa, err);
            break;
        default: st = ap_error_set(err, AP_E_ARG, "allocation: unknown kind %d", (int)spec->kind);
        }
    }
    for (int i = 0; !st && i < L * AP_LIN_COUNT; i++)
        targets[i] = per_linear ? s[i] : s[i / AP_LIN_COUNT];
    free(s);
    free(stat);
    free(numel);
    return st;
}

ap_status ap_alloc_model_linear_outliers(const ap_model *m, const ap_calib_stats *dense, double M, double *D,
                                         ap_error *err)
{
    if (!dense || dense->n_layers != m->cfg.n_layers)
        return ap_error_set(err, AP_E_ARG, "outlier ratios need the dense model's calibration statistics");
    int64_t most = 0;
    for (int k = 0; k < AP_LIN_COUNT; k++)
        if (m->blocks[0].lin[k].out * m->blocks[0].lin[k].in > most)
            most = m->blocks[0].lin[k].out * m->blocks[0].lin[k].in;
    float *buf = malloc((size_t)most * sizeof *buf);
    if (!buf)
        return ap_error_set(err, AP_E_NOMEM, "outlier ratios: no memory");
    ap_status st = AP_OK;
    for (int i = 0; i < m->cfg.n_layers * AP_LIN_COUNT && !st; i++) {
        int l = i / AP_LIN_COUNT;
        ap_linear_kind k = (ap_linear_kind)(i % AP_LIN_COUNT);
        const ap_linear *L = &m->blocks[l].lin[k];
        int64_t len = L->out * L->in;
        st = ap_score_wanda(NULL, l, k, L->w, L->out, L->in, &dense->blocks[l].x[ap_linear_input(k)].v, 0, buf, err);
        const float *p = buf;
        if (!st)
            st = ap_alloc_outlier_ratio(&p, &len, 1, M, &D[i], err);
    }
    free(buf);
    return st;
}

ap_status ap_alloc_model_facts(const ap_model *m, const ap_calib_stats *dense, double M, ap_linear_facts *facts,
                               ap_error *err)
{
    /* the facts read X.l2 and X.kurt of every linear: statistics gathered for a narrower metric lack them */
    if (dense && (dense->fields & (AP_XF_L2 | AP_XF_KURT)) != (AP_XF_L2 | AP_XF_KURT))
        return ap_error_set(err, AP_E_ARG, "facts need statistics gathered with X.l2 and X.kurt (these have %s%s)",
                            dense->fields & AP_XF_L2 ? "no kurt" : "no l2",
                            (dense->fields & (AP_XF_L2 | AP_XF_KURT)) ? "" : " and no kurt");
    int n = m->cfg.n_layers * AP_LIN_COUNT;
    double *D = calloc((size_t)n, sizeof *D);
    if (!D)
        return ap_error_set(err, AP_E_NOMEM, "facts: no memory");
    ap_status st = dense ? ap_alloc_model_linear_outliers(m, dense, M, D, err) : AP_OK;
    for (int i = 0; i < n && !st; i++) {
        int l = i / AP_LIN_COUNT;
        ap_linear_kind k = (ap_linear_kind)(i % AP_LIN_COUNT);
        const ap_linear *L = &m->blocks[l].lin[k];
        ap_linear_facts *f = &facts[i];
        memset(f, 0, sizeof *f);
        f->layer = l;
        f->kind = k;
        f->numel = L->out * L->in;
        const float *w = L->w;
        ap_alloc_moments mo;
        st = ap_alloc_moments_pooled(&w, &f->numel, 1, 1, &mo, err);
        if (st)
            break;
        double ss = 0;
        for (int64_t j = 0; j < f->numel; j++)
            ss += (double)w[j] * w[j];
        f->w_skew = mo.skew;
        f->w_kurt = mo.kurt;
        f->w_absmean = mo.mean;
        f->w_norm = sqrt(ss);
        f->wanda_outlier_ratio = D[i];
        if (dense) {
            const ap_xview *x = &dense->blocks[l].x[ap_linear_input(k)].v;
            double sum = 0, ku = 0;
            for (int64_t j = 0; j < x->in; j++) {
                sum += x->l2[j];
                ku += x->kurt[j];
            }
            double mean = sum / (double)x->in;
            int64_t big = 0;
            for (int64_t j = 0; j < x->in; j++)
                big += x->l2[j] > M * mean;
            f->x_l2_mean = mean;
            f->x_outlier_ratio = (double)big / (double)x->in;
            f->x_kurt_mean = ku / (double)x->in;
        }
    }
    free(D);
    return st;
}

/* |W| moments of one unit: the linear k of block l, or (k < 0) the seven linears of block l pooled. */
static ap_status unit_moments(const ap_model *m, int l, int k, ap_alloc_moments *mo, int64_t *numel, ap_error *err)
{
    const float *ptr[AP_LIN_COUNT];
    int64_t len[AP_LIN_COUNT];
    int first = k < 0 ? 0 : k, count = k < 0 ? AP_LIN_COUNT : 1;
    *numel = 0;
    for (int i = 0; i < count; i++) {
        const ap_linear *L = &m->blocks[l].lin[first + i];
        ptr[i] = L->w;
        len[i] = L->out * L->in;
        *numel += len[i];
    }
    return ap_alloc_moments_pooled(ptr, len, count, 1, mo, err);
}

ap_status ap_alloc_model_units(const ap_model *m, const ap_calib_stats *dense, const ap_alloc_spec *spec, double S,
                               ap_alloc_units *units, ap_error *err)
{
    int L = m->cfg.n_layers, per_linear = spec->sdsa.granularity == AP_ALLOC_PER_LINEAR;
    int n = per_linear ? L * AP_LIN_COUNT : L;
    *units = (ap_alloc_units){.n = n, .n_layers = L, .target = S, .lo = spec->lo, .hi = spec->hi};
    units->unit = calloc((size_t)n, sizeof *units->unit);
    double *D = calloc((size_t)n, sizeof *D);
    ap_status st = units->unit && D ? AP_OK : ap_error_set(err, AP_E_NOMEM, "allocation units: no memory");
    if (!st && dense)
        st = per_linear ? ap_alloc_model_linear_outliers(m, dense, spec->owl_m, D, err)
                        : ap_alloc_model_block_outliers(m, dense, spec->owl_m, D, err);
    for (int i = 0; i < n && !st; i++) {
        int l = per_linear ? i / AP_LIN_COUNT : i, k = per_linear ? i % AP_LIN_COUNT : -1;
        ap_alloc_moments mo;
        int64_t numel;
        st = unit_moments(m, l, k, &mo, &numel, err);
        units->unit[i] = (ap_alloc_unit){
            l + 1, per_linear ? ap_linear_name((ap_linear_kind)k) : "block", numel, mo.skew, mo.kurt, mo.mean, mo.std,
            D[i]};
    }
    free(D);
    if (st)
        ap_alloc_units_free(units);
    return st;
}

void ap_alloc_units_free(ap_alloc_units *units)
{
    if (units) {
        free(units->unit);
        units->unit = NULL;
        units->n = 0;
    }
}

ap_status ap_alloc_units_targets(const ap_alloc_units *units, double *values, double *targets, ap_error *err)
{
    int n = units->n, L = units->n_layers;
    if (n != L && n != L * AP_LIN_COUNT)
        return ap_error_set(err, AP_E_ARG, "allocation: %d units for %d layers", n, L);
    if (!(units->lo >= 0.0 && units->lo <= units->target && units->target <= units->hi && units->hi < 1.0))
        return ap_error_set(err, AP_E_ARG, "allocation: need 0 <= lo (%g) <= target (%g) <= hi (%g) < 1", units->lo,
                            units->target, units->hi);
    for (int i = 0; i < n; i++)
        if (!(values[i] >= 0.0 && values[i] < 1.0))
            return ap_error_set(err, AP_E_RUNTIME, "allocation: sparsity %d = %g is outside [0, 1)", i + 1, values[i]);
    int64_t *numel = malloc((size_t)n * sizeof *numel);
    if (!numel)
        return ap_error_set(err, AP_E_NOMEM, "allocation: no memory");
    for (int i = 0; i < n; i++)
        numel[i] = units->unit[i].numel;
    ap_status st = ap_alloc_renormalise(values, numel, n, units->target, units->lo, units->hi, err);
    free(numel);
    for (int i = 0; !st && i < L * AP_LIN_COUNT; i++)
        targets[i] = n == L ? values[i / AP_LIN_COUNT] : values[i];
    return st;
}
