/* ap_tensor_select.c — sorting-based operations: the float total order, radix ordering of slices, quantile,
 * rank, and the keep/prune masks (top-k per group, N:M). */
#include "ap_tensor.h"

#include <math.h>
#include <string.h>

#define NAN_KEY 0xFFFFFFFFu

uint32_t ap_float_order_key(float x)
{
    if (x != x)
        return NAN_KEY; /* every NaN, whatever its sign or payload, sorts above +inf */
    if (x == 0.0f)
        x = 0.0f; /* -0 and +0 are equal */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    /* Negative floats: flip all bits (larger magnitude = smaller); positive: set the sign bit. +inf maps to
     * 0xFF800000, below NAN_KEY. */
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* LSD radix sort of 64-bit keys by their high 32 bits, 8 bits per pass. Being stable, it keeps the index order
 * (low 32 bits) among equal float keys. Passes whose digit is the same for every key are skipped. */
static uint64_t *radix_sort_high(uint64_t *a, uint64_t *b, int64_t n)
{
    size_t count[4][256];
    memset(count, 0, sizeof count);
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < 4; d++)
            count[d][(a[i] >> (32 + 8 * d)) & 0xFF]++;
    for (int d = 0; d < 4; d++) {
        int shift = 32 + 8 * d;
        if (count[d][(a[0] >> shift) & 0xFF] == (size_t)n)
            continue;
        size_t pos[256], sum = 0;
        for (int k = 0; k < 256; k++) {
            pos[k] = sum;
            sum += count[d][k];
        }
        for (int64_t i = 0; i < n; i++)
            b[pos[(a[i] >> shift) & 0xFF]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* Insertion sort on unique 64-bit keys: for the small groups of N:M masks. */
static void insertion_sort(uint64_t *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        int64_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

uint64_t *ap_slice_order(const float *x, int64_t n, uint64_t *scratch)
{
    for (int64_t i = 0; i < n; i++)
        scratch[i] = (uint64_t)ap_float_order_key(x[i]) << 32 | (uint64_t)i;
    if (n <= 32) {
        insertion_sort(scratch, n);
        return scratch;
    }
    return radix_sort_high(scratch, scratch + n, n);
}

static inline float key_value(const float *x, uint64_t k) { return x[k & 0xFFFFFFFFu]; }

double ap_slice_quantile(const float *x, int64_t n, double q, uint64_t *scratch)
{
    if (n == 0)
        return NAN;
    uint64_t *s = ap_slice_order(x, n, scratch);
    if ((uint32_t)(s[n - 1] >> 32) == NAN_KEY)
        return NAN; /* like numpy: any NaN makes the quantile NaN */
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo < 0)
        lo = 0;
    if (lo > n - 1)
        lo = n - 1;
    int64_t hi = lo + 1 < n ? lo + 1 : n - 1;
    double t = pos - (double)lo;
    double a = key_value(x, s[lo]), b = key_value(x, s[hi]);
    if (t <= 0.0 || a == b)
        return a;
    /* numpy's _lerp: symmetric form so that t near 1 lands on b exactly. */
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

void ap_slice_rank(const float *x, int64_t n, float *out, int64_t out_stride, uint64_t *scratch)
{
    if (n == 0)
        return;
    uint64_t *s = ap_slice_order(x, n, scratch);
    double scale = n > 1 ? 1.0 / (double)(n - 1) : 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && (s[j + 1] >> 32) == (s[i] >> 32))
            j++;
        float r = (float)(0.5 * (double)(i + j) * scale); /* tied values share their average rank */
        for (int64_t k = i; k <= j; k++)
            out[(int64_t)(s[k] & 0xFFFFFFFFu) * out_stride] = r;
        i = j + 1;
    }
}

/* ---- masks ---- */

static uint64_t *scratch_alloc(int64_t n, const ap_budget *budget, ap_error *err)
{
    return ap_scratch_alloc((size_t)(2 * n + 1) * sizeof(uint64_t), budget, err);
}

static void scratch_free(uint64_t *p, int64_t n, const ap_budget *budget)
{
    ap_scratch_free(p, (size_t)(2 * n + 1) * sizeof(uint64_t), budget);
}

/* Mark the top k of one slice (values x[i], mask at out[i * stride]). */
static void keep_top(const float *x, int64_t n, int64_t k, float *out, int64_t stride, uint64_t *scratch)
{
    uint64_t *s = ap_slice_order(x, n, scratch);
    for (int64_t r = 0; r < n; r++)
        out[(int64_t)(s[r] & 0xFFFFFFFFu) * stride] = r >= n - k ? 1.0f : 0.0f;
}

ap_tensor *ap_tensor_topk_mask(const ap_tensor *s, double keep_frac, int dim, const ap_budget *budget, ap_error *err)
{
    if (!(keep_frac >= 0.0 && keep_frac <= 1.0)) {
        ap_error_set(err, AP_E_ARG, "topk_mask: keep_frac must be in [0, 1], got %g", keep_frac);
        return NULL;
    }
    if (dim < 0 || dim > 2) {
        ap_error_set(err, AP_E_SHAPE, "topk_mask: dim must be 1 or 2, got %d", dim);
        return NULL;
    }
    int64_t rows = s->rows, cols = s->cols, numel = rows * cols;
    int64_t g = dim == 0 ? numel : dim == 1 ? rows : cols; /* group length */
    int64_t groups = dim == 0 ? 1 : dim == 1 ? cols : rows;
    if (g > AP_SORT_MAX_SLICE) {
        ap_error_set(err, AP_E_UNSUPPORTED, "topk_mask: a group of %lld elements exceeds 2^32", (long long)g);
        return NULL;
    }
    uint64_t units = ap_sort_units((uint64_t)g);
    if (ap_budget_work(budget,
                       groups > 0 && units > UINT64_MAX / (uint64_t)groups ? UINT64_MAX : units * (uint64_t)groups,
                       err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(rows, cols, budget, err);
    if (!t || numel == 0)
        return t;
    int64_t k = llround(keep_frac * (double)g);
    int64_t extra = dim == 1 ? g : 0; /* a gathered column */
    uint64_t *scratch = scratch_alloc(g + (extra + 1) / 2, budget, err);
    if (!scratch) {
        ap_tensor_free(t);
        return NULL;
    }
    const float *x = ap_tensor_data(s);
    float *o = ap_tensor_data(t);
    if (dim == 0) {
        keep_top(x, numel, k, o, 1, scratch);
    } else if (dim == 2) {
        for (int64_t i = 0; i < rows; i++)
            keep_top(x + i * cols, cols, k, o + i * cols, 1, scratch);
    } else {
        float *col = (float *)(scratch + 2 * g);
        for (int64_t j = 0; j < cols; j++) {
            for (int64_t i = 0; i < rows; i++)
                col[i] = x[i * cols + j];
            keep_top(col, rows, k, o + j, cols, scratch);
        }
    }
    scratch_free(scratch, g + (extra + 1) / 2, budget);
    return t;
}

ap_tensor *ap_tensor_nm_mask(const ap_tensor *s, int64_t n_keep, int64_t m, const ap_budget *budget, ap_error *err)
{
    if (m < 1 || m > AP_SORT_MAX_SLICE || n_keep < 0 || n_keep > m) {
        ap_error_set(err, AP_E_ARG, "nm_mask: need 1 <= m <= 2^32 and 0 <= n_keep <= m, got n_keep=%lld m=%lld",
                     (long long)n_keep, (long long)m);
        return NULL;
    }
    if (s->cols % m != 0) {
        ap_error_set(err, AP_E_SHAPE, "nm_mask: %lld columns are not a multiple of m=%lld", (long long)s->cols,
                     (long long)m);
        return NULL;
    }
    int64_t numel = ap_tensor_numel(s);
    uint64_t units = ap_sort_units((uint64_t)m);
    if (ap_budget_work(budget, units > UINT64_MAX / ((uint64_t)numel + 1) ? UINT64_MAX : units * (uint64_t)numel,
                       err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(s->rows, s->cols, budget, err);
    if (!t || numel == 0)
        return t;
    uint64_t *scratch = scratch_alloc(m, budget, err);
    if (!scratch) {
        ap_tensor_free(t);
        return NULL;
    }
    const float *x = ap_tensor_data(s);
    float *o = ap_tensor_data(t);
    for (int64_t g0 = 0; g0 < numel; g0 += m) /* rows are contiguous and cols % m == 0: groups never straddle */
        keep_top(x + g0, m, n_keep, o + g0, 1, scratch);
    scratch_free(scratch, m, budget);
    return t;
}
