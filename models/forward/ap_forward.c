/* ap_forward.c — the LLaMA-family forward pass in float32: embedding, one decoder block at a time (RMSNorm, q/k/v,
 * RoPE, causal attention with GQA, o, RMSNorm, SwiGLU MLP, residuals) and the head's NLL. Every linear is one
 * cblas_sgemm per slice of rows; the slices, attention and the elementwise work are spread over the model's pool.
 * OpenBLAS itself is kept to one thread during a call (restored after), so the two pools never fight over cores. */
#include "ap_forward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ap_kernels.h"

#define ATT_TILE 64 /* queries per attention task: keys [0, tile end) only, so causal work is halved */
/* Rows per sgemm call. Every linear and the head cut each sequence into slices of GEMM_ROWS rows from its own first
 * token (the last slice of a sequence may be shorter), so a row's result never depends on the thread count, on how
 * many sequences share the batch, or on which rows OpenBLAS's kernel sees beside it: the same token of the same
 * window always meets the same sgemm call. 512 rows: OpenBLAS repacks the whole weight at every call, so fewer,
 * taller calls cost less (about 15% of the forward pass on ap-small against 128). */
#define GEMM_ROWS 512
#define HEAD_LOGITS_FLOATS ((int64_t)1 << 21) /* per-thread logits scratch of the head: 8 MB, or 128 rows */

/* ---- runtime ---------------------------------------------------------------------------------------------- */

ap_status ap_model_rt_new(struct ap_model_rt **out, ap_error *err)
{
    struct ap_model_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return ap_error_set(err, AP_E_NOMEM, "model runtime: out of memory");
    pthread_mutex_init(&rt->lock, NULL);
    *out = rt;
    return AP_OK;
}

void ap_model_rt_free(struct ap_model_rt *rt)
{
    if (!rt)
        return;
    ap_pool_free(rt->pool);
    free(rt->scratch);
    free(rt->rope_cos);
    free(rt->rope_sin);
    free(rt->row_nll);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* The state of one call: the runtime locked, the pool ready, OpenBLAS on one thread. */
typedef struct fwd {
    const ap_model *m;
    struct ap_model_rt *rt;
    ap_pool *pool;
    int nt;           /* pool threads */
    int64_t seqlen;   /* rows per sequence of the batch being run: the slices never cross one */
    int blas_threads; /* OpenBLAS's count before the call */
} fwd;

static ap_status fwd_begin(fwd *f, const ap_model *m, ap_error *err)
{
    memset(f, 0, sizeof *f);
    if (!m || !m->rt)
        return ap_error_set(err, AP_E_ARG, "model: no runtime (use ap_model_load or ap_model_prepare)");
    f->m = m;
    f->rt = m->rt;
    pthread_mutex_lock(&f->rt->lock);
    int want = m->n_threads > 0 ? m->n_threads : ap_cpu_count();
    if (!f->rt->pool || f->rt->pool_threads != want) {
        ap_pool_free(f->rt->pool);
        f->rt->pool = NULL;
        ap_status s = ap_pool_new(&f->rt->pool, want, err);
        if (s) {
            pthread_mutex_unlock(&f->rt->lock);
            return s;
        }
        f->rt->pool_threads = want;
    }
    f->pool = f->rt->pool;
    f->nt = ap_pool_size(f->pool);
    f->blas_threads = openblas_get_num_threads();
    if (f->blas_threads != 1)
        openblas_set_num_threads(1);
    return AP_OK;
}

static void fwd_end(fwd *f)
{
    if (f->blas_threads != 1)
        openblas_set_num_threads(f->blas_threads);
    pthread_mutex_unlock(&f->rt->lock);
}

/* Checked a*b (non-negative); 0 with *ok cleared on overflow. */
static size_t mul_sz(size_t a, size_t b, int *ok)
{
    if (b && a > SIZE_MAX / b) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

static ap_status scratch_get(fwd *f, size_t floats, float **out, ap_error *err)
{
    struct ap_model_rt *rt = f->rt;
    if (floats > rt->scratch_cap) {
        free(rt->scratch);
        rt->scratch_cap = 0;
        rt->scratch = malloc(floats * sizeof(float));
        if (!rt->scratch)
            return ap_error_set(err, AP_E_NOMEM, "forward pass: out of memory (%zu MB of activations)",
                                floats * sizeof(float) >> 20);
        rt->scratch_cap = floats;
    }
    *out = rt->scratch;
    return AP_OK;
}

/* ---- RoPE tables ------------------------------------------------------------------------------------------ */

/* inv_freq as Hugging Face computes it in float32 (1 / theta^(2i/d)), with the llama3 rescaling when configured. */
static float rope_inv_freq(const ap_config *c, int i)
{
    int d = c->head_dim;
    float expo = (float)(2 * i) / (float)d;
    float f = (float)(1.0 / (double)(float)pow(c->rope_theta, (double)expo));
    if (c->rope_type != AP_ROPE_LLAMA3)
        return f;
    double low_wl = c->rope_original_max_pos / c->rope_low_freq_factor;
    double high_wl = c->rope_original_max_pos / c->rope_high_freq_factor;
    double wl = 2.0 * M_PI / f, out = f;
    if (wl > low_wl)
        out = f / c->rope_factor;
    else if (wl >= high_wl) {
        double smooth = (c->rope_original_max_pos / wl - c->rope_low_freq_factor) /
                        (c->rope_high_freq_factor - c->rope_low_freq_factor);
        out = (1.0 - smooth) * f / c->rope_factor + smooth * f;
    }
    return (float)out;
}

static ap_status rope_tables(fwd *f, int len, ap_error *err)
{
    struct ap_model_rt *rt = f->rt;
    if (rt->rope_len >= len)
        return AP_OK;
    int half = f->m->cfg.head_dim / 2;
    float *c = malloc((size_t)len * (size_t)half * sizeof *c), *s = malloc((size_t)len * (size_t)half * sizeof *s);
    if (!c || !s) {
        free(c);
        free(s);
        return ap_error_set(err, AP_E_NOMEM, "forward pass: out of memory (RoPE tables for %d positions)", len);
    }
    for (int i = 0; i < half; i++) {
        float inv = rope_inv_freq(&f->m->cfg, i);
        for (int p = 0; p < len; p++) {
            float angle = (float)p * inv; /* rounded to float like HF's float32 outer product */
            c[(size_t)p * half + i] = (float)cos((double)angle);
            s[(size_t)p * half + i] = (float)sin((double)angle);
        }
    }
    free(rt->rope_cos);
    free(rt->rope_sin);
    rt->rope_cos = c;
    rt->rope_sin = s;
    rt->rope_len = len;
    return AP_OK;
}

/* ---- linears ---------------------------------------------------------------------------------------------- */

/* The rows [r0, r0 + n) of slice t: sequence t / per_seq, its slice t % per_seq (see GEMM_ROWS). */
static int64_t slice_rows(int64_t t, int64_t seqlen, int64_t rows_per_slice, int64_t *n)
{
    int64_t per_seq = (seqlen + rows_per_slice - 1) / rows_per_slice, off = (t % per_seq) * rows_per_slice;
    *n = seqlen - off < rows_per_slice ? seqlen - off : rows_per_slice;
    return (t / per_seq) * seqlen + off;
}

static int64_t slice_count(int64_t rows, int64_t seqlen, int64_t rows_per_slice)
{
    return rows / seqlen * ((seqlen + rows_per_slice - 1) / rows_per_slice);
}

typedef struct lin_job {
    const float *x;
    const ap_linear *lin;
    float *y;
    int64_t seqlen, ldy;
    float beta;
} lin_job;

static void lin_task(void *ud, int64_t t, int thread)
{
    (void)thread;
    const lin_job *j = ud;
    int64_t n, r0 = slice_rows(t, j->seqlen, GEMM_ROWS, &n);
    const ap_linear *L = j->lin;
    float *y = j->y + r0 * j->ldy;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)L->out, (int)L->in, 1.0f, j->x + r0 * L->in,
                (int)L->in, L->w, (int)L->in, j->beta, y, (int)j->ldy);
    if (L->bias)
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < L->out; o++)
                y[r * j->ldy + o] += L->bias[o];
}

/* y[rows, out] = x @ W^T + b (beta 0), or y += x @ W^T + b (beta 1: the residual add for free). */
static void linear(fwd *f, const float *x, int64_t rows, const ap_linear *L, float *y, float beta)
{
    lin_job j = {.x = x, .lin = L, .y = y, .seqlen = f->seqlen, .ldy = L->out, .beta = beta};
    ap_pool_run(f->pool, slice_count(rows, f->seqlen, GEMM_ROWS), lin_task, &j);
}

/* ---- row-wise work: norms, RoPE, SwiGLU ------------------------------------------------------------------- */

typedef struct row_job {
    const fwd *f;
    int kind; /* ROW_NORM, ROW_ROPE, ROW_SWIGLU */
    const float *x;
    float *y, *y2;
    const float *w;
    int64_t rows, width, width2, seqlen;
} row_job;
enum { ROW_NORM, ROW_ROPE, ROW_SWIGLU };
#define ROW_CHUNK 32

static void row_task(void *ud, int64_t t, int thread)
{
    (void)thread;
    const row_job *j = ud;
    const ap_config *c = &j->f->m->cfg;
    int64_t r0 = t * ROW_CHUNK, r1 = r0 + ROW_CHUNK < j->rows ? r0 + ROW_CHUNK : j->rows;
    int64_t hd = c->head_dim, half = hd / 2;
    for (int64_t r = r0; r < r1; r++) {
        if (j->kind == ROW_NORM) {
            ap_kern_rmsnorm(j->y + r * j->width, j->x + r * j->width, j->w, j->width, c->rms_eps);
        } else if (j->kind == ROW_SWIGLU) {
            ap_kern_swiglu(j->y + r * j->width, j->x + r * j->width, j->width);
        } else {
            int64_t pos = r % j->seqlen;
            const float *cs = j->f->rt->rope_cos + pos * half, *sn = j->f->rt->rope_sin + pos * half;
            for (int64_t h = 0; h < j->width / hd; h++)
                ap_kern_rope(j->y + r * j->width + h * hd, cs, sn, hd);
            for (int64_t h = 0; h < j->width2 / hd; h++)
                ap_kern_rope(j->y2 + r * j->width2 + h * hd, cs, sn, hd);
        }
    }
}

static void rows_run(fwd *f, row_job *j)
{
    j->f = f;
    ap_pool_run(f->pool, (j->rows + ROW_CHUNK - 1) / ROW_CHUNK, row_task, j);
}

/* ---- attention -------------------------------------------------------------------------------------------- */

typedef struct att_job {
    const fwd *f;
    const float *q, *k, *v; /* [rows, n_heads*hd], [rows, n_kv*hd] x2 */
    float *out;             /* [rows, n_heads*hd] */
    float *scores;          /* per thread: [ATT_TILE, seqlen] */
    int64_t seqlen, tiles, n_heads, n_kv, hd;
    int64_t window; /* Mistral's sliding window (keys j with p - j < window), or 0 */
} att_job;

/* One task: queries [q0, q1) of one head of one sequence against keys [0, q1). */
static void att_task(void *ud, int64_t t, int thread)
{
    const att_job *j = ud;
    int64_t tile = t % j->tiles, head = (t / j->tiles) % j->n_heads, seq = t / (j->tiles * j->n_heads);
    int64_t hd = j->hd, kvh = head / (j->n_heads / j->n_kv);
    int64_t q0 = tile * ATT_TILE, q1 = q0 + ATT_TILE < j->seqlen ? q0 + ATT_TILE : j->seqlen, nq = q1 - q0;
    int64_t ldq = j->n_heads * hd, ldk = j->n_kv * hd, base = seq * j->seqlen;
    int64_t k0 = j->window && q0 - j->window + 1 > 0 ? q0 - j->window + 1 : 0, nk = q1 - k0; /* keys [k0, q1) */
    float *s = j->scores + (int64_t)thread * ATT_TILE * j->seqlen;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)hd, (float)(1.0 / sqrt((double)hd)),
                j->q + (base + q0) * ldq + head * hd, (int)ldq, j->k + (base + k0) * ldk + kvh * hd, (int)ldk, 0.0f, s,
                (int)nk);
    for (int64_t i = 0; i < nq; i++) {
        int64_t p = q0 + i, lo = j->window && p - j->window + 1 > k0 ? p - j->window + 1 : k0;
        float *row = s + i * nk;
        if (lo > k0)
            memset(row, 0, (size_t)(lo - k0) * sizeof *row);
        ap_kern_softmax_causal(row + (lo - k0), p + 1 - lo, q1 - lo);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)hd, (int)nk, 1.0f, s, (int)nk,
                j->v + (base + k0) * ldk + kvh * hd, (int)ldk, 0.0f, j->out + (base + q0) * ldq + head * hd, (int)ldq);
}

/* ---- public entry points ---------------------------------------------------------------------------------- */

static ap_status check_batch(const ap_model *m, int n_seq, int seqlen, size_t *rows, ap_error *err)
{
    if (n_seq < 1 || seqlen < 1)
        return ap_error_set(err, AP_E_ARG, "forward pass: batch of %d sequences of %d tokens", n_seq, seqlen);
    int ok = 1;
    size_t r = mul_sz((size_t)n_seq, (size_t)seqlen, &ok);
    mul_sz(r, (size_t)(m->cfg.vocab > m->cfg.ffn ? m->cfg.vocab : m->cfg.ffn), &ok);
    if (!ok || r > INT32_MAX)
        return ap_error_set(err, AP_E_ARG, "forward pass: batch of %d x %d tokens is too large", n_seq, seqlen);
    *rows = r;
    return AP_OK;
}

ap_status ap_model_embed(const ap_model *m, const int32_t *ids, int n_seq, int seqlen, ap_batch *b, ap_error *err)
{
    size_t rows;
    ap_status s = check_batch(m, n_seq, seqlen, &rows, err);
    if (s)
        return s;
    size_t hidden = (size_t)m->cfg.hidden;
    for (size_t r = 0; r < rows; r++)
        if (ids[r] < 0 || ids[r] >= m->cfg.vocab)
            return ap_error_set(err, AP_E_ARG,
                                "forward pass: token id %d at position %zu is outside the vocabulary "
                                "(0..%d)",
                                (int)ids[r], r, m->cfg.vocab - 1);
    float *h = malloc(rows * hidden * sizeof *h);
    if (!h)
        return ap_error_set(err, AP_E_NOMEM, "forward pass: out of memory (%zu tokens)", rows);
    for (size_t r = 0; r < rows; r++)
        memcpy(h + r * hidden, m->embed + (size_t)ids[r] * hidden, hidden * sizeof *h);
    b->n_seq = n_seq;
    b->seqlen = seqlen;
    b->h = h;
    return AP_OK;
}

/* The observer runs with OpenBLAS's own thread count back in place: it may do big matmuls (a Hessian X^T X). */
static void observe(const fwd *f, ap_linear_observer obs, void *ud, int layer, ap_linear_kind k, const float *x,
                    int64_t rows, int64_t in)
{
    if (!obs)
        return;
    if (f->blas_threads != 1)
        openblas_set_num_threads(f->blas_threads);
    obs(ud, layer, k, x, rows, in);
    if (f->blas_threads != 1)
        openblas_set_num_threads(1);
}

/* inputs_only: stop once down_proj's input is observed (the statistics pass of the sequential driver never keeps
 * the block's output, so the largest GEMM of the MLP is skipped; b->h then holds the attention half only). */
static ap_status block_run(fwd *f, int layer, ap_batch *b, ap_linear_observer obs, void *ud, int inputs_only,
                           ap_error *err)
{
    const ap_config *c = &f->m->cfg;
    const ap_block *B = &f->m->blocks[layer];
    int64_t R = (int64_t)b->n_seq * b->seqlen, H = c->hidden, hd = c->head_dim;
    int64_t qd = (int64_t)c->n_heads * hd, kd = (int64_t)c->n_kv_heads * hd, F = c->ffn;
    int64_t tiles = (b->seqlen + ATT_TILE - 1) / ATT_TILE;
    f->seqlen = b->seqlen;
    /* xn | q k v att (the attention half) or gate up (the MLP half: the same floats, reused) | scores */
    int64_t att_part = R * (2 * qd + 2 * kd), mlp_part = R * 2 * F;
    int64_t middle = att_part > mlp_part ? att_part : mlp_part;
    size_t total = (size_t)(R * H + middle + (int64_t)f->nt * ATT_TILE * b->seqlen);
    float *xn, *q, *k, *v, *att, *g, *u, *scores;
    ap_status s = scratch_get(f, total, &xn, err);
    if (s)
        return s;
    if ((s = rope_tables(f, b->seqlen, err)))
        return s;
    q = xn + R * H;
    k = q + R * qd;
    v = k + R * kd;
    att = v + R * kd;
    g = q;
    u = g + R * F;
    scores = q + middle;

    row_job norm = {.kind = ROW_NORM, .x = b->h, .y = xn, .w = B->attn_norm, .rows = R, .width = H};
    rows_run(f, &norm);
    observe(f, obs, ud, layer, AP_LIN_Q, xn, R, H);
    observe(f, obs, ud, layer, AP_LIN_K, xn, R, H);
    observe(f, obs, ud, layer, AP_LIN_V, xn, R, H);
    linear(f, xn, R, &B->lin[AP_LIN_Q], q, 0.0f);
    linear(f, xn, R, &B->lin[AP_LIN_K], k, 0.0f);
    linear(f, xn, R, &B->lin[AP_LIN_V], v, 0.0f);
    row_job rope = {.kind = ROW_ROPE, .y = q, .y2 = k, .rows = R, .width = qd, .width2 = kd, .seqlen = b->seqlen};
    rows_run(f, &rope);
    att_job aj = {.f = f,
                  .q = q,
                  .k = k,
                  .v = v,
                  .out = att,
                  .scores = scores,
                  .seqlen = b->seqlen,
                  .tiles = tiles,
                  .n_heads = c->n_heads,
                  .n_kv = c->n_kv_heads,
                  .hd = hd,
                  .window = c->sliding_window};
    ap_pool_run(f->pool, (int64_t)b->n_seq * c->n_heads * tiles, att_task, &aj);
    observe(f, obs, ud, layer, AP_LIN_O, att, R, qd);
    linear(f, att, R, &B->lin[AP_LIN_O], b->h, 1.0f);

    norm.w = B->mlp_norm;
    rows_run(f, &norm);
    observe(f, obs, ud, layer, AP_LIN_GATE, xn, R, H);
    observe(f, obs, ud, layer, AP_LIN_UP, xn, R, H);
    linear(f, xn, R, &B->lin[AP_LIN_GATE], g, 0.0f);
    linear(f, xn, R, &B->lin[AP_LIN_UP], u, 0.0f);
    row_job glu = {.kind = ROW_SWIGLU, .x = u, .y = g, .rows = R, .width = F};
    rows_run(f, &glu);
    observe(f, obs, ud, layer, AP_LIN_DOWN, g, R, F);
    if (!inputs_only)
        linear(f, g, R, &B->lin[AP_LIN_DOWN], b->h, 1.0f);
    return AP_OK;
}

static ap_status block_call(const ap_model *m, int layer, ap_batch *b, ap_linear_observer obs, void *ud,
                            int inputs_only, ap_error *err)
{
    size_t rows;
    if (!m || layer < 0 || layer >= m->cfg.n_layers)
        return ap_error_set(err, AP_E_ARG, "forward pass: layer %d outside 0..%d", layer, m ? m->cfg.n_layers - 1 : -1);
    ap_status s = check_batch(m, b->n_seq, b->seqlen, &rows, err);
    if (s)
        return s;
    fwd f;
    if ((s = fwd_begin(&f, m, err)))
        return s;
    s = block_run(&f, layer, b, obs, ud, inputs_only, err);
    fwd_end(&f);
    return s;
}

ap_status ap_model_block(const ap_model *m, int layer, ap_batch *b, ap_linear_observer obs, void *ud, ap_error *err)
{
    return block_call(m, layer, b, obs, ud, 0, err);
}

ap_status ap_model_block_inputs(const ap_model *m, int layer, ap_batch *b, ap_linear_observer obs, void *ud,
                                ap_error *err)
{
    return block_call(m, layer, b, obs, ud, 1, err);
}

/* ---- head: final norm, lm_head, log-softmax --------------------------------------------------------------- */

typedef struct head_job {
    const fwd *f;
    const float *h;
    const int32_t *ids;
    float *logits;  /* caller's [rows, vocab] or NULL */
    float *scratch; /* per thread: xn [chunk, H] + logits [chunk, V] + lse [V] */
    double *row_nll;
    int64_t rows, seqlen, chunk, per_thread;
} head_job;

static void head_task(void *ud, int64_t t, int thread)
{
    const head_job *j = ud;
    const ap_model *m = j->f->m;
    int64_t H = m->cfg.hidden, V = m->cfg.vocab;
    int64_t n, r0 = slice_rows(t, j->seqlen, j->chunk, &n);
    float *xn = j->scratch + (int64_t)thread * j->per_thread;
    float *lg = j->logits ? j->logits + r0 * V : xn + j->chunk * H;
    float *tmp = xn + j->chunk * H + j->chunk * V;
    for (int64_t r = 0; r < n; r++)
        ap_kern_rmsnorm(xn + r * H, j->h + (r0 + r) * H, m->final_norm, H, m->cfg.rms_eps);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)V, (int)H, 1.0f, xn, (int)H, m->lm_head, (int)H,
                0.0f, lg, (int)V);
    for (int64_t r = 0; r < n; r++) {
        int64_t row = r0 + r;
        if (row % j->seqlen == j->seqlen - 1) {
            j->row_nll[row] = 0;
            continue;
        } /* nothing to predict */
        const float *x = lg + r * V;
        j->row_nll[row] = ap_kern_logsumexp(x, V, tmp) - (double)x[j->ids[row + 1]];
    }
}

ap_status ap_model_head_nll(const ap_model *m, const ap_batch *b, const int32_t *ids, double *nll, int64_t *count,
                            float *logits, ap_error *err)
{
    size_t rows;
    ap_status s = check_batch(m, b->n_seq, b->seqlen, &rows, err);
    if (s)
        return s;
    for (size_t r = 0; r < rows; r++)
        if (ids[r] < 0 || ids[r] >= m->cfg.vocab)
            return ap_error_set(err, AP_E_ARG, "head: token id %d at position %zu is outside the vocabulary (0..%d)",
                                (int)ids[r], r, m->cfg.vocab - 1);
    fwd f;
    if ((s = fwd_begin(&f, m, err)))
        return s;
    int64_t H = m->cfg.hidden, V = m->cfg.vocab;
    int64_t chunk = HEAD_LOGITS_FLOATS / V;
    chunk = chunk < 128   ? 128
            : chunk > 256 ? 256
                          : chunk; /* >= 128 rows: the lm_head is streamed once per chunk;
                                                              * fixed by the vocabulary alone (determinism) */
    int64_t per_thread = chunk * H + chunk * V + V;
    float *scratch;
    struct ap_model_rt *rt = f.rt;
    s = scratch_get(&f, (size_t)(per_thread * f.nt), &scratch, err);
    if (!s && rt->row_nll_cap < rows) {
        free(rt->row_nll);
        rt->row_nll_cap = 0;
        if (!(rt->row_nll = malloc(rows * sizeof *rt->row_nll)))
            s = ap_error_set(err, AP_E_NOMEM, "head: out of memory");
        else
            rt->row_nll_cap = rows;
    }
    if (!s) {
        head_job j = {.f = &f,
                      .h = b->h,
                      .ids = ids,
                      .logits = logits,
                      .scratch = scratch,
                      .row_nll = rt->row_nll,
                      .rows = (int64_t)rows,
                      .seqlen = b->seqlen,
                      .chunk = chunk,
                      .per_thread = per_thread};
        ap_pool_run(f.pool, slice_count((int64_t)rows, b->seqlen, chunk), head_task, &j);
        double sum = 0;
        for (size_t r = 0; r < rows; r++)
            sum += rt->row_nll[r];
        *nll += sum;
        *count += (int64_t)b->n_seq * (b->seqlen - 1);
    }
    fwd_end(&f);
    return s;
}
