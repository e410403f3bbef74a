/* test_alloc_script.c — scripted allocation: the shipped examples meet the budget exactly with the intended
 * shape; every way a script can fail (syntax, runtime, limits, wrong result, sandbox escapes) is an error of its
 * own kind, with the line where there is one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aptest.h"
#include "ap_alloc.h"
#include "ap_alloc_script.h"

enum { NL = 8 };
static ap_alloc_unit U[NL];
static int64_t NUMEL[NL];

static void make_units(void)
{
    const double skew[NL] = { 2.1, 3.4, 2.6, 2.2, 4.0, 2.9, 2.4, 3.1 };
    const double D[NL] = { 0.012, 0.020, 0.018, 0.015, 0.011, 0.010, 0.008, 0.007 };
    for (int i = 0; i < NL; i++) {
        NUMEL[i] = 4 * 384 * 384 + 3 * 384 * 1024 - (i == 3 ? 1000 : 0);   /* one unequal unit */
        U[i] = (ap_alloc_unit){ .layer = i + 1, .name = "block", .numel = NUMEL[i], .w_skew = skew[i],
                                .w_kurt = 3.0, .w_mean = 0.02, .w_std = 0.015, .outlier_ratio = D[i] };
    }
}

static ap_status run(const char *src, double target, double *s, ap_error *err)
{
    memset(err, 0, sizeof *err);
    return ap_alloc_script_run(src, 0, "t.lua", U, NL, NL, target, 0.0, 0.99, NULL, s, err);
}

static void test_examples(void)
{
    const char *root = getenv("AP_ROOT") ? getenv("AP_ROOT") : ".";
    char path[4096];
    double s[NL];
    ap_error err = { 0 };
    snprintf(path, sizeof path, "%s/lua/alloc/depth_ramp.lua", root);
    ap_status st = ap_alloc_script_run_file(path, U, NL, NL, 0.7, 0.0, 0.99, NULL, s, &err);
    int rising = 1;
    for (int i = 1; i < NL; i++) rising &= s[i] > s[i - 1];
    AP_CHECK(st == AP_OK && rising && fabs(ap_alloc_weighted_mean(s, NUMEL, NL) - 0.7) < 1e-12,
             "depth_ramp.lua: rising with depth, weighted mean exactly 0.7 (%s) [%.4f .. %.4f]", err.msg, s[0],
             s[NL - 1]);
    snprintf(path, sizeof path, "%s/lua/alloc/sdsa_rank.lua", root);
    st = ap_alloc_script_run_file(path, U, NL, NL, 0.8, 0.0, 0.99, NULL, s, &err);
    AP_CHECK(st == AP_OK && fabs(ap_alloc_weighted_mean(s, NUMEL, NL) - 0.8) < 1e-12 && s[7] < s[6] && s[1] < s[3],
             "sdsa_rank.lua: weighted mean exactly 0.8, more skew and outliers -> lower sparsity (%s)", err.msg);
    snprintf(path, sizeof path, "%s/lua/alloc/no_such_file.lua", root);
    AP_CHECK(ap_alloc_script_run_file(path, U, NL, NL, 0.8, 0.0, 0.99, NULL, s, &err) == AP_E_IO,
             "missing script file: io error");
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
             "  local o = {} for i = 1, #L do o[i] = t end return o end", 0.5, s, &err);
    AP_CHECK(st == AP_OK && s[0] == 0.5 && s[7] == 0.5, "the script sees every field of the units (%s)", err.msg);
}

typedef struct bad_case {
    const char *what, *src;
    ap_status want;
    int line;           /* expected err.line, -1 = any */
} bad_case;

static void test_failures(void)
{
    static const bad_case cases[] = {
        { "syntax error", "return function(L, t)\n  return {\nend", AP_E_SYNTAX, 3 },
        { "runtime error", "return function(L, t)\n  local x = nil\n  return x.y\nend", AP_E_RUNTIME, 3 },
        { "error()", "return function(L, t)\n\n  error('no budget')\nend", AP_E_RUNTIME, 3 },
        { "infinite loop", "return function(L, t)\n  while true do end\nend", AP_E_LIMIT, 2 },
        { "infinite loop in the chunk", "while true do end", AP_E_LIMIT, 1 },
        { "heap bomb", "return function(L, t) local a = {} for i = 1, 1e9 do a[i] = {i} end end", AP_E_LIMIT, -1 },
        { "string bomb", "return function(L, t) local s = 'xx' for i = 1, 64 do s = s .. s end end", AP_E_LIMIT,
          -1 },
        { "no string.rep", "return function(L, t) return ('x'):rep(1e15) end", AP_E_RUNTIME, 1 },
        { "no patterns", "return function(L, t) return ('x'):gsub('x', 'y') end", AP_E_RUNTIME, 1 },
        { "no pcall", "return function(L, t) pcall(function() end) end", AP_E_RUNTIME, 1 },
        { "no io", "return function(L, t) io.open('/etc/passwd') end", AP_E_RUNTIME, 1 },
        { "no os", "return function(L, t) os.exit(1) end", AP_E_RUNTIME, 1 },
        { "no load", "return function(L, t) load('return 1') end", AP_E_RUNTIME, 1 },
        { "no require", "return function(L, t) require('os') end", AP_E_RUNTIME, 1 },
        { "no setmetatable", "return function(L, t) setmetatable({}, {}) end", AP_E_RUNTIME, 1 },
        { "no string.dump", "return function(L, t) return string.dump(print) end", AP_E_RUNTIME, 1 },
        { "no math.random", "return function(L, t) return {math.random()} end", AP_E_RUNTIME, 1 },
        { "no table.move", "return function(L, t) table.move({}, 1, 1e12, 2) end", AP_E_RUNTIME, 1 },
        { "binary chunk", "\x1bLua", AP_E_SYNTAX, -1 },
        { "returns a number", "return 42", AP_E_TYPE, -1 },
        { "function returns a string", "return function() return 'x' end", AP_E_TYPE, -1 },
        { "too few values", "return function() return {0.5, 0.5} end", AP_E_SHAPE, -1 },
        { "a string value", "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[3] = '0.5' "
          "return o end", AP_E_TYPE, -1 },
        { "NaN", "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[2] = 0/0 return o end",
          AP_E_NONFINITE, -1 },
        { "sparsity 1", "return function(L, t) local o = {} for i = 1, #L do o[i] = t end o[8] = 1 return o end",
          AP_E_RUNTIME, -1 },
        { "negative", "return function(L, t) local o = {} for i = 1, #L do o[i] = -0.1 end return o end",
          AP_E_RUNTIME, -1 },
        { "error with a table", "return function() error({}) end", AP_E_RUNTIME, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s[NL] = { -7 };
        ap_error err;
        ap_status st = run(cases[i].src, 0.5, s, &err);
        AP_CHECK(st == cases[i].want && (cases[i].line < 0 || err.line == cases[i].line) && s[0] == -7,
                 "%s: %s error, line %d, output untouched (%s)", cases[i].what, ap_status_name(cases[i].want),
                 err.line, err.msg);
    }
    double s[NL];
    ap_error err = { 0 };
    ap_alloc_script_limits lim = { .source_bytes = 16 };
    AP_CHECK(ap_alloc_script_run("return function() return {} end", 0, "x", U, NL, NL, 0.5, 0, 0.99, &lim, s,
                                 &err) == AP_E_LIMIT, "source over its limit: limit error");
    AP_CHECK(ap_alloc_script_run("return 1", 0, "x", U, NL, NL, 0.5, 0.6, 0.99, NULL, s, &err) == AP_E_ARG,
             "target below lo: argument error");
}

int main(void)
{
    make_units();
    test_examples();
    test_renormalised();
    test_failures();
    return aptest_done();
}
