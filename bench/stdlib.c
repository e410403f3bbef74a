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
#define TIME_MEDIAN(result, ...)                                    \
    do {                                                            \
        double ts_[REPS];                                           \
        for (int r_ = 0; r_ < REPS; r_++) {                         \
            double t0_ = now();                                     \
            __VA_ARGS__;                                            \
            ts_[r_] = now() - t0_;                                  \
        }                                                           \
        qsort(ts_, REPS, sizeof ts_[0], cmp_double);                \
        result = ts_[REPS / 2];                                     \
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

static void bench_bandwidth(int64_t rows, int64_t cols)
{
    /* Operations run with a payload pool, as the Lua binding runs them (freed results are reused warm). */
    ap_tensor_pool *pool = ap_tensor_pool_new(NULL, NULL);
    const ap_budget *pb = ap_tensor_pool_budget(pool);
    size_t bytes = (size_t)(rows * cols) * sizeof(float);
    ap_tensor *a = random_tensor(rows, cols, 1), *row = random_tensor(1, cols, 2);
    float *dst = malloc(bytes);
    memset(dst, 0, bytes);
    double t_memcpy, t_abs, t_mul, t_sum, t_var, t_exp;
    volatile double sink = 0;
    TIME_MEDIAN(t_memcpy, memcpy(dst, ap_tensor_data(a), bytes));
    double t_abs_nopool;
    TIME_MEDIAN(t_abs_nopool, ap_tensor_free(ap_tensor_unary(a, AP_UN_ABS, NULL, NULL)));
    TIME_MEDIAN(t_abs, ap_tensor_free(ap_tensor_unary(a, AP_UN_ABS, pb, NULL)));
    TIME_MEDIAN(t_mul, ap_tensor_free(ap_tensor_binary(a, row, AP_BIN_MUL, pb, NULL)));
    TIME_MEDIAN(t_exp, ap_tensor_free(ap_tensor_unary(a, AP_UN_EXP, pb, NULL)));
    double v;
    TIME_MEDIAN(t_sum, (ap_tensor_reduce_all(a, AP_RED_SUM, 0, &v, NULL, NULL), sink += v));
    TIME_MEDIAN(t_var, (ap_tensor_reduce_all(a, AP_RED_VAR, 0, &v, NULL, NULL), sink += v));
    double gb = bytes / 1e9, memcpy_bw = 2 * gb / t_memcpy;   /* memcpy reads and writes `bytes` */
    printf("\n[%lld x %lld float32 = %.0f MB; GB/s count bytes read + written; median of %d]\n", (long long)rows,
           (long long)cols, bytes / 1e6, REPS);
    printf("  memcpy                 %7.2f GB/s\n", memcpy_bw);
    printf("  abs (new result)       %7.2f GB/s  %5.0f%% of memcpy\n", 2 * gb / t_abs, 100 * (2 * gb / t_abs) / memcpy_bw);
    printf("  abs, no payload pool   %7.2f GB/s  %5.0f%% of memcpy (fresh pages from the kernel every time)\n",
           2 * gb / t_abs_nopool, 100 * (2 * gb / t_abs_nopool) / memcpy_bw);
    printf("  mul [m,n]*[1,n]        %7.2f GB/s  %5.0f%% of memcpy\n", 2 * gb / t_mul, 100 * (2 * gb / t_mul) / memcpy_bw);
    printf("  exp (compute-bound)    %7.2f GB/s  %5.0f%% of memcpy\n", 2 * gb / t_exp, 100 * (2 * gb / t_exp) / memcpy_bw);
    printf("  sum (whole)            %7.2f GB/s  %5.0f%% of memcpy\n", gb / t_sum, 100 * (gb / t_sum) / memcpy_bw);
    printf("  var (whole, 2 passes)  %7.2f GB/s  %5.0f%% of memcpy (bytes of the input once)\n", gb / t_var,
           100 * (gb / t_var) / memcpy_bw);
    printf("  target: elementwise >= 50%% of memcpy on >= 4 MB: abs %s, mul %s\n",
           2 * gb / t_abs >= 0.5 * memcpy_bw ? "MET" : "MISSED", 2 * gb / t_mul >= 0.5 * memcpy_bw ? "MET" : "MISSED");
    free(dst);
    ap_tensor_free(a);
    ap_tensor_free(row);
    ap_tensor_pool_close(pool);
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
           "(%.0f%% of direct)\n", n, n, n, flop / t_direct, flop / t_lib, 100 * t_direct / t_lib);
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
    free(warm);
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
    printf("\n[Wanda scores W:abs() * X.l2, W %d x %d; median of %d]\n", n, n, REPS);
    printf("  C loop, fresh malloc'd scores      %8.2f ms\n", t_c * 1e3);
    printf("  C loop into a reused warm buffer   %8.2f ms\n", t_c_warm * 1e3);
    printf("  Lua script + T binding             %8.2f ms = %.2fx the fresh C loop, %.2fx the warm one\n",
           t_lua * 1e3, t_lua / t_c, t_lua / t_c_warm);
    printf("  target: Lua <= 2x the C loop: %s against the fresh loop, %s against the warm loop\n",
           t_lua <= 2 * t_c ? "MET" : "MISSED", t_lua <= 2 * t_c_warm ? "MET" : "MISSED");
    lua_close(L);
    ap_tensor_free(w);
    ap_tensor_free(l2);
}

int main(void)
{
    printf("autoprune stdlib benchmark (single thread for elementwise kernels; OpenBLAS threads for matmul)\n");
    bench_bandwidth(1024, 1024);   /* 4 MB */
    bench_bandwidth(4096, 4096);   /* 64 MB */
    bench_matmul(1024);
    bench_wanda(4096);
    return 0;
}
