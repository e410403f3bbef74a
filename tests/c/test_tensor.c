/* test_tensor.c — the tensor core in C: shapes and overflow, reference counts, budget charging/refusal/release,
 * the payload pool, broadcasting, the float total order, tie-breaking of masks, edge-case semantics. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ap_tensor.h"
#include "aptest.h"

typedef struct counting {
    ap_budget b;
    size_t in_use, max_bytes;
    uint64_t work, max_work;
    int byte_calls, work_calls, refusals;
} counting;

static ap_status cb_bytes(void *ud, size_t bytes, ap_error *err)
{
    counting *c = ud;
    c->byte_calls++;
    if (c->max_bytes && c->in_use + bytes > c->max_bytes) {
        c->refusals++;
        return ap_error_set(err, AP_E_LIMIT, "bytes refused");
    }
    c->in_use += bytes;
    return AP_OK;
}

static void cb_release(void *ud, size_t bytes)
{
    counting *c = ud;
    c->in_use -= bytes;
}

static ap_status cb_work(void *ud, uint64_t units, ap_error *err)
{
    counting *c = ud;
    c->work_calls++;
    if (c->max_work && c->work + units > c->max_work)
        return ap_error_set(err, AP_E_LIMIT, "work refused");
    c->work += units;
    return AP_OK;
}

static void counting_init(counting *c)
{
    memset(c, 0, sizeof *c);
    c->b.charge_bytes = cb_bytes;
    c->b.release_bytes = cb_release;
    c->b.charge_work = cb_work;
    c->b.ud = c;
}

static ap_tensor *from(int64_t r, int64_t c, const float *d) { return ap_tensor_from_data(r, c, d, NULL, NULL); }

static void test_shapes(void)
{
    ap_error err;
    AP_CHECK(ap_tensor_new(-1, 3, NULL, &err) == NULL && err.code == AP_E_SHAPE, "negative rows refused: %s", err.msg);
    AP_CHECK(ap_tensor_new(3, INT64_MIN, NULL, &err) == NULL && err.code == AP_E_SHAPE, "INT64_MIN cols refused");
    AP_CHECK(ap_tensor_new(INT64_MAX, INT64_MAX, NULL, &err) == NULL && err.code == AP_E_SHAPE,
             "INT64_MAX x INT64_MAX refused (no overflow)");
    AP_CHECK(ap_tensor_new((int64_t)1 << 21, (int64_t)1 << 21, NULL, &err) == NULL && err.code == AP_E_SHAPE,
             "2^21 x 2^21 = 2^42 elements refused");
    AP_CHECK(ap_tensor_new(AP_TENSOR_MAX_NUMEL + 1, 1, NULL, &err) == NULL, "2^40 + 1 rows refused");
    AP_CHECK(ap_tensor_check_shape(AP_TENSOR_MAX_NUMEL, 1, "x", &err) == AP_OK, "2^40 x 1 is a valid shape");
    AP_CHECK(ap_tensor_check_shape(0, INT64_MAX, "x", &err) == AP_E_SHAPE, "0 x INT64_MAX refused");
    ap_tensor *z = ap_tensor_new(0, 5, NULL, &err);
    AP_CHECK(z && z->rows == 0 && z->cols == 5 && ap_tensor_data(z) != NULL, "[0, 5] allocates, data not NULL");
    ap_tensor_free(z);
    ap_tensor_free(NULL);
    AP_CHECK(1, "ap_tensor_free(NULL) is a no-op");
}

static void test_refcount_and_budget(void)
{
    counting c;
    counting_init(&c);
    ap_error err;
    ap_tensor *t = ap_tensor_full(10, 20, 2.5f, &c.b, &err);
    AP_CHECK(t && c.in_use == 800 && c.work == 200, "full charges 800 bytes and 200 work units (%zu, %llu)", c.in_use,
             (unsigned long long)c.work);
    ap_tensor *u = ap_tensor_share(t, &err);
    AP_CHECK(u && u->storage == t->storage && t->storage->refcount == 2, "share adds a reference");
    ap_tensor_free(t);
    AP_CHECK(c.in_use == 800 && ap_tensor_data(u)[199] == 2.5f, "bytes stay charged while a reference lives");
    ap_tensor_free(u);
    AP_CHECK(c.in_use == 0, "last reference releases the bytes");

    c.max_bytes = 1000;
    ap_tensor *a = ap_tensor_new(10, 20, &c.b, &err);
    ap_tensor *b = ap_tensor_new(10, 20, &c.b, &err);
    AP_CHECK(a && !b && err.code == AP_E_LIMIT && c.in_use == 800, "budget refuses the second 800 bytes");
    int calls = c.byte_calls;
    ap_tensor *s = ap_tensor_unary(a, AP_UN_ABS, &c.b, &err);
    AP_CHECK(!s && err.code == AP_E_LIMIT && c.in_use == 800 && c.byte_calls == calls + 1,
             "an operation whose result is refused fails with AP_E_LIMIT and leaks nothing");
    c.max_work = c.work + 100;
    calls = c.byte_calls;
    s = ap_tensor_unary(a, AP_UN_ABS, &c.b, &err);
    AP_CHECK(!s && err.code == AP_E_LIMIT && c.byte_calls == calls, "work is charged before any byte is");
    c.max_work = 0;
    c.max_bytes = 0;
    uint64_t w0 = c.work;
    ap_tensor *m = ap_tensor_new(20, 3, &c.b, &err);
    ap_tensor *p = ap_tensor_matmul(a, m, &c.b, &err);
    AP_CHECK(p && c.work - w0 == 10 * 3 * 20, "matmul charges m*n*k work units (%llu)",
             (unsigned long long)(c.work - w0));
    w0 = c.work;
    ap_tensor *k = ap_tensor_topk_mask(a, 0.5, 2, &c.b, &err);
    AP_CHECK(k && c.work - w0 == 10 * ap_sort_units(20), "topk_mask per row charges rows * n log n");
    AP_CHECK(ap_sort_units(1) == 1 && ap_sort_units(1024) == 10240 && ap_sort_units(1025) == 1025 * 11,
             "sort units are n * ceil(log2 n)");
    ap_tensor_free(a);
    ap_tensor_free(m);
    ap_tensor_free(p);
    ap_tensor_free(k);
    AP_CHECK(c.in_use == 0, "every byte released (%zu left)", c.in_use);
}

static void test_pool(void)
{
    counting c1, c2;
    counting_init(&c1);
    counting_init(&c2);
    ap_error err;
    ap_tensor_pool *pool = ap_tensor_pool_new(&c1.b, &err);
    const ap_budget *pb = ap_tensor_pool_budget(pool);
    ap_tensor *a = ap_tensor_new(256, 256, pb, &err);
    float *first = ap_tensor_data(a);
    AP_CHECK(c1.in_use == 256 * 256 * 4, "pool forwards charges to its inner budget");
    ap_tensor_free(a);
    AP_CHECK(c1.in_use == 0, "freeing into the pool releases the bytes");
    a = ap_tensor_new(256, 256, pb, &err);
    AP_CHECK(ap_tensor_data(a) == first, "a freed payload of the same size is reused");
    ap_tensor_pool_set_inner(pool, &c2.b);
    ap_tensor *b = ap_tensor_new(3, 3, pb, &err);
    ap_tensor_free(a);
    AP_CHECK(c1.in_use == 0 && c2.in_use == 36, "bytes return to the budget they were charged to");
    ap_tensor_pool_close(pool);
    float *bd = ap_tensor_data(b);
    bd[8] = 1.0f;
    ap_tensor_free(b); /* after close: the pool's memory goes with its last storage (ASan checks) */
    AP_CHECK(c2.in_use == 0, "a tensor outliving its pool's close frees cleanly");
    ap_tensor_pool_close(NULL);
}

static void test_broadcast(void)
{
    int64_t r, c;
    ap_error err;
    AP_CHECK(ap_broadcast_shape(3, 4, 1, 4, &r, &c, &err) == AP_OK && r == 3 && c == 4, "[3,4] with row");
    AP_CHECK(ap_broadcast_shape(3, 1, 3, 4, &r, &c, &err) == AP_OK && r == 3 && c == 4, "column with [3,4]");
    AP_CHECK(ap_broadcast_shape(3, 1, 1, 4, &r, &c, &err) == AP_OK && r == 3 && c == 4, "column with row: outer");
    AP_CHECK(ap_broadcast_shape(0, 4, 1, 4, &r, &c, &err) == AP_OK && r == 0 && c == 4, "[0,4] with row: [0,4]");
    AP_CHECK(ap_broadcast_shape(3, 4, 4, 3, &r, &c, &err) == AP_E_SHAPE, "[3,4] with [4,3] refused: %s", err.msg);
    AP_CHECK(ap_broadcast_shape(3, 4, 2, 4, &r, &c, &err) == AP_E_SHAPE, "[3,4] with [2,4] refused");
    float a[6] = {1, 2, 3, 4, 5, 6}, row[3] = {10, 20, 30}, col[2] = {100, 200};
    ap_tensor *A = from(2, 3, a), *R = from(1, 3, row), *C = from(2, 1, col);
    ap_tensor *x = ap_tensor_binary(R, A, AP_BIN_SUB, NULL, &err);
    AP_CHECK(x && x->rows == 2 && ap_tensor_data(x)[5] == 30 - 6, "row - matrix broadcasts the row");
    ap_tensor *y = ap_tensor_binary(C, R, AP_BIN_ADD, NULL, &err);
    AP_CHECK(y && y->rows == 2 && y->cols == 3 && ap_tensor_data(y)[4] == 220, "column + row gives [2,3]");
    ap_tensor *z = ap_tensor_binary_scalar(A, 2.0f, 1, AP_BIN_DIV, NULL, &err);
    AP_CHECK(z && ap_tensor_data(z)[3] == 0.5f, "number / tensor with the number first");
    ap_tensor *w = ap_tensor_binary_pre(A, AP_UN_NEG, R, AP_UN_COUNT_, AP_BIN_MUL, NULL, &err);
    AP_CHECK(w && ap_tensor_data(w)[5] == -180, "fused pre-operation: (-A) * row");
    ap_tensor *sq = from(2, 2, a);
    ap_tensor *e = ap_tensor_binary(A, sq, AP_BIN_ADD, NULL, &err);
    AP_CHECK(!e && err.code == AP_E_SHAPE && strstr(err.msg, "add:"), "mismatch names the operation: %s", err.msg);
    ap_tensor_free(A);
    ap_tensor_free(R);
    ap_tensor_free(C);
    ap_tensor_free(x);
    ap_tensor_free(y);
    ap_tensor_free(z);
    ap_tensor_free(w);
    ap_tensor_free(sq);
}

static void test_order(void)
{
    float vals[] = {-INFINITY, -1e30f, -1.0f, -1e-40f, -0.0f, 0.0f, 1e-40f, 1.0f, 3e38f, INFINITY, NAN, -NAN};
    int n = (int)(sizeof vals / sizeof vals[0]), ok = 1;
    for (int i = 0; i + 1 < n; i++) {
        uint32_t a = ap_float_order_key(vals[i]), b = ap_float_order_key(vals[i + 1]);
        int equal_pair = (i == 4) || (i == 10); /* -0 == +0, NaN == -NaN */
        if (equal_pair ? a != b : a >= b)
            ok = 0;
    }
    AP_CHECK(ok, "order key: -inf < ... < -0 == +0 < ... < +inf < NaN == -NaN");
    float ties[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    ap_tensor *T = from(1, 8, ties);
    ap_tensor *m = ap_tensor_topk_mask(T, 0.5, 0, NULL, NULL);
    float *md = ap_tensor_data(m);
    AP_CHECK(md[0] == 0 && md[3] == 0 && md[4] == 1 && md[7] == 1, "topk ties: the lower indices are pruned first");
    ap_tensor *nm = ap_tensor_nm_mask(T, 2, 4, NULL, NULL);
    float *nd = ap_tensor_data(nm);
    AP_CHECK(nd[0] == 0 && nd[1] == 0 && nd[2] == 1 && nd[3] == 1 && nd[6] == 1, "nm ties: keep the higher indices");
    float withnan[4] = {NAN, 5, -INFINITY, 1};
    ap_tensor *W = from(1, 4, withnan);
    ap_tensor *k = ap_tensor_topk_mask(W, 0.25, 2, NULL, NULL);
    AP_CHECK(ap_tensor_data(k)[0] == 1 && ap_tensor_data(k)[1] == 0, "NaN sorts above +inf: kept first");
    ap_tensor *r = ap_tensor_normalize(T, AP_NORM_RANK, 0, NULL, NULL);
    AP_CHECK(ap_tensor_data(r)[0] == 0.5f && ap_tensor_data(r)[7] == 0.5f, "rank of all-equal values: 0.5 each");
    ap_tensor_free(T);
    ap_tensor_free(m);
    ap_tensor_free(nm);
    ap_tensor_free(W);
    ap_tensor_free(k);
    ap_tensor_free(r);
}

static void test_semantics(void)
{
    ap_error err;
    double v;
    float d[5] = {1, 2, 3, 4, 100};
    ap_tensor *A = from(1, 5, d);
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_SUM, 0, &v, NULL, &err) == AP_OK && v == 110, "sum");
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_QUANTILE, 0.5, &v, NULL, &err) == AP_OK && v == 3,
             "median of 5 is the middle value");
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_QUANTILE, 0.9, &v, NULL, &err) == AP_OK && fabs(v - 61.6) < 1e-9,
             "quantile 0.9 interpolates linearly (%g)", v);
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_QUANTILE, 1.5, &v, NULL, &err) == AP_E_ARG, "quantile q > 1 refused");
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_VAR, 0, &v, NULL, &err) == AP_OK && fabs(v - 1522.0) < 1e-9,
             "population variance (%g)", v);
    AP_CHECK(ap_tensor_reduce_all(A, AP_RED_KURT, 0, &v, NULL, &err) == AP_OK && fabs(v - 0.246716) < 1e-5,
             "excess kurtosis (%g)", v);
    ap_tensor *one = from(1, 1, d);
    AP_CHECK(ap_tensor_reduce_all(one, AP_RED_VAR, 0, &v, NULL, &err) == AP_OK && v == 0, "var of one element is 0");
    AP_CHECK(ap_tensor_reduce_all(one, AP_RED_SKEW, 0, &v, NULL, &err) == AP_OK && isnan(v), "skew of one is NaN");
    ap_tensor *E = ap_tensor_new(0, 3, NULL, &err);
    AP_CHECK(ap_tensor_reduce_all(E, AP_RED_SUM, 0, &v, NULL, &err) == AP_OK && v == 0, "sum of nothing is 0");
    AP_CHECK(ap_tensor_reduce_all(E, AP_RED_MEAN, 0, &v, NULL, &err) == AP_OK && isnan(v), "mean of nothing is NaN");
    ap_tensor *em = ap_tensor_reduce(E, AP_RED_AMAX, 0, 1, NULL, &err);
    AP_CHECK(em && em->rows == 1 && em->cols == 3 && isnan(ap_tensor_data(em)[2]), "amax down empty columns: NaN");
    AP_CHECK(!ap_tensor_reduce(A, AP_RED_SUM, 0, 3, NULL, &err) && err.code == AP_E_SHAPE, "dim 3 refused");
    ap_tensor *c = ap_tensor_full(2, 3, 7.0f, NULL, &err);
    ap_tensor *mm = ap_tensor_normalize(c, AP_NORM_MINMAX, 0, NULL, &err);
    ap_tensor *zs = ap_tensor_normalize(c, AP_NORM_ZSCORE, 2, NULL, &err);
    AP_CHECK(ap_tensor_data(mm)[5] == 0 && ap_tensor_data(zs)[5] == 0, "minmax/zscore of a constant are 0");
    ap_tensor *a0 = ap_tensor_new(2, 0, NULL, &err), *b0 = ap_tensor_new(0, 3, NULL, &err);
    ap_tensor *p0 = ap_tensor_matmul(a0, b0, NULL, &err);
    AP_CHECK(p0 && p0->rows == 2 && p0->cols == 3 && ap_tensor_data(p0)[5] == 0, "matmul with k = 0 gives zeros");
    float s[4] = {-1, 0.5f, NAN, 4};
    ap_tensor *S = from(1, 4, s);
    ap_tensor *cl = ap_tensor_clamp(S, 0, 1, NULL, &err);
    AP_CHECK(ap_tensor_data(cl)[0] == 0 && ap_tensor_data(cl)[1] == 0.5f && isnan(ap_tensor_data(cl)[2]) &&
                 ap_tensor_data(cl)[3] == 1,
             "clamp keeps NaN, bounds the rest");
    ap_tensor *re = ap_tensor_unary(S, AP_UN_RELU, NULL, &err);
    AP_CHECK(isnan(ap_tensor_data(re)[2]) && ap_tensor_data(re)[0] == 0, "relu propagates NaN");
    ap_tensor *G = ap_tensor_new(2, 6, NULL, &err);
    AP_CHECK(!ap_tensor_nm_mask(G, 2, 4, NULL, &err) && err.code == AP_E_SHAPE, "nm_mask needs cols %% m == 0");
    AP_CHECK(!ap_tensor_nm_mask(G, 3, 2, NULL, &err) && err.code == AP_E_ARG, "nm_mask needs n_keep <= m");
    AP_CHECK(!ap_tensor_topk_mask(G, NAN, 0, NULL, &err) && err.code == AP_E_ARG, "topk_mask refuses NaN keep_frac");
    ap_tensor_free(A);
    ap_tensor_free(one);
    ap_tensor_free(E);
    ap_tensor_free(em);
    ap_tensor_free(c);
    ap_tensor_free(mm);
    ap_tensor_free(zs);
    ap_tensor_free(a0);
    ap_tensor_free(b0);
    ap_tensor_free(p0);
    ap_tensor_free(S);
    ap_tensor_free(cl);
    ap_tensor_free(re);
    ap_tensor_free(G);
}

int main(void)
{
    test_shapes();
    test_refcount_and_budget();
    test_pool();
    test_broadcast();
    test_order();
    test_semantics();
    return aptest_done();
}
