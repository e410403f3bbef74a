/* ap_tensor_ops.c — elementwise kernels: unary functions, clamp, and broadcasting binary operations. */
#include "ap_tensor.h"

#include <math.h>
#include <string.h>

/* Fused pre-operations are applied to chunks of this many elements in a stack buffer (stays in L1). */
#define AP_CHUNK 1024

const char *ap_unary_name(ap_unary_op op)
{
    static const char *const names[AP_UN_COUNT_] = {
        "abs", "sqrt", "exp", "log", "log1p", "sign", "square", "sigmoid", "tanh", "relu", "neg",
    };
    return (unsigned)op < AP_UN_COUNT_ ? names[op] : "?";
}

const char *ap_binary_name(ap_binary_op op)
{
    static const char *const names[AP_BIN_COUNT_] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
    return (unsigned)op < AP_BIN_COUNT_ ? names[op] : "?";
}

static inline float sign_f(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
static inline float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }
/* numpy.maximum(x, 0): NaN propagates. */
static inline float relu_f(float x) { return x > 0.0f || x != x ? x : 0.0f; }
static inline float max_f(float x, float y) { return x != x || x > y ? x : y; }
static inline float min_f(float x, float y) { return x != x || x < y ? x : y; }

/* Loop over j in [0, n) as blocks of 8 plus a tail: GCC's default -O2 cost model only vectorises loops whose trip
 * count is a known multiple of the vector width, which the fixed inner loop is (SLP); clang does it either way. */
#define BLOCK8(...)                                                                                                    \
    do {                                                                                                               \
        int64_t i_ = 0;                                                                                                \
        for (; i_ + 8 <= n; i_ += 8)                                                                                   \
            for (int k_ = 0; k_ < 8; k_++) {                                                                           \
                const int64_t j = i_ + k_;                                                                             \
                __VA_ARGS__                                                                                            \
            }                                                                                                          \
        for (; i_ < n; i_++) {                                                                                         \
            const int64_t j = i_;                                                                                      \
            __VA_ARGS__                                                                                                \
        }                                                                                                              \
    } while (0)

/* One contiguous run: each case is a plain loop the compiler can vectorise where the function allows. */
static void unary_run(ap_unary_op op, const float *restrict x, float *restrict o, int64_t n)
{
#define UN_LOOP(EXPR)                                                                                                  \
    BLOCK8({                                                                                                           \
        float v = x[j];                                                                                                \
        o[j] = (EXPR);                                                                                                 \
    });                                                                                                                \
    break
    switch (op) {
    case AP_UN_ABS: UN_LOOP(fabsf(v));
    case AP_UN_SQRT: UN_LOOP(sqrtf(v));
    case AP_UN_EXP: UN_LOOP(expf(v));
    case AP_UN_LOG: UN_LOOP(logf(v));
    case AP_UN_LOG1P: UN_LOOP(log1pf(v));
    case AP_UN_SIGN: UN_LOOP(sign_f(v));
    case AP_UN_SQUARE: UN_LOOP(v * v);
    case AP_UN_SIGMOID: UN_LOOP(sigmoid_f(v));
    case AP_UN_TANH: UN_LOOP(tanhf(v));
    case AP_UN_RELU: UN_LOOP(relu_f(v));
    case AP_UN_NEG: UN_LOOP(-v);
    default: break;
    }
#undef UN_LOOP
}

/* o[i] = op(a[i*sa], b[i*sb]) with sa, sb in {0, 1}: a stride of 0 repeats one value (broadcasting). */
static void binary_run(ap_binary_op op, const float *restrict a, int sa, const float *restrict b, int sb,
                       float *restrict o, int64_t n)
{
#define BIN_LOOP(EXPR)                                                                                                 \
    if (sa && sb) {                                                                                                    \
        BLOCK8({                                                                                                       \
            float x = a[j], y = b[j];                                                                                  \
            o[j] = (EXPR);                                                                                             \
        });                                                                                                            \
    } else if (sa) {                                                                                                   \
        const float y = b[0];                                                                                          \
        BLOCK8({                                                                                                       \
            float x = a[j];                                                                                            \
            o[j] = (EXPR);                                                                                             \
        });                                                                                                            \
    } else if (sb) {                                                                                                   \
        const float x = a[0];                                                                                          \
        BLOCK8({                                                                                                       \
            float y = b[j];                                                                                            \
            o[j] = (EXPR);                                                                                             \
        });                                                                                                            \
    } else {                                                                                                           \
        const float x = a[0], y = b[0], r = (EXPR);                                                                    \
        for (int64_t i = 0; i < n; i++)                                                                                \
            o[i] = r;                                                                                                  \
    }                                                                                                                  \
    break
    switch (op) {
    case AP_BIN_ADD: BIN_LOOP(x + y);
    case AP_BIN_SUB: BIN_LOOP(x - y);
    case AP_BIN_MUL: BIN_LOOP(x * y);
    case AP_BIN_DIV: BIN_LOOP(x / y);
    case AP_BIN_POW: BIN_LOOP(powf(x, y));
    case AP_BIN_MAX: BIN_LOOP(max_f(x, y));
    case AP_BIN_MIN: BIN_LOOP(min_f(x, y));
    default: break;
    }
#undef BIN_LOOP
}

/* binary_run with optional unary pre-operations on either operand, applied chunk by chunk. */
static void binary_run_pre(ap_binary_op op, const float *a, int sa, ap_unary_op pa, const float *b, int sb,
                           ap_unary_op pb, float *o, int64_t n)
{
    if (pa == AP_UN_COUNT_ && pb == AP_UN_COUNT_) {
        binary_run(op, a, sa, b, sb, o, n);
        return;
    }
    float ta[AP_CHUNK], tb[AP_CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += AP_CHUNK) {
        int64_t len = n - i0 < AP_CHUNK ? n - i0 : AP_CHUNK;
        const float *xa = sa ? a + i0 : a, *xb = sb ? b + i0 : b;
        if (pa != AP_UN_COUNT_) {
            unary_run(pa, xa, ta, sa ? len : 1);
            xa = ta;
        }
        if (pb != AP_UN_COUNT_) {
            unary_run(pb, xb, tb, sb ? len : 1);
            xb = tb;
        }
        binary_run(op, xa, sa, xb, sb, o + i0, len);
    }
}

static int valid_unary(ap_unary_op op, int allow_none)
{
    return ((unsigned)op < AP_UN_COUNT_) || (allow_none && op == AP_UN_COUNT_);
}

ap_tensor *ap_tensor_unary(const ap_tensor *a, ap_unary_op op, const ap_budget *budget, ap_error *err)
{
    if (!valid_unary(op, 0)) {
        ap_error_set(err, AP_E_ARG, "unary: unknown operation %d", (int)op);
        return NULL;
    }
    int64_t n = ap_tensor_numel(a);
    if (ap_budget_work(budget, (uint64_t)n, err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(a->rows, a->cols, budget, err);
    if (t)
        unary_run(op, ap_tensor_data(a), ap_tensor_data(t), n);
    return t;
}

ap_tensor *ap_tensor_clamp(const ap_tensor *a, float lo, float hi, const ap_budget *budget, ap_error *err)
{
    int64_t n = ap_tensor_numel(a);
    if (ap_budget_work(budget, (uint64_t)n, err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(a->rows, a->cols, budget, err);
    if (!t)
        return NULL;
    const float *restrict x = ap_tensor_data(a);
    float *restrict o = ap_tensor_data(t);
    BLOCK8({ o[j] = min_f(max_f(x[j], lo), hi); });
    return t;
}

ap_status ap_broadcast_shape(int64_t ar, int64_t ac, int64_t br, int64_t bc, int64_t *rows, int64_t *cols,
                             ap_error *err)
{
    if ((ar != br && ar != 1 && br != 1) || (ac != bc && ac != 1 && bc != 1))
        return ap_error_set(err, AP_E_SHAPE, "shapes [%lld, %lld] and [%lld, %lld] do not broadcast", (long long)ar,
                            (long long)ac, (long long)br, (long long)bc);
    /* A dimension of 1 against 0 broadcasts to 0, as in numpy. */
    *rows = ar == 1 ? br : ar;
    *cols = ac == 1 ? bc : ac;
    return AP_OK;
}

ap_tensor *ap_tensor_binary_pre(const ap_tensor *a, ap_unary_op pre_a, const ap_tensor *b, ap_unary_op pre_b,
                                ap_binary_op op, const ap_budget *budget, ap_error *err)
{
    int64_t rows, cols;
    if ((unsigned)op >= AP_BIN_COUNT_ || !valid_unary(pre_a, 1) || !valid_unary(pre_b, 1)) {
        ap_error_set(err, AP_E_ARG, "binary: unknown operation %d", (int)op);
        return NULL;
    }
    if (ap_broadcast_shape(a->rows, a->cols, b->rows, b->cols, &rows, &cols, err) != AP_OK) {
        if (err) { /* prefix the operation's name */
            char msg[AP_ERROR_MSG_MAX];
            memcpy(msg, err->msg, sizeof msg);
            ap_error_set(err, AP_E_SHAPE, "%s: %s", ap_binary_name(op), msg);
        }
        return NULL;
    }
    if (ap_budget_work(budget, (uint64_t)(rows * cols), err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(rows, cols, budget, err);
    if (!t || rows * cols == 0)
        return t;
    const float *da = ap_tensor_data(a), *db = ap_tensor_data(b);
    float *o = ap_tensor_data(t);
    int a_full = a->rows == rows && a->cols == cols, b_full = b->rows == rows && b->cols == cols;
    int a_one = a->rows * a->cols == 1, b_one = b->rows * b->cols == 1;
    if ((a_full || a_one) && (b_full || b_one)) { /* one flat run over the whole output */
        binary_run_pre(op, da, !a_one, pre_a, db, !b_one, pre_b, o, rows * cols);
        return t;
    }
    int sa = a->cols != 1, sb = b->cols != 1;
    for (int64_t i = 0; i < rows; i++) {
        const float *ra = da + (a->rows == 1 ? 0 : i * a->cols);
        const float *rb = db + (b->rows == 1 ? 0 : i * b->cols);
        binary_run_pre(op, ra, sa, pre_a, rb, sb, pre_b, o + i * cols, cols);
    }
    return t;
}

ap_tensor *ap_tensor_binary(const ap_tensor *a, const ap_tensor *b, ap_binary_op op, const ap_budget *budget,
                            ap_error *err)
{
    return ap_tensor_binary_pre(a, AP_UN_COUNT_, b, AP_UN_COUNT_, op, budget, err);
}

ap_tensor *ap_tensor_binary_scalar_pre(const ap_tensor *a, ap_unary_op pre_a, float s, int scalar_first,
                                       ap_binary_op op, const ap_budget *budget, ap_error *err)
{
    if ((unsigned)op >= AP_BIN_COUNT_ || !valid_unary(pre_a, 1)) {
        ap_error_set(err, AP_E_ARG, "binary: unknown operation %d", (int)op);
        return NULL;
    }
    int64_t n = ap_tensor_numel(a);
    if (ap_budget_work(budget, (uint64_t)n, err) != AP_OK)
        return NULL;
    ap_tensor *t = ap_tensor_new(a->rows, a->cols, budget, err);
    if (!t)
        return NULL;
    if (scalar_first)
        binary_run_pre(op, &s, 0, AP_UN_COUNT_, ap_tensor_data(a), 1, pre_a, ap_tensor_data(t), n);
    else
        binary_run_pre(op, ap_tensor_data(a), 1, pre_a, &s, 0, AP_UN_COUNT_, ap_tensor_data(t), n);
    return t;
}

ap_tensor *ap_tensor_binary_scalar(const ap_tensor *a, float s, int scalar_first, ap_binary_op op,
                                   const ap_budget *budget, ap_error *err)
{
    return ap_tensor_binary_scalar_pre(a, AP_UN_COUNT_, s, scalar_first, op, budget, err);
}
