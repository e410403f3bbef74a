/* ap_model.c — loading a LLaMA-family checkpoint into float32 weights (every shape checked against config.json),
 * freeing it, and the table of Hugging Face tensor names that loading and saving (ap_model_save.c) share. */
#include "ap_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ap_forward.h"

#define NAME_MAX_LEN 160

/* The Hugging Face names (transformers' LlamaForCausalLM state dict), without the ".weight"/".bias" ending. */
static const struct {
    int per_block; /* 1: under model.layers.<i>. */
    const char *path;
} tensor_names[AP_TENSOR_COUNT] = {
    [AP_TENSOR_EMBED] = {0, "model.embed_tokens"},
    [AP_TENSOR_FINAL_NORM] = {0, "model.norm"},
    [AP_TENSOR_LM_HEAD] = {0, "lm_head"},
    [AP_TENSOR_ATTN_NORM] = {1, "input_layernorm"},
    [AP_TENSOR_MLP_NORM] = {1, "post_attention_layernorm"},
    [AP_TENSOR_Q] = {1, "self_attn.q_proj"},
    [AP_TENSOR_K] = {1, "self_attn.k_proj"},
    [AP_TENSOR_V] = {1, "self_attn.v_proj"},
    [AP_TENSOR_O] = {1, "self_attn.o_proj"},
    [AP_TENSOR_GATE] = {1, "mlp.gate_proj"},
    [AP_TENSOR_UP] = {1, "mlp.up_proj"},
    [AP_TENSOR_DOWN] = {1, "mlp.down_proj"},
};

const char *ap_model_tensor_name(ap_tensor_kind kind, int layer, const char *what, char *buf, size_t n)
{
    if ((unsigned)kind >= AP_TENSOR_COUNT)
        return NULL;
    int len = tensor_names[kind].per_block
                  ? snprintf(buf, n, "model.layers.%d.%s.%s", layer, tensor_names[kind].path, what)
                  : snprintf(buf, n, "%s.%s", tensor_names[kind].path, what);
    return len >= 0 && (size_t)len < n ? buf : NULL;
}

const char *ap_linear_name(ap_linear_kind k)
{
    if ((unsigned)k >= AP_LIN_COUNT)
        return "?";
    const char *path = tensor_names[AP_TENSOR_OF_LINEAR(k)].path;
    return strchr(path, '.') + 1; /* the module's own name, after "self_attn." or "mlp." */
}

static void dims_str(char *buf, size_t n, const int64_t *d, int nd)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)d[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

/* Drop the whole pages of a converted tensor from the mapping (they are clean file pages, read back on demand if
 * ever touched again), so that loading peaks near the float32 size instead of float32 + the file. */
static void release_pages(const void *data, size_t nbytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || nbytes == 0)
        return;
    uintptr_t a = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)data + nbytes) & ~((uintptr_t)page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Find `name` with shape want[0..nd) and return it as newly malloc'd float32 (*out; NULL and AP_OK when optional
 * and absent). */
static ap_status take(const ap_checkpoint *ck, const char *dir, const char *name, int nd, int64_t d0, int64_t d1,
                      int optional, float **out, ap_error *err)
{
    *out = NULL;
    const ap_st_tensor *t = ap_checkpoint_find(ck, name);
    if (!t) {
        if (optional)
            return AP_OK;
        return ap_error_set(err, AP_E_FORMAT, "%s: the checkpoint has no tensor %s", dir, name);
    }
    int64_t want[2] = {d0, d1};
    int ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char have[128], should[64];
        dims_str(have, sizeof have, t->shape, t->ndim);
        dims_str(should, sizeof should, want, nd);
        return ap_error_set(err, AP_E_SHAPE, "%s: tensor %s has shape %s, config.json implies %s", dir, name, have,
                            should);
    }
    float *w = malloc((size_t)t->numel * sizeof *w + 1);
    if (!w)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory for tensor %s (%lld values)", dir, name,
                            (long long)t->numel);
    ap_dtype_to_f32(t->dtype, t->data, w, (size_t)t->numel);
    release_pages(t->data, t->nbytes);
    *out = w;
    return AP_OK;
}

static ap_status check_config(const ap_config *c, const char *dir, ap_error *err)
{
    if (c->hidden < 1 || c->n_layers < 1 || c->n_heads < 1 || c->n_kv_heads < 1 || c->head_dim < 2 || c->ffn < 1 ||
        c->vocab < 1)
        return ap_error_set(err, AP_E_FORMAT, "%s/config.json: sizes must be positive", dir);
    if (c->head_dim % 2)
        return ap_error_set(err, AP_E_UNSUPPORTED, "%s/config.json: head_dim %d is odd (RoPE needs pairs)", dir,
                            c->head_dim);
    if (c->n_heads % c->n_kv_heads)
        return ap_error_set(err, AP_E_FORMAT,
                            "%s/config.json: num_attention_heads %d is not a multiple of "
                            "num_key_value_heads %d",
                            dir, c->n_heads, c->n_kv_heads);
    if ((int64_t)c->n_heads * c->head_dim > INT32_MAX / 8 || (int64_t)c->vocab * c->hidden > ((int64_t)1 << 40))
        return ap_error_set(err, AP_E_UNSUPPORTED, "%s/config.json: the model is too large", dir);
    return AP_OK;
}

static ap_status load_block(ap_model *m, const ap_checkpoint *ck, int l, ap_error *err)
{
    const ap_config *c = &m->cfg;
    ap_block *B = &m->blocks[l];
    char name[NAME_MAX_LEN];
    int64_t H = c->hidden, qd = (int64_t)c->n_heads * c->head_dim, kd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t shape[AP_LIN_COUNT][2] = {{qd, H}, {kd, H}, {kd, H}, {H, qd}, {c->ffn, H}, {c->ffn, H}, {H, c->ffn}};
    ap_status s;
    ap_model_tensor_name(AP_TENSOR_ATTN_NORM, l, "weight", name, sizeof name);
    if ((s = take(ck, m->dir, name, 1, H, 0, 0, &B->attn_norm, err)))
        return s;
    ap_model_tensor_name(AP_TENSOR_MLP_NORM, l, "weight", name, sizeof name);
    if ((s = take(ck, m->dir, name, 1, H, 0, 0, &B->mlp_norm, err)))
        return s;
    for (int k = 0; k < AP_LIN_COUNT; k++) {
        ap_linear *L = &B->lin[k];
        L->out = shape[k][0];
        L->in = shape[k][1];
        ap_model_tensor_name(AP_TENSOR_OF_LINEAR(k), l, "weight", name, sizeof name);
        if ((s = take(ck, m->dir, name, 2, L->out, L->in, 0, &L->w, err)))
            return s;
        /* Biases exactly where the config says (Qwen2: q/k/v; attention_bias: q/k/v/o), as HF builds the
         * modules: a stray bias tensor in the file is ignored like any unexpected key. */
        int has_bias = k <= AP_LIN_V ? c->qkv_bias : k == AP_LIN_O ? c->o_bias : 0;
        ap_model_tensor_name(AP_TENSOR_OF_LINEAR(k), l, "bias", name, sizeof name);
        if (has_bias && (s = take(ck, m->dir, name, 1, L->out, 0, 0, &L->bias, err)))
            return s;
    }
    return AP_OK;
}

static ap_status load_weights(ap_model *m, const ap_checkpoint *ck, ap_error *err)
{
    const ap_config *c = &m->cfg;
    char embed[NAME_MAX_LEN], norm[NAME_MAX_LEN], head[NAME_MAX_LEN];
    ap_model_tensor_name(AP_TENSOR_EMBED, 0, "weight", embed, sizeof embed);
    ap_model_tensor_name(AP_TENSOR_FINAL_NORM, 0, "weight", norm, sizeof norm);
    ap_model_tensor_name(AP_TENSOR_LM_HEAD, 0, "weight", head, sizeof head);
    const ap_st_tensor *e = ap_checkpoint_find(ck, embed);
    if (e)
        m->dtype = e->dtype;
    ap_status s = take(ck, m->dir, embed, 2, c->vocab, c->hidden, 0, &m->embed, err);
    if (s)
        return s;
    if ((s = take(ck, m->dir, norm, 1, c->hidden, 0, 0, &m->final_norm, err)))
        return s;
    if (c->tie_embeddings)
        m->lm_head = m->embed; /* an lm_head.weight in the file is ignored, as HF does */
    else if ((s = take(ck, m->dir, head, 2, c->vocab, c->hidden, 0, &m->lm_head, err)))
        return s;
    m->blocks = calloc((size_t)c->n_layers, sizeof *m->blocks);
    if (!m->blocks)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", m->dir);
    for (int l = 0; l < c->n_layers; l++)
        if ((s = load_block(m, ck, l, err)))
            return s;
    return AP_OK;
}

ap_status ap_model_prepare(ap_model *m, ap_error *err)
{
    if (m->rt)
        return AP_OK;
    return ap_model_rt_new(&m->rt, err);
}

ap_status ap_model_load(ap_model **out, const char *dir, ap_error *err)
{
    *out = NULL;
    if (strlen(dir) >= sizeof((ap_model *)0)->dir)
        return ap_error_set(err, AP_E_ARG, "model folder name is too long");
    ap_model *m = calloc(1, sizeof *m);
    if (!m)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", dir);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ap_status s = ap_config_load(&m->cfg, path, err);
    if (!s)
        s = check_config(&m->cfg, dir, err);
    ap_checkpoint *ck = NULL;
    if (!s)
        s = ap_checkpoint_open(&ck, dir, err);
    if (!s)
        s = load_weights(m, ck, err);
    ap_checkpoint_close(ck); /* the float32 copies are all that is kept: the mapping goes now */
    if (!s)
        s = ap_model_prepare(m, err);
    if (s) {
        ap_model_free(m);
        return s;
    }
    *out = m;
    return AP_OK;
}

void ap_model_free(ap_model *m)
{
    if (!m)
        return;
    if (m->blocks)
        for (int l = 0; l < m->cfg.n_layers; l++) {
            free(m->blocks[l].attn_norm);
            free(m->blocks[l].mlp_norm);
            for (int k = 0; k < AP_LIN_COUNT; k++) {
                free(m->blocks[l].lin[k].w);
                free(m->blocks[l].lin[k].bias);
            }
        }
    free(m->blocks);
    if (m->lm_head != m->embed)
        free(m->lm_head);
    free(m->embed);
    free(m->final_norm);
    ap_model_rt_free(m->rt);
    free(m);
}
