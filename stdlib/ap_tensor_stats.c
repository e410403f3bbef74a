/* ap_tensor_stats.c — reductions (sum … quantile) and normalisations (zscore, minmax, rank, softmax), over the
 * whole tensor or along a dim. Accumulation is in double. */
#include "ap_tensor.h"

#include <math.h>
#include <string.h>

/* Columns are reduced by gathering blocks of this many columns into contiguous slices: one cache line of each
 * row per block, and every slice kernel below only ever sees contiguous data. */
#define AP_COL_BLOCK 16

const char *ap_reduce_name(ap_reduce_op op)
{
    static const char *const names[AP_RED_COUNT_] = {
        "sum", "mean", "amax", "amin", "var", "std", "skew", "kurt", "norm", "quantile",
    };
    return (unsigned)op < AP_RED_COUNT_ ? names[op] : "?";
}

const char *ap_normalize_name(ap_normalize_op op)
{
    static const char *const names[AP_NORM_COUNT_] = {"zscore", "minmax", "rank", "softmax"};
    return (unsigned)op < AP_NORM_COUNT_ ? names[op] : "?";
}

/* ---- slice kernels (contiguous x[0..n)) ---- */

/* Sums use eight independent accumulators held in locals (an array would live on the stack and serialise every
 * add through a store): the adds pipeline and GCC pairs them into SSE2 double lanes. */
static double slice_sum(const float *x, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
        s4 += x[i + 4];
        s5 += x[i + 5];
        s6 += x[i + 6];
        s7 += x[i + 7];
    }
    for (; i < n; i++)
        s0 += x[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static double slice_sumsq(const float *x, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int64_t i = 0;
#define SQ(k) ((double)x[i + k] * (double)x[i + k])
    for (; i + 8 <= n; i += 8) {
        s0 += SQ(0);
        s1 += SQ(1);
        s2 += SQ(2);
        s3 += SQ(3);
        s4 += SQ(4);
        s5 += SQ(5);
        s6 += SQ(6);
        s7 += SQ(7);
    }
#undef SQ
    for (; i < n; i++)
        s0 += (double)x[i] * x[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/* max (want_max) or min; NaN if any element is NaN or n == 0. */
static double slice_extreme(const float *x, int64_t n, int want_max, int absolute)
{
    if (n == 0)
        return NAN;
    float m = want_max ? -INFINITY : INFINITY;
    int nan = 0;
    if (want_max)
        for (int64_t i = 0; i < n; i++) {
            float v = absolute ? fabsf(x[i]) : x[i];
            nan |= v != v;
            m = v > m ? v : m;
        }
    else
        for (int64_t i = 0; i < n; i++) {
            float v = absolute ? fabsf(x[i]) : x[i];
            nan |= v != v;
            m = v < m ? v : m;
        }
    return nan ? NAN : m;
}

/* Central moments m2, m3, m4 (sums of powers of deviations, divided by n) up to `order`; two passes. */
static double slice_moments(const float *x, int64_t n, int order, double *m2, double *m3, double *m4)
{
    double mean = slice_sum(x, n) / (double)n;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    int64_t i = 0;
    if (order == 2) {
        for (; i + 4 <= n; i += 4) {
            double d0 = x[i] - mean, d1 = x[i + 1] - mean, d2 = x[i + 2] - mean, d3 = x[i + 3] - mean;
            a0 += d0 * d0;
            a1 += d1 * d1;
            a2 += d2 * d2;
            a3 += d3 * d3;
        }
    } else {
        for (; i + 4 <= n; i += 4) {
            double d0 = x[i] - mean, d1 = x[i + 1] - mean, d2 = x[i + 2] - mean, d3 = x[i + 3] - mean;
            double q0 = d0 * d0, q1 = d1 * d1, q2 = d2 * d2, q3 = d3 * d3;
            a0 += q0;
            a1 += q1;
            a2 += q2;
            a3 += q3;
            b0 += q0 * d0;
            b1 += q1 * d1;
            b2 += q2 * d2;
            b3 += q3 * d3;
            c0 += q0 * q0;
            c1 += q1 * q1;
            c2 += q2 * q2;
            c3 += q3 * q3;
        }
    }
    for (; i < n; i++) {
        double d = x[i] - mean, q = d * d;
        a0 += q;
        b0 += q * d;
        c0 += q * q;
    }
    *m2 = ((a0 + a1) + (a2 + a3)) / (double)n;
    *m3 = ((b0 + b1) + (b2 + b3)) / (double)n;
    *m4 = ((c0 + c1) + (c2 + c3)) / (double)n;
    return mean;
}

static double slice_norm(const float *x, int64_t n, double p)
{
    if (p == 2.0)
        return sqrt(slice_sumsq(x, n));
    if (isinf(p))
        return n == 0 ? 0.0 : slice_extreme(x, n, p > 0, 1);
    double s = 0.0;
    if (p == 0.0) {
        for (int64_t i = 0; i < n; i++)
            s += x[i] != 0.0f; /* NaN counts as non-zero, as in numpy */
        return s;
    }
    if (p == 1.0) {
        for (int64_t i = 0; i < n; i++)
            s += fabs((double)x[i]);
        return s;
    }
    for (int64_t i = 0; i < n; i++)
        s += pow(fabs((double)x[i]), p);
    return pow(s, 1.0 / p);
}

static double slice_reduce(const float *x, int64_t n, ap_reduce_op op, double param, uint64_t *scratch)
{
    double m2, m3, m4, mean;
    switch (op) {
    case AP_RED_SUM: return slice_sum(x, n);
    case AP_RED_MEAN: return n ? slice_sum(x, n) / (double)n : NAN;
    case AP_RED_AMAX: return slice_extreme(x, n, 1, 0);
    case AP_RED_AMIN: return slice_extreme(x, n, 0, 0);
    case AP_RED_NORM: return slice_norm(x, n, param);
    case AP_RED_QUANTILE: return ap_slice_quantile(x, n, param, scratch);
    default: break;
    }
    if (n == 0)
        return NAN;
    mean = slice_moments(x, n, op == AP_RED_VAR || op == AP_RED_STD ? 2 : 4, &m2, &m3, &m4);
    (void)mean;
    switch (op) {
    case AP_RED_VAR: return m2;
    case AP_RED_STD: return sqrt(m2);
    case AP_RED_SKEW: return m2 == 0.0 ? NAN : m3 / (m2 * sqrt(m2));
    case AP_RED_KURT: return m2 == 0.0 ? NAN : m4 / (m2 * m2) - 3.0;
    default: return NAN;
    }
}

/* ---- checks, work units, scratch ---- */

static uint64_t mul_sat(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

static ap_status check_reduce(ap_reduce_op op, double param, int dim, ap_error *err)
{
    if ((unsigned)op >= AP_RED_COUNT_)
        return ap_error_set(err, AP_E_ARG, "reduce: unknown operation %d", (int)op);
    if (dim < 0 || dim > 2)
        return ap_error_set(err, AP_E_SHAPE, "%s: dim must be 1 or 2, got %d", ap_reduce_name(op), dim);
    if (op == AP_RED_QUANTILE && !(param >= 0.0 && param <= 1.0))
        return ap_error_set(err, AP_E_ARG, "quantile: q must be in [0, 1], got %g", param);
    if (op == AP_RED_NORM && param != param)
        return ap_error_set(err, AP_E_ARG, "norm: p is NaN");
    return AP_OK;
}

/* Work of reducing `slices` slices of length n, charged before starting. */
static ap_status charge_reduce(ap_reduce_op op, int64_t slices, int64_t n, const ap_budget *budget, ap_error *err)
{
    uint64_t per = op == AP_RED_QUANTILE                     ? ap_sort_units((uint64_t)n)
                   : (op >= AP_RED_VAR && op <= AP_RED_KURT) ? mul_sat((uint64_t)n, 2)
                                                             : (uint64_t)n;
    return ap_budget_work(budget, mul_sat(per ? per : 1, (uint64_t)slices), err);
}

/* Scratch of a slice of length n: sort keys for quantile/rank (2n uint64). */
static size_t sort_scratch_bytes(int64_t n) { return (size_t)(2 * n + 1) * sizeof(uint64_t); }

ap_status ap_tensor_reduce_all(const ap_tensor *a, ap_reduce_op op, double param, double *out, const ap_budget *budget,
                               ap_error *err)
{
    int64_t n = ap_tensor_numel(a);
    if (check_reduce(op, param, 0, err) != AP_OK || charge_reduce(op, 1, n, budget, err) != AP_OK)
        return err ? err->code : AP_E_ARG;
    if (op == AP_RED_QUANTILE && n > AP_SORT_MAX_SLICE)
        return ap_error_set(err, AP_E_UNSUPPORTED, "quantile: %lld elements exceed 2^32", (long long)n);
    uint64_t *scratch = NULL;
    if (op == AP_RED_QUANTILE && !(scratch = ap_scratch_alloc(sort_scratch_bytes(n), budget, err)))
        return err ? err->code : AP_E_NOMEM;
    *out = slice_reduce(ap_tensor_data(a), n, op, param, scratch);
    ap_scratch_free(scratch, scratch ? sort_scratch_bytes(n) : 0, budget);
    return AP_OK;
}

/* Gather columns j0..j0+w of a [rows, cols] matrix into w contiguous slices of length rows. */
static void gather_cols(const float *x, int64_t rows, int64_t cols, int64_t j0, int64_t w, float *buf)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *r = x + i * cols + j0;
        for (int64_t k = 0; k < w; k++)
            buf[k * rows + i] = r[k];
    }
}

static void scatter_cols(const float *buf, int64_t rows, int64_t cols, int64_t j0, int64_t w, float *x)
{
    for (int64_t i = 0; i < rows; i++) {
        float *r = x + i * cols + j0;
        for (int64_t k = 0; k < w; k++)
            r[k] = buf[k * rows + i];
    }
}

ap_tensor *ap_tensor_reduce(const ap_tensor *a, ap_reduce_op op, double param, int dim, const ap_budget *budget,
                            ap_error *err)
{
    int64_t rows = a->rows, cols = a->cols;
    if (check_reduce(op, param, dim, err) != AP_OK)
        return NULL;
    int64_t n = dim == 0 ? rows * cols : dim == 1 ? rows : cols;
    int64_t slices = dim == 0 ? 1 : dim == 1 ? cols : rows;
    if (op == AP_RED_QUANTILE && n > AP_SORT_MAX_SLICE) {
        ap_error_set(err, AP_E_UNSUPPORTED, "quantile: a slice of %lld elements exceeds 2^32", (long long)n);
        return NULL;
    }
    if (charge_reduce(op, slices, n, budget, err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(dim == 2 ? rows : 1, dim == 1 ? cols : 1, budget, err);
    if (!t)
        return NULL;
    int gather = dim == 1 && cols > 1;
    int64_t block = gather ? (cols < AP_COL_BLOCK ? cols : AP_COL_BLOCK) : 0;
    size_t sort_bytes = op == AP_RED_QUANTILE ? sort_scratch_bytes(n) : 0;
    size_t bytes = sort_bytes + (size_t)(block * rows) * sizeof(float);
    char *scratch = ap_scratch_alloc(bytes, budget, err); /* also for 0 bytes: never offset a NULL */
    if (!scratch) {
        ap_tensor_free(t);
        return NULL;
    }
    uint64_t *keys = sort_bytes ? (uint64_t *)scratch : NULL;
    float *buf = (float *)(scratch + sort_bytes);
    const float *x = ap_tensor_data(a);
    float *o = ap_tensor_data(t);
    if (dim == 0 || (dim == 1 && cols == 1)) {
        o[0] = (float)slice_reduce(x, n, op, param, keys); /* one contiguous slice */
    } else if (dim == 2) {
        for (int64_t i = 0; i < rows; i++)
            o[i] = (float)slice_reduce(x + i * cols, cols, op, param, keys);
    } else {
        for (int64_t j0 = 0; j0 < cols; j0 += block) {
            int64_t w = cols - j0 < block ? cols - j0 : block;
            gather_cols(x, rows, cols, j0, w, buf);
            for (int64_t k = 0; k < w; k++)
                o[j0 + k] = (float)slice_reduce(buf + k * rows, rows, op, param, keys);
        }
    }
    ap_scratch_free(scratch, bytes, budget);
    return t;
}

/* ---- normalisations ---- */

static void slice_normalize(ap_normalize_op op, const float *x, float *o, int64_t n, uint64_t *keys)
{
    if (n == 0)
        return;
    double m2, m3, m4;
    switch (op) {
    case AP_NORM_ZSCORE: {
        double mean = slice_moments(x, n, 2, &m2, &m3, &m4), sd = sqrt(m2);
        if (sd == 0.0)
            for (int64_t i = 0; i < n; i++)
                o[i] = 0.0f; /* constant slice: no spread, score 0 everywhere */
        else
            for (int64_t i = 0; i < n; i++)
                o[i] = (float)((x[i] - mean) / sd);
        break;
    }
    case AP_NORM_MINMAX: {
        double lo = slice_extreme(x, n, 0, 0), hi = slice_extreme(x, n, 1, 0), range = hi - lo;
        if (range == 0.0)
            for (int64_t i = 0; i < n; i++)
                o[i] = 0.0f; /* constant slice */
        else
            for (int64_t i = 0; i < n; i++)
                o[i] = (float)((x[i] - lo) / range);
        break;
    }
    case AP_NORM_RANK: ap_slice_rank(x, n, o, 1, keys); break;
    case AP_NORM_SOFTMAX: {
        double mx = slice_extreme(x, n, 1, 0), sum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double e = exp((double)x[i] - mx);
            o[i] = (float)e;
            sum += e;
        }
        double inv = 1.0 / sum;
        for (int64_t i = 0; i < n; i++)
            o[i] = (float)(o[i] * inv);
        break;
    }
    default: break;
    }
}

ap_tensor *ap_tensor_normalize(const ap_tensor *a, ap_normalize_op op, int dim, const ap_budget *budget, ap_error *err)
{
    int64_t rows = a->rows, cols = a->cols;
    if ((unsigned)op >= AP_NORM_COUNT_) {
        ap_error_set(err, AP_E_ARG, "normalize: unknown operation %d", (int)op);
        return NULL;
    }
    if (dim < 0 || dim > 2) {
        ap_error_set(err, AP_E_SHAPE, "%s: dim must be 1 or 2, got %d", ap_normalize_name(op), dim);
        return NULL;
    }
    int64_t n = dim == 0 ? rows * cols : dim == 1 ? rows : cols;
    int64_t slices = dim == 0 ? 1 : dim == 1 ? cols : rows;
    if (op == AP_NORM_RANK && n > AP_SORT_MAX_SLICE) {
        ap_error_set(err, AP_E_UNSUPPORTED, "rank: a slice of %lld elements exceeds 2^32", (long long)n);
        return NULL;
    }
    uint64_t per = op == AP_NORM_RANK ? ap_sort_units((uint64_t)n) : mul_sat((uint64_t)n, 3);
    if (ap_budget_work(budget, mul_sat(per ? per : 1, (uint64_t)slices), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(rows, cols, budget, err);
    if (!t)
        return NULL;
    int gather = dim == 1 && cols > 1;
    int64_t block = gather ? (cols < AP_COL_BLOCK ? cols : AP_COL_BLOCK) : 0;
    size_t sort_bytes = op == AP_NORM_RANK ? sort_scratch_bytes(n) : 0;
    size_t bytes = sort_bytes + (size_t)(2 * block * rows) * sizeof(float);
    char *scratch = ap_scratch_alloc(bytes, budget, err); /* also for 0 bytes: never offset a NULL */
    if (!scratch) {
        ap_tensor_free(t);
        return NULL;
    }
    uint64_t *keys = sort_bytes ? (uint64_t *)scratch : NULL;
    float *in = (float *)(scratch + sort_bytes), *out = in + block * rows;
    const float *x = ap_tensor_data(a);
    float *o = ap_tensor_data(t);
    if (dim == 0 || (dim == 1 && cols == 1)) {
        slice_normalize(op, x, o, rows * cols, keys);
    } else if (dim == 2) {
        for (int64_t i = 0; i < rows; i++)
            slice_normalize(op, x + i * cols, o + i * cols, cols, keys);
    } else {
        for (int64_t j0 = 0; j0 < cols; j0 += block) {
            int64_t w = cols - j0 < block ? cols - j0 : block;
            gather_cols(x, rows, cols, j0, w, in);
            for (int64_t k = 0; k < w; k++)
                slice_normalize(op, in + k * rows, out + k * rows, rows, keys);
            scatter_cols(out, rows, cols, j0, w, o);
        }
    }
    ap_scratch_free(scratch, bytes, budget);
    return t;
}
