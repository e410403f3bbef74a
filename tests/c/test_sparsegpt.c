/* test_sparsegpt.c — SparseGPT: exact sparsity, exact N:M pattern, reconstruction error far below magnitude
 * pruning's on correlated inputs, dead inputs, and the errors (not positive definite, non-finite, bad options). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aptest.h"
#include "ap_sparsegpt.h"

/* xorshift64* → uniform in (0,1) and a Box–Muller normal: deterministic test data. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((double)((rng_state * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()); }

typedef struct layer {
    int64_t out, in, ntok;
    float *W, *X; /* W [out, in], X [ntok, in] */
    double *H;    /* [in, in] = 2/ntok XᵀX */
} layer;

/* Inputs with strongly correlated channels (a random mixing of a few latent factors plus noise) and a few
 * large-scale channels, as real activations have. */
static layer make_layer(int64_t out, int64_t in, int64_t ntok)
{
    layer L = {out,
               in,
               ntok,
               malloc(sizeof(float) * out * in),
               malloc(sizeof(float) * ntok * in),
               calloc((size_t)(in * in), sizeof(double))};
    int64_t nf = in / 4;
    double *mix = malloc(sizeof(double) * nf * in), *z = malloc(sizeof(double) * nf);
    for (int64_t i = 0; i < nf * in; i++)
        mix[i] = nrand();
    for (int64_t t = 0; t < ntok; t++) {
        for (int64_t f = 0; f < nf; f++)
            z[f] = nrand();
        for (int64_t j = 0; j < in; j++) {
            double v = 0.3 * nrand();
            for (int64_t f = 0; f < nf; f++)
                v += z[f] * mix[f * in + j] / sqrt((double)nf);
            L.X[t * in + j] = (float)(v * (j % 17 == 0 ? 6.0 : 1.0));
        }
    }
    for (int64_t i = 0; i < out * in; i++)
        L.W[i] = (float)(0.05 * nrand());
    for (int64_t t = 0; t < ntok; t++)
        for (int64_t a = 0; a < in; a++)
            for (int64_t b = 0; b < in; b++)
                L.H[a * in + b] += 2.0 / ntok * L.X[t * in + a] * L.X[t * in + b];
    free(mix);
    free(z);
    return L;
}
static void free_layer(layer *L)
{
    free(L->W);
    free(L->X);
    free(L->H);
}

/* ‖W X − Ŵ X‖_F / ‖W X‖_F over the layer's tokens. */
static double recon_error(const layer *L, const float *What)
{
    double num = 0, den = 0;
    for (int64_t t = 0; t < L->ntok; t++)
        for (int64_t r = 0; r < L->out; r++) {
            double y = 0, yh = 0;
            for (int64_t j = 0; j < L->in; j++) {
                y += (double)L->W[r * L->in + j] * L->X[t * L->in + j];
                yh += (double)What[r * L->in + j] * L->X[t * L->in + j];
            }
            num += (y - yh) * (y - yh);
            den += y * y;
        }
    return sqrt(num / den);
}

static int cmp_float_abs(const void *a, const void *b)
{
    float x = fabsf(*(const float *)a), y = fabsf(*(const float *)b);
    return (x > y) - (x < y);
}
/* Magnitude pruning of the whole matrix at sparsity s (the baseline SparseGPT must beat). */
static float *magnitude(const layer *L, double s)
{
    int64_t n = L->out * L->in, k = (int64_t)floor((double)n * s);
    float *W = malloc(sizeof(float) * n), *sorted = malloc(sizeof(float) * n);
    memcpy(W, L->W, sizeof(float) * n);
    memcpy(sorted, L->W, sizeof(float) * n);
    qsort(sorted, (size_t)n, sizeof(float), cmp_float_abs);
    float th = fabsf(sorted[k - 1]);
    int64_t done = 0;
    for (int64_t i = 0; i < n && done < k; i++)
        if (fabsf(W[i]) <= th) {
            W[i] = 0;
            done++;
        }
    free(sorted);
    return W;
}

static int64_t count_zeros(const float *W, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++)
        z += W[i] == 0.0f;
    return z;
}

static float *pruned_copy(const layer *L, double s, int n, int m, int bs, ap_status *st, ap_error *err)
{
    float *W = malloc(sizeof(float) * L->out * L->in);
    memcpy(W, L->W, sizeof(float) * L->out * L->in);
    *st = ap_sparsegpt_prune(W, L->out, L->in, L->H, s, n, m, bs, 0.01, err);
    return W;
}

static void test_unstructured(layer *L)
{
    const double sp[] = {0.5, 0.7, 0.8};
    for (int i = 0; i < 3; i++) {
        ap_error err = {0};
        ap_status st;
        float *W = pruned_copy(L, sp[i], 0, 0, 128, &st, &err);
        int64_t n = L->out * L->in;
        AP_CHECK(st == AP_OK, "unstructured %.1f runs (%s)", sp[i], err.msg);
        AP_CHECK(count_zeros(W, n) == (int64_t)floor(n * sp[i]),
                 "unstructured %.1f: exactly floor(numel*s) = %lld "
                 "zeros (got %lld)",
                 sp[i], (long long)floor(n * sp[i]), (long long)count_zeros(W, n));
        float *M = magnitude(L, sp[i]);
        double es = recon_error(L, W), em = recon_error(L, M);
        AP_CHECK(es < 0.6 * em, "unstructured %.1f: reconstruction error %.4f well below magnitude's %.4f", sp[i], es,
                 em);
        int finite = 1;
        for (int64_t j = 0; j < n; j++)
            finite &= isfinite(W[j]);
        AP_CHECK(finite, "unstructured %.1f: all weights finite", sp[i]);
        free(W);
        free(M);
    }
}

static void test_nm(layer *L)
{
    const int pat[][2] = {{2, 4}, {4, 8}, {1, 4}};
    for (int p = 0; p < 3; p++) {
        int n = pat[p][0], m = pat[p][1];
        ap_error err = {0};
        ap_status st;
        float *W = pruned_copy(L, 0.0, n, m, 128, &st, &err);
        AP_CHECK(st == AP_OK, "%d:%d runs (%s)", n, m, err.msg);
        int exact = 1;
        for (int64_t r = 0; r < L->out; r++)
            for (int64_t g = 0; g < L->in; g += m) {
                int z = 0;
                for (int a = 0; a < m; a++)
                    z += W[r * L->in + g + a] == 0.0f;
                exact &= z == n;
            }
        AP_CHECK(exact, "%d:%d: every group of %d has exactly %d zeros", n, m, m, n);
        float *M = magnitude(L, (double)n / m);
        double es = recon_error(L, W), em = recon_error(L, M);
        AP_CHECK(es < 0.8 * em, "%d:%d: reconstruction error %.4f below unstructured magnitude's %.4f", n, m, es, em);
        free(W);
        free(M);
    }
}

/* A partial last block (in not a multiple of blocksize) and a small blocksize: still exact. */
static void test_blocks(void)
{
    layer L = make_layer(24, 100, 300);
    ap_error err = {0};
    ap_status st;
    float *W = pruned_copy(&L, 0.63, 0, 0, 32, &st, &err);
    AP_CHECK(st == AP_OK && count_zeros(W, 2400) == (int64_t)floor(2400 * 0.63),
             "blocksize 32 over 100 columns: exact count %lld", (long long)count_zeros(W, 2400));
    free(W);
    W = pruned_copy(&L, 0.0, 0, 0, 128, &st, &err);
    AP_CHECK(st == AP_OK && memcmp(W, L.W, sizeof(float) * 2400) == 0, "sparsity 0 leaves W unchanged");
    free(W);
    free_layer(&L);
}

/* A dead input (its column of X all zero, H_jj = 0) is handled as the reference does: W's column zeroed. */
static void test_dead(void)
{
    layer L = make_layer(16, 64, 200);
    for (int64_t j = 0; j < 64; j++) {
        L.H[5 * 64 + j] = 0;
        L.H[j * 64 + 5] = 0;
    }
    ap_error err = {0};
    ap_status st;
    float *W = pruned_copy(&L, 0.25, 0, 0, 128, &st, &err);
    int colzero = 1;
    for (int64_t r = 0; r < 16; r++)
        colzero &= W[r * 64 + 5] == 0.0f;
    AP_CHECK(st == AP_OK && colzero, "dead input: runs, its column is zero (%s)", err.msg);
    AP_CHECK(count_zeros(W, 16 * 64) == 256, "dead input: its zeros count toward the exact quota (%lld)",
             (long long)count_zeros(W, 16 * 64));
    free(W);
    free_layer(&L);
}

static void test_errors(void)
{
    int64_t in = 8, out = 4;
    double H[64] = {0};
    float W[32], W0[32];
    for (int i = 0; i < 32; i++)
        W[i] = W0[i] = (float)(i + 1);
    for (int i = 0; i < 8; i++)
        H[i * 8 + i] = -1.0; /* negative definite */
    ap_error err = {0};
    ap_status st = ap_sparsegpt_prune(W, out, in, H, 0.5, 0, 0, 128, 0.0, &err);
    AP_CHECK(st == AP_E_ARG && strstr(err.msg, "positive definite"), "not positive definite: error says so (%s)",
             err.msg);
    AP_CHECK(memcmp(W, W0, sizeof W) == 0, "not positive definite: W untouched");
    for (int i = 0; i < 8; i++)
        H[i * 8 + i] = 1.0;
    W[3] = NAN;
    st = ap_sparsegpt_prune(W, out, in, H, 0.5, 0, 0, 128, 0.01, &err);
    AP_CHECK(st == AP_E_NONFINITE && strstr(err.msg, "W[0, 3]"), "NaN weight: nonfinite error naming it (%s)", err.msg);
    W[3] = 4;
    H[9] = INFINITY;
    st = ap_sparsegpt_prune(W, out, in, H, 0.5, 0, 0, 128, 0.01, &err);
    AP_CHECK(st == AP_E_NONFINITE, "Inf in H: nonfinite error (%s)", err.msg);
    H[9] = 0;
    AP_CHECK(ap_sparsegpt_prune(W, out, in, H, 1.0, 0, 0, 128, 0.01, &err) == AP_E_ARG, "sparsity 1: rejected");
    AP_CHECK(ap_sparsegpt_prune(W, out, in, H, 0.5, 3, 2, 128, 0.01, &err) == AP_E_ARG, "3:2: rejected");
    AP_CHECK(ap_sparsegpt_prune(W, out, in, H, 0.5, 2, 3, 128, 0.01, &err) == AP_E_ARG, "2:3 on 8 inputs: rejected");
    AP_CHECK(ap_sparsegpt_prune(W, out, in, H, 0.5, 0, 0, 0, 0.01, &err) == AP_E_ARG, "blocksize 0: rejected");
    AP_CHECK(ap_sparsegpt_prune(W, 0, in, H, 0.5, 0, 0, 128, 0.01, &err) == AP_E_ARG, "0 rows: rejected");
    AP_CHECK(ap_sparsegpt_prune(W, out, in, H, 0.5, 0, 0, 128, -1, &err) == AP_E_ARG, "negative damp: rejected");
    AP_CHECK(ap_sparsegpt_prune(NULL, out, in, H, 0.5, 0, 0, 128, 0.01, &err) == AP_E_ARG, "NULL W: rejected");
}

int main(void)
{
    layer L = make_layer(64, 256, 1024);
    test_unstructured(&L);
    test_nm(&L);
    free_layer(&L);
    test_blocks();
    test_dead();
    test_errors();
    return aptest_done();
}
