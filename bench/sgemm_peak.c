/* sgemm_peak.c — bench/eval's yardstick: cblas_sgemm GFLOP/s at a model's linear shapes (the q/k/v/o,
 * gate/up/down and lm_head matmuls over one batch of rows), best of several passes, and the better of two ways of
 * using the threads: OpenBLAS's own threads on whole matmuls, or one single-threaded sgemm per thread on its own
 * slice of rows (what autoprune's forward pass does).
 * Usage: sgemm_peak ROWS HIDDEN QDIM KVDIM FFN VOCAB THREADS SECONDS
 * Prints "gflops G" (wall clock) and "cpu_gflops G" (per CPU-second of the process: robust on a busy machine). */
#include <cblas.h>
#include <pthread.h>
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
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct job {
    long r0, r1, shapes[8][2];
    const float *x;
    float *const *w;
    float *y;
} job;

static void run_rows(const job *j)
{
    for (int i = 0; i < 8; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(j->r1 - j->r0), (int)j->shapes[i][0],
                    (int)j->shapes[i][1], 1.0f, j->x + j->r0 * j->shapes[i][1], (int)j->shapes[i][1], j->w[i],
                    (int)j->shapes[i][1], 0.0f, j->y + j->r0 * j->shapes[i][0], (int)j->shapes[i][0]);
}

static void *thread_main(void *arg)
{
    run_rows(arg);
    return NULL;
}

/* One pass: mode 0 = OpenBLAS threads over whole matmuls, mode 1 = T threads x single-threaded row slices. */
static void pass(int mode, long R, long T, long shapes[8][2], const float *x, float *const *w, float *y)
{
    job jobs[64];
    if (T > 64)
        T = 64;
    if (mode == 0) {
        job j = {.r0 = 0, .r1 = R, .x = x, .w = w, .y = y};
        for (int i = 0; i < 8; i++)
            j.shapes[i][0] = shapes[i][0], j.shapes[i][1] = shapes[i][1];
        run_rows(&j);
        return;
    }
    pthread_t tid[64];
    for (long t = 0; t < T; t++) {
        jobs[t] = (job){.r0 = R * t / T, .r1 = R * (t + 1) / T, .x = x, .w = w, .y = y};
        for (int i = 0; i < 8; i++)
            jobs[t].shapes[i][0] = shapes[i][0], jobs[t].shapes[i][1] = shapes[i][1];
    }
    for (long t = 1; t < T; t++)
        pthread_create(&tid[t], NULL, thread_main, &jobs[t]);
    run_rows(&jobs[0]);
    for (long t = 1; t < T; t++)
        pthread_join(tid[t], NULL);
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
    /* (out, in) of each matmul; the lm_head runs on a 256-row slice at a time in the forward pass, but as a peak
     * reference it gets the whole batch here. */
    long shapes[8][2] = {{Q, H}, {KV, H}, {KV, H}, {H, Q}, {F, H}, {F, H}, {H, F}, {V, H}};
    long maxin = F > Q ? F : Q, maxout = V > F ? V : F;
    if (maxin < H)
        maxin = H;
    float *x = rnd((size_t)R * maxin), *y = rnd((size_t)R * maxout), *w[8];
    if (T < 1)
        T = 1;
    double flops = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = rnd((size_t)shapes[i][0] * shapes[i][1]);
        flops += 2.0 * R * shapes[i][0] * shapes[i][1];
    }
    double best = 0, best_cpu = 0;
    int passes = 0;
    for (int mode = 0; mode < 2; mode++) {
        openblas_set_num_threads(mode == 0 ? (int)T : 1);
        double t_end = now() + secs / 2;
        for (int n = 0; n < 3 || now() < t_end; n++, passes++) {
            double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            pass(mode, R, T, shapes, x, w, y);
            double g = flops / (now() - t0) / 1e9, gc = flops / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e9;
            if (g > best)
                best = g;
            if (gc > best_cpu)
                best_cpu = gc;
        }
    }
    printf("gflops %.2f\ncpu_gflops %.2f\npasses %d\n", best, best_cpu, passes);
    return 0;
}
