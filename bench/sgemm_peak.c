/* sgemm_peak.c — bench/eval's yardstick: cblas_sgemm GFLOP/s at a model's linear shapes (the q/k/v/o,
 * gate/up/down and lm_head matmuls over one batch of rows), with OpenBLAS's own threads, best of several passes.
 * Usage: sgemm_peak ROWS HIDDEN QDIM KVDIM FFN VOCAB THREADS SECONDS
 * Prints "gflops G" (wall clock) and "cpu_gflops G" (per CPU-second of the process: robust on a busy machine). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: sgemm_peak ROWS HIDDEN QDIM KVDIM FFN VOCAB THREADS SECONDS\n");
        return 2;
    }
    long R = atol(argv[1]), H = atol(argv[2]), Q = atol(argv[3]), KV = atol(argv[4]), F = atol(argv[5]);
    long V = atol(argv[6]), T = atol(argv[7]);
    double secs = atof(argv[8]);
    openblas_set_num_threads((int)T);
    /* (out, in) of each matmul; the lm_head runs on a 256-row slice at a time in the forward pass, but as a peak
     * reference it gets the whole batch here. */
    long shapes[8][2] = {{Q, H}, {KV, H}, {KV, H}, {H, Q}, {F, H}, {F, H}, {H, F}, {V, H}};
    long maxin = F > Q ? F : Q, maxout = V > F ? V : F;
    if (maxin < H) maxin = H;
    float *x = rnd((size_t)R * maxin), *y = rnd((size_t)R * maxout), *w[8];
    double flops = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = rnd((size_t)shapes[i][0] * shapes[i][1]);
        flops += 2.0 * R * shapes[i][0] * shapes[i][1];
    }
    double best = 0, best_cpu = 0, t_end = now() + secs;
    int passes = 0;
    while (passes < 3 || now() < t_end) {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < 8; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)shapes[i][0], (int)shapes[i][1], 1.0f,
                        x, (int)shapes[i][1], w[i], (int)shapes[i][1], 0.0f, y, (int)shapes[i][0]);
        double g = flops / (now() - t0) / 1e9, gc = flops / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e9;
        if (g > best) best = g;
        if (gc > best_cpu) best_cpu = gc;
        passes++;
    }
    printf("gflops %.2f\ncpu_gflops %.2f\npasses %d\n", best, best_cpu, passes);
    return 0;
}
