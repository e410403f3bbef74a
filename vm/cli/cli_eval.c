/* cli_eval.c — `autoprune eval`: perplexity of a model folder on a text file by the protocol of
 * shared/reference/PROTOCOL.md (whole file, one BOS from the tokenizer, non-overlapping windows, remainder dropped). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_file.h"
#include "ap_model.h"
#include "ap_paths.h"
#include "ap_threads.h"
#include "ap_tokenizer.h"
#include "ap_progress.h"
#include "cli.h"

static const char *const usage_line =
    "autoprune eval [--model DIR] [--text FILE] [--seqlen N] [--windows N] [--threads N] [--json] [--quiet]";

static void help(void)
{
    printf("usage: %s\n\n"
           "Perplexity of a Hugging Face LLaMA-family model folder on a text file: the file is read whole and\n"
           "encoded once (one BOS where the tokenizer's template adds it), cut into non-overlapping windows of\n"
           "seqlen tokens (the remainder dropped), each window run on its own; ppl = exp(total NLL / predictions).\n\n"
           "  --model DIR     model folder (config.json, model.safetensors, tokenizer.json); default %s\n"
           "  --text FILE     text file; default %s\n"
           "  --seqlen N      window length; default the model's max_position_embeddings, at most %d\n"
           "  --windows N     evaluate only the first N windows (0 = all, the default)\n"
           "  --threads N     worker threads (default: the number of cores)\n"
           "  --json          print one JSON object on stdout instead of the text report\n"
           "  --quiet         no progress bar (it is only drawn when stderr is a terminal anyway)\n\n"
           "For tests and benchmarks:\n"
           "  --ids FILE          token ids as raw little-endian int32 instead of --text (no tokenizer involved)\n"
           "  --dump-logits FILE  write the logits of the first window as raw float32 [seqlen, vocab]\n\n"
           "Exit status: 0 ok, 1 failed (unreadable model or text, too few tokens), 2 usage error.\n",
           usage_line, ap_datafile_rel(AP_DATA_MODEL), ap_datafile_rel(AP_DATA_WIKITEXT_TEST), AP_PPL_SEQLEN_CAP);
}

typedef struct eval_opts {
    const char *model, *text, *ids_file, *dump_logits;
    long long seqlen, windows, threads;
    int json, quiet;
} eval_opts;

static int parse_count(const char *opt, const char *val, long long lo, long long *out)
{
    unsigned long long v;
    if (!val || ap_cli_parse_size(val, &v) != 0 || v > (unsigned long long)INT32_MAX || (long long)v < lo)
        return ap_cli_usage_error("eval", usage_line, "%s wants an integer >= %lld, got '%s'", opt, lo,
                                  val ? val : "(nothing)");
    *out = (long long)v;
    return 0;
}

static int parse_args(int argc, char **argv, eval_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            continue;
        }
        if (!v)
            return ap_cli_usage_error("eval", usage_line, "unknown option or missing value: '%s'", a);
        if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--text") == 0)
            o->text = v;
        else if (strcmp(a, "--ids") == 0)
            o->ids_file = v;
        else if (strcmp(a, "--dump-logits") == 0)
            o->dump_logits = v;
        else if (strcmp(a, "--seqlen") == 0)
            rc = parse_count(a, v, 2, &o->seqlen);
        else if (strcmp(a, "--windows") == 0)
            rc = parse_count(a, v, 0, &o->windows);
        else if (strcmp(a, "--threads") == 0)
            rc = parse_count(a, v, 1, &o->threads);
        else
            return ap_cli_usage_error("eval", usage_line, "unknown option '%s'", a);
        if (rc)
            return rc;
        i++;
    }
    if (o->threads > 1024)
        return ap_cli_usage_error("eval", usage_line, "--threads %lld: at most 1024", o->threads);
    if (o->text && o->ids_file)
        return ap_cli_usage_error("eval", usage_line, "--text and --ids exclude each other");
    return 0;
}

/* The token stream into c: the text encoded by the model's tokenizer, or raw int32 ids (c->path stays NULL). */
static int load_ids(const eval_opts *o, const char *text_path, ap_token_cache *c)
{
    ap_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    ap_status s = o->ids_file ? ap_file_read(o->ids_file, AP_TEXT_MAX_BYTES, &buf, &len, &err)
                              : ap_token_cache_load(c, o->model, text_path, &err);
    if (s) {
        fprintf(stderr, "autoprune eval: %s\n", err.msg);
        return -1;
    }
    if (!o->ids_file)
        return 0;
    if (len % 4) {
        fprintf(stderr, "autoprune eval: %s: %zu bytes is not a whole number of int32 ids\n", o->ids_file, len);
        free(buf);
        return -1;
    }
    c->ids = (int32_t *)(void *)buf; /* malloc'd memory is aligned for int32 */
    c->n = len / 4;
    return 0;
}

/* Logits of the first window to a raw float32 file. */
static int dump_logits(const ap_model *m, const int32_t *ids, int seqlen, const char *path)
{
    size_t n = (size_t)seqlen * (size_t)m->cfg.vocab;
    float *lg = malloc(n * sizeof *lg);
    ap_error err = {0};
    double nll;
    ap_status s =
        lg ? ap_model_window_logits(m, ids, seqlen, lg, &nll, &err) : ap_error_set(&err, AP_E_NOMEM, "out of memory");
    FILE *f = s ? NULL : fopen(path, "wb");
    int ok = f && fwrite(lg, sizeof *lg, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (s)
        fprintf(stderr, "autoprune eval: %s\n", err.msg);
    else if (!ok)
        fprintf(stderr, "autoprune eval: %s: cannot write the logits\n", path);
    free(lg);
    return ok ? 0 : -1;
}

static void report(const eval_opts *o, const char *model, const char *text, const ap_model *m, const ap_ppl_result *r,
                   int threads)
{
    double tps = r->seconds > 0 ? (double)r->windows * r->seqlen / r->seconds : 0;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        ap_cli_json_add_string(j, "model", model);
        ap_cli_json_add_string(j, "text", text);
        cJSON_AddStringToObject(j, "arch", m->cfg.arch_name);
        cJSON_AddNumberToObject(j, "seqlen", r->seqlen);
        cJSON_AddNumberToObject(j, "windows", (double)r->windows);
        cJSON_AddNumberToObject(j, "tokens", (double)r->tokens_total);
        cJSON_AddNumberToObject(j, "predictions", (double)r->predictions);
        cJSON_AddNumberToObject(j, "nll", r->nll);
        cJSON_AddNumberToObject(j, "ppl", r->ppl);
        cJSON_AddNumberToObject(j, "seconds", r->seconds);
        cJSON_AddNumberToObject(j, "cpu_seconds", r->cpu_seconds);
        cJSON_AddNumberToObject(j, "tokens_per_second", tps);
        cJSON_AddNumberToObject(j, "threads", threads);
        ap_cli_json_emit(j);
        return;
    }
    printf("model        %s (%s, %d layers, hidden %d)\n", model, m->cfg.arch_name, m->cfg.n_layers, m->cfg.hidden);
    printf("text         %s\n", text);
    printf("tokens       %lld\n", (long long)r->tokens_total);
    printf("seqlen       %d\n", r->seqlen);
    long long all = (long long)(r->tokens_total / r->seqlen);
    if (r->windows < all)
        printf("windows      %lld (the first of %lld)\n", (long long)r->windows, all);
    else
        printf("windows      %lld (the last %lld tokens dropped)\n", (long long)r->windows,
               (long long)(r->tokens_total - r->windows * r->seqlen));
    printf("predictions  %lld\n", (long long)r->predictions);
    printf("ppl          %.4f\n", r->ppl);
    printf("time         %.2f s (%.0f tokens/s, %d threads)\n", r->seconds, tps, threads);
}

int ap_cli_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (ap_cli_is_help(argv[i])) {
            help();
            return AP_EXIT_OK;
        }
    eval_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    char mbuf[4096], tbuf[4096];
    if (!o.model)
        o.model = ap_datafile(AP_DATA_MODEL, mbuf, sizeof mbuf);
    const char *text = o.text ? o.text : o.ids_file;
    if (!text)
        text = ap_datafile(AP_DATA_WIKITEXT_TEST, tbuf, sizeof tbuf);
    ap_model *m = NULL;
    ap_error err = {0};
    if (ap_model_load(&m, o.model, &err)) {
        fprintf(stderr, "autoprune eval: %s\n", err.msg);
        return AP_EXIT_FAIL;
    }
    int max_pos = m->cfg.max_pos > 0 ? m->cfg.max_pos : AP_PPL_SEQLEN_CAP;
    if (!o.seqlen)
        o.seqlen = ap_model_default_seqlen(m);
    if (o.seqlen > max_pos) {
        ap_model_free(m);
        return ap_cli_usage_error("eval", usage_line, "--seqlen %lld exceeds the model's max_position_embeddings %d",
                                  o.seqlen, max_pos);
    }
    if (o.threads)
        m->n_threads = (int)o.threads;
    ap_token_cache ids = {0};
    rc = load_ids(&o, text, &ids) ? AP_EXIT_FAIL : AP_EXIT_OK;
    if (!rc && o.dump_logits && ids.n < (size_t)o.seqlen) {
        fprintf(stderr, "autoprune eval: %zu tokens make no window of %lld\n", ids.n, o.seqlen);
        rc = AP_EXIT_FAIL;
    }
    if (!rc && o.dump_logits && dump_logits(m, ids.ids, (int)o.seqlen, o.dump_logits))
        rc = AP_EXIT_FAIL;
    if (!rc) {
        ap_progress p;
        ap_progress_start(&p, ap_progress_wanted(o.quiet || o.json), "evaluate", "windows");
        p.rate_unit = "tok";
        p.rate_scale = (double)o.seqlen;
        ap_ppl_result r;
        /* text: the one file-to-perplexity path (its cache already holds the ids); --ids: no tokenizer at all */
        int failed =
            o.ids_file
                ? ap_model_perplexity(m, ids.ids, ids.n, (int)o.seqlen, o.windows, ap_progress_update, &p, &r, &err)
                : ap_model_perplexity_file(m, text, (int)o.seqlen, o.windows, &ids, ap_progress_update, &p, &r, &err);
        ap_progress_done(&p);
        if (failed) {
            fprintf(stderr, "autoprune eval: %s\n", err.msg);
            rc = AP_EXIT_FAIL;
        } else {
            report(&o, o.model, text, m, &r, m->n_threads > 0 ? m->n_threads : ap_cpu_count());
        }
    }
    ap_token_cache_free(&ids);
    ap_model_free(m);
    return rc;
}
