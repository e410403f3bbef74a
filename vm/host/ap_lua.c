/* ap_lua.c — the trusted Lua environment: standard library, T, and the ap module (tensor files, sandboxed metrics,
 * and the submodules other parts of autoprune register here). */
#include "ap_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_check.h"
#include "ap_metric.h"
#include "ap_paths.h"
#include "ap_safetensors.h"
#include "ap_sandbox.h"
#include "ap_tensor.h"
#include "lap_aux.h"
#include "lap_isolate.h"
#include "lap_json.h"
#include "lap_llm.h"
#include "lap_model.h"
#include "lap_progress.h"
#include "lap_sys.h"
#include "lap_tensor.h"

#define METRIC_MT "ap.metric"
#define ST_GUARD_MT "ap.safetensors_guard"

/* ap.<name> = the value the opener pushes. One line per submodule (see ap_lua.h). */
static const struct {
    const char *name;
    lua_CFunction open;
} ap_submodules[] = {
    {"json", lap_json_open},         {"isolate", lap_isolate_open},
    {"llm", lap_llm_open},           /* ap.llm: OpenAI-compatible chat client (vm/host/lap_llm.c) */
    {"model", lap_model_open},       /* ap.model: models and the pruning core (vm/host/lap_model.c) */
    {"progress", lap_progress_open}, /* ap.progress: the shared progress bar (vm/host/lap_progress.c) */
};

/* Functions that add fields to ap itself (luaL_setfuncs into the table at the top). One line each. */
static void (*const ap_registrars[])(lua_State *L) = {
    lap_sys_register,
};

/* ---- errors (ap_lua_raise and the error object live in lap_aux.c) ------------------------------------ */

int ap_lua_traceback(lua_State *L)
{
    char buf[1024];
    const char *msg;
    if (lua_type(L, 1) == LUA_TSTRING)
        msg = lua_tostring(L, 1);
    else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tostring(L, -1);
    else
        msg = ap_lua_describe_error(L, 1, buf, sizeof buf);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* ---- tensor files ------------------------------------------------------------------------------------- */

static int st_guard_gc(lua_State *L)
{
    ap_safetensors **p = luaL_checkudata(L, 1, ST_GUARD_MT);
    ap_safetensors_close(*p);
    *p = NULL;
    return 0;
}

/* The 2-D shape a file tensor becomes: [] -> [1, 1], [n] -> [1, n], [a, b, ..., z] -> [a*b*..., z]. */
static void shape_2d(const ap_st_tensor *t, int64_t *rows, int64_t *cols)
{
    if (t->ndim == 0) {
        *rows = *cols = 1;
        return;
    }
    *cols = t->shape[t->ndim - 1];
    *rows = t->ndim == 1 ? 1 : (*cols ? t->numel / *cols : 0);
    if (t->ndim > 1 && *cols == 0) {
        *rows = 1;
        for (int i = 0; i < t->ndim - 1; i++)
            *rows *= t->shape[i];
    }
}

/* ap.load_tensors(path) -> {name = tensor}: F32/F16/BF16 become float32. */
static int ap_load_tensors(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ap_safetensors **guard = lua_newuserdatauv(L, sizeof *guard, 0);
    *guard = NULL;
    if (luaL_newmetatable(L, ST_GUARD_MT)) {
        lua_pushcfunction(L, st_guard_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    ap_error err;
    if (ap_safetensors_open(guard, path, &err) != AP_OK)
        return ap_lua_raise(L, &err);
    size_t n = ap_safetensors_count(*guard);
    lua_createtable(L, 0, n > INT32_MAX ? 0 : (int)n);
    for (size_t i = 0; i < n; i++) {
        const ap_st_tensor *t = ap_safetensors_at(*guard, i);
        int64_t rows, cols;
        shape_2d(t, &rows, &cols);
        ap_tensor *x = ap_tensor_new(rows, cols, NULL, &err);
        if (!x)
            return ap_lua_raise(L, &err);
        if (t->numel > 0)
            ap_dtype_to_f32(t->dtype, t->data, ap_tensor_data(x), (size_t)t->numel);
        lap_tensor_push(L, x);
        lua_setfield(L, -2, t->name);
    }
    ap_safetensors_close(*guard);
    *guard = NULL;
    return 1;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ap_st_entry *)a)->name, ((const ap_st_entry *)b)->name);
}

/* ap.save_tensors(path, {name = tensor, ...} [, dtype "F32"|"F16"|"BF16"]): one file, names sorted. */
static int ap_save_tensors(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const dtypes[] = {"F32", "F16", "BF16", NULL};
    static const ap_dtype dt_of[] = {AP_DT_F32, AP_DT_F16, AP_DT_BF16};
    ap_dtype dt = dt_of[luaL_checkoption(L, 3, "F32", dtypes)];
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1))
        n++;
    /* The entry array lives in a userdata, so a Lua error below frees it with the GC. */
    ap_st_entry *e = lua_newuserdatauv(L, (n ? n : 1) * sizeof *e, 0);
    size_t k = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "save_tensors: every key must be a tensor name (a string)");
        ap_tensor *t = lap_tensor_test(L, -1);
        if (!t)
            return luaL_error(L, "save_tensors: '%s' is not a tensor", lua_tostring(L, -2));
        memset(&e[k], 0, sizeof e[k]);
        e[k].name = lua_tostring(L, -2); /* the key stays alive in the table at 2 */
        e[k].dtype = dt;
        e[k].ndim = 2;
        e[k].shape[0] = t->rows;
        e[k].shape[1] = t->cols;
        e[k].data = ap_tensor_data(t);
        k++;
    }
    qsort(e, k, sizeof *e, entry_cmp);
    ap_error err;
    if (ap_safetensors_write(path, e, k, &err) != AP_OK)
        return ap_lua_raise(L, &err);
    return 0;
}

/* ---- metrics in the sandbox --------------------------------------------------------------------------- */

static ap_sandbox **check_metric(lua_State *L)
{
    ap_sandbox **p = luaL_checkudata(L, 1, METRIC_MT);
    if (!*p)
        luaL_error(L, "metric object already freed");
    return p;
}

static int metric_gc(lua_State *L)
{
    ap_sandbox **p = luaL_checkudata(L, 1, METRIC_MT);
    ap_sandbox_free(*p);
    *p = NULL;
    return 0;
}

static int raise_sandbox(lua_State *L, ap_sandbox *sb)
{
    ap_error e;
    ap_sandbox_error_get(sb, &e);
    return ap_lua_raise(L, &e);
}

/* ap.metric(spec [, limits]): spec as ap_metric_spec_resolve reads it (a file, a NAME of lua/metrics/, or source;
 * native:* and sparsegpt are not scripts). Loads it in a sandbox at once; raises the load error. */
static int ap_metric(lua_State *L)
{
    const char *text = luaL_checkstring(L, 1);
    ap_limits lim;
    lapL_checklimits(L, 2, NULL, &lim);
    ap_metric_spec spec;
    ap_error err;
    if (ap_metric_spec_resolve(&spec, text, &err) != AP_OK)
        return ap_lua_raise(L, &err);
    if (spec.kind == AP_METRIC_NATIVE || spec.kind == AP_METRIC_SPARSEGPT)
        return luaL_argerror(
            L, 1, lua_pushfstring(L, "'%s' is %s, not a metric script", text, ap_metric_kind_name(spec.kind)));
    ap_sandbox **p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = NULL;
    if (luaL_newmetatable(L, METRIC_MT)) {
        lua_pushcfunction(L, metric_gc);
        lua_setfield(L, -2, "__gc");
        lua_getfield(L, LUA_REGISTRYINDEX, "ap.metric.methods");
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, -2);
    *p = ap_sandbox_new(&lim);
    if (!*p)
        return lapL_raise(L, AP_E_NOMEM, "no memory for a sandbox");
    int st = spec.kind == AP_METRIC_SOURCE ? ap_sandbox_load_string(*p, text, 0, "metric")
                                           : ap_sandbox_load_file(*p, spec.path);
    if (st != AP_KIND_OK)
        return raise_sandbox(L, *p);
    return 1;
}

static void push_check_failure(lua_State *L, const char *kind, const char *msg, int line)
{
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ok");
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    if (line > 0) {
        lua_pushinteger(L, line);
        lua_setfield(L, -2, "line");
    }
}

/* ap.check(spec [, limits]) -> {ok = true, group = "row"|"layer", usage = {...}} or
 * {ok = false, kind = ..., message = ..., line = N|nil}: exactly what `autoprune check` decides, never raising for a
 * bad script (only for a bad argument), so a controller can check untrusted candidates in a loop. spec is read by
 * ap_metric_spec_resolve, as everywhere. */
static int ap_check_fn(lua_State *L)
{
    const char *text = luaL_checkstring(L, 1);
    ap_limits lim;
    lapL_checklimits(L, 2, NULL, &lim);
    ap_metric_spec spec;
    ap_error err;
    lua_createtable(L, 0, 5);
    if (ap_metric_spec_resolve(&spec, text, &err) != AP_OK) {
        push_check_failure(L, ap_status_name(err.code), err.msg, 0);
        return 1;
    }
    if (spec.kind == AP_METRIC_NATIVE || spec.kind == AP_METRIC_SPARSEGPT) {
        push_check_failure(L, ap_status_name(AP_E_ARG), "built into the pruning core, not a metric script", 0);
        return 1;
    }
    ap_sandbox *sb = ap_sandbox_new(&lim);
    if (!sb)
        return lapL_raise(L, AP_E_NOMEM, "no memory for a sandbox");
    ap_usage u = {0};
    int is_source = spec.kind == AP_METRIC_SOURCE;
    int kind = ap_check_metric(sb, is_source ? NULL : spec.path, text, 0, "metric", NULL, &u);
    const char *msg = "out of memory";
    int line = 0;
    if (kind != AP_KIND_NOMEM)
        ap_sandbox_error(sb, &msg, &line);
    if (kind == AP_KIND_OK) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ok");
        lua_pushstring(L, ap_sandbox_group(sb));
        lua_setfield(L, -2, "group");
    } else {
        push_check_failure(L, ap_kind_name(kind), msg, line);
    }
    lapL_pushusage(L, &u);
    lua_setfield(L, -2, "usage");
    ap_sandbox_free(sb);
    return 1;
}

/* A [1, in] statistic from X: a tensor with in elements, or nil. */
static const float *x_stat(lua_State *L, int64_t in, const char *name)
{
    ap_tensor *t = lap_tensor_test(L, -1);
    if (lua_isnil(L, -1))
        return NULL;
    if (!t || t->rows * t->cols != in)
        luaL_error(L, "X.%s must be a tensor of %d elements (one per input channel)", name, (int)in);
    return ap_tensor_data(t);
}

/* metric:score(W, X [, info]) -> score tensor [out, in]. */
static int metric_score(lua_State *L)
{
    ap_sandbox *sb = *check_metric(L);
    ap_tensor *W = lap_tensor_check(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int64_t out = W->rows, in = W->cols;
    static const char *const stat_names[] = {"l2", "sq", "mean", "std", "absmax", "skew", "kurt"};
    const float *stat[7];
    for (int i = 0; i < 7; i++) {
        lua_getfield(L, 3, stat_names[i]);
        stat[i] = x_stat(L, in, stat_names[i]);
        lua_pop(L, 1);
    }
    /* Any other tensor field of X is passed on as an extra statistic. */
    size_t n_extra = 0;
    for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1))
        n_extra++;
    const char **names = lua_newuserdatauv(L, (n_extra + 1) * sizeof *names, 0);
    const float **extra = lua_newuserdatauv(L, (n_extra + 1) * sizeof *extra, 0);
    n_extra = 0;
    for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lap_tensor_test(L, -1))
            continue;
        const char *k = lua_tostring(L, -2);
        int known = 0;
        for (int i = 0; i < 7; i++)
            known |= strcmp(k, stat_names[i]) == 0;
        if (known)
            continue;
        names[n_extra] = k;
        extra[n_extra++] = x_stat(L, in, k);
    }
    lua_getfield(L, 3, "tokens");
    double tokens = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    ap_xstats X = {stat[0], stat[1], stat[2], stat[3], stat[4], stat[5], stat[6], tokens, n_extra, names, extra, 0};
    ap_layer_info info = {1, 1, "", 0.5};
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "name"); /* stays on the stack while scoring: info.name points into it */
        info.name = luaL_optstring(L, -1, "");
        lua_getfield(L, 4, "layer");
        info.layer = (int)luaL_optinteger(L, -1, 1);
        lua_getfield(L, 4, "n_layers");
        info.n_layers = (int)luaL_optinteger(L, -1, 1);
        lua_getfield(L, 4, "sparsity");
        info.sparsity = luaL_optnumber(L, -1, 0.5);
        lua_pop(L, 3);
    }
    ap_error err;
    ap_tensor *S = ap_tensor_new(out, in, NULL, &err);
    if (!S)
        return ap_lua_raise(L, &err);
    lap_tensor_push(L, S);
    if (ap_sandbox_score(sb, ap_tensor_data(W), out, in, &X, &info, ap_tensor_data(S)) != AP_KIND_OK)
        return raise_sandbox(L, sb);
    return 1;
}

/* metric:group() -> "row"|"layer", declared (boolean). */
static int metric_group(lua_State *L)
{
    ap_sandbox *sb = *check_metric(L);
    lua_pushstring(L, ap_sandbox_group(sb));
    lua_pushboolean(L, ap_sandbox_group_declared(sb));
    return 2;
}

/* metric:usage() -> {instructions=, peak_heap_bytes=, peak_tensor_bytes=, work=, wall_ms=, output_bytes=}. */
static int metric_usage(lua_State *L)
{
    ap_usage u;
    ap_sandbox_usage(*check_metric(L), &u);
    lapL_pushusage(L, &u);
    return 1;
}

/* metric:output() -> what the script printed in its last run. */
static int metric_output(lua_State *L)
{
    size_t len;
    const char *s = ap_sandbox_output(*check_metric(L), &len);
    lua_pushlstring(L, s, len);
    return 1;
}

static int metric_name(lua_State *L)
{
    lua_pushstring(L, ap_sandbox_name(*check_metric(L)));
    return 1;
}

/* ---- the module --------------------------------------------------------------------------------------- */

static int ap_datadir_fn(lua_State *L)
{
    char buf[4096];
    if (ap_datadir(buf, sizeof buf))
        lua_pushstring(L, buf);
    else
        lua_pushnil(L);
    return 1;
}

int ap_lua_open_ap(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"score", metric_score},   {"group", metric_group}, {"usage", metric_usage},
        {"output", metric_output}, {"name", metric_name},   {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"load_tensors", ap_load_tensors},
        {"save_tensors", ap_save_tensors},
        {"metric", ap_metric},
        {"check", ap_check_fn},
        {"datadir", ap_datadir_fn},
        {NULL, NULL},
    };
    luaL_newlib(L, methods);
    lua_setfield(L, LUA_REGISTRYINDEX, "ap.metric.methods");
    luaL_newlib(L, funcs);
    lua_pushstring(L, ap_version());
    lua_setfield(L, -2, "version");
    for (size_t i = 0; i < sizeof ap_submodules / sizeof ap_submodules[0]; i++) {
        lua_pushcfunction(L, ap_submodules[i].open);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, ap_submodules[i].name);
    }
    for (size_t i = 0; i < sizeof ap_registrars / sizeof ap_registrars[0]; i++)
        ap_registrars[i](L);
    return 1;
}

/* package.path = <datadir>/lua/?.lua;<datadir>/lua/?/init.lua;<the default>. */
static void set_path(lua_State *L)
{
    char dir[4096];
    if (!ap_datadir(dir, sizeof dir))
        return;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static int open_all(lua_State *L)
{
    luaL_openlibs(L);
    luaL_requiref(L, "T", lap_tensor_open, 1);
    luaL_requiref(L, "ap", ap_lua_open_ap, 1);
    lua_pop(L, 2);
    set_path(L);
    return 0;
}

lua_State *ap_lua_new(ap_error *err)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        ap_error_set(err, AP_E_NOMEM, "cannot create a Lua state");
        return NULL;
    }
    lua_pushcfunction(L, open_all);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        char buf[AP_ERROR_MSG_MAX];
        ap_error_set(err, AP_E_RUNTIME, "opening the Lua environment: %s",
                     ap_lua_describe_error(L, -1, buf, sizeof buf));
        lua_close(L);
        return NULL;
    }
    return L;
}
