/* test_alloc_script.c — scripted allocation through the one sandbox (ap_sandbox_call): the shipped examples
 * meet the budget exactly with the intended shape; every way a script can fail (syntax, runtime, limits, wrong
 * result, sandbox escapes) is an error of its own kind, with the line where there is one; and the call entry
 * itself (Lua data built from its C description, a list of numbers back) under the metric sandbox's rules. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aptest.h"
#include "ap_alloc_model.h"
#include "ap_prune_run.h"
#include "ap_sandbox.h"

enum { NL = 8 };
static ap_alloc_unit UNIT[NL];
static int64_t NUMEL[NL];
static ap_alloc_units U = {.unit = UNIT, .n = NL, .n_layers = NL, .lo = 0.0, .hi = 0.99};

static void make_units(void)
{
    const double skew[NL] = {2.1, 3.4, 2.6, 2.2, 4.0, 2.9, 2.4, 3.1};
    const double D[NL] = {0.012, 0.020, 0.018, 0.015, 0.011, 0.010, 0.008, 0.007};
    for (int i = 0; i < NL; i++) {
        NUMEL[i] = 4 * 384 * 384 + 3 * 384 * 1024 - (i == 3 ? 1000 : 0); /* one unequal unit */
        UNIT[i] = (ap_alloc_unit){.layer = i + 1,
                                  .name = "block",
                                  .numel = NUMEL[i],
                                  .w_skew = skew[i],
                                  .w_kurt = 3.0,
                                  .w_mean = 0.02,
                                  .w_std = 0.015,
                                  .outlier_ratio = D[i]};
    }
}

/* As vm/ap_prune_run.c does it: the script's values from the sandbox, then the budget (models/prune); s[0..NL)
 * gets the per-unit targets, written only on success. path names src, or is read when src is NULL. */
static ap_status run_script(const char *path, const char *src, const ap_limits *lim, double target, double *s,
                            ap_error *err)
{
    double v[NL], targets[NL * AP_LIN_COUNT];
    memset(err, 0, sizeof *err);
    U.target = target;
    ap_status st = ap_prune_run_alloc_script(&U, path, src, lim, v, err);
    if (!st)
        st = ap_alloc_units_targets(&U, v, targets, err);
    for (int i = 0; !st && i < NL; i++)
        s[i] = targets[i * AP_LIN_COUNT];
    return st;
}

static ap_status run(const char *src, double target, double *s, ap_error *err)
{
    return run_script("t.lua", src, NULL, target, s, err);
}

static void test_examples(void)
{
    const char *root = getenv("AP_ROOT") ? getenv("AP_ROOT") : ".";
    char path[4096];
    double s[NL];
    ap_error err = {0};
    snprintf(path, sizeof path, "%s/lua/alloc/depth_ramp.lua", root);
    ap_status st = run_script(path, NULL, NULL, 0.7, s, &err);
    int rising = 1;
    for (int i = 1; i < NL; i++)
        rising &= s[i] > s[i - 1];
    AP_CHECK(st == AP_OK && rising && fabs(ap_alloc_weighted_mean(s, NUMEL, NL) - 0.7) < 1e-12,
             "depth_ramp.lua: rising with depth, weighted mean exactly 0.7 (%s) [%.4f .. %.4f]", err.msg, s[0],
             s[NL - 1]);
    snprintf(path, sizeof path, "%s/lua/alloc/sdsa_rank.lua", root);
    st = run_script(path, NULL, NULL, 0.8, s, &err);
    AP_CHECK(st == AP_OK && fabs(ap_alloc_weighted_mean(s, NUMEL, NL) - 0.8) < 1e-12 && s[7] < s[6] && s[1] < s[3],
             "sdsa_rank.lua: weighted mean exactly 0.8, more skew and outliers -> lower sparsity (%s)", err.msg);
    snprintf(path, sizeof path, "%s/lua/alloc/no_such_file.lua", root);
    AP_CHECK(run_script(path, NULL, NULL, 0.8, s, &err) == AP_E_IO, "missing script file: io error");
}

static void test_renormalised(void)
{
    double s[NL];
    ap_error err;
    /* a table with `allocate`, values far above hi: clamped and shifted to the exact budget */
    ap_status st = run("return { allocate = function(L, t, info)\n"
                       "  local o = {} for i = 1, #L do o[i] = (i == 1) and 0.999 or 0.9 end return o end }",
                       0.6, s, &err);
    AP_CHECK(st == AP_OK && fabs(ap_alloc_weighted_mean(s, NUMEL, NL) - 0.6) < 1e-12 && s[0] > s[1],
             "table form with values above the budget: shifted to the exact mean, order kept (%s)", err.msg);
    st = run("return function(L, t, info)\n"
             "  assert(#L == 8 and info.units == 8 and info.n_layers == 8 and info.hi == 0.99)\n"
             "  assert(L[4].numel == 4 * 384 * 384 + 3 * 384 * 1024 - 1000 and L[2].name == 'block')\n"
             "  assert(L[5].w_skew == 4.0 and L[1].outlier_ratio == 0.012 and L[1].layer == 1)\n"
             "  local o = {} for i = 1, #L do o[i] = t end return o end",
             0.5, s, &err);
    AP_CHECK(st == AP_OK && s[0] == 0.5 && s[7] == 0.5, "the script sees every field of the units (%s)", err.msg);
}

typedef struct bad_case {
    const char *what, *src;
    ap_status want;
    int line; /* expected err.line, -1 = any */
} bad_case;

static void test_failures(void)
{
    static const bad_case cases[] = {
        {"syntax error", "return function(L, t)\n  return {\nend", AP_E_SYNTAX, 3},
        {"runtime error", "return function(L, t)\n  local x = nil\n  return x.y\nend", AP_E_RUNTIME, 3},
        {"error()", "return function(L, t)\n\n  error('no budget')\nend", AP_E_RUNTIME, 3},
        {"infinite loop", "return function(L, t)\n  while true do end\nend", AP_E_LIMIT, 2},
        {"infinite loop in the chunk", "while true do end", AP_E_LIMIT, 1},
        {"heap bomb", "return function(L, t) local a = {} for i = 1, 1e9 do a[i] = {i} end end", AP_E_LIMIT, -1},
        {"string bomb", "return function(L, t) local s = 'xx' for i = 1, 64 do s = s .. s end end", AP_E_LIMIT, -1},
        {"string.rep charged", "return function(L, t) return ('x'):rep(1e15) end", AP_E_LIMIT, 1},
        {"no patterns", "return function(L, t) return ('x'):gsub('x', 'y') end", AP_E_RUNTIME, 1},
        {"pcall cannot swallow a limit",
         "return function(L, t)\n  while true do pcall(function() while true do "
         "end end) end\nend",
         AP_E_LIMIT, 2},
        {"table.sort charged",
         "return function(L, t) local a = {} for i = 1, 1e5 do a[i] = -i end\n"
         "  table.sort(a, function(x, y) while true do end end) end",
         AP_E_LIMIT, 2},
        {"no io", "return function(L, t) io.open('/etc/passwd') end", AP_E_RUNTIME, 1},
        {"no os", "return function(L, t) os.exit(1) end", AP_E_RUNTIME, 1},
        {"no load", "return function(L, t) load('return 1') end", AP_E_RUNTIME, 1},
        {"no require", "return function(L, t) require('os') end", AP_E_RUNTIME, 1},
        {"no setmetatable", "return function(L, t) setmetatable({}, {}) end", AP_E_RUNTIME, 1},
        {"no string.dump", "return function(L, t) return string.dump(print) end", AP_E_RUNTIME, 1},
        {"no math.random", "return function(L, t) return {math.random()} end", AP_E_RUNTIME, 1},
        {"table.move charged", "return function(L, t) table.move({}, 1, 1e12, 2) end", AP_E_LIMIT, 1},
        {"binary chunk", "\x1bLua", AP_E_SYNTAX, -1},
        {"returns a number", "return 42", AP_E_TYPE, -1},
        {"function returns a string", "return function() return 'x' end", AP_E_TYPE, -1},
        {"too few values", "return function() return {0.5, 0.5} end", AP_E_SHAPE, -1},
        {"a string value",
         "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[3] = '0.5' "
         "return o end",
         AP_E_TYPE, -1},
        {"NaN", "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[2] = 0/0 return o end",
         AP_E_NONFINITE, -1},
        {"sparsity 1", "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[8] = 1 return o end",
         AP_E_RUNTIME, -1},
        {"negative", "return function(L, t) local o = {} for i = 1, #L do o[i] = -0.1 end return o end", AP_E_RUNTIME,
         -1},
        {"error with a table", "return function() error({}) end", AP_E_RUNTIME, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s[NL] = {-7};
        ap_error err;
        ap_status st = run(cases[i].src, 0.5, s, &err);
        AP_CHECK(st == cases[i].want && (cases[i].line < 0 || err.line == cases[i].line) && s[0] == -7,
                 "%s: %s error, line %d, output untouched (%s)", cases[i].what, ap_status_name(cases[i].want), err.line,
                 err.msg);
    }
    double s[NL];
    ap_error err = {0};
    ap_limits lim = {.source_bytes = 16};
    AP_CHECK(run_script("x", "return function() return {} end", &lim, 0.5, s, &err) == AP_E_LIMIT,
             "source over its limit: limit error (%s)", err.msg);
    U.lo = 0.6;
    AP_CHECK(run("return function(L, t) local o = {} for i = 1, #L do o[i] = t end return o end", 0.5, s, &err) ==
                 AP_E_ARG,
             "target below lo: argument error (%s)", err.msg);
    U.lo = 0.0;
}

/* ap_sandbox_call itself: nested data in, numbers out, the metric sandbox's environment and accounting. */
static void test_call_entry(void)
{
    ap_sandbox *sb = ap_sandbox_new(NULL);
    const ap_value inner[] = {{.kind = AP_VALUE_INTEGER, .integer = 7},
                              {.key = "x", .kind = AP_VALUE_NUMBER, .number = 0.25},
                              {.key = "s", .kind = AP_VALUE_STRING, .string = "q_proj"}};
    const ap_value args[] = {{.kind = AP_VALUE_TABLE, .items = inner, .n = 3},
                             {.kind = AP_VALUE_NUMBER, .number = 2.5}};
    double out[3] = {-7, -7, -7};
    const char *src = "local keep = {} for i = 1, 2e4 do keep[i] = {i} end\n"
                      "return { go = function(t, k)\n"
                      "  assert(math.type(t[1]) == 'integer' and t.s == 'q_proj' and #t == 1)\n"
                      "  print(T.ones(1, 3):sum(), pcall(error, 'caught'))\n"
                      "  return { t[1], t.x * k, #keep } end }";
    int rc = ap_sandbox_source_string(sb, src, 0, "call");
    if (rc == AP_KIND_OK)
        rc = ap_sandbox_call(sb, "go", args, 2, out, 3);
    const char *msg;
    ap_sandbox_error(sb, &msg, NULL);
    ap_usage use;
    ap_sandbox_usage(sb, &use);
    size_t olen;
    const char *printed = ap_sandbox_output(sb, &olen);
    AP_CHECK(rc == AP_KIND_OK && out[0] == 7 && out[1] == 0.625 && out[2] == 2e4,
             "nested table, integer, number and string in; a list of numbers out (%s)", msg);
    AP_CHECK(strstr(printed, "3") && strstr(printed, "false") && use.peak_heap_bytes > 20000 * 32 && use.instructions,
             "same environment as a metric (T, print, pcall) and peak heap accounting (%zu bytes)",
             use.peak_heap_bytes);
    AP_CHECK(ap_sandbox_call(sb, "nope", args, 2, out, 3) == AP_KIND_TYPE && out[0] == 7,
             "a table without the entry: type error, output untouched");
    AP_CHECK(ap_sandbox_score(sb, (const float[]){1}, 1, 1, &(ap_xstats){0}, NULL, (float[1]){0}) == AP_KIND_ARG,
             "a script given for a call is not a loaded metric");
    ap_value deep[AP_VALUE_MAX_DEPTH + 1];
    for (int i = 0; i <= AP_VALUE_MAX_DEPTH; i++)
        deep[i] = (ap_value){
            .kind = AP_VALUE_TABLE, .items = i < AP_VALUE_MAX_DEPTH ? &deep[i + 1] : NULL, .n = i < AP_VALUE_MAX_DEPTH};
    ap_sandbox_source_string(sb, "return function() return {} end", 0, "deep");
    AP_CHECK(ap_sandbox_call(sb, NULL, deep, 1, out, 0) == AP_KIND_ARG,
             "data nested deeper than AP_VALUE_MAX_DEPTH: argument error");
    AP_CHECK(ap_sandbox_call(sb, NULL, NULL, 0, out, 0) == AP_KIND_OK, "an empty list for no results");
    ap_sandbox_free(sb);
    sb = ap_sandbox_new(NULL);
    AP_CHECK(ap_sandbox_call(sb, NULL, NULL, 0, out, 0) == AP_KIND_ARG, "no script given: argument error");
    ap_sandbox_free(sb);
}

int main(void)
{
    make_units();
    test_examples();
    test_renormalised();
    test_failures();
    test_call_entry();
    return aptest_done();
}
