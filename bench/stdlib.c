/* bench/stdlib.c — throughput of the tensor stdlib against memcpy / cblas_sgemm / a hand-written C loop, all
 * measured in the same run. Built and run by bench/stdlib. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lap_tensor.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define REPS 9
/* Median seconds of REPS runs of a statement. */
#define TIME_MEDIAN(result, ...)                                                                                       \
    do {                                                                                                               \
        double ts_[REPS];                                                                                              \
        for (int r_ = 0; r_ < REPS; r_++) {                                                                            \
            double t0_ = now();                                                                                        \
            __VA_ARGS__;                                                                                               \
            ts_[r_] = now() - t0_;                                                                                     \
        }                                                                                                              \
        qsort(ts_, REPS, sizeof ts_[0], cmp_double);                                                                   \
        result = ts_[REPS / 2];                                                                                        \
    } while (0)

static ap_tensor *random_tensor(int64_t rows, int64_t cols, unsigned seed)
{
    ap_tensor *t = ap_tensor_new(rows, cols, NULL, NULL);
    float *d = ap_tensor_data(t);
    for (int64_t i = 0; i < rows * cols; i++) {
        seed = seed * 1664525u + 1013904223u;
        d[i] = ((int)(seed >> 8) - (1 << 23)) / (float)(1 << 23);
    }
    return t;
}

/* One memory-bound operation, measured in alternation with memcpy of the same bytes so that both see the same
 * machine load (this box is shared); the ratio uses the paired memcpy median. */
typedef struct bw_case {
    const ap_tensor *a, *row;
    const ap_budget *budget;
    float *dst;
    size_t bytes;
    double sink;
} bw_case;

typedef void (*bw_fn)(bw_case *c);

static void op_memcpy(bw_case *c) { memcpy(c->dst, ap_tensor_data(c->a), c->bytes); }
static void op_abs(bw_case *c) { ap_tensor_free(ap_tensor_unary(c->a, AP_UN_ABS, c->budget, NULL)); }
static void op_mul(bw_case *c) { ap_tensor_free(ap_tensor_binary(c->a, c->row, AP_BIN_MUL, c->budget, NULL)); }
static void op_exp(bw_case *c) { ap_tensor_free(ap_tensor_unary(c->a, AP_UN_EXP, c->budget, NULL)); }
static void op_sum(bw_case *c)
{
    double v = 0;
    ap_tensor_reduce_all(c->a, AP_RED_SUM, 0, &v, c->budget, NULL);
    c->sink += v;
}
static void op_var(bw_case *c)
{
    double v = 0;
    ap_tensor_reduce_all(c->a, AP_RED_VAR, 0, &v, c->budget, NULL);
    c->sink += v;
}

/* Prints one line; returns op bandwidth / memcpy bandwidth. moved: bytes the op moves per byte of input. */
static double bw_line(bw_case *c, const char *name, bw_fn fn, double moved, const char *note)
{
    double tm[REPS], to[REPS];
    fn(c); /* warm up (pool, page tables) */
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        op_memcpy(c);
        double t1 = now();
        fn(c);
        double t2 = now();
        tm[r] = t1 - t0;
        to[r] = t2 - t1;
    }
    qsort(tm, REPS, sizeof tm[0], cmp_double);
    qsort(to, REPS, sizeof to[0], cmp_double);
    double gb = c->bytes / 1e9, mem_bw = 2 * gb / tm[REPS / 2], op_bw = moved * gb / to[REPS / 2];
    printf("  %-24s %7.2f GB/s  memcpy %7.2f GB/s  %5.0f%%%s\n", name, op_bw, mem_bw, 100 * op_bw / mem_bw, note);
    return op_bw / mem_bw;
}

static void bench_bandwidth(int64_t rows, int64_t cols)
{
    /* Operations run with a payload pool, as the Lua binding runs them (freed results are reused warm). */
    ap_tensor_pool *pool = ap_tensor_pool_new(NULL, NULL);
    bw_case c = {0};
    c.bytes = (size_t)(rows * cols) * sizeof(float);
    ap_tensor *a = random_tensor(rows, cols, 1), *row = random_tensor(1, cols, 2);
    c.a = a;
    c.row = row;
    c.budget = ap_tensor_pool_budget(pool);
    c.dst = malloc(c.bytes);
    memset(c.dst, 0, c.bytes);
    printf("\n[%lld x %lld float32 = %.1f MB; GB/s count bytes read + written; medians of %d]\n", (long long)rows,
           (long long)cols, c.bytes / 1e6, REPS);
    double r_abs = bw_line(&c, "abs", op_abs, 2, "");
    double r_mul = bw_line(&c, "mul [m,n] * [1,n]", op_mul, 2, "");
    bw_line(&c, "exp", op_exp, 2, "  (compute-bound: libm expf)");
    bw_line(&c, "sum (whole)", op_sum, 1, "  (reads only)");
    bw_line(&c, "var (whole, two passes)", op_var, 1, "  (input bytes once)");
    c.budget = NULL;
    bw_line(&c, "abs without payload pool", op_abs, 2, "  (fresh pages from the kernel each time)");
    printf("  target elementwise >= 50%% of memcpy: abs %s, mul %s\n", r_abs >= 0.5 ? "MET" : "MISSED",
           r_mul >= 0.5 ? "MET" : "MISSED");
    free(c.dst);
    ap_tensor_free(a);
    ap_tensor_free(row);
    ap_tensor_pool_close(pool);
    if (c.sink == 12345.678)
        printf("(sink)\n");
}

static void bench_matmul(int n)
{
    ap_tensor *a = random_tensor(n, n, 3), *b = random_tensor(n, n, 4);
    float *c = malloc((size_t)n * n * sizeof(float));
    double t_direct, t_lib;
    TIME_MEDIAN(t_direct, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, ap_tensor_data(a), n,
                                      ap_tensor_data(b), n, 0.0f, c, n));
    TIME_MEDIAN(t_lib, ap_tensor_free(ap_tensor_matmul(a, b, NULL, NULL)));
    double flop = 2.0 * n * n * n / 1e9;
    printf("\n[matmul %d x %d x %d]\n  cblas_sgemm direct     %7.2f GFLOP/s\n  T.matmul core          %7.2f GFLOP/s  "
           "(%.0f%% of direct)\n",
           n, n, n, flop / t_direct, flop / t_lib, 100 * t_direct / t_lib);
    free(c);
    ap_tensor_free(a);
    ap_tensor_free(b);
}

static const char *WANDA = "return function(W, X, info) return W:abs() * X.l2 end";

static void bench_wanda(int n)
{
    ap_tensor *w = random_tensor(n, n, 5), *l2 = random_tensor(1, n, 6);
    /* C loop: allocate the scores, one pass. */
    double t_c, t_lua;
    volatile float sink = 0;
    TIME_MEDIAN(t_c, {
        float *out = malloc((size_t)n * n * sizeof(float));
        const float *wd = ap_tensor_data(w), *ld = ap_tensor_data(l2);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                out[(size_t)i * n + j] = fabsf(wd[(size_t)i * n + j]) * ld[j];
        sink += out[(size_t)n * n - 1];
        free(out);
    });
    /* The same loop into one buffer reused across runs: no allocation, no page faults (a lower bound). */
    double t_c_warm;
    float *warm = malloc((size_t)n * n * sizeof(float));
    memset(warm, 0, (size_t)n * n * sizeof(float));
    TIME_MEDIAN(t_c_warm, {
        const float *wd = ap_tensor_data(w), *ld = ap_tensor_data(l2);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                warm[(size_t)i * n + j] = fabsf(wd[(size_t)i * n + j]) * ld[j];
        sink += warm[(size_t)n * n - 1];
    });
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "T", lap_tensor_open, 1);
    lua_pop(L, 1);
    if (luaL_dostring(L, WANDA) != LUA_OK) {
        fprintf(stderr, "bench: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    int fn = lua_gettop(L);
    lap_tensor_push(L, ap_tensor_share(w, NULL));
    int wi = lua_gettop(L);
    lua_createtable(L, 0, 1);
    lap_tensor_push(L, ap_tensor_share(l2, NULL));
    lua_setfield(L, -2, "l2");
    int xi = lua_gettop(L);
    TIME_MEDIAN(t_lua, {
        lua_pushvalue(L, fn);
        lua_pushvalue(L, wi);
        lua_pushvalue(L, xi);
        lua_newtable(L);
        if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
            fprintf(stderr, "bench: %s\n", lua_tostring(L, -1));
            exit(1);
        }
        sink += ap_tensor_data(lap_tensor_check(L, -1))[0];
        lua_pop(L, 1);
    });
    /* The scores must be the same floats as the C loop's (same operations, same order). */
    lua_pushvalue(L, fn);
    lua_pushvalue(L, wi);
    lua_pushvalue(L, xi);
    lua_newtable(L);
    int same = lua_pcall(L, 3, 1, 0) == LUA_OK &&
               memcmp(ap_tensor_data(lap_tensor_check(L, -1)), warm, (size_t)n * n * sizeof(float)) == 0;
    lua_pop(L, 1);
    free(warm);
    printf("\n[Wanda scores W:abs() * X.l2, W %d x %d; median of %d]\n", n, n, REPS);
    printf("  C loop, fresh malloc'd scores      %8.2f ms\n", t_c * 1e3);
    printf("  C loop into a reused warm buffer   %8.2f ms\n", t_c_warm * 1e3);
    printf("  Lua script + T binding             %8.2f ms = %.2fx the fresh C loop, %.2fx the warm one\n", t_lua * 1e3,
           t_lua / t_c, t_lua / t_c_warm);
    printf("  scores identical to the C loop's: %s\n", same ? "yes" : "NO");
    printf("  target: Lua <= 2x the C loop: %s against the fresh loop, %s against the warm loop\n",
           t_lua <= 2 * t_c ? "MET" : "MISSED", t_lua <= 2 * t_c_warm ? "MET" : "MISSED");
    lua_close(L);
    ap_tensor_free(w);
    ap_tensor_free(l2);
}

int main(void)
{
    printf("autoprune stdlib benchmark (single thread for elementwise kernels; OpenBLAS threads for matmul)\n");
    bench_bandwidth(1024, 1024); /* 4 MB */
    bench_bandwidth(4096, 4096); /* 64 MB */
    bench_matmul(1024);
    bench_wanda(4096);
    return 0;
}
