/* ap_tensor.h — 2-D float32 tensors with reference-counted storage: the C core of the tensor stdlib.
 * Knows nothing of Lua or models. Every allocation may be charged to an ap_budget (the sandbox's limits). */
#ifndef AP_TENSOR_H
#define AP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

/* A budget that tensor allocation and C primitives charge before they start. All callbacks optional.
 * charge_bytes/charge_work return AP_OK or an error status (AP_E_LIMIT, AP_E_INTERRUPTED) after filling err. */
typedef struct ap_budget {
    ap_status (*charge_bytes)(void *ud, size_t bytes, ap_error *err);
    void (*release_bytes)(void *ud, size_t bytes);
    ap_status (*charge_work)(void *ud, uint64_t units, ap_error *err);
    void *ud;
} ap_budget;

/* Storage: one float buffer with a reference count. */
typedef struct ap_storage {
    float *data;
    size_t numel;
    int refcount;
    const ap_budget *budget;  /* borrowed; the budget the bytes were charged to (may be NULL) */
} ap_storage;

/* A tensor: rows x cols, row-major and contiguous in its storage (views share storage). */
typedef struct ap_tensor {
    int64_t rows, cols;
    ap_storage *storage;      /* owned reference */
} ap_tensor;

#define AP_TENSOR_MAX_NUMEL ((int64_t)1 << 40)

/* Allocation. Shapes are checked (non-negative, product <= AP_TENSOR_MAX_NUMEL, overflow-safe).
 * Returns a new tensor the caller frees with ap_tensor_free, or NULL with err filled. */
ap_tensor *ap_tensor_new(int64_t rows, int64_t cols, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_full(int64_t rows, int64_t cols, float value, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_from_data(int64_t rows, int64_t cols, const float *data, const ap_budget *budget, ap_error *err);
void ap_tensor_free(ap_tensor *t);   /* NULL is fine */
static inline float *ap_tensor_data(const ap_tensor *t) { return t->storage->data; }
static inline int64_t ap_tensor_numel(const ap_tensor *t) { return t->rows * t->cols; }

#endif
