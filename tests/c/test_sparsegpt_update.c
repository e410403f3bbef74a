/* test_sparsegpt_update.c — SparseGPT's OBS update with a given mask (ap_sparsegpt_update) and with a caller's
 * saliency (ap_sparsegpt_scored): both must reproduce ap_sparsegpt_prune bit for bit when handed SparseGPT's own
 * choice, keep exactly the mask they are given, and reconstruct better than masking alone. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aptest.h"
#include "ap_sparsegpt.h"

enum { OUT = 24, IN = 160, NTOK = 600 }; /* IN > 128: two column blocks, the second one partial */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Correlated inputs (a few shared factors), H = 2/n XᵀX, weights with a heavy-ish tail. */
static void make_layer(float *W, double *H, float *X)
{
    for (int t = 0; t < NTOK; t++) {
        double f[4] = {nrand(), nrand(), nrand(), nrand()};
        for (int j = 0; j < IN; j++)
            X[t * IN + j] = (float)((0.3 + (j % 7) * 0.2) * nrand() + f[j % 4] * 0.8 + (j == 3 ? 4.0 * f[0] : 0.0));
    }
    for (int a = 0; a < IN; a++)
        for (int b = 0; b < IN; b++) {
            double s = 0;
            for (int t = 0; t < NTOK; t++)
                s += (double)X[t * IN + a] * X[t * IN + b];
            H[a * IN + b] = 2.0 * s / NTOK;
        }
    for (int i = 0; i < OUT * IN; i++)
        W[i] = (float)(nrand() * (urand() < 0.05 ? 3.0 : 1.0));
}

/* ||(W0 − W) Xᵀ||² over the calibration tokens: the layer's output error. */
static double out_error(const float *W0, const float *W, const float *X)
{
    double e = 0;
    for (int t = 0; t < NTOK; t++)
        for (int r = 0; r < OUT; r++) {
            double d = 0;
            for (int j = 0; j < IN; j++)
                d += ((double)W0[r * IN + j] - W[r * IN + j]) * X[t * IN + j];
            e += d * d;
        }
    return e;
}

/* Saliency for the scored variant: |w| · sqrt(H_jj) (Wanda's), optionally counting its calls. */
typedef struct {
    const double *H;
    int calls;
} wanda_ud;
static ap_status wanda_score(void *ud, const float *W, int64_t out, int64_t in, float *s, ap_error *err)
{
    (void)err;
    wanda_ud *u = ud;
    u->calls++;
    for (int64_t r = 0; r < out; r++)
        for (int64_t j = 0; j < in; j++)
            s[r * in + j] = fabsf(W[r * in + j]) * (float)sqrt(u->H[j * in + j]);
    return AP_OK;
}
static ap_status nan_score(void *ud, const float *W, int64_t out, int64_t in, float *s, ap_error *err)
{
    (void)ud;
    (void)W;
    (void)err;
    for (int64_t i = 0; i < out * in; i++)
        s[i] = i == 5 ? NAN : 1.0f;
    return AP_OK;
}

int main(void)
{
    static float W0[OUT * IN], A[OUT * IN], B[OUT * IN], C[OUT * IN], X[NTOK * IN];
    static double H[IN * IN];
    static unsigned char keep[OUT * IN];
    make_layer(W0, H, X);
    ap_error err = {0};

    /* 1. SparseGPT's own mask handed back: the update alone reproduces SparseGPT exactly */
    memcpy(A, W0, sizeof A);
    AP_CHECK(ap_sparsegpt_prune(A, OUT, IN, H, 0.7, 0, 0, 128, 0.01, &err) == AP_OK, "sparsegpt runs (%s)", err.msg);
    int64_t zeros = 0;
    for (int i = 0; i < OUT * IN; i++) {
        keep[i] = A[i] != 0.0f;
        zeros += !keep[i];
    }
    memcpy(B, W0, sizeof B);
    AP_CHECK(ap_sparsegpt_update(B, OUT, IN, H, keep, 128, 0.01, &err) == AP_OK, "update runs (%s)", err.msg);
    AP_CHECK(memcmp(A, B, sizeof A) == 0, "update with SparseGPT's mask = SparseGPT, bit for bit");

    /* 2. a metric's mask (Wanda per row): exactly its zeros, kept weights change, output error below masking */
    int64_t kr = (int64_t)floor(IN * 0.7);
    for (int r = 0; r < OUT; r++) {
        for (int j = 0; j < IN; j++)
            keep[r * IN + j] = 1;
        for (int64_t n = 0; n < kr; n++) { /* prune the kr lowest |w|·sqrt(H_jj) of the row */
            int lo = -1;
            double best = INFINITY;
            for (int j = 0; j < IN; j++) {
                double s = fabs(W0[r * IN + j]) * sqrt(H[j * IN + j]);
                if (keep[r * IN + j] && s < best) {
                    best = s;
                    lo = j;
                }
            }
            keep[r * IN + lo] = 0;
        }
    }
    memcpy(B, W0, sizeof B);
    memcpy(C, W0, sizeof C);
    for (int i = 0; i < OUT * IN; i++)
        if (!keep[i])
            C[i] = 0.0f; /* masking alone */
    AP_CHECK(ap_sparsegpt_update(B, OUT, IN, H, keep, 128, 0.01, &err) == AP_OK, "update of a Wanda mask runs");
    int exact = 1, changed = 0;
    for (int i = 0; i < OUT * IN; i++) {
        exact &= keep[i] ? 1 : B[i] == 0.0f;
        changed += keep[i] && B[i] != W0[i];
    }
    AP_CHECK(exact, "every weight the mask prunes is exactly 0");
    AP_CHECK(changed > OUT * IN / 10, "kept weights are updated (%d changed)", changed);
    double e_mask = out_error(W0, C, X), e_upd = out_error(W0, B, X);
    AP_CHECK(e_upd < 0.8 * e_mask, "reconstruction lowers the output error (%.4g < %.4g)", e_upd, e_mask);

    /* 3. scored: a saliency asked once per column block; the row quota is exact per row */
    wanda_ud u = {H, 0};
    ap_sgpt_scorer sc = {wanda_score, &u, 1};
    memcpy(C, W0, sizeof C);
    AP_CHECK(ap_sparsegpt_scored(C, OUT, IN, H, 0.7, &sc, 128, 0.01, &err) == AP_OK, "scored runs (%s)", err.msg);
    AP_CHECK(u.calls == 2, "scorer asked once per column block (%d calls for 2 blocks)", u.calls);
    int rows_exact = 1;
    for (int r = 0; r < OUT; r++) {
        int64_t z = 0;
        for (int j = 0; j < IN; j++)
            z += C[r * IN + j] == 0.0f;
        rows_exact &= z == kr;
    }
    AP_CHECK(rows_exact, "per-row quota: every row has floor(in*s) = %lld zeros", (long long)kr);
    double e_sc = out_error(W0, C, X);
    AP_CHECK(e_sc < e_mask, "adaptive scored pruning beats masking alone (%.4g < %.4g)", e_sc, e_mask);
    sc.per_row = 0;
    memcpy(C, W0, sizeof C);
    AP_CHECK(ap_sparsegpt_scored(C, OUT, IN, H, 0.7, &sc, 128, 0.01, &err) == AP_OK, "scored, pooled quota runs");
    int64_t zc = 0;
    for (int i = 0; i < OUT * IN; i++)
        zc += C[i] == 0.0f;
    AP_CHECK(zc == zeros, "pooled quota: the same number of zeros as SparseGPT (%lld)", (long long)zc);

    /* 4. errors: a non-finite score, no scorer, no mask; W untouched when the first score fails */
    ap_sgpt_scorer bad = {nan_score, NULL, 0};
    memcpy(C, W0, sizeof C);
    AP_CHECK(ap_sparsegpt_scored(C, OUT, IN, H, 0.7, &bad, 128, 0.01, &err) == AP_E_NONFINITE,
             "non-finite score: nonfinite error (%s)", err.msg);
    AP_CHECK(memcmp(C, W0, sizeof C) == 0, "non-finite score in the first block: W untouched");
    AP_CHECK(ap_sparsegpt_scored(C, OUT, IN, H, 0.7, NULL, 128, 0.01, &err) == AP_E_ARG, "no scorer: rejected");
    AP_CHECK(ap_sparsegpt_update(C, OUT, IN, H, NULL, 128, 0.01, &err) == AP_E_ARG, "no mask: rejected");
    return aptest_done();
}
