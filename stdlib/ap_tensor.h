/* ap_tensor.h — 2-D float32 tensors with reference-counted storage: the C core of the tensor stdlib.
 * Knows nothing of Lua or models. Every allocation may be charged to an ap_budget (the sandbox's limits).
 *
 * Conventions for every operation below:
 *  - Inputs are borrowed; a returned ap_tensor * is new and the caller frees it with ap_tensor_free.
 *    On failure NULL (or an error status) is returned with err filled.
 *  - The budget (may be NULL = unlimited) is charged work units BEFORE any work is done (elements touched;
 *    m*n*k for matmul; n*ceil(log2 n) for sorting-based operations), then result bytes are charged on allocation
 *    and released when the storage's last reference goes.
 *  - Tensors and storages are not thread-safe (plain reference counts): one thread owns a tensor at a time.
 *
 * Semantics (what ../shared/spec/metric-api.md leaves open is fixed here; stdlib/README.md lists the Lua names):
 *  - Broadcasting (binary operations): numpy rules restricted to 2-D: each dimension must be equal or 1 on one
 *    side; a number, a [1,n] row, a [m,1] column broadcast in either operand position; [m,1] with [1,n] gives
 *    [m,n]. Anything else fails with AP_E_SHAPE.
 *  - dim: 0 = the whole tensor, 1 = down each column (result [1,n]), 2 = along each row (result [m,1]).
 *  - NaN policy: elementwise operations propagate NaN like numpy (maximum/minimum/clamp/relu included);
 *    amax/amin/sum/mean/var/... propagate NaN. Sorting-based operations (rank, topk_mask, nm_mask) use the total
 *    order  -inf < ... < -0 == +0 < ... < +inf < NaN  (all NaNs equal, NaN sorts above +inf), with ties broken by
 *    position (lower index first), so they are deterministic; quantile/median of a slice containing NaN is NaN.
 *  - Edge cases: sum of 0 elements = 0; mean/var/std/skew/kurt/amax/amin/quantile/median of 0 elements = NaN;
 *    norm of 0 elements = 0. var/std of one element = 0. skew/kurt (population; kurt is excess kurtosis) of a
 *    slice with zero variance = NaN. zscore of a zero-variance slice = 0; minmax of a constant slice = 0;
 *    rank of a one-element slice = 0, tied values get the average of their ranks, ranks are scaled to 0..1.
 *    quantile interpolates linearly (numpy's default): pos = q*(n-1), v = a[lo] + (a[hi]-a[lo])*(pos-lo),
 *    exactly a[lo] when pos is an integer or a[lo] == a[hi].
 *  - norm(p): (sum |x|^p)^(1/p) for finite p != 0; p = inf: max |x|; p = -inf: min |x|; p = 0: count of x != 0
 *    (numpy's vector norms).
 *  - Masks: 1 keep, 0 prune. topk_mask keeps k = round(keep_frac * g) (half away from zero) highest entries of
 *    each group of g (dim 0: whole tensor, 1: each column, 2: each row); nm_mask keeps the n_keep highest of each
 *    run of m consecutive entries of a row (cols % m must be 0). Among equal scores the lower index is pruned first.
 */
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
typedef struct ap_tensor_pool ap_tensor_pool;

typedef struct ap_storage {
    float *data;
    size_t numel;
    int refcount;
    const ap_budget *budget; /* borrowed; the budget the bytes were charged to (may be NULL) */
    ap_tensor_pool *pool;    /* the pool the payload returns to when freed (NULL: none), see below */
} ap_storage;

/* A tensor: rows x cols, row-major and contiguous in its storage (views share storage). */
typedef struct ap_tensor {
    int64_t rows, cols;
    ap_storage *storage; /* owned reference */
} ap_tensor;

#define AP_TENSOR_MAX_NUMEL ((int64_t)1 << 40)

/* Allocation. Shapes are checked (non-negative, product <= AP_TENSOR_MAX_NUMEL, overflow-safe).
 * Returns a new tensor the caller frees with ap_tensor_free, or NULL with err filled.
 * ap_tensor_new leaves the contents uninitialised. The budget pointer is stored in the storage (borrowed: it
 * must outlive every tensor charged to it). */
ap_tensor *ap_tensor_new(int64_t rows, int64_t cols, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_full(int64_t rows, int64_t cols, float value, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_from_data(int64_t rows, int64_t cols, const float *data, const ap_budget *budget, ap_error *err);
void ap_tensor_free(ap_tensor *t); /* NULL is fine */
static inline float *ap_tensor_data(const ap_tensor *t) { return t->storage->data; }
static inline int64_t ap_tensor_numel(const ap_tensor *t) { return t->rows * t->cols; }

/* A payload pool: a small cache of freed payloads for one context (a Lua state, a sandbox), so that operations
 * producing fresh results reuse warm memory instead of faulting in new pages (glibc hands freed multi-MB blocks
 * back to the kernel at once). Operations given ap_tensor_pool_budget(p) allocate through the pool; that budget
 * forwards every charge to `inner` (may be NULL = unlimited), and a storage releases its bytes to the inner budget
 * it was charged to when freed, cached or not. Cached payloads are not charged to any budget (the cache is
 * dropped whenever inner refuses bytes); at most AP_TENSOR_POOL_ENTRIES payloads and AP_TENSOR_POOL_MAX_BYTES
 * are kept. Not thread-safe: one context, one thread.
 * Lifetime: ap_tensor_pool_close drops the cache; the pool's own memory goes when the last storage allocated
 * through it is freed, so tensors may outlive the close (inner budgets must outlive their tensors). */
#define AP_TENSOR_POOL_ENTRIES 8
#define AP_TENSOR_POOL_MAX_BYTES ((size_t)256 << 20)
/* Called once when inner refuses bytes with AP_E_LIMIT, before one retry (e.g. to run a full GC). */
typedef void (*ap_tensor_pool_refused_fn)(void *ud);
ap_tensor_pool *ap_tensor_pool_new(const ap_budget *inner, ap_error *err); /* NULL with err on malloc failure */
void ap_tensor_pool_set_inner(ap_tensor_pool *p, const ap_budget *inner);  /* inner: borrowed */
void ap_tensor_pool_set_refused(ap_tensor_pool *p, ap_tensor_pool_refused_fn fn, void *ud);
const ap_budget *ap_tensor_pool_budget(ap_tensor_pool *p); /* borrowed; lives as the pool */
void ap_tensor_pool_close(ap_tensor_pool *p);              /* NULL is fine */

/* A second handle on the same storage (reference count + 1); caller frees it. NULL with err on malloc failure. */
ap_tensor *ap_tensor_share(const ap_tensor *t, ap_error *err);
/* AP_OK when rows x cols is a valid shape, else AP_E_SHAPE naming `what`. */
ap_status ap_tensor_check_shape(int64_t rows, int64_t cols, const char *what, ap_error *err);
/* Charge work units to a budget (NULL budget or callback: free). */
ap_status ap_budget_work(const ap_budget *b, uint64_t units, ap_error *err);
/* Temporary buffers charged to the budget like tensor payloads (bytes charged before allocation, released on
 * free). ap_scratch_alloc returns NULL with err filled on refusal or malloc failure. */
void *ap_scratch_alloc(size_t bytes, const ap_budget *budget, ap_error *err);
void ap_scratch_free(void *p, size_t bytes, const ap_budget *budget);
/* Work units of sorting n elements: n * ceil(log2 n), at least n. */
uint64_t ap_sort_units(uint64_t n);

/* ---- elementwise (ap_tensor_ops.c) ---- */
typedef enum {
    AP_UN_ABS,
    AP_UN_SQRT,
    AP_UN_EXP,
    AP_UN_LOG,
    AP_UN_LOG1P,
    AP_UN_SIGN,
    AP_UN_SQUARE,
    AP_UN_SIGMOID,
    AP_UN_TANH,
    AP_UN_RELU,
    AP_UN_NEG,
    AP_UN_COUNT_
} ap_unary_op;
typedef enum {
    AP_BIN_ADD,
    AP_BIN_SUB,
    AP_BIN_MUL,
    AP_BIN_DIV,
    AP_BIN_POW,
    AP_BIN_MAX,
    AP_BIN_MIN,
    AP_BIN_COUNT_
} ap_binary_op;

const char *ap_unary_name(ap_unary_op op);
const char *ap_binary_name(ap_binary_op op);
ap_tensor *ap_tensor_unary(const ap_tensor *a, ap_unary_op op, const ap_budget *budget, ap_error *err);
/* clamp: min(max(x, lo), hi), NaN stays NaN (numpy.clip). */
ap_tensor *ap_tensor_clamp(const ap_tensor *a, float lo, float hi, const ap_budget *budget, ap_error *err);
/* Result shape of broadcasting a and b, or AP_E_SHAPE. */
ap_status ap_broadcast_shape(int64_t ar, int64_t ac, int64_t br, int64_t bc, int64_t *rows, int64_t *cols,
                             ap_error *err);
ap_tensor *ap_tensor_binary(const ap_tensor *a, const ap_tensor *b, ap_binary_op op, const ap_budget *budget,
                            ap_error *err);
/* One operand a number: scalar_first != 0 computes op(s, a), else op(a, s). */
ap_tensor *ap_tensor_binary_scalar(const ap_tensor *a, float s, int scalar_first, ap_binary_op op,
                                   const ap_budget *budget, ap_error *err);
/* The same with an elementwise unary operation applied to a first (fused: no temporary). pre may be
 * AP_UN_COUNT_ for none. */
ap_tensor *ap_tensor_binary_pre(const ap_tensor *a, ap_unary_op pre_a, const ap_tensor *b, ap_unary_op pre_b,
                                ap_binary_op op, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_binary_scalar_pre(const ap_tensor *a, ap_unary_op pre_a, float s, int scalar_first,
                                       ap_binary_op op, const ap_budget *budget, ap_error *err);

/* ---- reductions and normalisations (ap_tensor_stats.c) ---- */
typedef enum {
    AP_RED_SUM,
    AP_RED_MEAN,
    AP_RED_AMAX,
    AP_RED_AMIN,
    AP_RED_VAR,
    AP_RED_STD,
    AP_RED_SKEW,
    AP_RED_KURT,
    AP_RED_NORM,     /* param = p */
    AP_RED_QUANTILE, /* param = q in [0, 1]; median is q = 0.5 */
    AP_RED_COUNT_
} ap_reduce_op;
typedef enum { AP_NORM_ZSCORE, AP_NORM_MINMAX, AP_NORM_RANK, AP_NORM_SOFTMAX, AP_NORM_COUNT_ } ap_normalize_op;

const char *ap_reduce_name(ap_reduce_op op);
const char *ap_normalize_name(ap_normalize_op op);
/* Whole-tensor reduction into *out (double). */
ap_status ap_tensor_reduce_all(const ap_tensor *a, ap_reduce_op op, double param, double *out, const ap_budget *budget,
                               ap_error *err);
/* dim 1 -> [1, cols], dim 2 -> [rows, 1], dim 0 -> [1, 1]. */
ap_tensor *ap_tensor_reduce(const ap_tensor *a, ap_reduce_op op, double param, int dim, const ap_budget *budget,
                            ap_error *err);
/* Same shape as a; dim as above (0 = over the whole tensor). */
ap_tensor *ap_tensor_normalize(const ap_tensor *a, ap_normalize_op op, int dim, const ap_budget *budget, ap_error *err);

/* ---- shape and linear algebra (ap_blas.c) ---- */
ap_tensor *ap_tensor_transpose(const ap_tensor *a, const ap_budget *budget, ap_error *err);
/* [m,k] x [k,n] -> [m,n] through OpenBLAS cblas_sgemm. */
ap_tensor *ap_tensor_matmul(const ap_tensor *a, const ap_tensor *b, const ap_budget *budget, ap_error *err);
/* outer(a, b)[i][j] = a_flat[i] * b_flat[j]: [numel(a), numel(b)] (numpy.outer). */
ap_tensor *ap_tensor_outer(const ap_tensor *a, const ap_tensor *b, const ap_budget *budget, ap_error *err);

/* ---- sorting-based selection (ap_tensor_select.c) ---- */
/* The total-order key of a float (see NaN policy above): a < b in the order iff key(a) < key(b). */
uint32_t ap_float_order_key(float x);
ap_tensor *ap_tensor_topk_mask(const ap_tensor *s, double keep_frac, int dim, const ap_budget *budget, ap_error *err);
ap_tensor *ap_tensor_nm_mask(const ap_tensor *s, int64_t n_keep, int64_t m, const ap_budget *budget, ap_error *err);
/* Helpers over one contiguous slice of n <= 2^32 elements; scratch holds 2*n uint64 values.
 * ap_slice_order returns a pointer (into scratch) to the n keys (order key << 32 | index) sorted ascending: by the
 * total order above, ties by index. Quantile and rank of a slice follow the semantics above (rank is written to
 * out[i * out_stride]). */
uint64_t *ap_slice_order(const float *x, int64_t n, uint64_t *scratch);
double ap_slice_quantile(const float *x, int64_t n, double q, uint64_t *scratch);
void ap_slice_rank(const float *x, int64_t n, float *out, int64_t out_stride, uint64_t *scratch);
#define AP_SORT_MAX_SLICE ((int64_t)1 << 32)

#endif
