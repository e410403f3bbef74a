/* ap_prune.c — the layer-wise pruning driver (sequential and one-shot) and the native scores. */
#include "ap_prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_clock.h"
#include "ap_sparsegpt.h"

/* ---- native scores ---- */

ap_status ap_score_magnitude(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                             const ap_xview *x, double sparsity, float *scores, ap_error *err)
{
    (void)ud, (void)layer, (void)kind, (void)x, (void)sparsity, (void)err;
    for (int64_t i = 0; i < out * in; i++)
        scores[i] = fabsf(W[i]);
    return AP_OK;
}

ap_status ap_score_wanda(void *ud, int layer, ap_linear_kind kind, const float *W, int64_t out, int64_t in,
                         const ap_xview *x, double sparsity, float *scores, ap_error *err)
{
    (void)ud, (void)kind, (void)sparsity;
    if (!x || x->in != in)
        return ap_error_set(err, AP_E_ARG, "wanda: layer %d has no input statistics of width %lld", layer + 1,
                            (long long)in);
    if (!x->l2)
        return ap_error_set(err, AP_E_ARG, "wanda: layer %d: X.l2 was not gathered by this calibration", layer + 1);
    for (int64_t r = 0; r < out; r++) {
        const float *w = W + r * in;
        float *s = scores + r * in;
        for (int64_t j = 0; j < in; j++)
            s[j] = fabsf(w[j]) * x->l2[j];
    }
    return AP_OK;
}

/* ---- options and report ---- */

void ap_prune_opts_default(ap_prune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = AP_METHOD_SCORE;
    o->score = ap_score_wanda;
    o->pattern.group = AP_GROUP_ROW;
    o->sparsity = 0.5;
    o->sgpt_blocksize = 128;
    o->sgpt_percdamp = 0.01;
    o->batch = 8;
    o->stats = AP_XF_MOMENTS;
}

void ap_prune_report_free(ap_prune_report *r)
{
    if (r) {
        free(r->lin);
        memset(r, 0, sizeof *r);
    }
}

static ap_status report_init(ap_prune_report *r, const ap_model *m, ap_error *err)
{
    memset(r, 0, sizeof *r);
    r->n = m->cfg.n_layers * AP_LIN_COUNT;
    r->lin = calloc((size_t)r->n, sizeof *r->lin);
    if (!r->lin)
        return ap_error_set(err, AP_E_NOMEM, "prune: no memory for the report");
    for (int i = 0; i < r->n; i++) {
        const ap_linear *L = &m->blocks[i / AP_LIN_COUNT].lin[i % AP_LIN_COUNT];
        r->lin[i].layer = i / AP_LIN_COUNT;
        r->lin[i].kind = (ap_linear_kind)(i % AP_LIN_COUNT);
        r->lin[i].numel = L->out * L->in;
    }
    return AP_OK;
}

static void report_close(ap_prune_report *r, const ap_model *m)
{
    r->numel = r->zeros = 0;
    for (int i = 0; i < r->n; i++) {
        const ap_linear *L = &m->blocks[r->lin[i].layer].lin[r->lin[i].kind];
        r->lin[i].zeros = ap_count_zeros(L->w, L->out * L->in);
        r->numel += r->lin[i].numel;
        r->zeros += r->lin[i].zeros;
    }
    r->realised = r->numel ? (double)r->zeros / (double)r->numel : 0.0;
}

/* The end of a prune, one-shot or sequential alike: a failed one leaves no report, a finished one gets its zero
 * counts and its total time (since t0). Returns rc. */
static ap_status finish_report(ap_prune_report *rep, const ap_model *m, ap_status rc, double t0)
{
    if (rc) {
        ap_prune_report_free(rep);
        return rc;
    }
    report_close(rep, m);
    rep->t_total = ap_clock_seconds() - t0;
    return AP_OK;
}

/* ---- one linear ---- */

typedef struct scratch {
    float *scores;
    uint8_t *keep;
    double *H;
    float *hinv; /* X.hinv of input (hinv_layer, hinv_input), computed once for its linears */
    int hinv_layer, hinv_input;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->scores);
    free(s->keep);
    free(s->H);
    free(s->hinv);
}

static ap_status scratch_init(scratch *s, const ap_model *m, int hessian, ap_error *err)
{
    memset(s, 0, sizeof *s);
    int64_t most = 0, most_in = 0;
    for (int k = 0; k < AP_LIN_COUNT; k++) {
        const ap_linear *L = &m->blocks[0].lin[k];
        if (L->out * L->in > most)
            most = L->out * L->in;
        if (L->in > most_in)
            most_in = L->in;
    }
    s->scores = malloc((size_t)most * sizeof *s->scores);
    s->keep = malloc((size_t)most);
    s->hinv_layer = -1;
    if (hessian) {
        s->H = malloc((size_t)most_in * (size_t)most_in * sizeof *s->H);
        s->hinv = malloc((size_t)most_in * sizeof *s->hinv);
    }
    if (!s->scores || !s->keep || (hessian && (!s->H || !s->hinv))) {
        scratch_free(s);
        return ap_error_set(err, AP_E_NOMEM, "prune: no memory for scratch buffers of %lld weights", (long long)most);
    }
    return AP_OK;
}

/* Prefix err's message with the linear's name so that every failure says where it happened. */
static ap_status name_error(ap_status st, ap_error *err, int layer, ap_linear_kind kind)
{
    if (st && err) {
        char msg[AP_ERROR_MSG_MAX + 64];
        int line = err->line;
        snprintf(msg, sizeof msg, "layer %d %s: %s", layer + 1, ap_linear_name(kind), err->msg);
        memcpy(err->msg, msg, AP_ERROR_MSG_MAX - 1);
        err->msg[AP_ERROR_MSG_MAX - 1] = '\0';
        err->code = st;
        err->line = line;
    }
    return st;
}

static int sgpt_blocksize(const ap_prune_opts *o) { return o->sgpt_blocksize > 0 ? o->sgpt_blocksize : 128; }
static double sgpt_percdamp(const ap_prune_opts *o) { return o->sgpt_percdamp >= 0 ? o->sgpt_percdamp : 0.01; }

/* The statistics a metric sees for input ik of block l: the contract's, plus X.hinv (SparseGPT's d, with the
 * run's dampening) when the run holds Hessians. Linears that share an input share one factorisation. */
static ap_status metric_view(const ap_block_stats *bs, int l, ap_input_kind ik, const ap_prune_opts *o, scratch *s,
                             ap_xview *xv, ap_error *err)
{
    *xv = bs->x[ik].v;
    const ap_xacc *a = &bs->acc[ik];
    /* the native scores never read X.hinv: no factorisation for them */
    if (!a->xtx || !s->hinv || o->score == ap_score_magnitude || o->score == ap_score_wanda)
        return AP_OK;
    if (s->hinv_layer != l || s->hinv_input != (int)ik) {
        s->hinv_layer = -1;
        ap_xacc_hessian(a, s->H);
        ap_status st = ap_sparsegpt_hinv_diag(s->H, xv->in, sgpt_percdamp(o), s->hinv, err);
        if (st)
            return st;
        s->hinv_layer = l;
        s->hinv_input = (int)ik;
    }
    xv->hinv = s->hinv;
    return AP_OK;
}

/* The metric as SparseGPT's saliency (AP_RECONSTRUCT_ADAPTIVE): asked at every column block on the current weights. */
typedef struct adaptive_ctx {
    const ap_prune_opts *o;
    int layer;
    ap_linear_kind kind;
    const ap_xview *x;
    double target;
} adaptive_ctx;

static ap_status adaptive_score(void *ud, const float *W, int64_t out, int64_t in, float *scores, ap_error *err)
{
    const adaptive_ctx *c = ud;
    return c->o->score(c->o->score_ud, c->layer, c->kind, W, out, in, c->x, c->target, scores, err);
}

static ap_status prune_adaptive(ap_linear *L, int l, ap_linear_kind k, const ap_block_stats *bs, const ap_prune_opts *o,
                                double target, scratch *s, ap_error *err)
{
    const ap_input_kind ik = ap_linear_input(k);
    if (o->pattern.group == AP_GROUP_NM)
        return ap_error_set(err, AP_E_ARG, "adaptive reconstruct is unstructured only");
    if (!bs->acc[ik].xtx)
        return ap_error_set(err, AP_E_ARG, "reconstruct needs Hessian statistics");
    ap_xview xv;
    ap_status st = metric_view(bs, l, ik, o, s, &xv, err);
    if (st)
        return st;
    ap_xacc_hessian(&bs->acc[ik], s->H);
    adaptive_ctx c = {o, l, k, &xv, target};
    ap_sgpt_scorer sc = {adaptive_score, &c, o->pattern.group == AP_GROUP_ROW};
    return ap_sparsegpt_scored(L->w, L->out, L->in, s->H, target, &sc, sgpt_blocksize(o), sgpt_percdamp(o), err);
}

/* Weights changed by an OBS update are rounded to the checkpoint's dtype at once, so that the model evaluated (and
 * the statistics the next block gathers) are exactly the model that ap_model_save writes. */
static void round_to_checkpoint(const ap_model *m, ap_linear *L)
{
    if (m->dtype == AP_DT_F32)
        return;
    uint16_t half[4096];
    const size_t n = (size_t)(L->out * L->in);
    for (size_t i = 0; i < n; i += 4096) {
        size_t c = n - i < 4096 ? n - i : 4096;
        ap_dtype_from_f32(m->dtype, L->w + i, half, c);
        ap_dtype_to_f32(m->dtype, half, L->w + i, c);
    }
}

static ap_status prune_linear(ap_model *m, int l, ap_linear_kind k, const ap_block_stats *bs, const ap_prune_opts *o,
                              scratch *s, ap_prune_report *rep, ap_error *err)
{
    ap_linear *L = &m->blocks[l].lin[k];
    const ap_input_kind ik = ap_linear_input(k);
    double target = o->targets ? o->targets[l * AP_LIN_COUNT + k] : o->sparsity;
    rep->lin[l * AP_LIN_COUNT + k].target =
        o->pattern.group == AP_GROUP_NM ? (double)o->pattern.n / o->pattern.m : target;
    ap_status st;
    if (o->method == AP_METHOD_SPARSEGPT) {
        const ap_xacc *a = &bs->acc[ik];
        if (!a->xtx)
            return name_error(ap_error_set(err, AP_E_ARG, "SparseGPT needs Hessian statistics"), err, l, k);
        double t0 = ap_clock_seconds();
        ap_xacc_hessian(a, s->H);
        int nm = o->pattern.group == AP_GROUP_NM;
        st = ap_sparsegpt_prune(L->w, L->out, L->in, s->H, target, nm ? o->pattern.n : 0, nm ? o->pattern.m : 0,
                                sgpt_blocksize(o), sgpt_percdamp(o), err);
        if (!st)
            round_to_checkpoint(m, L);
        rep->t_mask += ap_clock_seconds() - t0;
        return name_error(st, err, l, k);
    }
    double t0 = ap_clock_seconds();
    if (o->reconstruct == AP_RECONSTRUCT_ADAPTIVE) {
        st = prune_adaptive(L, l, k, bs, o, target, s, err);
        if (!st)
            round_to_checkpoint(m, L);
        rep->t_mask += ap_clock_seconds() - t0;
        return name_error(st, err, l, k);
    }
    ap_xview xv;
    st = metric_view(bs, l, ik, o, s, &xv, err);
    if (!st)
        st = o->score(o->score_ud, l, k, L->w, L->out, L->in, &xv, target, s->scores, err);
    double t1 = ap_clock_seconds();
    rep->t_score += t1 - t0;
    if (!st)
        st = ap_mask_compute(s->scores, L->out, L->in, o->pattern, target, s->keep, NULL, err);
    if (!st && o->reconstruct) {
        /* the metric chooses the mask, SparseGPT's OBS update repairs the kept weights (same H as SparseGPT) */
        const ap_xacc *a = &bs->acc[ik];
        if (!a->xtx)
            return name_error(ap_error_set(err, AP_E_ARG, "reconstruct needs Hessian statistics"), err, l, k);
        ap_xacc_hessian(a, s->H);
        st = ap_sparsegpt_update(L->w, L->out, L->in, s->H, s->keep, sgpt_blocksize(o), sgpt_percdamp(o), err);
        if (!st)
            round_to_checkpoint(m, L);
    } else if (!st)
        ap_mask_apply(L->w, s->keep, L->out * L->in);
    rep->t_mask += ap_clock_seconds() - t1;
    return name_error(st, err, l, k);
}

static ap_status check_opts(const ap_model *m, const ap_prune_opts *o, ap_error *err)
{
    if (o->method == AP_METHOD_SCORE && !o->score)
        return ap_error_set(err, AP_E_ARG, "prune: no scoring function");
    if (o->pattern.group != AP_GROUP_NM && !(o->sparsity >= 0 && o->sparsity < 1))
        return ap_error_set(err, AP_E_ARG, "prune: sparsity %g outside [0, 1)", o->sparsity);
    if (o->targets)
        for (int i = 0; i < m->cfg.n_layers * AP_LIN_COUNT; i++)
            if (!(o->targets[i] >= 0 && o->targets[i] <= 1))
                return ap_error_set(err, AP_E_ARG, "prune: target sparsity %g of layer %d %s outside [0, 1]",
                                    o->targets[i], i / AP_LIN_COUNT + 1, ap_linear_name(i % AP_LIN_COUNT));
    return AP_OK;
}

/* ---- one-shot ---- */

ap_status ap_prune_oneshot(ap_model *m, const ap_calib_stats *st, const ap_prune_opts *o, ap_prune_report *rep,
                           ap_error *err)
{
    double t0 = ap_clock_seconds();
    ap_status rc = check_opts(m, o, err);
    if (rc)
        return rc;
    if (!st || st->n_layers != m->cfg.n_layers)
        return ap_error_set(err, AP_E_ARG, "prune: statistics do not match the model");
    if ((o->method == AP_METHOD_SPARSEGPT || o->reconstruct) && !st->hessian)
        return ap_error_set(err, AP_E_ARG, "prune: SparseGPT and reconstruct need statistics gathered with Hessians");
    rc = report_init(rep, m, err);
    if (rc)
        return rc;
    scratch s;
    rc = scratch_init(&s, m, st->hessian, err); /* Hessians held: SparseGPT, reconstruction and X.hinv */
    int total = m->cfg.n_layers * AP_LIN_COUNT, done = 0;
    for (int l = 0; l < m->cfg.n_layers && !rc; l++)
        for (int k = 0; k < AP_LIN_COUNT && !rc; k++) {
            rc = prune_linear(m, l, (ap_linear_kind)k, &st->blocks[l], o, &s, rep, err);
            if (o->progress && !rc)
                o->progress(o->pud, ++done, total);
        }
    scratch_free(&s);
    return finish_report(rep, m, rc, t0);
}

/* ---- sequential ---- */

/* Run block l over all windows of hidden (in place), batch by batch, with an optional observer. */
static ap_status run_block(const ap_model *m, int l, float *hidden, int nsamples, int seqlen, int batch, float *copy,
                           ap_block_stats *bs, ap_pool *pool, ap_error *err)
{
    size_t per_win = (size_t)seqlen * (size_t)m->cfg.hidden;
    for (int b0 = 0; b0 < nsamples; b0 += batch) {
        int nb = nsamples - b0 < batch ? nsamples - b0 : batch;
        float *h = hidden + (size_t)b0 * per_win;
        ap_status st;
        if (bs) {
            /* statistics pass: the block's output is not kept, so it runs on a copy, and only as far as the
             * last linear's input */
            memcpy(copy, h, (size_t)nb * per_win * sizeof *copy);
            ap_batch b = {nb, seqlen, copy};
            ap_calib_obs obs = {bs, pool, AP_OK, {0}};
            st = ap_model_block_inputs(m, l, &b, ap_calib_observer, &obs, err);
            if (!st && obs.status) {
                st = obs.status;
                if (err)
                    *err = obs.err;
            }
        } else {
            ap_batch b = {nb, seqlen, h};
            st = ap_model_block(m, l, &b, NULL, NULL, err);
        }
        if (st)
            return st;
    }
    return AP_OK;
}

ap_status ap_prune_sequential(ap_model *m, const int32_t *ids, int nsamples, int seqlen, const ap_prune_opts *o,
                              ap_prune_report *rep, ap_error *err)
{
    double t0 = ap_clock_seconds();
    ap_status rc = check_opts(m, o, err);
    if (rc)
        return rc;
    if (nsamples < 1 || seqlen < 2)
        return ap_error_set(err, AP_E_ARG, "prune: need at least one calibration window of 2 tokens");
    int batch = o->batch > 0 ? o->batch : 8;
    if (batch > nsamples)
        batch = nsamples;
    int hess = o->method == AP_METHOD_SPARSEGPT || o->reconstruct;
    rc = report_init(rep, m, err);
    if (rc)
        return rc;
    scratch s;
    ap_block_stats bs;
    ap_batch all = {0};
    float *copy = NULL;
    ap_pool *pool = NULL;
    int have_s = 0, have_bs = 0;
    rc = scratch_init(&s, m, hess, err);
    have_s = !rc;
    if (!rc) {
        rc = ap_block_stats_init_fields(&bs, m, o->stats | (hess ? AP_XF_HESSIAN : 0u), err);
        have_bs = !rc;
    }
    if (!rc)
        rc = ap_pool_new(&pool, m->n_threads, err);
    if (!rc) {
        copy = malloc((size_t)batch * (size_t)seqlen * (size_t)m->cfg.hidden * sizeof *copy);
        if (!copy)
            rc = ap_error_set(err, AP_E_NOMEM, "prune: no memory for a batch of hidden states");
    }
    double tf = ap_clock_seconds();
    if (!rc)
        rc = ap_model_embed(m, ids, nsamples, seqlen, &all, err);
    rep->t_forward += ap_clock_seconds() - tf;
    int total = m->cfg.n_layers * AP_LIN_COUNT, done = 0;
    for (int l = 0; l < m->cfg.n_layers && !rc; l++) {
        double tc = ap_clock_seconds();
        ap_block_stats_reset(&bs);
        rc = run_block(m, l, all.h, nsamples, seqlen, batch, copy, &bs, pool, err);
        if (!rc)
            rc = ap_block_stats_finish(&bs, err);
        rep->t_calib += ap_clock_seconds() - tc;
        for (int k = 0; k < AP_LIN_COUNT && !rc; k++) {
            rc = prune_linear(m, l, (ap_linear_kind)k, &bs, o, &s, rep, err);
            if (o->progress && !rc)
                o->progress(o->pud, ++done, total);
        }
        /* the last block's output feeds nothing that is pruned */
        if (!rc && l + 1 < m->cfg.n_layers) {
            tf = ap_clock_seconds();
            rc = run_block(m, l, all.h, nsamples, seqlen, batch, NULL, NULL, NULL, err);
            rep->t_forward += ap_clock_seconds() - tf;
        }
    }
    free(all.h);
    free(copy);
    ap_pool_free(pool);
    if (have_bs)
        ap_block_stats_free(&bs);
    if (have_s)
        scratch_free(&s);
    return finish_report(rep, m, rc, t0);
}
