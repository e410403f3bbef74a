/* ap_alloc_script.c — scripted sparsity allocation: a Lua function of per-layer statistics, run in a small
 * sandbox (allow-listed globals, heap limit, instruction and wall-clock limits), validated, then renormalised. */
#include "ap_alloc_script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_alloc.h"

#define HOOK_STEP 1000

static const char TRIP_KEY = 0;   /* unique address: the error value of a tripped limit, unforgeable by scripts */

typedef struct script_ctx {
    ap_alloc_script_limits lim;
    const char *name;
    const ap_alloc_unit *units;
    int n, n_layers;
    double target, lo, hi;
    double *result;               /* [n], filled by take_result */
    size_t heap;
    int heap_refused;             /* the allocator refused because of the limit */
    uint64_t instructions, deadline_ns;
    ap_status trip, host;         /* a tripped limit; a failed check of the result */
    int line;
    char msg[300];
} script_ctx;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static script_ctx *ctx_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Heap with a limit; shrinking is never refused (Lua relies on it). */
static void *script_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    script_ctx *c = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->heap -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > c->lim.heap_bytes - c->heap) {
        c->heap_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) c->heap = c->heap - old + nsize;
    return p;
}

/* Every HOOK_STEP instructions: the instruction budget and the deadline. Once tripped, it fires on every
 * instruction and raises again, so nothing can run on. */
static void script_hook(lua_State *L, lua_Debug *ar)
{
    script_ctx *c = ctx_of(L);
    if (c->trip == AP_OK) {
        c->instructions += HOOK_STEP;
        if (c->instructions > c->lim.instructions)
            snprintf(c->msg, sizeof c->msg, "instruction limit of %llu exceeded",
                     (unsigned long long)c->lim.instructions);
        else if (now_ns() > c->deadline_ns)
            snprintf(c->msg, sizeof c->msg, "wall-clock limit of %llu ms exceeded",
                     (unsigned long long)c->lim.wall_ms);
        else
            return;
        c->trip = AP_E_LIMIT;
        if (lua_getinfo(L, "l", ar) && ar->currentline > 0) c->line = ar->currentline;
        lua_sethook(L, script_hook, LUA_MASKCOUNT, 1);
    }
    lua_settop(L, 0);
    lua_pushlightuserdata(L, (void *)&TRIP_KEY);
    lua_error(L);
}

static void copy_fields(lua_State *L, int src, int dst, const char *const *names)
{
    src = lua_absindex(L, src);
    dst = lua_absindex(L, dst);
    for (; *names; names++) {
        lua_getfield(L, src, *names);
        lua_setfield(L, dst, *names);
    }
}

static void open_lib(lua_State *L, lua_CFunction opener)
{
    lua_pushcfunction(L, opener);
    lua_call(L, 0, 1);
}

/* The string library reduced to functions that run in bounded time (no patterns, no rep, no dump), installed
 * as the only string metatable __index, locked. */
static void open_string(lua_State *L, int env)
{
    static const char *const allowed[] = { "byte", "char", "format", "len", "lower", "upper", "sub", "reverse",
                                           NULL };
    static const char *const arith[] = { "__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv",
                                         NULL };
    open_lib(L, luaopen_string);
    lua_newtable(L);
    copy_fields(L, -2, -1, allowed);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);                 /* full, limited, "", old mt */
    lua_newtable(L);
    copy_fields(L, -2, -1, arith);
    lua_pushvalue(L, -4);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_remove(L, -2);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);                           /* full, limited */
    lua_setfield(L, env, "string");
    lua_pop(L, 1);
}

/* The environment every chunk sees (installed as the globals table). Runs protected (allocates). */
static int open_env(lua_State *L)
{
    static const char *const base[] = { "assert", "error", "ipairs", "next", "pairs", "select", "tonumber",
                                        "tostring", "type", "rawequal", "rawlen", NULL };
    static const char *const tab[] = { "concat", "insert", "remove", "sort", "unpack", "pack", NULL };
    lua_newtable(L);
    int env = lua_gettop(L);
    open_lib(L, luaopen_base);
    copy_fields(L, -1, env, base);
    lua_pop(L, 1);
    open_string(L, env);
    open_lib(L, luaopen_math);
    lua_pushnil(L);
    lua_setfield(L, -2, "random");
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_setfield(L, env, "math");
    open_lib(L, luaopen_table);
    lua_newtable(L);
    copy_fields(L, -2, -1, tab);
    lua_setfield(L, env, "table");
    lua_pop(L, 1);
    open_lib(L, luaopen_utf8);
    lua_setfield(L, env, "utf8");
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    return 0;
}

static void push_units(lua_State *L, const script_ctx *c)
{
    lua_createtable(L, c->n, 0);
    for (int i = 0; i < c->n; i++) {
        const ap_alloc_unit *u = &c->units[i];
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, u->layer);
        lua_setfield(L, -2, "layer");
        lua_pushstring(L, u->name ? u->name : "block");
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, (lua_Integer)u->numel);
        lua_setfield(L, -2, "numel");
        const double v[5] = { u->w_skew, u->w_kurt, u->w_mean, u->w_std, u->outlier_ratio };
        const char *k[5] = { "w_skew", "w_kurt", "w_mean", "w_std", "outlier_ratio" };
        for (int j = 0; j < 5; j++) {
            lua_pushnumber(L, v[j]);
            lua_setfield(L, -2, k[j]);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int host_fail(script_ctx *c, ap_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int host_fail(script_ctx *c, ap_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->host = code;
    return 0;
}

/* Read the returned list with raw access only (no metamethods can run outside the limits). */
static int take_result(lua_State *L, script_ctx *c)
{
    if (!lua_istable(L, -1))
        return host_fail(c, AP_E_TYPE, "the allocation function returned a %s, not a list of sparsities",
                         luaL_typename(L, -1));
    lua_Unsigned len = lua_rawlen(L, -1);
    if (len != (lua_Unsigned)c->n)
        return host_fail(c, AP_E_SHAPE, "the allocation function returned %llu sparsities for %d units",
                         (unsigned long long)len, c->n);
    for (int i = 0; i < c->n; i++) {
        int t = lua_rawgeti(L, -1, i + 1);
        double v = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (t != LUA_TNUMBER)
            return host_fail(c, AP_E_TYPE, "sparsity %d is a %s, not a number", i + 1, lua_typename(L, t));
        if (!isfinite(v)) return host_fail(c, AP_E_NONFINITE, "sparsity %d is not finite", i + 1);
        if (!(v >= 0.0 && v < 1.0)) return host_fail(c, AP_E_RUNTIME, "sparsity %d = %g is outside [0, 1)", i + 1, v);
        c->result[i] = v;
    }
    return 0;
}

/* Protected body: [chunk] → run it, find the function, call it with (layers, target, info), check the result. */
static int run_protected(lua_State *L)
{
    script_ctx *c = lua_touserdata(L, 1);
    lua_settop(L, 2);
    lua_call(L, 0, 1);                                   /* the chunk's return value */
    if (lua_istable(L, -1)) {
        lua_pushliteral(L, "allocate");
        lua_rawget(L, -2);
        lua_remove(L, -2);
    }
    if (!lua_isfunction(L, -1))
        return host_fail(c, AP_E_TYPE, "the script must return a function (or a table with `allocate`), not a %s",
                         luaL_typename(L, -1));
    push_units(L, c);
    lua_pushnumber(L, c->target);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, c->n_layers);
    lua_setfield(L, -2, "n_layers");
    lua_pushinteger(L, c->n);
    lua_setfield(L, -2, "units");
    lua_pushnumber(L, c->lo);
    lua_setfield(L, -2, "lo");
    lua_pushnumber(L, c->hi);
    lua_setfield(L, -2, "hi");
    lua_call(L, 3, 1);
    return take_result(L, c);
}

/* Message handler: the line of a raised error, from the "name:LINE:" prefix Lua puts on string messages. */
static int msg_handler(lua_State *L)
{
    script_ctx *c = ctx_of(L);
    if (lua_type(L, 1) == LUA_TSTRING && c->line == 0) {
        lua_Debug ar;
        for (int level = 1; lua_getstack(L, level, &ar); level++)
            if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.what, "C") != 0) {
                c->line = ar.currentline;
                break;
            }
    }
    return 1;
}

/* Turn a failed load or call into the error record. */
static ap_status classify(lua_State *L, script_ctx *c, int status, int loading, ap_error *err)
{
    const char *name = c->name ? c->name : "allocation script";
    if (c->trip != AP_OK) {
        ap_error_set(err, c->trip, "%s: %s", name, c->msg);
    } else if (status == LUA_ERRMEM) {
        if (c->heap_refused)
            ap_error_set(err, AP_E_LIMIT, "%s: heap limit of %zu bytes exceeded", name, c->lim.heap_bytes);
        else
            ap_error_set(err, AP_E_NOMEM, "%s: out of memory", name);
    } else {
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        /* Lua's messages already start "name:LINE:"; a syntax error has no stack, so its line comes from there */
        size_t nl = strlen(name);
        int prefixed = m && strncmp(m, name, nl) == 0 && m[nl] == ':';
        if (prefixed) ap_error_set(err, loading ? AP_E_SYNTAX : AP_E_RUNTIME, "%s", m);
        else ap_error_set(err, loading ? AP_E_SYNTAX : AP_E_RUNTIME, "%s: %s", name,
                          m ? m : "error object is not a string");
        if (c->line == 0 && prefixed) c->line = atoi(m + nl + 1);
    }
    if (err) err->line = c->line;
    return err ? err->code : AP_E_RUNTIME;
}

static ap_status script_check_args(const char *src, const ap_alloc_unit *units, int n, double target, double lo,
                                   double hi, double *out, ap_error *err)
{
    if (!src || !units || !out || n <= 0) return ap_error_set(err, AP_E_ARG, "allocation script: no units");
    if (!(lo >= 0.0 && lo <= target && target <= hi && hi < 1.0))
        return ap_error_set(err, AP_E_ARG, "allocation script: need 0 <= lo (%g) <= target (%g) <= hi (%g) < 1",
                            lo, target, hi);
    for (int i = 0; i < n; i++)
        if (units[i].numel <= 0)
            return ap_error_set(err, AP_E_ARG, "allocation script: unit %d has %lld parameters", i,
                                (long long)units[i].numel);
    return AP_OK;
}

/* Clamp and shift the script's values so that the weighted mean is exactly the target; then hand them out. */
static ap_status finish(script_ctx *c, double *out, ap_error *err)
{
    int64_t *numel = malloc((size_t)c->n * sizeof *numel);
    if (!numel) return ap_error_set(err, AP_E_NOMEM, "allocation script: no memory");
    for (int i = 0; i < c->n; i++) numel[i] = c->units[i].numel;
    ap_status st = ap_alloc_renormalise(c->result, numel, c->n, c->target, c->lo, c->hi, err);
    if (st == AP_OK) memcpy(out, c->result, (size_t)c->n * sizeof *out);
    free(numel);
    return st;
}

static void fill_limits(ap_alloc_script_limits *l, const ap_alloc_script_limits *given)
{
    *l = given ? *given : (ap_alloc_script_limits){ 0 };
    if (!l->instructions) l->instructions = 20000000;
    if (!l->wall_ms) l->wall_ms = 2000;
    if (!l->heap_bytes) l->heap_bytes = (size_t)16 << 20;
    if (!l->source_bytes) l->source_bytes = (size_t)64 << 10;
}

ap_status ap_alloc_script_run(const char *src, size_t len, const char *name, const ap_alloc_unit *units, int n,
                              int n_layers, double target, double lo, double hi,
                              const ap_alloc_script_limits *limits, double *out, ap_error *err)
{
    ap_status st = script_check_args(src, units, n, target, lo, hi, out, err);
    if (st != AP_OK) return st;
    script_ctx c = { .name = name, .units = units, .n = n, .n_layers = n_layers, .target = target, .lo = lo,
                     .hi = hi };
    fill_limits(&c.lim, limits);
    if (len == 0) len = strlen(src);
    if (len > c.lim.source_bytes)
        return ap_error_set(err, AP_E_LIMIT, "%s: source of %zu bytes exceeds the limit of %zu", name ? name : "script",
                            len, c.lim.source_bytes);
    if (!(c.result = malloc((size_t)n * sizeof *c.result)))
        return ap_error_set(err, AP_E_NOMEM, "allocation script: no memory");
    lua_State *L = lua_newstate(script_alloc, &c);
    if (!L) {
        free(c.result);
        return ap_error_set(err, AP_E_NOMEM, "allocation script: no memory for a Lua state");
    }
    c.deadline_ns = now_ns() + c.lim.wall_ms * 1000000ull;
    lua_sethook(L, script_hook, LUA_MASKCOUNT, HOOK_STEP);
    char chunk[128];
    snprintf(chunk, sizeof chunk, "=%s", name ? name : "allocation");
    lua_pushcfunction(L, msg_handler);
    lua_pushcfunction(L, open_env);
    int status = lua_pcall(L, 0, 0, 1);
    if (status == LUA_OK) {
        lua_pushcfunction(L, run_protected);
        lua_pushlightuserdata(L, &c);
        status = luaL_loadbufferx(L, src, len, chunk, "t");
        if (status != LUA_OK) st = classify(L, &c, status, 1, err);
        else if ((status = lua_pcall(L, 2, 0, 1)) != LUA_OK) st = classify(L, &c, status, 0, err);
        else if (c.host != AP_OK) st = ap_error_set(err, c.host, "%s: %s", name ? name : "allocation script", c.msg);
    } else {
        st = classify(L, &c, status, 0, err);
    }
    lua_close(L);
    if (st == AP_OK) st = finish(&c, out, err);
    free(c.result);
    return st;
}

ap_status ap_alloc_script_run_file(const char *path, const ap_alloc_unit *units, int n, int n_layers, double target,
                                   double lo, double hi, const ap_alloc_script_limits *limits, double *out,
                                   ap_error *err)
{
    ap_alloc_script_limits lim;
    fill_limits(&lim, limits);
    if (!path) return ap_error_set(err, AP_E_ARG, "allocation script: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return ap_error_set(err, AP_E_IO, "%s: cannot open", path);
    char *buf = malloc(lim.source_bytes + 1);
    if (!buf) {
        fclose(f);
        return ap_error_set(err, AP_E_NOMEM, "%s: no memory", path);
    }
    size_t got = fread(buf, 1, lim.source_bytes + 1, f);
    int bad = ferror(f);
    fclose(f);
    ap_status st;
    if (bad) st = ap_error_set(err, AP_E_IO, "%s: read error", path);
    else if (got > lim.source_bytes)
        st = ap_error_set(err, AP_E_LIMIT, "%s: larger than the source limit of %zu bytes", path, lim.source_bytes);
    else if (got == 0) st = ap_error_set(err, AP_E_SYNTAX, "%s: empty script", path);
    else {
        const char *base = strrchr(path, '/');
        st = ap_alloc_script_run(buf, got, base ? base + 1 : path, units, n, n_layers, target, lo, hi, &lim, out,
                                 err);
    }
    free(buf);
    return st;
}
