/* test_mask.c — score → mask (row, layer, N:M, ties, non-finite) and calibration statistics (windows, one-pass
 * moments against a two-pass computation, Hessian against a direct sum, cache file round trip of the sums). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ap_calib.h"
#include "ap_mask.h"
#include "aptest.h"

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Reference: stable sort of (score, index) then prune the first count. */
static int cmp_pair(const void *a, const void *b)
{
    const float *x = a, *y = b;
    if (x[0] < y[0])
        return -1;
    if (x[0] > y[0])
        return 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}
static void ref_lowest(const float *s, int64_t len, int64_t count, uint8_t *keep)
{
    float *p = malloc((size_t)len * 2 * sizeof *p);
    for (int64_t i = 0; i < len; i++) {
        p[2 * i] = s[i] + 0.0f;
        p[2 * i + 1] = (float)i;
    }
    qsort(p, (size_t)len, 2 * sizeof *p, cmp_pair);
    memset(keep, 1, (size_t)len);
    for (int64_t i = 0; i < count; i++)
        keep[(int64_t)p[2 * i + 1]] = 0;
    free(p);
}

static void test_row_layer(void)
{
    enum { OUT = 7, IN = 53 };
    float s[OUT * IN];
    uint8_t keep[OUT * IN], ref[OUT * IN];
    /* few distinct values → many ties */
    for (int i = 0; i < OUT * IN; i++)
        s[i] = (float)(int)(urand() * 5) - (i % 11 == 0 ? 0.0f : 0.0f);
    s[3] = -0.0f;
    s[4] = 0.0f;
    const double sp[] = {0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 1.0};
    int row_ok = 1, layer_ok = 1;
    for (size_t t = 0; t < sizeof sp / sizeof sp[0]; t++) {
        int64_t pruned;
        ap_error err;
        ap_mask_compute(s, OUT, IN, (ap_pattern){AP_GROUP_ROW, 0, 0}, sp[t], keep, &pruned, &err);
        for (int r = 0; r < OUT; r++)
            ref_lowest(s + r * IN, IN, ap_mask_count(IN, sp[t]), ref + r * IN);
        row_ok &= !memcmp(keep, ref, sizeof keep) && pruned == OUT * ap_mask_count(IN, sp[t]);
        ap_mask_compute(s, OUT, IN, (ap_pattern){AP_GROUP_LAYER, 0, 0}, sp[t], keep, &pruned, &err);
        ref_lowest(s, OUT * IN, ap_mask_count(OUT * IN, sp[t]), ref);
        layer_ok &= !memcmp(keep, ref, sizeof keep) && pruned == ap_mask_count(OUT * IN, sp[t]);
    }
    AP_CHECK(row_ok, "per-row mask equals a stable sort (ties: lower index pruned first) at 7 sparsities");
    AP_CHECK(layer_ok, "per-layer mask equals a stable sort of the whole matrix");
    AP_CHECK(ap_mask_count(128, 0.6) == 76 && ap_mask_count(384, 0.6) == 230 && ap_mask_count(16384, 0.7) == 11468,
             "counts are floor(len * s) as Wanda's int(len * s)");

    /* large random rows: the linear-time selection against the sort */
    enum { BO = 3, BI = 5000 };
    float *b = malloc(BO * BI * sizeof *b);
    uint8_t *k1 = malloc(BO * BI), *k2 = malloc(BO * BI);
    for (int i = 0; i < BO * BI; i++)
        b[i] = (float)urand();
    for (int i = 0; i < BI; i += 7)
        b[i] = 0.5f; /* ties inside the selection */
    ap_mask_compute(b, BO, BI, (ap_pattern){AP_GROUP_ROW, 0, 0}, 0.55, k1, NULL, NULL);
    for (int r = 0; r < BO; r++)
        ref_lowest(b + r * BI, BI, ap_mask_count(BI, 0.55), k2 + r * BI);
    AP_CHECK(!memcmp(k1, k2, BO * BI), "selection on rows of 5000 with ties equals the sort");
    /* a sorted (adversarial-looking) input */
    for (int i = 0; i < BO * BI; i++)
        b[i] = (float)(i % 97);
    ap_mask_compute(b, BO, BI, (ap_pattern){AP_GROUP_LAYER, 0, 0}, 0.37, k1, NULL, NULL);
    ref_lowest(b, BO * BI, ap_mask_count(BO * BI, 0.37), k2);
    AP_CHECK(!memcmp(k1, k2, BO * BI), "per-layer selection on a periodic input equals the sort");
    free(b);
    free(k1);
    free(k2);
}

static void test_nm(void)
{
    float s[2 * 8] = {4, 1, 3, 1, 9, 9, 9, 9, /* row 2 */ 0, 5, 2, 7, 1, 1, 1, 0};
    uint8_t keep[16];
    int64_t pruned;
    ap_mask_compute(s, 2, 8, (ap_pattern){AP_GROUP_NM, 2, 4}, 0, keep, &pruned, NULL);
    const uint8_t want24[16] = {1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0};
    AP_CHECK(!memcmp(keep, want24, 16) && pruned == 8, "2:4: the 2 lowest of each 4 pruned, ties to lower index");
    ap_mask_compute(s, 2, 8, (ap_pattern){AP_GROUP_NM, 4, 8}, 0, keep, &pruned, NULL);
    const uint8_t want48[16] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0};
    AP_CHECK(!memcmp(keep, want48, 16) && pruned == 8, "4:8 on the same scores");
    ap_mask_compute(s, 2, 8, (ap_pattern){AP_GROUP_NM, 1, 4}, 0, keep, &pruned, NULL);
    AP_CHECK(pruned == 4 && keep[1] == 0 && keep[3] == 1 && keep[4] == 0 && keep[8] == 0,
             "general n:m (1:4) prunes n of every m");
    int n, m;
    ap_error err;
    AP_CHECK(ap_pattern_parse_nm("2:4", &n, &m, &err) == AP_OK && n == 2 && m == 4, "parse 2:4");
    AP_CHECK(ap_pattern_parse_nm("unstructured", &n, &m, &err) == AP_OK && n == 0, "parse unstructured");
    AP_CHECK(ap_pattern_parse_nm("5:4", &n, &m, &err) == AP_E_ARG && ap_pattern_parse_nm("2:4x", &n, &m, &err),
             "bad patterns are refused");
}

static void test_nonfinite(void)
{
    float s[6] = {1, 2, 3, 4, 0, 6};
    s[4] = NAN;
    uint8_t keep[6];
    ap_error err = {0};
    ap_status st = ap_mask_compute(s, 2, 3, (ap_pattern){AP_GROUP_ROW, 0, 0}, 0.5, keep, NULL, &err);
    AP_CHECK(st == AP_E_NONFINITE && strstr(err.msg, "[1, 1]"), "NaN score refused, naming the element: %s", err.msg);
    s[4] = INFINITY;
    st = ap_mask_compute(s, 2, 3, (ap_pattern){AP_GROUP_LAYER, 0, 0}, 0.5, keep, NULL, &err);
    AP_CHECK(st == AP_E_NONFINITE, "Inf score refused");
    float w[4] = {1, 2, 0, 4};
    uint8_t k2[4] = {1, 0, 1, 1};
    AP_CHECK(ap_mask_apply(w, k2, 4) == 2 && w[1] == 0.0f && w[3] == 4.0f, "apply zeroes the mask and counts zeros");
}

static void test_windows(void)
{
    int32_t ids[1000];
    for (int i = 0; i < 1000; i++)
        ids[i] = i;
    int32_t *w = NULL;
    ap_error err;
    AP_CHECK(ap_calib_windows(ids, 1000, 7, 100, 0, 0, &w, &err) == AP_OK, "evenly spaced windows");
    int ok = 1;
    for (int k = 0; k < 7; k++)
        ok &= w[k * 100] == (int32_t)((int64_t)k * 900 / 7) && w[k * 100 + 99] == w[k * 100] + 99;
    AP_CHECK(ok, "start_k = floor(k (len - seqlen) / nsamples)");
    free(w);
    int32_t *a = NULL, *b = NULL;
    ap_calib_windows(ids, 1000, 5, 50, 1, 42, &a, &err);
    ap_calib_windows(ids, 1000, 5, 50, 1, 42, &b, &err);
    ok = !memcmp(a, b, 5 * 50 * sizeof *a);
    for (int k = 0; k < 5; k++)
        ok &= a[k * 50] >= 0 && a[k * 50] <= 950;
    AP_CHECK(ok, "seeded random windows are reproducible and in range");
    free(a);
    free(b);
    AP_CHECK(ap_calib_windows(ids, 10, 2, 20, 0, 0, &w, &err) == AP_E_ARG, "text shorter than seqlen refused");
}

static void test_moments(void)
{
    enum { N = 300, IN = 5 };
    float *x = malloc(N * IN * sizeof *x);
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)(urand() * urand() * 4 - 0.5);
    for (int r = 0; r < N; r++)
        x[r * IN + 4] = 2.5f; /* a constant channel */
    ap_xacc a;
    ap_error err;
    ap_xacc_init(&a, IN, 1, &err);
    ap_xacc_add(&a, x, 100, NULL, &err);
    ap_xacc_add(&a, x + 100 * IN, N - 100, NULL, &err);
    ap_xderived d;
    ap_xderived_make(&d, &a, &err);
    int ok = a.n == N;
    for (int j = 0; j < 4; j++) {
        double mu = 0, m2 = 0, m3 = 0, m4 = 0, ss = 0, mx = 0;
        for (int r = 0; r < N; r++) {
            double v = x[r * IN + j];
            mu += v;
            ss += v * v;
            if (fabs(v) > mx)
                mx = fabs(v);
        }
        mu /= N;
        for (int r = 0; r < N; r++) {
            double c = x[r * IN + j] - mu;
            m2 += c * c;
            m3 += c * c * c;
            m4 += c * c * c * c;
        }
        m2 /= N, m3 /= N, m4 /= N;
        ok &= fabs(d.v.l2[j] - sqrt(ss)) < 1e-5 * sqrt(ss) && fabs(d.v.sq[j] - ss / N) < 1e-6 &&
              fabs(d.v.mean[j] - mu) < 1e-6 && fabs(d.v.std[j] - sqrt(m2)) < 1e-6 &&
              fabs(d.v.skew[j] - m3 / pow(m2, 1.5)) < 1e-4 && fabs(d.v.kurt[j] - (m4 / (m2 * m2) - 3)) < 1e-4 &&
              d.v.absmax[j] == (float)mx;
    }
    AP_CHECK(ok, "one-pass moments equal a two-pass computation (l2, sq, mean, std, skew, kurt, absmax)");
    AP_CHECK(d.v.std[4] == 0 && d.v.skew[4] == 0 && d.v.kurt[4] == 0 && d.v.mean[4] == 2.5f,
             "a constant channel has std = skew = kurt = 0 (finite)");
    double *H = malloc(IN * IN * sizeof *H);
    ap_xacc_hessian(&a, H);
    ok = 1;
    for (int i = 0; i < IN; i++)
        for (int j = 0; j < IN; j++) {
            double s = 0;
            for (int r = 0; r < N; r++)
                s += (double)x[r * IN + i] * x[r * IN + j];
            ok &= fabs(H[i * IN + j] - 2.0 * s / N) < 1e-4 * (fabs(2.0 * s / N) + 1e-3);
        }
    AP_CHECK(ok, "Hessian = 2/n X^T X, symmetric");
    free(H);
    ap_xderived_free(&d);
    ap_xacc_free(&a);
    free(x);
}

/* Each set of fields gathers its statistics bit-identical to the full pass and leaves the others NULL. */
static void test_fields(void)
{
    enum { N = 200, IN = 70 }; /* 70: a strip of 64 channels and a partial one */
    float *x = malloc(N * IN * sizeof *x);
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)(urand() * urand() * 4 - 0.5);
    ap_error err;
    ap_xacc full;
    ap_xderived fd;
    ap_xacc_init(&full, IN, 0, &err);
    ap_xacc_add(&full, x, N, NULL, &err);
    ap_xderived_make(&fd, &full, &err);
    const float *const *fv = &fd.v.l2;
    static const unsigned sets[] = {0,
                                    AP_XF_L2,
                                    AP_XF_ABSMAX,
                                    AP_XF_L2 | AP_XF_ABSMAX,
                                    AP_XF_MEAN,
                                    AP_XF_STD,
                                    AP_XF_SKEW,
                                    AP_XF_KURT,
                                    AP_XF_SQ | AP_XF_ABSMAX | AP_XF_MEAN,
                                    AP_XF_HESSIAN};
    for (size_t t = 0; t < sizeof sets / sizeof sets[0]; t++) {
        ap_xacc a;
        ap_xderived d;
        int ok = ap_xacc_init_fields(&a, IN, sets[t], &err) == AP_OK && ap_xacc_add(&a, x, N, NULL, &err) == AP_OK &&
                 ap_xderived_make(&d, &a, &err) == AP_OK && a.n == N && (a.xtx != NULL) == !!(sets[t] & AP_XF_HESSIAN);
        const float *const *v = &d.v.l2;
        for (int f = 0; ok && f < 7; f++) {
            if (sets[t] & (1u << f))
                ok = v[f] && memcmp(v[f], fv[f], IN * sizeof(float)) == 0;
            else if (v[f]) /* gathered along with another field (l2 and sq share Σx², std needs the mean) */
                ok = memcmp(v[f], fv[f], IN * sizeof(float)) == 0;
        }
        ok = ok && (sets[t] & AP_XF_MOMENTS || !(d.v.l2 || d.v.mean || d.v.absmax || d.v.kurt));
        ok = ok && (sets[t] != AP_XF_L2 || (d.v.sq && !d.v.mean && !d.v.std && !d.v.absmax && !d.v.skew && !d.v.kurt));
        AP_CHECK(ok, "fields 0x%02x: the asked statistics equal the full pass bit for bit, the rest are NULL", sets[t]);
        ap_xderived_free(&d);
        ap_xacc_free(&a);
    }
    AP_CHECK(ap_calib_field("kurt") == AP_XF_KURT && ap_calib_field("hinv") == AP_XF_HESSIAN &&
                 ap_calib_field("tokens") == 0 && !strcmp(ap_calib_field_name(4), "absmax"),
             "statistics by name");
    ap_xderived_free(&fd);
    ap_xacc_free(&full);
    free(x);
}

int main(void)
{
    test_row_layer();
    test_nm();
    test_nonfinite();
    test_windows();
    test_moments();
    test_fields();
    return aptest_done();
}
