/* test_embed.c — the public embedding API (autoprune.h only): load, score, errors, limits, usage, interrupt
 * from another thread, and two sandboxes in two threads at once. */
#include "autoprune.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aptest.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A small layer: W [2, 3], X.l2 per input channel. */
static const float W23[6] = {1, -2, 3, -4, 5, -6};
static const float L2[3] = {1, 0.5f, 2};

static int score_small(ap_sandbox *sb, float *S)
{
    ap_xstats X = {0};
    X.l2 = L2;
    X.tokens = 16;
    ap_layer_info info = {1, 4, "q_proj", 0.5};
    return ap_sandbox_score(sb, W23, 2, 3, &X, &info, S);
}

/* Load src and score the small layer; returns the kind and fills *line. */
static int run_src(ap_sandbox *sb, const char *src, int *line, const char **msg)
{
    float S[6];
    int k = ap_sandbox_load_string(sb, src, 0, "test");
    if (k == AP_KIND_OK)
        k = score_small(sb, S);
    ap_sandbox_error(sb, msg, line);
    return k;
}

static void test_defaults(void)
{
    ap_limits l;
    ap_limits_default(&l);
    AP_CHECK(l.instructions == 100000000ull && l.wall_ms == 30000 && l.heap_bytes == 64u << 20 &&
                 l.output_bytes == 64u << 10 && l.source_bytes == 64u << 10 && l.tensor_bytes == 0 && l.work == 0,
             "ap_limits_default gives the documented defaults");
    AP_CHECK(strcmp(ap_version(), "") != 0, "ap_version is %s", ap_version());
    AP_CHECK(strcmp(ap_kind_name(AP_KIND_LIMIT), "limit") == 0 &&
                 strcmp(ap_kind_name(AP_KIND_NONFINITE), "nonfinite") == 0,
             "ap_kind_name names kinds as the contract does");
}

static void test_wanda(void)
{
    ap_sandbox *sb = ap_sandbox_new(NULL);
    float S[6];
    int k = ap_sandbox_load_string(sb, "return function(W, X, info) return W:abs() * X.l2 end", 0, "wanda");
    AP_CHECK(k == AP_KIND_OK, "Wanda loads from a string");
    AP_CHECK(strcmp(ap_sandbox_group(sb), "row") == 0 && !ap_sandbox_group_declared(sb),
             "a bare function declares no group (row by default)");
    k = score_small(sb, S);
    int good = k == AP_KIND_OK;
    for (int i = 0; good && i < 6; i++)
        good = fabsf(S[i] - fabsf(W23[i]) * L2[i % 3]) < 1e-6f;
    AP_CHECK(good, "Wanda scores |W| * X.l2 into the caller's buffer");
    ap_usage u;
    ap_sandbox_usage(sb, &u);
    AP_CHECK(u.peak_heap_bytes > 0 && u.peak_tensor_bytes >= 6 * sizeof(float) && u.work > 0 && u.wall_ms > 0,
             "usage: heap %zu, tensor bytes %zu, work %llu, %.2f ms", u.peak_heap_bytes, u.peak_tensor_bytes,
             (unsigned long long)u.work, u.wall_ms);
    /* the same sandbox scores again: a fresh state per call */
    AP_CHECK(score_small(sb, S) == AP_KIND_OK && fabsf(S[5] - 12.0f) < 1e-6f, "a second score call works");
    ap_sandbox_free(sb);
}

static void test_table_form(void)
{
    ap_sandbox *sb = ap_sandbox_new(NULL);
    float S[6];
    int k = ap_sandbox_load_string(sb,
                                   "return { group = 'layer', score = function(W, X, info)\n"
                                   "  print('layer', info.layer, info.name, info.out, info['in'], X.tokens)\n"
                                   "  return X.sq end }",
                                   0, NULL);
    AP_CHECK(k == AP_KIND_OK && strcmp(ap_sandbox_group(sb), "layer") == 0 && ap_sandbox_group_declared(sb),
             "the table form declares group = layer");
    k = score_small(sb, S);
    /* sq derived from l2: l2^2 / tokens, broadcast over rows */
    AP_CHECK(k == AP_KIND_OK && fabsf(S[0] - 1.0f / 16) < 1e-6f && fabsf(S[5] - 4.0f / 16) < 1e-6f,
             "X.sq is derived from X.l2 and a [1, in] score broadcasts to [out, in]");
    size_t len;
    const char *out = ap_sandbox_output(sb, &len);
    AP_CHECK(strcmp(out, "layer\t1\tq_proj\t2\t3\t16\n") == 0 && len == strlen(out), "print is captured (%zu bytes)",
             len);
    k = ap_sandbox_load_string(sb, "return { group = 'column', score = function() return 1 end }", 0, NULL);
    AP_CHECK(k == AP_KIND_TYPE, "an unknown group is a type error");
    ap_sandbox_free(sb);
}

/* What a script reads of X is recorded; what it declares with needs = {...} is kept; a statistic the host marks
 * missing is a runtime error naming it, never nil. */
static void test_reads(void)
{
    ap_sandbox *sb = ap_sandbox_new(NULL);
    float S[6];
    int k = ap_sandbox_load_string(sb, "return function(W, X, info) return W:abs() * X.l2 end", 0, "wanda");
    AP_CHECK(k == AP_KIND_OK && ap_sandbox_x_reads(sb) == 0 && ap_sandbox_x_needs(sb) == 0, "nothing is read at load");
    k = score_small(sb, S);
    AP_CHECK(k == AP_KIND_OK && ap_sandbox_x_reads(sb) == AP_X_L2, "Wanda reads X.l2 alone (0x%x)",
             ap_sandbox_x_reads(sb));
    k = ap_sandbox_load_string(sb,
                               "return { needs = {'kurt', 'hinv'}, score = function(W, X, info)\n"
                               "  local s = W:abs() * X.sq\n"
                               "  if X.hinv then s = s * 2 end\n"
                               "  return s end }",
                               0, NULL);
    int reads_after_load = ap_sandbox_x_reads(sb);
    k = k == AP_KIND_OK ? score_small(sb, S) : k;
    AP_CHECK(k == AP_KIND_OK && reads_after_load == 0 && ap_sandbox_x_reads(sb) == (AP_X_SQ | AP_X_HINV) &&
                 ap_sandbox_x_needs(sb) == (AP_X_KURT | AP_X_HINV),
             "reads sq and hinv (absent: nil), declares kurt and hinv (0x%x, 0x%x)", ap_sandbox_x_reads(sb),
             ap_sandbox_x_needs(sb));
    k = ap_sandbox_load_string(sb, "return { needs = {'l2', 'tokens'}, score = function() return 1 end }", 0, NULL);
    AP_CHECK(k == AP_KIND_TYPE, "needs naming something other than a statistic is a type error");
    k = ap_sandbox_load_string(sb,
                               "return function(W, X, info)\n"
                               "  local n = 0\n"
                               "  for _ in pairs(X) do n = n + 1 end\n"
                               "  return W:abs() * n end",
                               0, NULL);
    k = k == AP_KIND_OK ? score_small(sb, S) : k;
    AP_CHECK(k == AP_KIND_OK && S[0] == 3.0f && ap_sandbox_x_reads(sb) == AP_X_ALL,
             "pairs(X) sees the statistics (l2, sq derived from it, tokens) and counts as reading them all (%d, %g)", k,
             (double)S[0]);

    ap_sandbox_load_string(sb, "return function(W, X, info)\n  return W:abs() * X.mean end", 0, "m");
    ap_xstats X = {0};
    X.l2 = L2;
    X.tokens = 16;
    X.missing = AP_X_MEAN | AP_X_KURT;
    ap_layer_info info = {1, 4, "q_proj", 0.5};
    const char *msg;
    int line;
    k = ap_sandbox_score(sb, W23, 2, 3, &X, &info, S);
    ap_sandbox_error(sb, &msg, &line);
    AP_CHECK(k == AP_KIND_RUNTIME && line == 2 && strstr(msg, "X.mean was not gathered"),
             "reading a statistic the run did not gather is a runtime error naming it (%s, line %d)", msg, line);
    X.missing = 0;
    ap_sandbox_load_string(sb, "return function(W, X, info)\n  assert(X.mean == nil) return W:abs() end", 0, "m");
    AP_CHECK(ap_sandbox_score(sb, W23, 2, 3, &X, &info, S) == AP_KIND_OK,
             "a statistic absent but not marked missing is nil, as before");
    ap_sandbox_free(sb);
}

static void test_errors(void)
{
    ap_sandbox *sb = ap_sandbox_new(NULL);
    int line;
    const char *msg;
    int k = run_src(sb, "return function(W, X)\n  return W +* 2\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_SYNTAX && line == 2 && strchr(msg, '\n') == NULL, "syntax error on line 2: %s", msg);
    k = run_src(sb, "return function(W, X)\n\n  error('boom')\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_RUNTIME && line == 3 && strcmp(msg, "boom") == 0, "runtime error on line 3: %s", msg);
    k = run_src(sb, "return function(W, X)\n  return W + X.nothing.x\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_RUNTIME && line == 2, "indexing nil is a runtime error on line 2: %s", msg);
    k = run_src(sb, "return function(W, X)\n  error({})\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_RUNTIME && strcmp(msg, "non-string error (table)") == 0 && line == 2,
             "a table error object is reported without calling tostring: %s", msg);
    k = run_src(sb, "return function(W, X)\n  local t = T.zeros(3, 2)\n  return W + t\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_SHAPE && line == 3,
             "a bad broadcast inside the metric is a shape error on line 3 (%d, %d): %s", k, line, msg);
    k = run_src(sb, "return function(W, X) return T.zeros(3, 3) end", &line, &msg);
    AP_CHECK(k == AP_KIND_SHAPE, "a [3, 3] score for [2, 3] is a shape error: %s", msg);
    k = run_src(sb, "return function(W, X) return W / 0 - W / 0 end", &line, &msg);
    AP_CHECK(k == AP_KIND_NONFINITE, "a NaN score is nonfinite: %s", msg);
    k = run_src(sb, "return function(W, X) end", &line, &msg);
    AP_CHECK(k == AP_KIND_TYPE, "returning nothing is a type error: %s", msg);
    k = run_src(sb, "return function(W, X) return 'high' end", &line, &msg);
    AP_CHECK(k == AP_KIND_TYPE, "returning a string is a type error: %s", msg);
    k = run_src(sb, "return 42", &line, &msg);
    AP_CHECK(k == AP_KIND_TYPE, "a chunk returning a number is a type error: %s", msg);
    k = run_src(sb, "return function(W, X) return 2.5 end", &line, &msg);
    AP_CHECK(k == AP_KIND_OK, "a number score broadcasts to every weight");
    k = run_src(sb, "\x1bLua\x54\x00", &line, &msg);
    AP_CHECK(k == AP_KIND_SYNTAX, "a binary chunk is refused: %s", msg);
    k = ap_sandbox_load_file(sb, "/nonexistent/metric.lua");
    AP_CHECK(k == AP_KIND_IO, "a missing file is an io error");
    float S[6];
    ap_sandbox *fresh = ap_sandbox_new(NULL);
    AP_CHECK(score_small(fresh, S) == AP_KIND_ARG, "scoring before loading is an argument error");
    ap_sandbox_free(fresh);
    ap_sandbox_free(sb);
}

static void test_limits(void)
{
    ap_limits lim;
    ap_limits_default(&lim);
    lim.instructions = 1000000;
    lim.heap_bytes = 8u << 20;
    lim.output_bytes = 100;
    lim.source_bytes = 200;
    ap_sandbox *sb = ap_sandbox_new(&lim);
    int line;
    const char *msg;
    int k = run_src(sb, "return function(W, X)\n  while true do end\nend", &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT && line == 2, "an endless loop hits the instruction limit on line 2: %s", msg);
    ap_usage u;
    ap_sandbox_usage(sb, &u);
    AP_CHECK(u.instructions >= 1000000 && u.instructions <= 1002000, "instructions counted: %llu",
             (unsigned long long)u.instructions);
    k = run_src(sb, "while true do pcall(function() while true do end end) end", &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT, "pcall cannot swallow the instruction limit: %s", msg);
    k = run_src(sb, "local t = {} for i = 1, 1e9 do t[i] = i end", &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT, "a table bomb hits a limit: %s", msg);
    k = run_src(sb, "local ok = pcall(string.rep, 'x', 1e8) return function() return 1 end", &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT, "a string.rep bomb inside pcall still hits the limit: %s", msg);
    k = run_src(sb, "for i = 1, 100 do print('0123456789') end", &line, &msg);
    size_t len;
    ap_sandbox_output(sb, &len);
    AP_CHECK(k == AP_KIND_LIMIT && len == 100, "print stops at the output limit (%zu bytes): %s", len, msg);
    char big[400];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "return 1", 8);
    k = run_src(sb, big, &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT, "a source over the source limit is refused: %s", msg);
    k = run_src(sb, "return function(W) return W:abs() end", &line, &msg);
    AP_CHECK(k == AP_KIND_OK, "a good metric runs normally after each limit");
    ap_sandbox_free(sb);

    ap_limits_default(&lim);
    lim.tensor_bytes = 1u << 20;
    sb = ap_sandbox_new(&lim);
    k = run_src(sb, "return function(W) local t = T.zeros(1024, 1024) return W end", &line, &msg);
    AP_CHECK(k == AP_KIND_LIMIT, "a tensor over the tensor byte limit is refused: %s", msg);
    k = run_src(sb, "return function(W) for i = 1, 1000 do local t = T.zeros(256, 256) end return W end", &line, &msg);
    AP_CHECK(k == AP_KIND_OK, "dead tensors are collected when the tensor budget runs short: %s", msg);
    ap_sandbox_free(sb);
}

/* ---- threads ---- */

typedef struct {
    ap_sandbox *sb;
    int delay_ms;
} interrupter;

static void *interrupt_later(void *p)
{
    interrupter *it = p;
    usleep((useconds_t)it->delay_ms * 1000);
    ap_sandbox_interrupt(it->sb);
    return NULL;
}

static void test_interrupt(void)
{
    ap_limits lim;
    ap_limits_default(&lim);
    lim.instructions = UINT64_MAX / 4;
    lim.wall_ms = 60000;
    ap_sandbox *sb = ap_sandbox_new(&lim);
    AP_CHECK(ap_sandbox_load_string(sb, "return function(W) while true do end end", 0, NULL) == AP_KIND_OK,
             "a looping metric loads");
    interrupter it = {sb, 200};
    pthread_t th;
    pthread_create(&th, NULL, interrupt_later, &it);
    double t0 = now_ms();
    float S[6];
    int k = score_small(sb, S);
    double ms = now_ms() - t0;
    pthread_join(th, NULL);
    AP_CHECK(k == AP_KIND_INTERRUPTED && ms >= 150 && ms < 2000, "another thread interrupts a looping script (%.0f ms)",
             ms);
    AP_CHECK(ap_sandbox_load_string(sb, "return function(W) return W end", 0, NULL) == AP_KIND_OK &&
                 score_small(sb, S) == AP_KIND_OK,
             "the interrupt is consumed: the next run works");
    ap_sandbox_interrupt(sb);
    AP_CHECK(ap_sandbox_load_string(sb, "return function(W) return W end", 0, NULL) == AP_KIND_INTERRUPTED,
             "an interrupt while idle stops the next run, however short");
    AP_CHECK(ap_sandbox_load_string(sb, "return function(W) return W end", 0, NULL) == AP_KIND_OK,
             "... and only that one");
    ap_sandbox_free(sb);
}

typedef struct {
    int seed, ok;
} worker;

static void *score_many(void *p)
{
    worker *w = p;
    ap_sandbox *sb = ap_sandbox_new(NULL);
    char src[200];
    snprintf(src, sizeof src,
             "local k = %d\nreturn function(W, X)\n  local s = 0 for i = 1, 20000 do s = s + 1 end\n"
             "  return W:abs() * X.l2 + k end",
             w->seed);
    w->ok = ap_sandbox_load_string(sb, src, 0, NULL) == AP_KIND_OK;
    for (int rep = 0; rep < 20 && w->ok; rep++) {
        float S[6];
        w->ok = score_small(sb, S) == AP_KIND_OK;
        for (int i = 0; i < 6 && w->ok; i++)
            w->ok = fabsf(S[i] - (fabsf(W23[i]) * L2[i % 3] + (float)w->seed)) < 1e-5f;
    }
    ap_sandbox_free(sb);
    return NULL;
}

static void test_two_threads(void)
{
    worker a = {1, 0}, b = {100, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, score_many, &a);
    pthread_create(&tb, NULL, score_many, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    AP_CHECK(a.ok && b.ok, "two sandboxes in two threads score independently (%d, %d)", a.ok, b.ok);
}

/* Scripts that recurse through the parser and through pcall inside C, run on a thread with the normal 8 MiB
 * stack: they must end in an error (or survive), never overflow the C stack. */
static void *deep_scripts(void *p)
{
    int *ok = p;
    char src[5000];
    strcpy(src, "return ");
    for (int i = 0; i < 2000; i++)
        strcat(src, "(");
    strcat(src, "1");
    for (int i = 0; i < 2000; i++)
        strcat(src, ")");
    ap_sandbox *sb = ap_sandbox_new(NULL);
    int line;
    const char *msg;
    ok[0] = run_src(sb, src, &line, &msg) == AP_KIND_SYNTAX;
    ok[1] = run_src(sb,
                    "local function loop() assert(pcall(loop)) end\n"
                    "xpcall(loop, loop)\nlocal function f() return pcall(f) end\nf()\n"
                    "return function(W) return W end",
                    &line, &msg) == AP_KIND_OK;
    ok[2] = run_src(sb, "local function f(n) return 1 + f(n + 1) end\nreturn function(W) return f(1) end", &line,
                    &msg) == AP_KIND_RUNTIME;
    ap_sandbox_free(sb);
    return NULL;
}

static void test_deep_on_8mb_thread(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20);
    int ok[3] = {0, 0, 0};
    pthread_t th;
    pthread_create(&th, &attr, deep_scripts, ok);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    AP_CHECK(ok[0], "2000 nested parentheses: a syntax error on an 8 MiB thread stack");
    AP_CHECK(ok[1], "recursion through pcall/xpcall inside C ends cleanly on an 8 MiB thread stack");
    AP_CHECK(ok[2], "unbounded Lua recursion: a runtime stack overflow on an 8 MiB thread stack");
}

int main(void)
{
    test_defaults();
    test_wanda();
    test_table_form();
    test_reads();
    test_errors();
    test_limits();
    test_interrupt();
    test_two_threads();
    test_deep_on_8mb_thread();
    return aptest_done();
}
