/* lap_tensor.c — Lua binding of the tensor core: argument checks, the locked tensor metatable, the `T` table,
 * per-state budget (with GC-and-retry on refusal) and error kinds. */
#include "lap_tensor.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include <lauxlib.h>

#define LAP_TENSOR_MT "ap.tensor"
/* Payload bytes below this are summed before the GC is told about them (a GC step per tiny tensor is waste). */
#define LAP_GC_STEP_BYTES ((size_t)1 << 20)

/* Registry keys: addresses of these constants (not mutable state). */
static const char ctx_key = 'c';
static const char err_key = 'e';

/* Per-state context, a userdata anchored in the registry. Its payload pool outlives it while tensors do. */
typedef struct lap_ctx {
    ap_tensor_pool *pool; /* owned, closed by the context's __gc; its budget forwards to the host's */
    lua_State *L;         /* the thread running the current operation (set on entry) */
    ap_status last_kind;  /* kind of the last error this binding raised */
    size_t pending_bytes; /* payload bytes not yet reported to the GC */
} lap_ctx;

typedef struct lap_box {
    ap_tensor *t; /* owned; NULL before the payload exists and after __gc */
} lap_box;

/* The host's budget refused bytes: dead tensors may still hold some, so collect them (their finalisers release
 * bytes) before the pool retries once. */
static void gc_on_refusal(void *ud)
{
    lap_ctx *c = ud;
    if (c->L)
        lua_gc(c->L, LUA_GCCOLLECT, 0);
}

static int ctx_gc(lua_State *L)
{
    lap_ctx *c = lua_touserdata(L, 1);
    if (c && c->pool) {
        ap_tensor_pool_close(c->pool);
        c->pool = NULL;
    }
    return 0;
}

static lap_ctx *ctx_get(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
    lap_ctx *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (c)
        return c;
    c = lua_newuserdatauv(L, sizeof *c, 0);
    c->pool = NULL;
    c->L = NULL;
    c->last_kind = AP_E_RUNTIME;
    c->pending_bytes = 0;
    if (luaL_newmetatable(L, LAP_TENSOR_MT ".ctx")) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    c->pool = ap_tensor_pool_new(NULL, NULL);
    if (!c->pool) {
        lua_pushliteral(L, "not enough memory");
        lua_error(L);
    }
    ap_tensor_pool_set_refused(c->pool, gc_on_refusal, c);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);
    return c;
}

/* Context for an operation running on thread L. */
static lap_ctx *ctx_enter(lua_State *L)
{
    lap_ctx *c = ctx_get(L);
    if (!c->pool) { /* only while the state closes: a finaliser running after the context's own */
        lua_pushliteral(L, "tensor library already closed");
        lua_error(L);
    }
    c->L = L;
    return c;
}

/* The budget handed to the core: the pool's, which forwards to the host's budget (or none). */
static const ap_budget *ctx_budget(const lap_ctx *c) { return ap_tensor_pool_budget(c->pool); }

/* ---- errors ---- */

/* The metric contract's kind for a core status. */
static ap_status contract_kind(ap_status s)
{
    switch (s) {
    case AP_E_SHAPE:
    case AP_E_TYPE:
    case AP_E_LIMIT:
    case AP_E_INTERRUPTED:
    case AP_E_NONFINITE: return s;
    case AP_E_NOMEM: return AP_E_LIMIT;
    default: return AP_E_RUNTIME;
    }
}

/* Raise msg (prefixed with the script position) as a Lua error, remembering its kind. */
static int raise_msg(lua_State *L, ap_status kind, const char *msg)
{
    lap_ctx *c = ctx_get(L);
    luaL_where(L, 1);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &err_key);
    c->last_kind = contract_kind(kind);
    return lua_error(L);
}

static int raise_err(lua_State *L, const ap_error *err)
{
    return raise_msg(L, err->code == AP_OK ? AP_E_RUNTIME : err->code, err->msg);
}

ap_status lap_tensor_error_kind(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &err_key);
    int same = !lua_isnil(L, -1) && lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    if (!same)
        return AP_E_RUNTIME;
    return ctx_get(L)->last_kind;
}

/* ---- argument checks ---- */

static int raise_type(lua_State *L, int idx, const char *fname, const char *expected)
{
    char msg[160];
    snprintf(msg, sizeof msg, "bad argument #%d to '%s' (%s expected, got %s)", idx, fname, expected,
             luaL_typename(L, idx));
    return raise_msg(L, AP_E_TYPE, msg);
}

ap_tensor *lap_tensor_test(lua_State *L, int idx)
{
    lap_box *b = luaL_testudata(L, idx, LAP_TENSOR_MT);
    return b ? b->t : NULL;
}

static ap_tensor *arg_tensor(lua_State *L, int idx, const char *fname)
{
    lap_box *b = luaL_testudata(L, idx, LAP_TENSOR_MT);
    if (!b)
        raise_type(L, idx, fname, "tensor");
    if (!b->t) {
        char msg[120];
        snprintf(msg, sizeof msg, "%s: the tensor (argument #%d) was already freed", fname, idx);
        raise_msg(L, AP_E_TYPE, msg);
    }
    return b->t;
}

ap_tensor *lap_tensor_check(lua_State *L, int idx) { return arg_tensor(L, idx, "tensor"); }

static double arg_number(lua_State *L, int idx, const char *fname)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise_type(L, idx, fname, "number");
    return lua_tonumber(L, idx);
}

/* An integer-valued number in [lo, hi] (|lo|, |hi| <= 2^53); NaN, inf, fractions and out-of-range values raise
 * `kind`, non-numbers a type error. */
static int64_t arg_int(lua_State *L, int idx, int64_t lo, int64_t hi, ap_status kind, const char *fname,
                       const char *what)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise_type(L, idx, fname, "number");
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v >= lo && v <= hi)
            return (int64_t)v;
    } else {
        double d = lua_tonumber(L, idx);
        if (d >= (double)lo && d <= (double)hi && d == floor(d))
            return (int64_t)d;
    }
    char msg[200];
    if (lua_isinteger(L, idx))
        snprintf(msg, sizeof msg, "%s: %s must be an integer in [%lld, %lld], got %lld", fname, what, (long long)lo,
                 (long long)hi, (long long)lua_tointeger(L, idx));
    else
        snprintf(msg, sizeof msg, "%s: %s must be an integer in [%lld, %lld], got %.17g", fname, what, (long long)lo,
                 (long long)hi, (double)lua_tonumber(L, idx));
    return raise_msg(L, kind, msg);
}

/* Optional dim: none/nil -> 0 (whole tensor), else exactly 1 or 2. */
static int arg_dim(lua_State *L, int idx, const char *fname)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    return (int)arg_int(L, idx, 1, 2, AP_E_SHAPE, fname, "dim");
}

/* Number -> float: beyond the float range becomes +-inf (a plain cast would be undefined behaviour). */
static float to_float(double d)
{
    if (d > FLT_MAX)
        return INFINITY;
    if (d < -FLT_MAX)
        return -INFINITY;
    return (float)d;
}

/* ---- results ---- */

/* The result's box, created before its payload so a Lua memory error cannot leak the payload. */
static lap_box *new_box(lua_State *L)
{
    lap_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = NULL;
    luaL_setmetatable(L, LAP_TENSOR_MT);
    return b;
}

/* Tell the GC about payload bytes so that dead tensors do not pile up while the Lua heap looks small. */
static void gc_account(lua_State *L, lap_ctx *c, const ap_tensor *t)
{
    c->pending_bytes += t->storage->numel * sizeof(float);
    if (c->pending_bytes < LAP_GC_STEP_BYTES)
        return;
    size_t kb = c->pending_bytes >> 10;
    c->pending_bytes = 0;
    lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

/* Attach the core's result t (or raise err) to box, which is at the top of the stack. */
static int finish(lua_State *L, lap_ctx *c, lap_box *box, ap_tensor *t, const ap_error *err)
{
    if (!t)
        return raise_err(L, err);
    box->t = t;
    gc_account(L, c, t);
    return 1;
}

static int push_box_protected(lua_State *L)
{
    new_box(L);
    return 1;
}

void lap_tensor_push(lua_State *L, ap_tensor *t)
{
    lua_pushcfunction(L, push_box_protected);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        ap_tensor_free(t);
        lua_error(L);
    }
    lap_box *b = lua_touserdata(L, -1);
    b->t = t;
    gc_account(L, ctx_get(L), t);
}

/* ---- elementwise ---- */

static int do_unary(lua_State *L, ap_unary_op op)
{
    const char *fname = ap_unary_name(op);
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, fname);
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_unary(a, op, ctx_budget(c), &err), &err);
}

#define LAP_UNARY(name, OP)                                                                                            \
    static int l_##name(lua_State *L) { return do_unary(L, OP); }
LAP_UNARY(abs, AP_UN_ABS)
LAP_UNARY(sqrt, AP_UN_SQRT)
LAP_UNARY(exp, AP_UN_EXP)
LAP_UNARY(log, AP_UN_LOG)
LAP_UNARY(log1p, AP_UN_LOG1P)
LAP_UNARY(sign, AP_UN_SIGN)
LAP_UNARY(square, AP_UN_SQUARE)
LAP_UNARY(sigmoid, AP_UN_SIGMOID)
LAP_UNARY(tanh, AP_UN_TANH)
LAP_UNARY(relu, AP_UN_RELU)
LAP_UNARY(neg, AP_UN_NEG)

/* Binary operation on (tensor|number, tensor|number), at least one a tensor. */
static int do_binary(lua_State *L, ap_binary_op op)
{
    const char *fname = ap_binary_name(op);
    lap_ctx *c = ctx_enter(L);
    int ta = lua_type(L, 1) == LUA_TNUMBER ? 0 : 1, tb = lua_type(L, 2) == LUA_TNUMBER ? 0 : 1;
    if (!ta && !tb)
        return raise_type(L, 1, fname, "tensor");
    ap_tensor *a = ta ? arg_tensor(L, 1, fname) : NULL;
    ap_tensor *b = tb ? arg_tensor(L, 2, fname) : NULL;
    lap_box *box = new_box(L);
    ap_error err = {0};
    ap_tensor *t;
    if (a && b)
        t = ap_tensor_binary(a, b, op, ctx_budget(c), &err);
    else if (a)
        t = ap_tensor_binary_scalar(a, to_float(lua_tonumber(L, 2)), 0, op, ctx_budget(c), &err);
    else
        t = ap_tensor_binary_scalar(b, to_float(lua_tonumber(L, 1)), 1, op, ctx_budget(c), &err);
    return finish(L, c, box, t, &err);
}

#define LAP_BINARY(name, OP)                                                                                           \
    static int l_##name(lua_State *L) { return do_binary(L, OP); }
LAP_BINARY(add, AP_BIN_ADD)
LAP_BINARY(sub, AP_BIN_SUB)
LAP_BINARY(mul, AP_BIN_MUL)
LAP_BINARY(div, AP_BIN_DIV)
LAP_BINARY(pow, AP_BIN_POW)
LAP_BINARY(maximum, AP_BIN_MAX)
LAP_BINARY(minimum, AP_BIN_MIN)

/* clamp(t, lo, hi): nil bounds are open. */
static int l_clamp(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, "clamp");
    float lo = lua_isnoneornil(L, 2) ? -INFINITY : to_float(arg_number(L, 2, "clamp"));
    float hi = lua_isnoneornil(L, 3) ? INFINITY : to_float(arg_number(L, 3, "clamp"));
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_clamp(a, lo, hi, ctx_budget(c), &err), &err);
}

/* ---- reductions and normalisations ---- */

/* Reduce t (arg 1) with param; dim at arg dim_idx. No dim: a number. */
static int reduce_with(lua_State *L, ap_reduce_op op, double param, int dim_idx, const char *fname)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, fname);
    int dim = arg_dim(L, dim_idx, fname);
    ap_error err = {0};
    if (dim == 0) {
        double v;
        if (ap_tensor_reduce_all(a, op, param, &v, ctx_budget(c), &err) != AP_OK)
            return raise_err(L, &err);
        lua_pushnumber(L, v);
        return 1;
    }
    lap_box *box = new_box(L);
    return finish(L, c, box, ap_tensor_reduce(a, op, param, dim, ctx_budget(c), &err), &err);
}

#define LAP_REDUCE(name, OP)                                                                                           \
    static int l_##name(lua_State *L) { return reduce_with(L, OP, 0.0, 2, #name); }
LAP_REDUCE(sum, AP_RED_SUM)
LAP_REDUCE(mean, AP_RED_MEAN)
LAP_REDUCE(amax, AP_RED_AMAX)
LAP_REDUCE(amin, AP_RED_AMIN)
LAP_REDUCE(var, AP_RED_VAR)
LAP_REDUCE(std, AP_RED_STD)
LAP_REDUCE(skew, AP_RED_SKEW)
LAP_REDUCE(kurt, AP_RED_KURT)

static int l_median(lua_State *L) { return reduce_with(L, AP_RED_QUANTILE, 0.5, 2, "median"); }

/* norm(t, p = 2, dim) */
static int l_norm(lua_State *L)
{
    double p = lua_isnoneornil(L, 2) ? 2.0 : arg_number(L, 2, "norm");
    return reduce_with(L, AP_RED_NORM, p, 3, "norm");
}

/* quantile(t, q, dim) */
static int l_quantile(lua_State *L)
{
    double q = arg_number(L, 2, "quantile");
    return reduce_with(L, AP_RED_QUANTILE, q, 3, "quantile");
}

static int do_normalize(lua_State *L, ap_normalize_op op)
{
    const char *fname = ap_normalize_name(op);
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, fname);
    int dim = arg_dim(L, 2, fname);
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_normalize(a, op, dim, ctx_budget(c), &err), &err);
}

#define LAP_NORMALIZE(name, OP)                                                                                        \
    static int l_##name(lua_State *L) { return do_normalize(L, OP); }
LAP_NORMALIZE(zscore, AP_NORM_ZSCORE)
LAP_NORMALIZE(minmax, AP_NORM_MINMAX)
LAP_NORMALIZE(rank, AP_NORM_RANK)
LAP_NORMALIZE(softmax, AP_NORM_SOFTMAX)

/* ---- shape, construction, linear algebra ---- */

static int l_shape(lua_State *L)
{
    ap_tensor *a = arg_tensor(L, 1, "shape");
    lua_pushinteger(L, (lua_Integer)a->rows);
    lua_pushinteger(L, (lua_Integer)a->cols);
    return 2;
}

static int l_numel(lua_State *L)
{
    ap_tensor *a = arg_tensor(L, 1, "numel");
    lua_pushinteger(L, (lua_Integer)ap_tensor_numel(a));
    return 1;
}

/* get(t, i, j): the element at 1-based row i, column j, as a number. */
static int l_get(lua_State *L)
{
    ap_tensor *a = arg_tensor(L, 1, "get");
    int64_t i = arg_int(L, 2, 1, a->rows, AP_E_SHAPE, "get", "row index");
    int64_t j = arg_int(L, 3, 1, a->cols, AP_E_SHAPE, "get", "column index");
    lua_pushnumber(L, ap_tensor_data(a)[(i - 1) * a->cols + (j - 1)]);
    return 1;
}

static int l_transpose(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, "transpose");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_transpose(a, ctx_budget(c), &err), &err);
}

static int l_matmul(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, "matmul"), *b = arg_tensor(L, 2, "matmul");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_matmul(a, b, ctx_budget(c), &err), &err);
}

static int l_outer(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *a = arg_tensor(L, 1, "outer"), *b = arg_tensor(L, 2, "outer");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_outer(a, b, ctx_budget(c), &err), &err);
}

static int construct(lua_State *L, const char *fname, float value)
{
    lap_ctx *c = ctx_enter(L);
    int64_t m = arg_int(L, 1, 0, AP_TENSOR_MAX_NUMEL, AP_E_SHAPE, fname, "rows");
    int64_t n = arg_int(L, 2, 0, AP_TENSOR_MAX_NUMEL, AP_E_SHAPE, fname, "cols");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_full(m, n, value, ctx_budget(c), &err), &err);
}

static int l_zeros(lua_State *L) { return construct(L, "zeros", 0.0f); }
static int l_ones(lua_State *L) { return construct(L, "ones", 1.0f); }
static int l_full(lua_State *L) { return construct(L, "full", to_float(arg_number(L, 3, "full"))); }

/* ---- masks ---- */

static int l_topk_mask(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *s = arg_tensor(L, 1, "topk_mask");
    double keep = arg_number(L, 2, "topk_mask");
    int dim = arg_dim(L, 3, "topk_mask");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_topk_mask(s, keep, dim, ctx_budget(c), &err), &err);
}

static int l_nm_mask(lua_State *L)
{
    lap_ctx *c = ctx_enter(L);
    ap_tensor *s = arg_tensor(L, 1, "nm_mask");
    int64_t n_keep = arg_int(L, 2, 0, AP_SORT_MAX_SLICE, AP_E_RUNTIME, "nm_mask", "n_keep");
    int64_t m = arg_int(L, 3, 1, AP_SORT_MAX_SLICE, AP_E_RUNTIME, "nm_mask", "m");
    lap_box *box = new_box(L);
    ap_error err = {0};
    return finish(L, c, box, ap_tensor_nm_mask(s, n_keep, m, ctx_budget(c), &err), &err);
}

/* ---- metamethods ---- */

static int l_gc(lua_State *L)
{
    lap_box *b = luaL_testudata(L, 1, LAP_TENSOR_MT);
    if (b && b->t) { /* idempotent: a resurrected tensor is freed once and then reads as freed */
        ap_tensor *t = b->t;
        b->t = NULL;
        ap_tensor_free(t);
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    lap_box *b = luaL_testudata(L, 1, LAP_TENSOR_MT);
    if (!b || !b->t)
        lua_pushliteral(L, "tensor (freed)");
    else
        lua_pushfstring(L, "tensor[%I x %I]", (lua_Integer)b->t->rows, (lua_Integer)b->t->cols);
    return 1;
}

/* Functions whose first argument is a tensor: methods and members of T. */
static const luaL_Reg tensor_fns[] = {
    {"abs", l_abs},
    {"sqrt", l_sqrt},
    {"exp", l_exp},
    {"log", l_log},
    {"log1p", l_log1p},
    {"sign", l_sign},
    {"square", l_square},
    {"sigmoid", l_sigmoid},
    {"tanh", l_tanh},
    {"relu", l_relu},
    {"neg", l_neg},
    {"pow", l_pow},
    {"clamp", l_clamp},
    {"maximum", l_maximum},
    {"minimum", l_minimum},
    {"add", l_add},
    {"sub", l_sub},
    {"mul", l_mul},
    {"div", l_div},
    {"sum", l_sum},
    {"mean", l_mean},
    {"amax", l_amax},
    {"amin", l_amin},
    {"var", l_var},
    {"std", l_std},
    {"skew", l_skew},
    {"kurt", l_kurt},
    {"norm", l_norm},
    {"quantile", l_quantile},
    {"median", l_median},
    {"zscore", l_zscore},
    {"minmax", l_minmax},
    {"rank", l_rank},
    {"softmax", l_softmax},
    {"shape", l_shape},
    {"numel", l_numel},
    {"get", l_get},
    {"transpose", l_transpose},
    {"matmul", l_matmul},
    {"outer", l_outer},
    {"topk_mask", l_topk_mask},
    {"nm_mask", l_nm_mask},
    {NULL, NULL},
};

/* Members of T only. */
static const luaL_Reg constructor_fns[] = {
    {"zeros", l_zeros},
    {"ones", l_ones},
    {"full", l_full},
    {NULL, NULL},
};

static const luaL_Reg meta_fns[] = {
    {"__add", l_add}, {"__sub", l_sub}, {"__mul", l_mul},           {"__div", l_div}, {"__pow", l_pow},
    {"__unm", l_neg}, {"__gc", l_gc},   {"__tostring", l_tostring}, {NULL, NULL},
};

int lap_tensor_open(lua_State *L)
{
    ctx_get(L);
    if (luaL_newmetatable(L, LAP_TENSOR_MT)) {
        luaL_setfuncs(L, meta_fns, 0);
        luaL_newlib(L, tensor_fns);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    luaL_newlib(L, tensor_fns);
    luaL_setfuncs(L, constructor_fns, 0);
    return 1;
}

void lap_tensor_set_budget(lua_State *L, const ap_budget *b)
{
    lap_ctx *c = ctx_get(L);
    if (c->pool)
        ap_tensor_pool_set_inner(c->pool, b);
}
