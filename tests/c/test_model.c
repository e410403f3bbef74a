/* test_model.c — the model and forward pass in C: kernels against libm, the thread pool, the linear observer's
 * exact semantics, save -> reload giving bit-identical logits (ap-tiny in bf16; a hand-made tied f16 model) and
 * the original checkpoint's tensor names, perplexity's argument errors and its text-file entry (token cache).
 * The logits themselves are checked against PyTorch in tests/model. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ap_kernels.h"
#include "ap_model.h"
#include "ap_threads.h"
#include "ap_tokenizer.h"
#include "aptest.h"

static const char *root(void)
{
    const char *r = getenv("AP_ROOT");
    return r && *r ? r : ".";
}

/* ---- kernels -------------------------------------------------------------------------------------------- */

static void test_kernels(void)
{
    double worst = 0;
    float x[1];
    for (int i = 0; i <= 100000; i++) {
        float v = -87.0f + 175.0f * (float)i / 100000.0f;
        x[0] = v;
        ap_kern_exp_sum(x, 1);
        double e = exp((double)v), rel = fabs(x[0] - e) / e;
        if (rel > worst)
            worst = rel;
    }
    AP_CHECK(worst < 3e-7, "exp over [-87, 88] within 3e-7 relative (%.3g)", worst);
    float big[37];
    for (int i = 0; i < 37; i++)
        big[i] = -100.0f - i;
    double s = ap_kern_exp_sum(big, 37);
    AP_CHECK(s >= 0 && s < 1e-37, "exp below -87.3 flushes to 0 (sum %.3g)", s);

    float row[1000], scratch[1000];
    double ref = 0, m = -1e30;
    for (int i = 0; i < 1000; i++) {
        row[i] = (float)(20 * sin(i * 0.37));
        if (row[i] > m)
            m = row[i];
    }
    for (int i = 0; i < 1000; i++)
        ref += exp(row[i] - m);
    ref = m + log(ref);
    double lse = ap_kern_logsumexp(row, 1000, scratch);
    AP_CHECK(fabs(lse - ref) < 1e-6, "logsumexp of 1000 values (%.9f vs %.9f)", lse, ref);

    float sm[70];
    for (int i = 0; i < 70; i++)
        sm[i] = (float)cos(i);
    ap_kern_softmax_causal(sm, 45, 70);
    double tot = 0;
    int tail_zero = 1;
    for (int i = 0; i < 45; i++)
        tot += sm[i];
    for (int i = 45; i < 70; i++)
        tail_zero &= sm[i] == 0.0f;
    AP_CHECK(fabs(tot - 1) < 1e-6 && tail_zero, "causal softmax: the first 45 sum to 1, the tail is 0");

    float h[50], w[50], y[50];
    double ss = 0;
    for (int i = 0; i < 50; i++) {
        h[i] = (float)(i - 20) * 0.1f;
        w[i] = 1.0f + 0.01f * i;
        ss += (double)h[i] * h[i];
    }
    ap_kern_rmsnorm(y, h, w, 50, 1e-5);
    double r = 1 / sqrt(ss / 50 + 1e-5), err = 0;
    for (int i = 0; i < 50; i++)
        err = fmax(err, fabs(y[i] - h[i] * r * w[i]));
    AP_CHECK(err < 1e-6, "rmsnorm (max error %.3g)", err);
}

/* ---- thread pool ---------------------------------------------------------------------------------------- */

typedef struct {
    _Atomic int hits[1000];
    _Atomic int bad_thread;
    int n_threads;
} pool_rec;

static void pool_task(void *ud, int64_t t, int thread)
{
    pool_rec *r = ud;
    atomic_fetch_add(&r->hits[t], 1);
    if (thread < 0 || thread >= r->n_threads)
        atomic_store(&r->bad_thread, 1);
}

static void test_pool(void)
{
    for (int n = 1; n <= 4; n++) {
        ap_pool *p = NULL;
        ap_error err = {0};
        AP_CHECK(ap_pool_new(&p, n, &err) == AP_OK && ap_pool_size(p) == n, "pool of %d threads", n);
        pool_rec *rec = calloc(1, sizeof *rec);
        rec->n_threads = n;
        for (int rep = 0; rep < 3; rep++)
            ap_pool_run(p, 1000, pool_task, rec);
        int ok = !rec->bad_thread;
        for (int i = 0; i < 1000; i++)
            ok &= rec->hits[i] == 3;
        AP_CHECK(ok, "pool of %d: 3 jobs of 1000 tasks each ran every task once per job", n);
        free(rec);
        ap_pool_free(p);
    }
}

/* ---- the observer --------------------------------------------------------------------------------------- */

typedef struct obs_rec {
    int calls, layer_ok, order_ok;
    int64_t rows[AP_LIN_COUNT], in[AP_LIN_COUNT];
    float *copy[AP_LIN_COUNT];
    const float *ptr[AP_LIN_COUNT];
} obs_rec;

static void observer(void *ud, int layer, ap_linear_kind which, const float *x, int64_t n_rows, int64_t in)
{
    obs_rec *r = ud;
    if (layer != 1)
        r->layer_ok = 0;
    if ((int)which != r->calls)
        r->order_ok = 0;
    r->calls++;
    if ((unsigned)which >= AP_LIN_COUNT)
        return;
    r->rows[which] = n_rows;
    r->in[which] = in;
    r->ptr[which] = x;
    r->copy[which] = malloc((size_t)(n_rows * in) * sizeof(float));
    memcpy(r->copy[which], x, (size_t)(n_rows * in) * sizeof(float));
}

/* y = x @ W^T for one row, in double. */
static void row_linear(const ap_linear *L, const float *x, double *y)
{
    for (int64_t o = 0; o < L->out; o++) {
        double s = L->bias ? L->bias[o] : 0;
        for (int64_t i = 0; i < L->in; i++)
            s += (double)L->w[o * L->in + i] * x[i];
        y[o] = s;
    }
}

static void test_observer(const ap_model *m)
{
    const ap_config *c = &m->cfg;
    int n_seq = 2, seqlen = 40;
    int32_t ids[80];
    for (int i = 0; i < 80; i++)
        ids[i] = (i * 37 + 11) % c->vocab;
    ap_batch a = {0}, b = {0};
    ap_error err = {0};
    AP_CHECK(ap_model_embed(m, ids, n_seq, seqlen, &a, &err) == AP_OK, "embed 2 x 40 (%s)", err.msg);
    ap_model_embed(m, ids, n_seq, seqlen, &b, &err);
    ap_model_block(m, 0, &a, NULL, NULL, &err);
    ap_model_block(m, 0, &b, NULL, NULL, &err);
    size_t hsz = (size_t)(n_seq * seqlen * c->hidden);
    float *h_in = malloc(hsz * sizeof *h_in);
    memcpy(h_in, b.h, hsz * sizeof *h_in);
    obs_rec r = {.layer_ok = 1, .order_ok = 1};
    AP_CHECK(ap_model_block(m, 1, &a, NULL, NULL, &err) == AP_OK &&
                 ap_model_block(m, 1, &b, observer, &r, &err) == AP_OK,
             "block 1 with and without an observer");
    AP_CHECK(memcmp(a.h, b.h, hsz * sizeof(float)) == 0, "the observer does not change the block's output");
    AP_CHECK(r.calls == AP_LIN_COUNT && r.order_ok && r.layer_ok,
             "observer called 7 times, in the order q k v o gate up down, with the layer index");
    int64_t qd = (int64_t)c->n_heads * c->head_dim;
    int64_t want_in[AP_LIN_COUNT] = {c->hidden, c->hidden, c->hidden, qd, c->hidden, c->hidden, c->ffn};
    int dims_ok = 1;
    for (int k = 0; k < AP_LIN_COUNT; k++)
        dims_ok &= r.rows[k] == n_seq * seqlen && r.in[k] == want_in[k];
    AP_CHECK(dims_ok, "observer rows = n_seq*seqlen and in = each linear's input width");
    AP_CHECK(r.ptr[AP_LIN_Q] == r.ptr[AP_LIN_K] && r.ptr[AP_LIN_K] == r.ptr[AP_LIN_V] &&
                 r.ptr[AP_LIN_GATE] == r.ptr[AP_LIN_UP],
             "q/k/v share one input buffer, gate/up another");

    /* q/k/v input = RMSNorm(h) * input_layernorm, recomputed here in double, on rows 0 and 79. */
    const ap_block *B = &m->blocks[1];
    double worst = 0;
    for (int row = 0; row < 80; row += 79) {
        const float *h = h_in + row * c->hidden;
        double ss = 0;
        for (int i = 0; i < c->hidden; i++)
            ss += (double)h[i] * h[i];
        double rs = 1 / sqrt(ss / c->hidden + c->rms_eps);
        for (int i = 0; i < c->hidden; i++)
            worst = fmax(worst, fabs(r.copy[AP_LIN_Q][row * c->hidden + i] - h[i] * rs * B->attn_norm[i]));
    }
    AP_CHECK(worst < 1e-5, "q/k/v observe RMSNorm(h) * input_layernorm (max error %.3g)", worst);

    /* down's input = silu(gate x) * (up x) of the gate/up input, recomputed in double on rows 3 and 41. */
    double *g = malloc((size_t)c->ffn * sizeof *g), *u = malloc((size_t)c->ffn * sizeof *u);
    worst = 0;
    double scale = 0;
    for (int row = 3; row < 80; row += 38) {
        const float *x = r.copy[AP_LIN_GATE] + row * c->hidden;
        row_linear(&B->lin[AP_LIN_GATE], x, g);
        row_linear(&B->lin[AP_LIN_UP], x, u);
        for (int i = 0; i < c->ffn; i++) {
            double want = g[i] / (1 + exp(-g[i])) * u[i];
            worst = fmax(worst, fabs(r.copy[AP_LIN_DOWN][row * c->ffn + i] - want));
            scale = fmax(scale, fabs(want));
        }
    }
    AP_CHECK(worst <= 1e-5 * fmax(scale, 1), "down observes silu(gate) * up (max error %.3g of %.3g)", worst, scale);

    /* o's input, row 0 (position 0 attends to itself only): its v projection, head by head (GQA). */
    {
        double *v = malloc((size_t)(c->n_kv_heads * c->head_dim) * sizeof *v);
        row_linear(&B->lin[AP_LIN_V], r.copy[AP_LIN_Q], v);
        worst = 0;
        for (int hh = 0; hh < c->n_heads; hh++)
            for (int d = 0; d < c->head_dim; d++) {
                int kvh = hh / (c->n_heads / c->n_kv_heads);
                worst = fmax(worst, fabs(r.copy[AP_LIN_O][hh * c->head_dim + d] - v[kvh * c->head_dim + d]));
            }
        AP_CHECK(worst < 1e-5, "o observes the attention output (position 0 = its value row, max error %.3g)", worst);
        free(v);
    }
    free(g);
    free(u);
    for (int k = 0; k < AP_LIN_COUNT; k++)
        free(r.copy[k]);
    free(h_in);
    free(a.h);
    free(b.h);
}

/* ---- logits, save and reload ---------------------------------------------------------------------------- */

static float *logits_of(const ap_model *m, const int32_t *ids, int seqlen, double *nll)
{
    ap_error err = {0};
    float *lg = malloc((size_t)seqlen * (size_t)m->cfg.vocab * sizeof *lg);
    if (ap_model_window_logits(m, ids, seqlen, lg, nll, &err)) {
        printf("# logits: %s\n", err.msg);
        free(lg);
        return NULL;
    }
    return lg;
}

static int weights_equal(const ap_model *a, const ap_model *b)
{
    const ap_config *c = &a->cfg;
    size_t ev = (size_t)c->vocab * (size_t)c->hidden;
    int eq = memcmp(a->embed, b->embed, ev * 4) == 0 && memcmp(a->lm_head, b->lm_head, ev * 4) == 0 &&
             memcmp(a->final_norm, b->final_norm, (size_t)c->hidden * 4) == 0;
    for (int l = 0; eq && l < c->n_layers; l++)
        for (int k = 0; eq && k < AP_LIN_COUNT; k++) {
            const ap_linear *x = &a->blocks[l].lin[k], *y = &b->blocks[l].lin[k];
            eq = memcmp(x->w, y->w, (size_t)(x->out * x->in) * 4) == 0 && !x->bias == !y->bias &&
                 (!x->bias || memcmp(x->bias, y->bias, (size_t)x->out * 4) == 0);
        }
    return eq;
}

/* The loader and the writer name tensors from one table: every tensor of the original checkpoint is one the loader
 * asks for by ap_model_tensor_name, and the saved folder holds exactly the original's names. */
static void names_agree(const ap_model *m, const char *saved)
{
    ap_checkpoint *orig = NULL, *out = NULL;
    ap_error err = {0};
    AP_CHECK(ap_checkpoint_open(&orig, m->dir, &err) == AP_OK, "open %s (%s)", m->dir, err.msg);
    AP_CHECK(ap_checkpoint_open(&out, saved, &err) == AP_OK, "open the saved folder (%s)", err.msg);
    if (orig && out) {
        char name[160];
        int asked = 0, found = 0;
        for (int k = 0; k < AP_TENSOR_COUNT; k++)
            for (int l = 0; l < (k < AP_TENSOR_ATTN_NORM ? 1 : m->cfg.n_layers); l++, asked++)
                found += ap_model_tensor_name((ap_tensor_kind)k, l, "weight", name, sizeof name) &&
                         ap_checkpoint_find(orig, name) && ap_checkpoint_find(out, name);
        AP_CHECK(asked == found && (size_t)asked == ap_checkpoint_count(orig),
                 "ap-tiny: all %zu tensors are named by the table, in the original and the saved folder (%d of %d)",
                 ap_checkpoint_count(orig), found, asked);
        size_t same = 0;
        for (size_t i = 0; i < ap_checkpoint_count(out); i++)
            same += ap_checkpoint_find(orig, ap_checkpoint_at(out, i)->name) != NULL;
        AP_CHECK(ap_checkpoint_count(out) == ap_checkpoint_count(orig) && same == ap_checkpoint_count(out),
                 "ap-tiny: the saved folder has exactly the original's tensor names (%zu of %zu)", same,
                 ap_checkpoint_count(orig));
        AP_CHECK(ap_model_tensor_name(AP_TENSOR_Q, 3, "weight", name, sizeof name) &&
                     strcmp(name, "model.layers.3.self_attn.q_proj.weight") == 0 &&
                     ap_model_tensor_name(AP_TENSOR_Q, 3, "weight", name, 20) == NULL &&
                     ap_model_tensor_name(AP_TENSOR_COUNT, 0, "weight", name, sizeof name) == NULL,
                 "ap_model_tensor_name: the HF spelling; NULL for a short buffer or an unknown kind");
    }
    ap_checkpoint_close(orig);
    ap_checkpoint_close(out);
}

static void save_reload(const ap_model *m, const char *what, int seqlen, int from_checkpoint)
{
    char dir[] = "/tmp/ap-test-model-XXXXXX";
    if (!mkdtemp(dir)) {
        AP_CHECK(0, "%s: mkdtemp", what);
        return;
    }
    char out[256];
    snprintf(out, sizeof out, "%s/saved", dir);
    int32_t *ids = malloc((size_t)seqlen * sizeof *ids);
    for (int i = 0; i < seqlen; i++)
        ids[i] = (i * 7919 + 3) % m->cfg.vocab;
    double nll1, nll2;
    float *l1 = logits_of(m, ids, seqlen, &nll1);
    ap_error err = {0};
    ap_model *r = NULL;
    AP_CHECK(ap_model_save(m, out, &err) == AP_OK, "%s: ap_model_save (%s)", what, err.msg);
    AP_CHECK(ap_model_load(&r, out, &err) == AP_OK, "%s: the saved folder loads (%s)", what, err.msg);
    if (r) {
        AP_CHECK(r->dtype == m->dtype, "%s: saved in the checkpoint's dtype (%s)", what, ap_dtype_name(r->dtype));
        AP_CHECK(weights_equal(m, r), "%s: every weight identical after the round trip", what);
        float *l2 = logits_of(r, ids, seqlen, &nll2);
        size_t n = (size_t)seqlen * (size_t)m->cfg.vocab;
        AP_CHECK(l1 && l2 && memcmp(l1, l2, n * sizeof *l1) == 0 && nll1 == nll2,
                 "%s: reloaded logits bit-identical (%d x %d)", what, seqlen, m->cfg.vocab);
        free(l2);
        ap_checkpoint *ck = NULL;
        if (ap_checkpoint_open(&ck, out, &err) == AP_OK) {
            AP_CHECK(!ap_checkpoint_find(ck, "lm_head.weight") == !!m->cfg.tie_embeddings,
                     "%s: lm_head.weight written exactly when not tied", what);
            ap_checkpoint_close(ck);
        }
        if (from_checkpoint)
            names_agree(m, out);
        ap_model_free(r);
    }
    free(l1);
    free(ids);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
}

/* A tied f16 model made by hand (values representable in f16), with a config.json of its own. */
static ap_model *hand_made(char *dir)
{
    if (!mkdtemp(dir))
        return NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,\"num_hidden_layers\":2,"
          "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":12,\"intermediate_size\":40,"
          "\"vocab_size\":100,\"max_position_embeddings\":64,\"rms_norm_eps\":1e-6,\"rope_theta\":500000.0,"
          "\"tie_word_embeddings\":true}",
          f);
    fclose(f);
    ap_model *m = calloc(1, sizeof *m);
    ap_error err = {0};
    if (ap_config_load(&m->cfg, path, &err) != AP_OK) {
        printf("# %s\n", err.msg);
        free(m);
        return NULL;
    }
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    m->dtype = AP_DT_F16;
    const ap_config *c = &m->cfg;
    unsigned seed = 12345;
#define RND() ((float)((seed = seed * 1103515245u + 12345u) >> 8 & 0xffff) / 32768.0f - 1.0f)
#define FILL(p, n, scale, base)                                                                                        \
    do {                                                                                                               \
        (p) = malloc((size_t)(n) * sizeof(float));                                                                     \
        for (int64_t i_ = 0; i_ < (int64_t)(n); i_++)                                                                  \
            (p)[i_] = (base) + (scale)*RND();                                                                          \
        uint16_t *t_ = malloc((size_t)(n)*2);                                                                          \
        ap_dtype_from_f32(AP_DT_F16, (p), t_, (size_t)(n));                                                            \
        ap_dtype_to_f32(AP_DT_F16, t_, (p), (size_t)(n));                                                              \
        free(t_);                                                                                                      \
    } while (0)
    FILL(m->embed, c->vocab * c->hidden, 0.5f, 0.0f);
    m->lm_head = m->embed;
    FILL(m->final_norm, c->hidden, 0.2f, 1.0f);
    m->blocks = calloc((size_t)c->n_layers, sizeof *m->blocks);
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t shape[AP_LIN_COUNT][2] = {{qd, c->hidden},     {kd, c->hidden},     {kd, c->hidden},    {c->hidden, qd},
                                      {c->ffn, c->hidden}, {c->ffn, c->hidden}, {c->hidden, c->ffn}};
    for (int l = 0; l < c->n_layers; l++) {
        FILL(m->blocks[l].attn_norm, c->hidden, 0.2f, 1.0f);
        FILL(m->blocks[l].mlp_norm, c->hidden, 0.2f, 1.0f);
        for (int k = 0; k < AP_LIN_COUNT; k++) {
            ap_linear *L = &m->blocks[l].lin[k];
            L->out = shape[k][0];
            L->in = shape[k][1];
            FILL(L->w, L->out * L->in, 0.3f, 0.0f);
        }
    }
    if (ap_model_prepare(m, &err) != AP_OK) {
        ap_model_free(m);
        return NULL;
    }
    return m;
}

static void test_perplexity_args(const ap_model *m)
{
    int32_t ids[100];
    for (int i = 0; i < 100; i++)
        ids[i] = i + 1;
    ap_ppl_result r;
    ap_error err = {0};
    AP_CHECK(ap_model_perplexity(m, ids, 100, 1, 0, NULL, NULL, &r, &err) == AP_E_ARG, "seqlen 1 refused (%s)",
             err.msg);
    AP_CHECK(ap_model_perplexity(m, ids, 100, 101, 0, NULL, NULL, &r, &err) == AP_E_ARG,
             "fewer tokens than one window refused (%s)", err.msg);
    AP_CHECK(ap_model_perplexity(m, ids, 100, 30, 0, NULL, NULL, &r, &err) == AP_OK && r.windows == 3 &&
                 r.predictions == 3 * 29 && r.tokens_total == 100 && isfinite(r.ppl),
             "100 tokens, seqlen 30: 3 windows, 87 predictions, remainder dropped (ppl %.3f)", r.ppl);
    double direct = 0;
    int64_t cnt = 0;
    for (int w = 0; w < 3; w++) {
        ap_batch b = {0};
        ap_model_embed(m, ids + 30 * w, 1, 30, &b, &err);
        for (int l = 0; l < m->cfg.n_layers; l++)
            ap_model_block(m, l, &b, NULL, NULL, &err);
        ap_model_head_nll(m, &b, ids + 30 * w, &direct, &cnt, NULL, &err);
        free(b.h);
    }
    AP_CHECK(cnt == 87 && fabs(exp(direct / 87) / r.ppl - 1) < 1e-12,
             "windows one at a time give the batched perplexity (%.9f vs %.9f)", exp(direct / 87), r.ppl);
    AP_CHECK(ap_model_perplexity(m, ids, 100, 30, 2, NULL, NULL, &r, &err) == AP_OK && r.windows == 2,
             "max_windows 2 evaluates 2 windows");
}

/* A text file to perplexity: the same numbers as tokenizing by hand and calling ap_model_perplexity, the cache
 * reused for the same file and refilled for another, a missing file named in the error with the cache left empty. */
static void test_perplexity_file(const ap_model *m)
{
    char dir[] = "/tmp/ap-test-ppl-XXXXXX";
    if (!mkdtemp(dir)) {
        AP_CHECK(0, "mkdtemp");
        return;
    }
    char a[256], b[256], missing[256];
    snprintf(a, sizeof a, "%s/a.txt", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    snprintf(missing, sizeof missing, "%s/missing.txt", dir);
    FILE *f = fopen(a, "w"), *g = fopen(b, "w");
    for (int i = 0; f && g && i < 40; i++) {
        fprintf(f, "The %d cats of the village sat in the sun, and the dogs watched them. ", i);
        fprintf(g, "A second text, line %d, about rivers and the hills beyond them. ", i);
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    ap_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    ap_ppl_result direct = {0}, viafile = {0}, again = {0}, other = {0};
    AP_CHECK(ap_tokenizer_encode_file(m->dir, a, &ids, &n, &err) == AP_OK && n > 128, "encode a.txt (%zu ids, %s)", n,
             err.msg);
    AP_CHECK(ap_model_perplexity(m, ids, n, 64, 0, NULL, NULL, &direct, &err) == AP_OK, "direct ppl (%s)", err.msg);
    ap_token_cache c = {0};
    AP_CHECK(ap_model_perplexity_file(m, a, 64, 0, &c, NULL, NULL, &viafile, &err) == AP_OK &&
                 viafile.nll == direct.nll && viafile.ppl == direct.ppl && viafile.windows == direct.windows &&
                 viafile.tokens_total == (int64_t)n && c.n == n && memcmp(c.ids, ids, n * sizeof *ids) == 0,
             "ap_model_perplexity_file gives the very numbers of encode + ap_model_perplexity (ppl %.6f)", viafile.ppl);
    const int32_t *kept = c.ids;
    AP_CHECK(ap_model_perplexity_file(m, a, 64, 2, &c, NULL, NULL, &again, &err) == AP_OK && c.ids == kept &&
                 again.windows == 2,
             "the same file again: the cached ids are reused");
    AP_CHECK(ap_model_perplexity_file(m, b, 64, 0, &c, NULL, NULL, &other, &err) == AP_OK && c.ids != NULL &&
                 strcmp(c.path, b) == 0 && other.nll != direct.nll,
             "another file: the cache is refilled");
    AP_CHECK(ap_model_perplexity_file(m, missing, 64, 0, &c, NULL, NULL, &other, &err) == AP_E_IO &&
                 strstr(err.msg, "missing.txt") && c.ids == NULL && c.path == NULL,
             "a missing file: AP_E_IO naming it, the cache left empty (%s)", err.msg);
    AP_CHECK(ap_model_perplexity_file(m, a, 0, 1, NULL, NULL, NULL, &other, &err) == AP_OK &&
                 other.seqlen == ap_model_default_seqlen(m) && other.seqlen == 512,
             "seqlen 0 and no cache: the model's context (%d)", other.seqlen);
    ap_token_cache_free(&c);
    free(ids);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
}

int main(void)
{
    test_kernels();
    test_pool();

    char path[1024];
    snprintf(path, sizeof path, "%s/models/ap-tiny", root());
    ap_model *m = NULL;
    ap_error err = {0};
    AP_CHECK(ap_model_load(&m, path, &err) == AP_OK, "load ap-tiny (%s)", err.msg);
    if (m) {
        AP_CHECK(m->dtype == AP_DT_BF16 && m->cfg.n_layers == 4 && m->lm_head != m->embed, "ap-tiny: bf16, 4 layers,"
                                                                                           " untied lm_head");
        m->n_threads = 2;
        test_observer(m);
        test_perplexity_args(m);
        test_perplexity_file(m);
        save_reload(m, "ap-tiny bf16", 96, 1);
        ap_model_free(m);
    }

    char dir[] = "/tmp/ap-test-hand-XXXXXX";
    ap_model *h = hand_made(dir);
    AP_CHECK(h != NULL, "hand-made tied f16 model with ap_model_prepare");
    if (h) {
        h->n_threads = 3;
        save_reload(h, "hand-made tied f16 (GQA 4/1, head_dim 12)", 50, 0);
        ap_model_free(h);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
    }
    return aptest_done();
}
