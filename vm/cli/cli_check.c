/* cli_check.c — `autoprune check FILE.lua...`: load each metric in the sandbox and score synthetic layers of a
 * realistic shape (heavy-tailed activations, outlier channels, statistics computed from the samples). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ap_check.h"
#include "ap_limits.h"
#include "ap_metric.h"
#include "autoprune.h"
#include "cli.h"

static const char USAGE[] =
    "autoprune check [--json] [--quiet] [--shape OUTxIN] [LIMIT OPTIONS] FILE.lua|NAME|SOURCE...";

static const char HELP[] =
    "Check pruning-metric scripts: each (a file, a NAME of lua/metrics/, or source text, read as\n"
    "`prune --metric` reads it: doc/metrics.md) is loaded in the sandbox and called on two synthetic layers\n"
    "(W [1024, 512] gate_proj of layer 1 and W [512, 1024] down_proj of layer 4, 256 tokens of heavy-tailed\n"
    "activations with outlier channels; --shape changes the sizes). Valid: it returns a finite score that\n"
    "broadcasts to [out, in].\n"
    "\n"
    "options:\n"
    "  --json             one JSON object per file on stdout: {\"ok\":false,\"kind\":...,\"message\":...,\"line\":N}\n"
    "                     or {\"ok\":true,\"group\":...,\"usage\":{...}}\n"
    "  --quiet            print nothing for valid scripts (errors still go to stderr)\n"
    "  --shape OUTxIN     the first layer's W shape (the second is its transpose), e.g. 11008x4096\n"
    "  --instructions N   Lua instruction limit (default 100000000)\n"
    "  --wall-ms N        wall-clock limit per call in ms (default 30000)\n"
    "  --heap N           Lua heap limit in bytes, k/M/G suffixes allowed (default 64M)\n"
    "  --tensor-bytes N   tensor memory limit (default 16 x W's bytes + 64M)\n"
    "  --work N           element operations in tensor primitives (default 256 x numel(W) + 1e8)\n"
    "  --output N         bytes print() may write (default 64k)\n"
    "  --                 end of options (a file name may then start with -)\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit status: 0 all valid, 1 a script is invalid or broke a limit (one line on stderr:\n"
    "FILE:LINE: kind: message), 2 usage error. Kinds: syntax runtime limit shape nonfinite type io.\n";

typedef struct check_opts {
    int json, quiet;
    int64_t out, in; /* the first synthetic layer's shape */
    ap_limits limits;
} check_opts;

/* The metric argument as ap_metric_spec_resolve reads it; 0, or the kind of the error printed. */
static int resolve(const char *arg, const check_opts *o, ap_metric_spec *spec)
{
    ap_error err = {0};
    if (ap_metric_spec_resolve(spec, arg, &err) == AP_OK && spec->kind != AP_METRIC_NATIVE &&
        spec->kind != AP_METRIC_SPARSEGPT)
        return AP_KIND_OK;
    if (err.code == AP_OK || spec->kind == AP_METRIC_NATIVE || spec->kind == AP_METRIC_SPARSEGPT)
        ap_error_set(&err, AP_E_ARG, "%s is built into the pruning core, not a metric script", arg);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", 0);
        ap_cli_json_add_string(j, "file", arg);
        ap_cli_json_add_string(j, "kind", ap_status_name(err.code));
        ap_cli_json_add_string(j, "message", err.msg);
        cJSON_AddNullToObject(j, "line");
        ap_cli_json_emit(j);
    } else {
        fprintf(stderr, "%s: %s: %s\n", arg, ap_status_name(err.code), err.msg);
    }
    return err.code;
}

/* Check one metric (a file, a shipped NAME or source: ap_metric.h); returns the kind (AP_KIND_OK when valid)
 * after printing the result. The synthetic layers are made once, on the first call, and reused. */
static int check_file(const char *path, const check_opts *o, ap_check_layers **layers)
{
    ap_metric_spec spec;
    int kind = resolve(path, o, &spec);
    if (kind != AP_KIND_OK)
        return kind;
    ap_sandbox *sb = ap_sandbox_new(&o->limits);
    if (!sb) {
        fprintf(stderr, "%s: nomem: out of memory\n", path);
        return AP_KIND_NOMEM;
    }
    ap_usage total = {0};
    kind = AP_KIND_NOMEM;
    if (!*layers)
        *layers = ap_check_layers_new(o->out, o->in);
    if (*layers)
        kind = spec.kind == AP_METRIC_SOURCE ? ap_check_metric(sb, NULL, path, 0, "metric", *layers, &total)
                                             : ap_check_metric(sb, spec.path, NULL, 0, NULL, *layers, &total);
    const char *msg = "out of memory";
    int line = 0;
    if (kind != AP_KIND_NOMEM)
        ap_sandbox_error(sb, &msg, &line);
    size_t out_len;
    const char *output = ap_sandbox_output(sb, &out_len);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", kind == AP_KIND_OK);
        ap_cli_json_add_string(j, "file", path);
        if (kind != AP_KIND_OK) {
            ap_cli_json_add_string(j, "kind", ap_kind_name(kind));
            ap_cli_json_add_string(j, "message", msg);
            if (line > 0)
                cJSON_AddNumberToObject(j, "line", line);
            else
                cJSON_AddNullToObject(j, "line");
        } else {
            ap_cli_json_add_string(j, "group", ap_sandbox_group(sb));
            cJSON_AddBoolToObject(j, "group_declared", ap_sandbox_group_declared(sb));
        }
        cJSON *ju = cJSON_AddObjectToObject(j, "usage");
        cJSON_AddNumberToObject(ju, "instructions", (double)total.instructions);
        cJSON_AddNumberToObject(ju, "peak_heap_bytes", (double)total.peak_heap_bytes);
        cJSON_AddNumberToObject(ju, "peak_tensor_bytes", (double)total.peak_tensor_bytes);
        cJSON_AddNumberToObject(ju, "work", (double)total.work);
        cJSON_AddNumberToObject(ju, "wall_ms", round(total.wall_ms * 1000) / 1000);
        cJSON_AddNumberToObject(ju, "output_bytes", (double)total.output_bytes);
        ap_cli_json_add_string(j, "output", output);
        ap_cli_json_emit(j);
    } else {
        if (out_len) {
            fwrite(output, 1, out_len, stdout);
            if (output[out_len - 1] != '\n')
                putchar('\n'); /* output cut at the limit */
        }
        if (kind != AP_KIND_OK) {
            fflush(stdout);
            if (line > 0)
                fprintf(stderr, "%s:%d: %s: %s\n", path, line, ap_kind_name(kind), msg);
            else
                fprintf(stderr, "%s: %s: %s\n", path, ap_kind_name(kind), msg);
        } else if (!o->quiet) {
            printf("%s: ok (group %s%s, %.1f ms, %llu instructions, work %llu, peak tensors %.1f MiB)\n", path,
                   ap_sandbox_group(sb), ap_sandbox_group_declared(sb) ? "" : " by default", total.wall_ms,
                   (unsigned long long)total.instructions, (unsigned long long)total.work,
                   (double)total.peak_tensor_bytes / 1048576.0);
        }
    }
    ap_sandbox_free(sb);
    return kind;
}

/* Parse one limit option at argv[*i] into l (ap_limits_set: one range check for every front end); returns 1 when
 * it was one, 0 when not, -1 on a bad value. */
static int parse_limit(int argc, char **argv, int *i, ap_limits *l)
{
    static const char *const flags[][2] = {
        {"--instructions", "instructions"}, {"--wall-ms", "wall_ms"}, {"--heap", "heap_bytes"},
        {"--tensor-bytes", "tensor_bytes"}, {"--work", "work"},       {"--output", "output_bytes"}};
    const char *key = NULL;
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (strcmp(argv[*i], flags[k][0]) == 0)
            key = flags[k][1];
    if (!key)
        return 0;
    unsigned long long v;
    ap_error err;
    if (*i + 1 >= argc || ap_cli_parse_size(argv[*i + 1], &v) != 0 || v == 0 ||
        ap_limits_set(l, key, (double)v, &err) != AP_OK)
        return -1;
    (*i)++;
    return 1;
}

int ap_cli_check(int argc, char **argv)
{
    check_opts o = {.out = 1024, .in = 512};
    ap_limits_default(&o.limits);
    char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    if (!files)
        return AP_EXIT_FAIL;
    int options = 1; /* until "--" */
    for (int i = 1; i < argc; i++) {
        int r;
        if (!options || argv[i][0] != '-' || argv[i][1] == '\0') {
            files[n_files++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            options = 0;
        } else if (ap_cli_is_help(argv[i])) {
            fputs("usage: ", stdout);
            puts(USAGE);
            fputs(HELP, stdout);
            free(files);
            return AP_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = 1;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            o.quiet = 1;
        } else if (strcmp(argv[i], "--shape") == 0) {
            long long a, b;
            char x, extra;
            if (i + 1 >= argc || sscanf(argv[i + 1], "%lld%c%lld%c", &a, &x, &b, &extra) != 3 || x != 'x' || a < 1 ||
                b < 1 || a > (1 << 20) || b > (1 << 20) || a * b > (1ll << 28)) {
                free(files);
                return ap_cli_usage_error("check", USAGE, "--shape needs OUTxIN (each 1..2^20, at most 2^28 weights)");
            }
            o.out = a, o.in = b;
            i++;
        } else if ((r = parse_limit(argc, argv, &i, &o.limits)) != 0) {
            if (r < 0) {
                free(files);
                return ap_cli_usage_error("check", USAGE, "%s needs a positive number", argv[i]);
            }
        } else {
            free(files);
            return ap_cli_usage_error("check", USAGE, "unknown option '%s'", argv[i]);
        }
    }
    if (n_files == 0) {
        free(files);
        return ap_cli_usage_error("check", USAGE, "no script given");
    }
    ap_check_layers *layers = NULL;
    int failed = 0;
    for (int i = 0; i < n_files; i++)
        failed |= check_file(files[i], &o, &layers) != AP_KIND_OK;
    ap_check_layers_free(layers);
    free(files);
    return failed ? AP_EXIT_FAIL : AP_EXIT_OK;
}
