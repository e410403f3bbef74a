/* ap_model.h — a LLaMA-family model in memory (float32 weights converted from the checkpoint) and its forward
 * pass, block by block, so that the pruning core can observe every linear's input and replace a block's weights
 * between blocks. */
#ifndef AP_MODEL_H
#define AP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ap_config.h"
#include "ap_error.h"
#include "ap_safetensors.h"

/* The seven prunable linears of a decoder block, in this order everywhere (stats, masks, JSON). */
typedef enum {
    AP_LIN_Q,
    AP_LIN_K,
    AP_LIN_V,
    AP_LIN_O,
    AP_LIN_GATE,
    AP_LIN_UP,
    AP_LIN_DOWN,
    AP_LIN_COUNT
} ap_linear_kind;
const char *ap_linear_name(ap_linear_kind k); /* "q_proj", ..., "down_proj" */

/* Every tensor of a checkpoint, by role; the Hugging Face names are one table in ap_model.c (as llama.cpp keeps
 * its tensor names), read by both the loader and the writer so that the two cannot drift apart. */
typedef enum {
    AP_TENSOR_EMBED,
    AP_TENSOR_FINAL_NORM,
    AP_TENSOR_LM_HEAD, /* once per model */
    AP_TENSOR_ATTN_NORM,
    AP_TENSOR_MLP_NORM, /* once per block ... */
    AP_TENSOR_Q,
    AP_TENSOR_K,
    AP_TENSOR_V,
    AP_TENSOR_O,
    AP_TENSOR_GATE,
    AP_TENSOR_UP,
    AP_TENSOR_DOWN,
    AP_TENSOR_COUNT
} ap_tensor_kind;
#define AP_TENSOR_OF_LINEAR(k) ((ap_tensor_kind)(AP_TENSOR_Q + (int)(k)))
/* The checkpoint name of a tensor into buf (n bytes): "model.layers.3.self_attn.q_proj.weight" for
 * (AP_TENSOR_Q, 3, "weight"); layer is ignored for the once-per-model kinds; what is "weight" or "bias".
 * Returns buf, or NULL for an unknown kind or a buffer too small. */
const char *ap_model_tensor_name(ap_tensor_kind kind, int layer, const char *what, char *buf, size_t n);

typedef struct ap_linear {
    float *w;    /* owned, [out, in] row-major float32 */
    float *bias; /* owned or NULL, [out] */
    int64_t out, in;
} ap_linear;

typedef struct ap_block {
    float *attn_norm, *mlp_norm; /* owned, [hidden] */
    ap_linear lin[AP_LIN_COUNT];
} ap_block;

typedef struct ap_model {
    ap_config cfg;
    char dir[4096];
    ap_dtype dtype;         /* the checkpoint's dtype (the writer keeps it) */
    float *embed;           /* owned, [vocab, hidden] */
    float *final_norm;      /* owned, [hidden] */
    float *lm_head;         /* owned, [vocab, hidden]; == embed when tied (not separately owned) */
    ap_block *blocks;       /* owned, [n_layers] */
    int n_threads;          /* threads for the parts BLAS does not cover; 0 = number of cores */
    struct ap_model_rt *rt; /* owned: thread pool, reusable scratch, RoPE tables (models/forward/ap_forward.h) */
} ap_model;

/* Load config.json + the checkpoint of a folder. Caller frees with ap_model_free. */
ap_status ap_model_load(ap_model **out, const char *dir, ap_error *err);
void ap_model_free(ap_model *m);
/* For a model assembled by hand (calloc'd, cfg and weights filled, every pointer malloc'd so ap_model_free can
 * free it): make its runtime. ap_model_load does this itself. */
ap_status ap_model_prepare(ap_model *m, ap_error *err);
/* Save to an HF folder, every tensor in m->dtype (the loaded checkpoint's, taken from its embedding), one file up
 * to 5 GB and shards + index beyond; lm_head.weight left out when tied; tokenizer/config copied from m->dir. */
ap_status ap_model_save(const ap_model *m, const char *out_dir, ap_error *err);

/* Called with the input of one linear: x is [n_rows, in] float32, contiguous, rows in batch order
 * (row = sequence * seqlen + position); borrowed, valid only during the call, not to be written.
 * Exactly what each linear sees, in this order, once per linear per ap_model_block call:
 *   q, k, v      RMSNorm(h) * input_layernorm            [rows, hidden]  (one buffer: the same x three times)
 *   o            the attention output, heads concatenated [rows, n_heads * head_dim]
 *   gate, up     RMSNorm(h) * post_attention_layernorm   [rows, hidden]  (one buffer: the same x twice)
 *   down         silu(gate) * up                         [rows, ffn]
 * q, k and v are all observed before any of the three runs, gate and up before either runs; each linear reads
 * its weights (m->blocks[layer].lin[k].w) only after its observer calls returned, so an observer may edit them.
 * Observers run in the calling thread while the model's runtime is locked: they must not call ap_model_block,
 * ap_model_head_nll or ap_model_perplexity on the same model. OpenBLAS has its usual thread count inside them. */
typedef void (*ap_linear_observer)(void *ud, int layer, ap_linear_kind which, const float *x, int64_t n_rows,
                                   int64_t in);

/* Hidden states of a batch: n_seq sequences of seqlen tokens, h is [n_seq * seqlen, hidden]. */
typedef struct ap_batch {
    int n_seq, seqlen;
    float *h; /* owned by whoever made it */
} ap_batch;

/* Embed ids ([n_seq * seqlen]) into a new batch (caller frees b->h with free()). */
ap_status ap_model_embed(const ap_model *m, const int32_t *ids, int n_seq, int seqlen, ap_batch *b, ap_error *err);
/* Run block `layer` (0-based) in place on b, calling obs (may be NULL) for each linear input.
 * Threads: the model's pool (m->n_threads, 0 = cores) with OpenBLAS at one thread during the call (its count is
 * restored after). Calls on one model from several threads are serialised. */
ap_status ap_model_block(const ap_model *m, int layer, ap_batch *b, ap_linear_observer obs, void *ud, ap_error *err);
/* The same, but only as far as every linear's input: down_proj itself is not run, so b->h is left half-updated
 * (for an observer that needs the inputs alone, such as the statistics pass of the sequential pruning driver). */
ap_status ap_model_block_inputs(const ap_model *m, int layer, ap_batch *b, ap_linear_observer obs, void *ud,
                                ap_error *err);
/* Final norm + lm_head + log-softmax: adds the summed NLL of next-token predictions of each sequence
 * (seqlen-1 per sequence) to *nll and their count to *count. logits (optional, [n_seq*seqlen, vocab]) receives
 * the raw logits. */
ap_status ap_model_head_nll(const ap_model *m, const ap_batch *b, const int32_t *ids, double *nll, int64_t *count,
                            float *logits, ap_error *err);

/* Perplexity by the protocol: windows of seqlen non-overlapping tokens, remainder dropped, at most max_windows
 * (0 = all). progress (may be NULL) is called after each batch with (done, total) windows. */
typedef void (*ap_progress_fn)(void *ud, int64_t done, int64_t total);
typedef struct ap_ppl_result {
    double ppl, nll;
    int64_t windows, tokens_total, predictions;
    int seqlen;
    double seconds;     /* wall clock */
    double cpu_seconds; /* CPU time of the whole process meanwhile (all threads) */
} ap_ppl_result;
/* Windows per batch the perplexity loop uses for a seqlen (about 4096 tokens a batch, 1..16 windows). */
int ap_model_ppl_batch_windows(int seqlen);
ap_status ap_model_perplexity(const ap_model *m, const int32_t *ids, size_t n_ids, int seqlen, int64_t max_windows,
                              ap_progress_fn progress, void *pud, ap_ppl_result *res, ap_error *err);

/* The ids of one text file under one model folder's tokenizer, kept so that evaluating the same file again (a
 * search evaluates many candidates) does not tokenize it again. Zero-initialise; free with ap_token_cache_free. */
typedef struct ap_token_cache {
    char *model_dir, *path; /* what ids were made from; NULL while empty */
    int32_t *ids;
    size_t n;
} ap_token_cache;
/* Fill c with the ids of path under <model_dir>/tokenizer.json (ap_tokenizer_encode_file), unless it already
 * holds exactly those. On failure c is left empty. */
ap_status ap_token_cache_load(ap_token_cache *c, const char *model_dir, const char *path, ap_error *err);
void ap_token_cache_free(ap_token_cache *c);

/* The default evaluation window: the model's max_position_embeddings, at most AP_PPL_SEQLEN_CAP. */
#define AP_PPL_SEQLEN_CAP 2048
int ap_model_default_seqlen(const ap_model *m);

/* Perplexity of a text file: tokenized once with the model's own tokenizer (through cache when it is not NULL),
 * then ap_model_perplexity. seqlen <= 0 means ap_model_default_seqlen. The one path from a text file to a
 * perplexity, shared by `autoprune eval`, `prune --eval` and m:eval. */
ap_status ap_model_perplexity_file(const ap_model *m, const char *text_path, int seqlen, int64_t max_windows,
                                   ap_token_cache *cache, ap_progress_fn progress, void *pud, ap_ppl_result *res,
                                   ap_error *err);

/* The raw logits ([seqlen, vocab], the caller's) and summed NLL of one window of seqlen ids. */
ap_status ap_model_window_logits(const ap_model *m, const int32_t *ids, int seqlen, float *logits, double *nll,
                                 ap_error *err);

#endif
