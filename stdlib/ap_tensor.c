/* ap_tensor.c — tensor allocation, reference-counted storage, shape checks and budget charging. */
#include "ap_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Payloads of at least this size are 2 MiB aligned and advised to use huge pages: a fresh 64 MiB result then
 * costs 32 page faults instead of 16384, which is most of the cost of a memory-bound elementwise pass. */
#define AP_HUGE_THRESHOLD ((size_t)4 << 20)
#define AP_HUGE_ALIGN ((size_t)2 << 20)

ap_status ap_tensor_check_shape(int64_t rows, int64_t cols, const char *what, ap_error *err)
{
    if (rows < 0 || cols < 0)
        return ap_error_set(err, AP_E_SHAPE, "%s: negative shape [%lld, %lld]", what, (long long)rows,
                            (long long)cols);
    if (rows > AP_TENSOR_MAX_NUMEL || cols > AP_TENSOR_MAX_NUMEL ||
        (rows != 0 && cols > AP_TENSOR_MAX_NUMEL / rows))
        return ap_error_set(err, AP_E_SHAPE, "%s: shape [%lld, %lld] exceeds the limit of 2^40 elements", what,
                            (long long)rows, (long long)cols);
    return AP_OK;
}

ap_status ap_budget_work(const ap_budget *b, uint64_t units, ap_error *err)
{
    if (!b || !b->charge_work)
        return AP_OK;
    return b->charge_work(b->ud, units, err);
}

uint64_t ap_sort_units(uint64_t n)
{
    uint64_t lg = 1;
    while (lg < 64 && ((uint64_t)1 << lg) < n)
        lg++;
    return n > UINT64_MAX / lg ? UINT64_MAX : n * lg;
}

static float *payload_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes >= AP_HUGE_THRESHOLD) {
        size_t rounded = (bytes + AP_HUGE_ALIGN - 1) & ~(AP_HUGE_ALIGN - 1);
        if (posix_memalign(&p, AP_HUGE_ALIGN, rounded) != 0)
            return NULL;
        madvise(p, rounded, MADV_HUGEPAGE);  /* advice only: failure is harmless */
        return p;
    }
    /* 64-byte alignment for vector loads; at least one float so data is never NULL (memcpy/UBSan). */
    size_t rounded = bytes < 64 ? 64 : (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0)
        return NULL;
    return p;
}

ap_tensor *ap_tensor_new(int64_t rows, int64_t cols, const ap_budget *budget, ap_error *err)
{
    if (ap_tensor_check_shape(rows, cols, "tensor", err) != AP_OK)
        return NULL;
    size_t numel = (size_t)rows * (size_t)cols;
    size_t bytes = numel * sizeof(float);
    if (budget && budget->charge_bytes && budget->charge_bytes(budget->ud, bytes, err) != AP_OK)
        return NULL;
    ap_tensor *t = malloc(sizeof *t);
    ap_storage *s = malloc(sizeof *s);
    float *data = payload_alloc(bytes);
    if (!t || !s || !data) {
        free(t);
        free(s);
        free(data);
        if (budget && budget->charge_bytes && budget->release_bytes)
            budget->release_bytes(budget->ud, bytes);
        ap_error_set(err, AP_E_NOMEM, "tensor [%lld, %lld]: out of memory (%zu bytes)", (long long)rows,
                     (long long)cols, bytes);
        return NULL;
    }
    s->data = data;
    s->numel = numel;
    s->refcount = 1;
    s->budget = budget;
    t->rows = rows;
    t->cols = cols;
    t->storage = s;
    return t;
}

ap_tensor *ap_tensor_full(int64_t rows, int64_t cols, float value, const ap_budget *budget, ap_error *err)
{
    if (ap_tensor_check_shape(rows, cols, "tensor", err) != AP_OK ||
        ap_budget_work(budget, (uint64_t)(rows * cols), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(rows, cols, budget, err);
    if (!t)
        return NULL;
    float *d = ap_tensor_data(t);
    int64_t n = rows * cols;
    if (value == 0.0f && !signbit(value))
        memset(d, 0, (size_t)n * sizeof(float));
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = value;
    return t;
}

ap_tensor *ap_tensor_from_data(int64_t rows, int64_t cols, const float *data, const ap_budget *budget, ap_error *err)
{
    if (ap_tensor_check_shape(rows, cols, "tensor", err) != AP_OK ||
        ap_budget_work(budget, (uint64_t)(rows * cols), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(rows, cols, budget, err);
    if (t && rows * cols > 0)
        memcpy(ap_tensor_data(t), data, (size_t)(rows * cols) * sizeof(float));
    return t;
}

ap_tensor *ap_tensor_share(const ap_tensor *t, ap_error *err)
{
    ap_tensor *u = malloc(sizeof *u);
    if (!u) {
        ap_error_set(err, AP_E_NOMEM, "tensor handle: out of memory");
        return NULL;
    }
    *u = *t;
    u->storage->refcount++;
    return u;
}

void ap_tensor_free(ap_tensor *t)
{
    if (!t)
        return;
    ap_storage *s = t->storage;
    free(t);
    if (!s || --s->refcount > 0)
        return;
    const ap_budget *b = s->budget;
    size_t bytes = s->numel * sizeof(float);
    free(s->data);
    free(s);
    if (b && b->charge_bytes && b->release_bytes)
        b->release_bytes(b->ud, bytes);
}

void *ap_scratch_alloc(size_t bytes, const ap_budget *budget, ap_error *err)
{
    if (budget && budget->charge_bytes && budget->charge_bytes(budget->ud, bytes, err) != AP_OK)
        return NULL;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        if (budget && budget->charge_bytes && budget->release_bytes)
            budget->release_bytes(budget->ud, bytes);
        ap_error_set(err, AP_E_NOMEM, "scratch buffer: out of memory (%zu bytes)", bytes);
    }
    return p;
}

void ap_scratch_free(void *p, size_t bytes, const ap_budget *budget)
{
    if (!p)
        return;
    free(p);
    if (budget && budget->charge_bytes && budget->release_bytes)
        budget->release_bytes(budget->ud, bytes);
}
