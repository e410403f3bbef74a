/* ap_tensor.c — tensor allocation, reference-counted storage, shape checks and budget charging. */
#include "ap_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Payloads of at least this size are 2 MiB aligned and advised to use huge pages: glibc always maps them afresh
 * (its mmap threshold never rises above 32 MiB), and a fresh 64 MiB result then costs 32 page faults instead of
 * 16384, which is most of the cost of a memory-bound elementwise pass. Smaller payloads reuse freed heap memory. */
#define AP_HUGE_THRESHOLD ((size_t)32 << 20)
#define AP_HUGE_ALIGN ((size_t)2 << 20)

ap_status ap_tensor_check_shape(int64_t rows, int64_t cols, const char *what, ap_error *err)
{
    if (rows < 0 || cols < 0)
        return ap_error_set(err, AP_E_SHAPE, "%s: negative shape [%lld, %lld]", what, (long long)rows, (long long)cols);
    if (rows > AP_TENSOR_MAX_NUMEL || cols > AP_TENSOR_MAX_NUMEL || (rows != 0 && cols > AP_TENSOR_MAX_NUMEL / rows))
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

static size_t payload_cap(size_t bytes);

static float *payload_alloc(size_t bytes)
{
    void *p = NULL;
    size_t cap = payload_cap(bytes);
    if (bytes >= AP_HUGE_THRESHOLD) {
        if (posix_memalign(&p, AP_HUGE_ALIGN, cap) != 0)
            return NULL;
        madvise(p, cap, MADV_HUGEPAGE); /* advice only: failure is harmless */
        return p;
    }
    /* 64-byte alignment for vector loads; at least 64 bytes so data is never NULL (memcpy/UBSan). */
    if (posix_memalign(&p, 64, cap) != 0)
        return NULL;
    return p;
}

/* ---- payload pool ---- */

struct ap_tensor_pool {
    ap_budget b;            /* what operations are given; its callbacks identify a pool */
    const ap_budget *inner; /* borrowed, may be NULL */
    ap_tensor_pool_refused_fn refused;
    void *refused_ud;
    int64_t storages; /* live storages allocated through the pool */
    int closed;
    size_t cached_bytes;
    int n_cached;
    struct {
        float *data;
        size_t cap;
    } cache[AP_TENSOR_POOL_ENTRIES]; /* oldest first */
};

static void pool_drop_cache(ap_tensor_pool *p);

static ap_status pool_charge_bytes(void *ud, size_t bytes, ap_error *err)
{
    ap_tensor_pool *p = ud;
    if (!p->inner || !p->inner->charge_bytes)
        return AP_OK;
    ap_status st = p->inner->charge_bytes(p->inner->ud, bytes, err);
    if (st != AP_E_LIMIT)
        return st;
    /* Near the limit: give the cached (uncharged) payloads back too, then let the owner free what it can. */
    pool_drop_cache(p);
    if (!p->refused)
        return st;
    p->refused(p->refused_ud);
    return p->inner->charge_bytes(p->inner->ud, bytes, err);
}

static void pool_release_bytes(void *ud, size_t bytes)
{
    ap_tensor_pool *p = ud;
    if (p->inner && p->inner->charge_bytes && p->inner->release_bytes)
        p->inner->release_bytes(p->inner->ud, bytes);
}

static ap_status pool_charge_work(void *ud, uint64_t units, ap_error *err)
{
    ap_tensor_pool *p = ud;
    return ap_budget_work(p->inner, units, err);
}

static ap_tensor_pool *pool_of(const ap_budget *b)
{
    return b && b->charge_bytes == pool_charge_bytes ? (ap_tensor_pool *)b->ud : NULL;
}

ap_tensor_pool *ap_tensor_pool_new(const ap_budget *inner, ap_error *err)
{
    ap_tensor_pool *p = calloc(1, sizeof *p);
    if (!p) {
        ap_error_set(err, AP_E_NOMEM, "tensor pool: out of memory");
        return NULL;
    }
    p->b.charge_bytes = pool_charge_bytes;
    p->b.release_bytes = pool_release_bytes;
    p->b.charge_work = pool_charge_work;
    p->b.ud = p;
    p->inner = inner;
    return p;
}

void ap_tensor_pool_set_inner(ap_tensor_pool *p, const ap_budget *inner) { p->inner = inner; }

void ap_tensor_pool_set_refused(ap_tensor_pool *p, ap_tensor_pool_refused_fn fn, void *ud)
{
    p->refused = fn;
    p->refused_ud = ud;
}

const ap_budget *ap_tensor_pool_budget(ap_tensor_pool *p) { return &p->b; }

static void pool_drop_cache(ap_tensor_pool *p)
{
    for (int i = 0; i < p->n_cached; i++)
        free(p->cache[i].data);
    p->n_cached = 0;
    p->cached_bytes = 0;
}

void ap_tensor_pool_close(ap_tensor_pool *p)
{
    if (!p)
        return;
    pool_drop_cache(p);
    p->closed = 1;
    p->refused = NULL;
    if (p->storages == 0)
        free(p);
}

/* A cached payload of exactly `cap` bytes, or NULL. */
static float *pool_take(ap_tensor_pool *p, size_t cap)
{
    for (int i = p->n_cached - 1; i >= 0; i--)
        if (p->cache[i].cap == cap) {
            float *d = p->cache[i].data;
            p->cached_bytes -= cap;
            for (int k = i; k + 1 < p->n_cached; k++)
                p->cache[k] = p->cache[k + 1];
            p->n_cached--;
            return d;
        }
    return NULL;
}

/* Keep a freed payload (evicting the oldest), or free it when the pool is closed or it is too big. */
static void pool_put(ap_tensor_pool *p, float *data, size_t cap)
{
    if (p->closed || cap > AP_TENSOR_POOL_MAX_BYTES) {
        free(data);
        return;
    }
    while (p->n_cached > 0 &&
           (p->n_cached == AP_TENSOR_POOL_ENTRIES || p->cached_bytes + cap > AP_TENSOR_POOL_MAX_BYTES)) {
        free(p->cache[0].data);
        p->cached_bytes -= p->cache[0].cap;
        for (int k = 0; k + 1 < p->n_cached; k++)
            p->cache[k] = p->cache[k + 1];
        p->n_cached--;
    }
    p->cache[p->n_cached].data = data;
    p->cache[p->n_cached].cap = cap;
    p->n_cached++;
    p->cached_bytes += cap;
}

/* ---- tensors ---- */

/* The allocation size of a payload of `bytes` (what payload_alloc really takes, and the pool's match key). */
static size_t payload_cap(size_t bytes)
{
    if (bytes >= AP_HUGE_THRESHOLD)
        return (bytes + AP_HUGE_ALIGN - 1) & ~(AP_HUGE_ALIGN - 1);
    return bytes < 64 ? 64 : (bytes + 63) & ~(size_t)63;
}

ap_tensor *ap_tensor_new(int64_t rows, int64_t cols, const ap_budget *budget, ap_error *err)
{
    if (ap_tensor_check_shape(rows, cols, "tensor", err) != AP_OK)
        return NULL;
    size_t numel = (size_t)rows * (size_t)cols;
    size_t bytes = numel * sizeof(float);
    if (budget && budget->charge_bytes && budget->charge_bytes(budget->ud, bytes, err) != AP_OK)
        return NULL;
    ap_tensor_pool *pool = pool_of(budget);
    ap_tensor *t = malloc(sizeof *t);
    ap_storage *s = malloc(sizeof *s);
    float *data = pool ? pool_take(pool, payload_cap(bytes)) : NULL;
    if (!data)
        data = payload_alloc(bytes);
    if (!t || !s || !data) {
        free(t);
        free(s);
        if (data && pool)
            pool_put(pool, data, payload_cap(bytes));
        else
            free(data);
        if (budget && budget->charge_bytes && budget->release_bytes)
            budget->release_bytes(budget->ud, bytes);
        ap_error_set(err, AP_E_NOMEM, "tensor [%lld, %lld]: out of memory (%zu bytes)", (long long)rows,
                     (long long)cols, bytes);
        return NULL;
    }
    if (pool)
        pool->storages++;
    s->data = data;
    s->numel = numel;
    s->refcount = 1;
    /* Bytes go back to the budget they were charged to, even if the pool's inner budget changes later. */
    s->budget = pool ? pool->inner : budget;
    s->pool = pool;
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
    ap_tensor_pool *pool = s->pool;
    if (pool)
        pool_put(pool, s->data, payload_cap(bytes));
    else
        free(s->data);
    free(s);
    if (b && b->charge_bytes && b->release_bytes)
        b->release_bytes(b->ud, bytes);
    if (pool && --pool->storages == 0 && pool->closed)
        free(pool);
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
