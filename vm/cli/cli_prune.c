/* cli_prune.c — `autoprune prune`: prune a model with a metric script (or native Wanda/magnitude, or SparseGPT),
 * print per-layer and global realised sparsity, optionally evaluate, write the pruned folder and its run record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ap_paths.h"
#include "ap_prune_run.h"
#include "autoprune.h"
#include "ap_progress.h"
#include "cli.h"

static const char USAGE[] =
    "autoprune prune --model DIR --metric FILE|NAME --sparsity S [--pattern unstructured|N:M] [--group row|layer]\n"
    "       [--alloc uniform|owl|sdsa|FILE] [--alloc-param KEY=VALUE]... [--calib FILE] [--nsamples N] [--seqlen N]\n"
    "       [--seed N] [--sequential|--oneshot] [--reconstruct[-adaptive]] [--out DIR] [--eval] [--eval-text FILE]\n"
    "       [--eval-windows N] [--json] [--quiet]";

static const char HELP[] =
    "Prune the seven linears of every decoder block of a model and report the realised sparsity.\n"
    "\n"
    "  --model DIR          Hugging Face folder (config.json, model.safetensors, tokenizer.json)\n"
    "  --metric M           a metric script: FILE.lua, a NAME of lua/metrics/NAME.lua (e.g. wanda, magnitude),\n"
    "                       native:wanda / native:magnitude (built-in fast path, same masks), sparsegpt, or Lua\n"
    "                       source text; an existing file wins (the rule: doc/metrics.md, Naming a metric)\n"
    "  --sparsity S         global target in [0, 1) (ignored by N:M patterns)\n"
    "  --pattern P          unstructured (default) or N:M: in each group of M consecutive inputs of a row the\n"
    "                       N lowest scores are pruned (2:4, 4:8, ...)\n"
    "  --group G            row (compare within each output row) or layer (whole matrix); default: what the\n"
    "                       script declares, else row (native:magnitude: layer). An N:M pattern always wins.\n"
    "  --alloc A            per-block sparsity: uniform (default), owl (outlier-weighted, Yin et al. 2024),\n"
    "                       sdsa (skew-aware), or FILE.lua, an allocation script (lua/alloc/*.lua);\n"
    "                       the global parameter-weighted budget is met exactly\n"
    "  --alloc-param K=V    owl_m (5), owl_lambda (0.08), tau, lambda, lo (0), hi (0.99),\n"
    "                       granularity=block|linear (SDSA)\n"
    "  --calib FILE         calibration text (default data/calib.txt)\n"
    "  --nsamples N         calibration windows (default 128)\n"
    "  --seqlen N           tokens per window (default the model context, at most 2048)\n"
    "  --seed N             random windows drawn with this seed (default: evenly spaced, as PROTOCOL.md)\n"
    "  --sequential         statistics block by block from the already-pruned model (default, Wanda's way)\n"
    "  --oneshot            statistics of the dense model, gathered once\n"
    "  --reconstruct        after a metric's mask, SparseGPT's OBS update of the kept weights (same Hessian)\n"
    "  --reconstruct-adaptive  SparseGPT with the metric as its saliency, asked at every column block\n"
    "  --out DIR            write the pruned model there (checkpoint dtype) and DIR/prune.json\n"
    "  --eval               perplexity of the pruned model (default text data/wikitext-2-raw/wiki.test.raw)\n"
    "  --eval-text FILE     text for --eval\n"
    "  --eval-windows N     evaluate on the first N windows only (default all)\n"
    "  --json               print the run record as one line of JSON on stdout (nothing else on stdout)\n"
    "  --quiet              print only the summary lines\n"
    "  -h, --help           this text\n"
    "\n"
    "Progress goes to stderr when it is a terminal. Exit status: 0 ok, 1 failed (nothing is written),\n"
    "2 usage error.\n";

typedef struct cli_opts {
    const char *model, *out, *eval_text;
    int eval, json, quiet, have_sparsity;
    long long eval_windows;
    ap_prune_run_opts run;
} cli_opts;

typedef struct progress_state {
    int on;
    ap_progress bar;
} progress_state;

/* Each phase of the run is one step of the shared progress bar (ap_progress.h). */
static void on_phase(void *ud, const char *phase)
{
    progress_state *p = ud;
    const char *unit = strcmp(phase, "prune") == 0       ? "linears"
                       : strcmp(phase, "evaluate") == 0  ? "windows"
                       : strncmp(phase, "calib", 5) == 0 ? "windows"
                                                         : "";
    ap_progress_done(&p->bar);
    ap_progress_start(&p->bar, p->on, phase, unit);
}

static void on_progress(void *ud, int64_t done, int64_t total)
{
    progress_state *p = ud;
    ap_progress_update(&p->bar, done, total);
}

static void progress_end(progress_state *p) { ap_progress_done(&p->bar); }

/* The flags that are prune options, by the key of ap_prune_run_opts_set (the setter m:prune uses too). */
static const char *const option_keys[][2] = {
    {"--metric", "metric"},     {"--calib", "calib"},   {"--pattern", "pattern"},
    {"--group", "group"},       {"--alloc", "alloc"},   {"--sparsity", "sparsity"},
    {"--nsamples", "nsamples"}, {"--seqlen", "seqlen"}, {"--seed", "seed"},
};

static const char *option_key(const char *flag)
{
    for (size_t i = 0; i < sizeof option_keys / sizeof option_keys[0]; i++)
        if (!strcmp(flag, option_keys[i][0]))
            return option_keys[i][1];
    return NULL;
}

/* --alloc-param K=V is the setter's alloc_param.K = V. */
static ap_status set_alloc_param(ap_prune_run_opts *o, const char *kv, ap_error *err)
{
    char key[64];
    const char *eq = strchr(kv, '=');
    if (!eq || (size_t)(eq - kv) > 40)
        return ap_error_set(err, AP_E_ARG, "expected KEY=VALUE");
    snprintf(key, sizeof key, "alloc_param.%.*s", (int)(eq - kv), kv);
    return ap_prune_run_opts_set(o, key, eq + 1, err);
}

/* A flag that takes a value: a prune option through the setter, or one of the command's own. */
static int parse_valued(cli_opts *o, const char *a, const char *v)
{
    long long n;
    ap_error err;
    const char *key = option_key(a);
    if (key) {
        if (ap_prune_run_opts_set(&o->run, key, v, &err))
            return ap_cli_usage_error("prune", USAGE, "%s: %s", a, err.msg);
        o->have_sparsity |= !strcmp(key, "sparsity");
    } else if (!strcmp(a, "--alloc-param")) {
        if (set_alloc_param(&o->run, v, &err))
            return ap_cli_usage_error("prune", USAGE, "bad --alloc-param '%s': %s", v, err.msg);
    } else if (!strcmp(a, "--model")) {
        o->model = v;
    } else if (!strcmp(a, "--out")) {
        o->out = v;
    } else if (!strcmp(a, "--eval-text")) {
        o->eval_text = v;
        o->eval = 1;
    } else if (!strcmp(a, "--eval-windows")) {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > (long long)1 << 40)
            return ap_cli_usage_error("prune", USAGE, "bad --eval-windows '%s'", v);
        o->eval_windows = n;
        o->eval = 1;
    } else {
        return ap_cli_usage_error("prune", USAGE, "unknown option '%s'", a);
    }
    return -1;
}

/* A flag without a value; 1 when a is one. */
static int parse_switch(cli_opts *o, const char *a)
{
    if (!strcmp(a, "--eval"))
        o->eval = 1;
    else if (!strcmp(a, "--json"))
        o->json = 1;
    else if (!strcmp(a, "--quiet"))
        o->quiet = 1;
    else if (!strcmp(a, "--oneshot"))
        o->run.oneshot = 1;
    else if (!strcmp(a, "--sequential"))
        o->run.oneshot = 0;
    else if (!strcmp(a, "--reconstruct"))
        o->run.reconstruct = AP_RECONSTRUCT_MASK;
    else if (!strcmp(a, "--reconstruct-adaptive"))
        o->run.reconstruct = AP_RECONSTRUCT_ADAPTIVE;
    else
        return 0;
    return 1;
}

/* Returns -1 when parsed, else an exit status (help or usage error). */
static int parse_args(int argc, char **argv, cli_opts *o)
{
    ap_prune_run_opts_default(&o->run);
    o->run.metric = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (ap_cli_is_help(a)) {
            printf("usage: %s\n\n%s", USAGE, HELP);
            return AP_EXIT_OK;
        }
        if (parse_switch(o, a))
            continue;
        if (a[0] != '-' || a[1] != '-')
            return ap_cli_usage_error("prune", USAGE, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return ap_cli_usage_error("prune", USAGE, "%s needs a value", a);
        int rc = parse_valued(o, a, argv[++i]);
        if (rc >= 0)
            return rc;
    }
    if (!o->model)
        return ap_cli_usage_error("prune", USAGE, "--model is required");
    if (!o->run.metric)
        return ap_cli_usage_error("prune", USAGE, "--metric is required");
    int nm = o->run.pattern && strcmp(o->run.pattern, "unstructured") != 0;
    if (!o->have_sparsity && !nm)
        return ap_cli_usage_error("prune", USAGE, "--sparsity is required (unless --pattern N:M)");
    if (!o->have_sparsity)
        o->run.sparsity = 0.5;
    return -1;
}

static void print_table(const ap_prune_run_result *r, FILE *f)
{
    fprintf(f, "%5s  %-10s %8s %9s %10s\n", "layer", "linear", "target", "sparsity", "zeros");
    for (int i = 0; i < r->rep.n; i++) {
        const ap_prune_linear *l = &r->rep.lin[i];
        fprintf(f, "%5d  %-10s %8.4f %9.6f %10lld\n", l->layer + 1, ap_linear_name(l->kind), l->target,
                l->numel ? (double)l->zeros / (double)l->numel : 0.0, (long long)l->zeros);
    }
}

static int fail(const char *what, const ap_error *err)
{
    if (err->line > 0)
        fprintf(stderr, "autoprune prune: %s: %s: line %d: %s\n", what, ap_status_name(err->code), err->line, err->msg);
    else
        fprintf(stderr, "autoprune prune: %s: %s: %s\n", what, ap_status_name(err->code), err->msg);
    return AP_EXIT_FAIL;
}

static int write_record(const char *out, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/prune.json", out);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0) {
        if (f)
            fclose(f);
        fprintf(stderr, "autoprune prune: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The "eval" object of the run record: which text, and its perplexity. */
static void add_eval_record(cJSON *rec, const cli_opts *o, const ap_ppl_result *ppl)
{
    cJSON *e = cJSON_AddObjectToObject(rec, "eval");
    char def[4096];
    const char *text = o->eval_text ? o->eval_text : ap_datafile(AP_DATA_WIKITEXT_TEST, def, sizeof def);
    ap_cli_json_add_string(e, "text", text);
    cJSON_AddNumberToObject(e, "ppl", ppl->ppl);
    cJSON_AddNumberToObject(e, "windows", (double)ppl->windows);
    cJSON_AddNumberToObject(e, "seqlen", ppl->seqlen);
    cJSON_AddNumberToObject(e, "tokens", (double)ppl->tokens_total);
    cJSON_AddNumberToObject(e, "seconds", ppl->seconds);
}

/* --out: the HF folder and the run record beside it. */
static int save_output(const ap_model *m, const cli_opts *o, const cJSON *rec, ap_error *err)
{
    char *text = rec ? cJSON_Print(rec) : NULL;
    int rc = AP_EXIT_OK;
    if (ap_model_save(m, o->out, err))
        rc = fail(o->out, err);
    else if (!text || write_record(o->out, text) != 0)
        rc = AP_EXIT_FAIL;
    free(text);
    return rc;
}

/* The text report: the per-layer table (unless --quiet), sparsity, perplexity, timings, where it was written. */
static void print_summary(const cli_opts *o, const ap_prune_run_result *res, const ap_ppl_result *ppl)
{
    if (!o->quiet)
        print_table(res, stdout);
    printf("realised sparsity %.6f (%lld of %lld weights of the pruned linears)\n", res->rep.realised,
           (long long)res->rep.zeros, (long long)res->rep.numel);
    if (o->eval)
        printf("perplexity %.4f (%lld windows of %d tokens)\n", ppl->ppl, (long long)ppl->windows, ppl->seqlen);
    if (!o->quiet)
        printf("time: statistics %.2fs, scores %.2fs, masks %.2fs, forward %.2fs, total %.2fs\n",
               res->t_stats + res->rep.t_calib, res->rep.t_score, res->rep.t_mask, res->rep.t_forward,
               res->t_tokenize + res->t_stats + res->rep.t_total);
    if (o->out)
        printf("wrote %s\n", o->out);
}

int ap_cli_prune(int argc, char **argv)
{
    cli_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    progress_state ps = {ap_progress_wanted(o.quiet || o.json), {0}};
    o.run.progress = on_progress;
    o.run.phase = on_phase;
    o.run.pud = &ps;

    ap_error err = {0};
    ap_model *m = NULL;
    ap_prune_run_result res = {0};
    ap_ppl_result ppl = {0};
    cJSON *rec = NULL;
    on_phase(&ps, "load model");
    if (ap_model_load(&m, o.model, &err)) {
        rc = fail(o.model, &err);
        goto done;
    }
    if (ap_prune_run(m, &o.run, &res, &err)) {
        rc = fail("prune", &err);
        goto done;
    }
    if (o.eval) {
        on_phase(&ps, "evaluate");
        if (ap_prune_run_eval(m, o.eval_text, 0, o.eval_windows, on_progress, &ps, &ppl, &err)) {
            rc = fail("evaluate", &err);
            goto done;
        }
    }
    rec = ap_prune_run_json(m, &o.run, &res);
    if (rec && o.eval)
        add_eval_record(rec, &o, &ppl);
    if (rec && o.out)
        ap_cli_json_add_string(rec, "out", o.out);
    rc = AP_EXIT_OK;
    if (o.out) {
        on_phase(&ps, "save");
        rc = save_output(m, &o, rec, &err);
    }
    progress_end(&ps);
    if (rc == AP_EXIT_OK && o.json) {
        ap_cli_json_emit(rec);
        rec = NULL;
    } else if (rc == AP_EXIT_OK) {
        print_summary(&o, &res, &ppl);
    }
done:
    progress_end(&ps);
    cJSON_Delete(rec);
    ap_prune_run_result_free(&res);
    ap_model_free(m);
    return rc;
}
