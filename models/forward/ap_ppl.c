/* ap_ppl.c — perplexity by the protocol of shared/reference/PROTOCOL.md: non-overlapping windows of seqlen tokens
 * of one token stream, the remainder dropped, each window run on its own, NLL summed over seqlen-1 predictions;
 * and the way there from a text file (tokenized once, cached for repeated evaluations). */
#include "ap_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ap_clock.h"
#include "ap_tokenizer.h"

#define BATCH_ROWS 4096 /* tokens per batch: 8 windows of 512, enough rows for sgemm, activations small */
#define BATCH_MAX_WINDOWS 16

int ap_model_ppl_batch_windows(int seqlen)
{
    int w = seqlen > 0 ? BATCH_ROWS / seqlen : 1;
    return w < 1 ? 1 : w > BATCH_MAX_WINDOWS ? BATCH_MAX_WINDOWS : w;
}

ap_status ap_model_perplexity(const ap_model *m, const int32_t *ids, size_t n_ids, int seqlen, int64_t max_windows,
                              ap_progress_fn progress, void *pud, ap_ppl_result *res, ap_error *err)
{
    if (seqlen < 2)
        return ap_error_set(err, AP_E_ARG, "perplexity: seqlen %d is below 2", seqlen);
    if (max_windows < 0)
        return ap_error_set(err, AP_E_ARG, "perplexity: negative window count");
    int64_t n = (int64_t)(n_ids / (size_t)seqlen);
    if (max_windows > 0 && max_windows < n)
        n = max_windows;
    if (n == 0)
        return ap_error_set(err, AP_E_ARG, "perplexity: %zu tokens make no window of %d tokens", n_ids, seqlen);
    double t0 = ap_clock_seconds(), c0 = ap_clock_cpu_seconds(), nll = 0;
    int64_t count = 0;
    int per = ap_model_ppl_batch_windows(seqlen);
    ap_status s = AP_OK;
    for (int64_t w = 0; w < n && !s; w += per) {
        int nw = (int)(n - w < per ? n - w : per);
        const int32_t *bid = ids + w * seqlen;
        ap_batch b = {0};
        s = ap_model_embed(m, bid, nw, seqlen, &b, err);
        for (int l = 0; !s && l < m->cfg.n_layers; l++)
            s = ap_model_block(m, l, &b, NULL, NULL, err);
        if (!s)
            s = ap_model_head_nll(m, &b, bid, &nll, &count, NULL, err);
        free(b.h);
        if (!s && progress)
            progress(pud, w + nw, n);
    }
    if (s)
        return s;
    res->nll = nll;
    res->ppl = exp(nll / (double)count);
    res->windows = n;
    res->tokens_total = (int64_t)n_ids;
    res->predictions = count;
    res->seqlen = seqlen;
    res->seconds = ap_clock_seconds() - t0;
    res->cpu_seconds = ap_clock_cpu_seconds() - c0;
    return AP_OK;
}

void ap_token_cache_free(ap_token_cache *c)
{
    free(c->model_dir);
    free(c->path);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

ap_status ap_token_cache_load(ap_token_cache *c, const char *model_dir, const char *path, ap_error *err)
{
    if (c->path && strcmp(c->path, path) == 0 && strcmp(c->model_dir, model_dir) == 0)
        return AP_OK;
    ap_token_cache_free(c);
    ap_status s = ap_tokenizer_encode_file(model_dir, path, &c->ids, &c->n, err);
    if (s)
        return s;
    c->model_dir = strdup(model_dir);
    c->path = strdup(path);
    if (c->model_dir && c->path)
        return AP_OK;
    ap_token_cache_free(c);
    return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", path);
}

int ap_model_default_seqlen(const ap_model *m)
{
    int s = m->cfg.max_pos > 0 ? m->cfg.max_pos : AP_PPL_SEQLEN_CAP;
    return s > AP_PPL_SEQLEN_CAP ? AP_PPL_SEQLEN_CAP : s;
}

ap_status ap_model_perplexity_file(const ap_model *m, const char *text_path, int seqlen, int64_t max_windows,
                                   ap_token_cache *cache, ap_progress_fn progress, void *pud, ap_ppl_result *res,
                                   ap_error *err)
{
    ap_token_cache once = {0};
    ap_token_cache *c = cache ? cache : &once;
    ap_status s = ap_token_cache_load(c, m->dir, text_path, err);
    if (!s)
        s = ap_model_perplexity(m, c->ids, c->n, seqlen > 0 ? seqlen : ap_model_default_seqlen(m), max_windows,
                                progress, pud, res, err);
    ap_token_cache_free(&once);
    return s;
}

ap_status ap_model_window_logits(const ap_model *m, const int32_t *ids, int seqlen, float *logits, double *nll,
                                 ap_error *err)
{
    ap_batch b = {0};
    int64_t count = 0;
    *nll = 0;
    ap_status s = ap_model_embed(m, ids, 1, seqlen, &b, err);
    for (int l = 0; !s && l < m->cfg.n_layers; l++)
        s = ap_model_block(m, l, &b, NULL, NULL, err);
    if (!s)
        s = ap_model_head_nll(m, &b, ids, nll, &count, logits, err);
    free(b.h);
    return s;
}
