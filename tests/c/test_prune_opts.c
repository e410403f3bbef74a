/* test_prune_opts.c — the setters that turn front ends' strings into options: ap_limits_set (range checks before
 * any cast to an integer), ap_prune_run_opts_set (keys, alloc_param.K, refusals), ap_reconstruct_name/_parse, the
 * allocation record, and ap_metric_spec_resolve's kinds and errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ap_limits.h"
#include "ap_metric.h"
#include "ap_prune_run.h"
#include "aptest.h"

static void test_limits(void)
{
    ap_limits l;
    ap_error e;
    ap_limits_default(&l);
    AP_CHECK(ap_limits_set(&l, "heap_bytes", 1e6, &e) == AP_OK && l.heap_bytes == 1000000, "heap_bytes = 1e6 is set");
    AP_CHECK(ap_limits_set(&l, "instructions", AP_LIMITS_MAX, &e) == AP_OK && l.instructions == 9007199254740992ull,
             "2^53 is the largest limit and is exact");
    const double bad[] = {-1, NAN, INFINITY, 1.5, AP_LIMITS_MAX * 2, -0.5};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l.work = 7;
        ap_status st = ap_limits_set(&l, "work", bad[i], &e);
        AP_CHECK(st == AP_E_ARG && l.work == 7 && strstr(e.msg, "limits.work"),
                 "work = %g refused, the field unchanged (%s)", bad[i], e.msg);
    }
    AP_CHECK(ap_limits_set(&l, "heap", 1, &e) == AP_E_ARG && strstr(e.msg, "unknown limit 'heap'"),
             "an unknown key is refused by name");
    int n = 0;
    for (int i = 0; ap_limits_keys[i]; i++)
        n += ap_limits_set(&l, ap_limits_keys[i], 3, &e) == AP_OK;
    AP_CHECK(n == 7 && l.instructions == 3 && l.wall_ms == 3 && l.heap_bytes == 3 && l.tensor_bytes == 3 &&
                 l.work == 3 && l.output_bytes == 3 && l.source_bytes == 3,
             "every key sets its own field");
}

static void test_reconstruct(void)
{
    int round = 1;
    for (int i = AP_RECONSTRUCT_NONE; i <= AP_RECONSTRUCT_ADAPTIVE; i++) {
        ap_reconstruct r = AP_RECONSTRUCT_NONE;
        round &= ap_reconstruct_parse(ap_reconstruct_name((ap_reconstruct)i), &r) == 0 && (int)r == i;
    }
    AP_CHECK(round, "ap_reconstruct_parse inverts ap_reconstruct_name");
    ap_reconstruct r = AP_RECONSTRUCT_MASK;
    AP_CHECK(ap_reconstruct_parse("off", &r) == -1 && ap_reconstruct_parse(NULL, &r) == -1 && r == AP_RECONSTRUCT_MASK,
             "other spellings are refused and leave the value");
}

static void count_field(void *ud, const char *key, const char *str, double num)
{
    char *buf = ud;
    size_t n = strlen(buf);
    if (str)
        snprintf(buf + n, 512 - n, "%s=%s ", key, str);
    else
        snprintf(buf + n, 512 - n, "%s=%g ", key, num);
}

static void test_opts_set(void)
{
    ap_prune_run_opts o;
    ap_error e;
    ap_prune_run_opts_default(&o);
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.tau", "1", &e) == AP_OK && o.alloc_spec.sdsa.tau == 1,
             "alloc_param.tau = 1");
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.lo", "0.1", &e) == AP_OK && o.alloc_spec.lo == 0.1 &&
                 o.alloc_spec.sdsa.lo == 0.1,
             "alloc_param.lo bounds both the allocation and SDSA's clamp");
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.granularity", "block", &e) == AP_OK &&
                 o.alloc_spec.sdsa.granularity == AP_ALLOC_PER_BLOCK,
             "alloc_param.granularity = block");
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.tau", "nan", &e) == AP_E_ARG, "alloc_param.tau = nan refused");
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.tau", "1x", &e) == AP_E_ARG && strstr(e.msg, "'1x'"),
             "alloc_param.tau = 1x refused, naming the value");
    AP_CHECK(ap_prune_run_opts_set(&o, "alloc_param.nope", "1", &e) == AP_E_ARG, "an unknown alloc param refused");
    AP_CHECK(ap_prune_run_opts_set(&o, "sparsity", "1", &e) == AP_E_ARG &&
                 ap_prune_run_opts_set(&o, "sparsity", "0.25", &e) == AP_OK && o.sparsity == 0.25,
             "sparsity must lie in [0, 1)");
    AP_CHECK(ap_prune_run_opts_set(&o, "nsamples", "0", &e) == AP_E_ARG &&
                 ap_prune_run_opts_set(&o, "seqlen", "64", &e) == AP_OK && o.seqlen == 64,
             "nsamples and seqlen ranges");
    AP_CHECK(ap_prune_run_opts_set(&o, "seed", "-1", &e) == AP_E_ARG &&
                 ap_prune_run_opts_set(&o, "seed", "42", &e) == AP_OK && o.random && o.seed == 42,
             "a seed draws random windows; a negative one is refused");
    AP_CHECK(ap_prune_run_opts_set(&o, "reconstruct", "adaptive", &e) == AP_OK &&
                 o.reconstruct == AP_RECONSTRUCT_ADAPTIVE && ap_prune_run_opts_set(&o, "reconstruct", "yes", &e),
             "reconstruct takes the enum's names only");
    AP_CHECK(ap_prune_run_opts_set(&o, "metric_source", "wanda", &e) == AP_OK && o.metric_is_source &&
                 ap_prune_run_opts_set(&o, "metric", "wanda", &e) == AP_OK && !o.metric_is_source,
             "metric_source marks the text as source, metric clears the mark");
    AP_CHECK(ap_prune_run_opts_set(&o, "frobnicate", "1", &e) == AP_E_ARG, "an unknown key refused");
    char rec[512] = "";
    o.alloc = "sdsa";
    ap_prune_run_alloc_record(&o, count_field, rec);
    AP_CHECK(!strcmp(rec, "kind=sdsa owl_m=5 owl_lambda=0.08 tau=1 lambda=0.16 lo=0.1 hi=0.99 granularity=block "),
             "the allocation record names every field as alloc_param does (%s)", rec);
}

static void test_metric_spec(void)
{
    ap_metric_spec s;
    ap_error e;
    char path[] = "/tmp/ap-spec-XXXXXX";
    int fd = mkstemp(path);
    AP_CHECK(fd >= 0 && ap_metric_spec_resolve(&s, path, &e) == AP_OK && s.kind == AP_METRIC_FILE &&
                 !strcmp(s.path, path),
             "an existing file is FILE");
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    AP_CHECK(ap_metric_spec_resolve(&s, "native:wanda", &e) == AP_OK && s.kind == AP_METRIC_NATIVE &&
                 s.native == ap_score_wanda,
             "native:wanda is NATIVE with the Wanda callback");
    AP_CHECK(ap_metric_spec_resolve(&s, "native:nope", &e) == AP_E_ARG, "an unknown native:* is refused");
    AP_CHECK(ap_metric_spec_resolve(&s, "sparsegpt", &e) == AP_OK && s.kind == AP_METRIC_SPARSEGPT, "sparsegpt");
    AP_CHECK(ap_metric_spec_resolve(&s, "wanda", &e) == AP_OK && s.kind == AP_METRIC_NAME &&
                 strstr(s.path, "lua/metrics/wanda.lua"),
             "wanda is the shipped NAME");
    AP_CHECK(ap_metric_spec_resolve(&s, "no_such_metric", &e) == AP_E_IO, "an unknown NAME is an io error");
    AP_CHECK(ap_metric_spec_resolve(&s, "my_return.lua", &e) == AP_E_IO && strstr(e.msg, "my_return.lua"),
             "a missing my_return.lua is an io error naming it, not source");
    AP_CHECK(ap_metric_spec_resolve(&s, "a/b", &e) == AP_E_IO, "a missing path with '/' is an io error");
    AP_CHECK(ap_metric_spec_resolve(&s, "return function(W) return W / 2 end", &e) == AP_OK &&
                 s.kind == AP_METRIC_SOURCE,
             "one line of source with spaces and '/' is SOURCE");
    AP_CHECK(ap_metric_spec_resolve(&s, "", &e) == AP_E_ARG && ap_metric_spec_resolve(&s, NULL, &e) == AP_E_ARG,
             "empty and NULL are refused");
}

int main(void)
{
    test_limits();
    test_reconstruct();
    test_opts_set();
    test_metric_spec();
    return aptest_done();
}
