/* ap_blas.c — shape and linear-algebra operations: transpose, matmul (OpenBLAS cblas_sgemm), outer product. */
#include "ap_tensor.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

#define AP_TILE 32

static uint64_t mul3_sat(uint64_t a, uint64_t b, uint64_t c)
{
    if (b && a > UINT64_MAX / b)
        return UINT64_MAX;
    a *= b;
    return c && a > UINT64_MAX / c ? UINT64_MAX : a * c;
}

ap_tensor *ap_tensor_transpose(const ap_tensor *a, const ap_budget *budget, ap_error *err)
{
    int64_t rows = a->rows, cols = a->cols;
    if (ap_budget_work(budget, (uint64_t)(rows * cols), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(cols, rows, budget, err);
    if (!t)
        return NULL;
    const float *x = ap_tensor_data(a);
    float *o = ap_tensor_data(t);
    /* Tiles keep both the reads and the writes within a few cache lines. */
    for (int64_t i0 = 0; i0 < rows; i0 += AP_TILE)
        for (int64_t j0 = 0; j0 < cols; j0 += AP_TILE) {
            int64_t i1 = i0 + AP_TILE < rows ? i0 + AP_TILE : rows, j1 = j0 + AP_TILE < cols ? j0 + AP_TILE : cols;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++)
                    o[j * rows + i] = x[i * cols + j];
        }
    return t;
}

ap_tensor *ap_tensor_matmul(const ap_tensor *a, const ap_tensor *b, const ap_budget *budget, ap_error *err)
{
    int64_t m = a->rows, k = a->cols, n = b->cols;
    if (b->rows != k) {
        ap_error_set(err, AP_E_SHAPE, "matmul: [%lld, %lld] x [%lld, %lld]: inner dimensions differ", (long long)m,
                     (long long)k, (long long)b->rows, (long long)n);
        return NULL;
    }
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
        ap_error_set(err, AP_E_UNSUPPORTED, "matmul: dimensions beyond 2^31-1 are not supported by BLAS");
        return NULL;
    }
    uint64_t units = mul3_sat((uint64_t)m, (uint64_t)n, (uint64_t)k);
    if (ap_budget_work(budget, units ? units : (uint64_t)(m * n) + 1, err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(m, n, budget, err);
    if (!t || m * n == 0)
        return t;
    if (k == 0) { /* empty inner dimension: the sum over nothing is 0 (BLAS would reject lda = 0) */
        memset(ap_tensor_data(t), 0, (size_t)(m * n) * sizeof(float));
        return t;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, ap_tensor_data(a), (int)k,
                ap_tensor_data(b), (int)n, 0.0f, ap_tensor_data(t), (int)n);
    return t;
}

ap_tensor *ap_tensor_outer(const ap_tensor *a, const ap_tensor *b, const ap_budget *budget, ap_error *err)
{
    int64_t m = ap_tensor_numel(a), n = ap_tensor_numel(b);
    if (ap_tensor_check_shape(m, n, "outer", err) != AP_OK || ap_budget_work(budget, (uint64_t)(m * n), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(m, n, budget, err);
    if (!t)
        return NULL;
    const float *restrict x = ap_tensor_data(a), *restrict y = ap_tensor_data(b);
    float *restrict o = ap_tensor_data(t);
    for (int64_t i = 0; i < m; i++) {
        float xi = x[i];
        for (int64_t j = 0; j < n; j++)
            o[i * n + j] = xi * y[j];
    }
    return t;
}
