/* ap_mask.c — score → mask by comparison group (row, layer, N:M) with deterministic, stable tie-breaking. */
#include "ap_mask.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ap_group_name(ap_group_kind g) { return g == AP_GROUP_ROW ? "row" : g == AP_GROUP_LAYER ? "layer" : "n:m"; }

ap_status ap_pattern_parse_nm(const char *s, int *n, int *m, ap_error *err)
{
    if (!strcmp(s, "unstructured") || !strcmp(s, "")) {
        *n = *m = 0;
        return AP_OK;
    }
    int a, b, used = 0;
    if (sscanf(s, "%d:%d%n", &a, &b, &used) != 2 || s[used] != '\0' || a < 1 || b < a || b > 1024)
        return ap_error_set(err, AP_E_ARG, "pattern '%s': expected 'unstructured' or N:M with 1 <= N <= M <= 1024", s);
    *n = a;
    *m = b;
    return AP_OK;
}

int64_t ap_mask_count(int64_t len, double sparsity)
{
    double c = floor((double)len * sparsity);
    if (c < 0)
        return 0;
    return c > (double)len ? len : (int64_t)c;
}

/* A float's bits mapped so that unsigned order equals numeric order (-0.0 folded onto +0.0, as a stable sort
 * compares them equal). */
static inline uint32_t float_key(float f)
{
    f += 0.0f;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The k-th smallest (0-based) of the distinct keys v[0..n), reordering v. Quickselect with a median of three and
 * a depth limit after which it sorts, so a hostile score pattern cannot make it quadratic. */
static uint64_t select_kth(uint64_t *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    int depth = 0;
    while (hi > lo) {
        if (++depth > 64) {
            qsort(v + lo, (size_t)(hi - lo + 1), sizeof *v, cmp_u64);
            return v[k];
        }
        int64_t mid = lo + (hi - lo) / 2;
        uint64_t a = v[lo], b = v[mid], c = v[hi];
        uint64_t piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv)
                i++;
            while (v[j] > piv)
                j--;
            if (i <= j) {
                uint64_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Mark the `count` lowest of scores[0..len) (stride 1) as pruned in keep; tmp has room for len keys. */
static void prune_lowest(const float *s, int64_t len, int64_t count, uint8_t *keep, uint64_t *tmp)
{
    if (count <= 0) {
        memset(keep, 1, (size_t)len);
        return;
    }
    if (count >= len) {
        memset(keep, 0, (size_t)len);
        return;
    }
    for (int64_t i = 0; i < len; i++)
        tmp[i] = ((uint64_t)float_key(s[i]) << 32) | (uint64_t)i;
    uint64_t t = select_kth(tmp, len, count - 1);
    uint32_t tk = (uint32_t)(t >> 32);
    int64_t ti = (int64_t)(t & 0xffffffffu);
    for (int64_t i = 0; i < len; i++) {
        uint32_t k = float_key(s[i]);
        keep[i] = !(k < tk || (k == tk && i <= ti));
    }
}

/* N:M on one row: in each group of m, the n lowest (ties: lower index) are pruned. */
static void prune_nm_row(const float *s, int64_t in, int n, int m, uint8_t *keep, uint64_t *tmp)
{
    for (int64_t g = 0; g < in; g += m) {
        int64_t len = in - g < m ? in - g : m;
        int64_t cnt = len == m ? n : (int64_t)n * len / m;
        if (len <= 16) {
            /* small groups: insertion sort of the keys */
            for (int64_t i = 0; i < len; i++) {
                uint64_t key = ((uint64_t)float_key(s[g + i]) << 32) | (uint64_t)i;
                int64_t j = i;
                while (j > 0 && tmp[j - 1] > key) {
                    tmp[j] = tmp[j - 1];
                    j--;
                }
                tmp[j] = key;
            }
            memset(keep + g, 1, (size_t)len);
            for (int64_t i = 0; i < cnt; i++)
                keep[g + (int64_t)(tmp[i] & 0xffffffffu)] = 0;
        } else {
            prune_lowest(s + g, len, cnt, keep + g, tmp);
        }
    }
}

static ap_status check_finite(const float *s, int64_t numel, int64_t in, ap_error *err)
{
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(s[i]))
            return ap_error_set(err, AP_E_NONFINITE, "score [%lld, %lld] is %s", (long long)(i / in),
                                (long long)(i % in), isnan(s[i]) ? "NaN" : "infinite");
    return AP_OK;
}

ap_status ap_mask_compute(const float *scores, int64_t out, int64_t in, ap_pattern pat, double sparsity, uint8_t *keep,
                          int64_t *pruned, ap_error *err)
{
    if (out <= 0 || in <= 0)
        return ap_error_set(err, AP_E_ARG, "mask: bad shape [%lld, %lld]", (long long)out, (long long)in);
    int64_t numel = out * in;
    if (pat.group == AP_GROUP_NM) {
        if (pat.n < 1 || pat.m < pat.n)
            return ap_error_set(err, AP_E_ARG, "mask: bad N:M pattern %d:%d", pat.n, pat.m);
    } else if (!(sparsity >= 0.0 && sparsity <= 1.0)) {
        return ap_error_set(err, AP_E_ARG, "mask: sparsity %g outside [0, 1]", sparsity);
    }
    if (pat.group == AP_GROUP_LAYER && numel >= ((int64_t)1 << 32))
        return ap_error_set(err, AP_E_UNSUPPORTED, "mask: a layer of %lld weights is too large for one group",
                            (long long)numel);
    ap_status st = check_finite(scores, numel, in, err);
    if (st)
        return st;
    int64_t tmp_len = pat.group == AP_GROUP_LAYER ? numel : in;
    uint64_t *tmp = malloc((size_t)tmp_len * sizeof *tmp);
    if (!tmp)
        return ap_error_set(err, AP_E_NOMEM, "mask: no memory for %lld keys", (long long)tmp_len);
    if (pat.group == AP_GROUP_LAYER) {
        prune_lowest(scores, numel, ap_mask_count(numel, sparsity), keep, tmp);
    } else {
        int64_t cnt = ap_mask_count(in, sparsity);
        for (int64_t r = 0; r < out; r++) {
            if (pat.group == AP_GROUP_NM)
                prune_nm_row(scores + r * in, in, pat.n, pat.m, keep + r * in, tmp);
            else
                prune_lowest(scores + r * in, in, cnt, keep + r * in, tmp);
        }
    }
    free(tmp);
    if (pruned) {
        int64_t z = 0;
        for (int64_t i = 0; i < numel; i++)
            z += !keep[i];
        *pruned = z;
    }
    return AP_OK;
}

int64_t ap_mask_apply(float *W, const uint8_t *keep, int64_t numel)
{
    int64_t z = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (!keep[i])
            W[i] = 0.0f;
        z += W[i] == 0.0f;
    }
    return z;
}

int64_t ap_count_zeros(const float *W, int64_t numel)
{
    int64_t z = 0;
    for (int64_t i = 0; i < numel; i++)
        z += W[i] == 0.0f;
    return z;
}
