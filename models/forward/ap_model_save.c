/* ap_model_save.c — writing a model back as a Hugging Face folder in its checkpoint's dtype (lm_head left out when
 * tied), through the safetensors writer. Its own file so that programs that never save do not link the writer. */
#include "ap_model.h"

#include <stdio.h>
#include <stdlib.h>

#define NAME_MAX_LEN 160

typedef struct entries {
    ap_st_entry *e;
    char (*names)[NAME_MAX_LEN];
    size_t n, cap;
} entries;

static void add(entries *es, ap_dtype dt, const char *name, const float *data, int nd, int64_t d0, int64_t d1)
{
    ap_st_entry *e = &es->e[es->n];
    snprintf(es->names[es->n], NAME_MAX_LEN, "%s", name);
    e->name = es->names[es->n];
    e->dtype = dt;
    e->ndim = nd;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->data = data;
    es->n++;
}

#define SHARD_BYTES ((size_t)5 << 30) /* Hugging Face's default max_shard_size (5 GB) */

ap_status ap_model_save(const ap_model *m, const char *out_dir, ap_error *err)
{
    const ap_config *c = &m->cfg;
    entries es = {0};
    es.cap = 3 + (size_t)c->n_layers * (2 + 2 * AP_LIN_COUNT);
    es.e = calloc(es.cap, sizeof *es.e);
    es.names = calloc(es.cap, sizeof *es.names);
    if (!es.e || !es.names) {
        free(es.e);
        free(es.names);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", out_dir);
    }
    char name[NAME_MAX_LEN];
    add(&es, m->dtype, ap_model_tensor_name(AP_TENSOR_EMBED, 0, "weight", name, sizeof name), m->embed, 2, c->vocab,
        c->hidden);
    for (int l = 0; l < c->n_layers; l++) {
        const ap_block *B = &m->blocks[l];
        add(&es, m->dtype, ap_model_tensor_name(AP_TENSOR_ATTN_NORM, l, "weight", name, sizeof name), B->attn_norm, 1,
            c->hidden, 0);
        add(&es, m->dtype, ap_model_tensor_name(AP_TENSOR_MLP_NORM, l, "weight", name, sizeof name), B->mlp_norm, 1,
            c->hidden, 0);
        for (int k = 0; k < AP_LIN_COUNT; k++) {
            const ap_linear *L = &B->lin[k];
            ap_tensor_kind t = AP_TENSOR_OF_LINEAR(k);
            add(&es, m->dtype, ap_model_tensor_name(t, l, "weight", name, sizeof name), L->w, 2, L->out, L->in);
            if (L->bias)
                add(&es, m->dtype, ap_model_tensor_name(t, l, "bias", name, sizeof name), L->bias, 1, L->out, 0);
        }
    }
    add(&es, m->dtype, ap_model_tensor_name(AP_TENSOR_FINAL_NORM, 0, "weight", name, sizeof name), m->final_norm, 1,
        c->hidden, 0);
    if (!c->tie_embeddings)
        add(&es, m->dtype, ap_model_tensor_name(AP_TENSOR_LM_HEAD, 0, "weight", name, sizeof name), m->lm_head, 2,
            c->vocab, c->hidden);
    ap_status s = ap_checkpoint_write(out_dir, m->dir, es.e, es.n, SHARD_BYTES, err);
    free(es.e);
    free(es.names);
    return s;
}
