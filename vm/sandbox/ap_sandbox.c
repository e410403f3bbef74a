/* ap_sandbox.c — the sandbox for untrusted Lua: a fresh allow-listed lua_State per run under heap, instruction,
 * wall-clock, tensor-byte, work and output limits, with structured errors; runs metrics (the public API of
 * autoprune.h) and any other script through ap_sandbox_call (ap_sandbox.h), with one environment for both. */
#include "ap_sandbox.h"

#include <errno.h>
#include <limits.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_clock.h"
#include "ap_tensor.h"
#include "lap_tensor.h"

_Static_assert(AP_KIND_SYNTAX == (int)AP_E_SYNTAX && AP_KIND_RUNTIME == (int)AP_E_RUNTIME &&
                   AP_KIND_LIMIT == (int)AP_E_LIMIT && AP_KIND_SHAPE == (int)AP_E_SHAPE &&
                   AP_KIND_NONFINITE == (int)AP_E_NONFINITE && AP_KIND_TYPE == (int)AP_E_TYPE &&
                   AP_KIND_IO == (int)AP_E_IO && AP_KIND_ARG == (int)AP_E_ARG && AP_KIND_NOMEM == (int)AP_E_NOMEM &&
                   AP_KIND_INTERRUPTED == (int)AP_E_INTERRUPTED,
               "autoprune.h kinds must equal ap_status codes");

#define HOOK_STEP 1000       /* instructions between two hook calls */
#define CHUNK_NAME "=metric" /* messages then start with "metric:LINE:" */
#define CHUNK_PREFIX "metric:"
#define MIB ((size_t)1 << 20)

#define DEF_INSTRUCTIONS 100000000ull
#define DEF_WALL_MS 30000ull
#define DEF_HEAP (64 * MIB)
#define DEF_OUTPUT ((size_t)64 << 10)
#define DEF_SOURCE ((size_t)64 << 10)
#define AUTO_TENSOR_FACTOR 16       /* tensor bytes: 16 copies of W ... */
#define AUTO_TENSOR_BASE (64 * MIB) /* ... plus this */
#define AUTO_WORK_FACTOR 256        /* work: 256 passes over W ... */
#define AUTO_WORK_BASE 100000000ull /* ... plus this */

/* Unique addresses used as error values the script cannot forge. */
static const char TRIP_KEY = 0; /* a limit or an interrupt tripped (details in sb->trip*) */
static const char HOST_KEY = 0; /* the host failed a check (details in sb->err) */

struct ap_sandbox {
    ap_limits lim; /* defaults filled in; auto fields 0 */
    char *src;     /* owned copy of the loaded source */
    size_t src_len;
    char name[256];
    int loaded, group_declared;
    int has_source;   /* src is set (ap_sandbox_call may run it) */
    unsigned x_needs; /* declared: needs = {...} of the returned table (AP_X_* bits) */
    unsigned x_reads; /* statistics of X read by the score calls since the last load */
    char group[8];

    /* The run in progress (reset by run_begin). */
    lua_State *L; /* NULL outside a run */
    atomic_int interrupt;
    ap_status trip; /* sticky once not AP_OK */
    char trip_msg[200];
    int trip_line, msgh_line, heap_line;
    uint64_t instr_limit, work_limit;
    size_t heap_limit, tensor_limit;
    uint64_t start_ns, deadline_ns;
    size_t heap, tensor_bytes;
    ap_usage usage;
    char *out; /* print() buffer (grows up to output_bytes + 1), owned */
    size_t out_len, out_cap;
    ap_budget budget;
    ap_error err;
};

typedef struct run_ctx {
    ap_sandbox *sb;
    int scoring;
    const float *W;
    int64_t out, in;
    const ap_xstats *X;
    const ap_layer_info *info;
    float *scores;
    int calling; /* ap_sandbox_call: the fields below */
    const char *entry;
    const ap_value *args;
    size_t nargs;
    double *values;
    size_t n_values;
} run_ctx;

/* ---- tripping limits ---------------------------------------------------------------------------------- */

static void sb_hook(lua_State *L, lua_Debug *ar);

/* Record the first limit that trips and make the hook fire on every instruction from now on. */
static ap_status sb_trip(ap_sandbox *sb, ap_status kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ap_status sb_trip(ap_sandbox *sb, ap_status kind, const char *fmt, ...)
{
    if (sb->trip == AP_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sb->trip_msg, sizeof sb->trip_msg, fmt, ap);
        va_end(ap);
        sb->trip = kind;
        if (sb->L)
            lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, 1);
    }
    return sb->trip;
}

/* Interrupt flag and deadline: checked by the hook and before every tensor primitive. */
static ap_status sb_poll(ap_sandbox *sb)
{
    if (sb->trip != AP_OK)
        return sb->trip;
    if (atomic_load_explicit(&sb->interrupt, memory_order_relaxed))
        return sb_trip(sb, AP_E_INTERRUPTED, "interrupted");
    if (ap_clock_ns() > sb->deadline_ns)
        return sb_trip(sb, AP_E_LIMIT, "wall-clock limit of %llu ms exceeded", (unsigned long long)sb->lim.wall_ms);
    return AP_OK;
}

static ap_sandbox *sb_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Raise the trip sentinel from a C function (its own frame is dropped): no allocation, so it works when the
 * heap is exhausted. */
static int raise_trip(lua_State *L)
{
    lua_settop(L, 0);
    lua_pushlightuserdata(L, (void *)&TRIP_KEY);
    return lua_error(L);
}

static void sb_hook(lua_State *L, lua_Debug *ar)
{
    ap_sandbox *sb = sb_of(L);
    if (sb->trip == AP_OK) {
        sb->usage.instructions += HOOK_STEP;
        if (sb->usage.instructions > sb->instr_limit)
            sb_trip(sb, AP_E_LIMIT, "instruction limit of %llu exceeded", (unsigned long long)sb->instr_limit);
        else
            sb_poll(sb);
        if (sb->trip != AP_OK && sb->trip_line == 0 && lua_getinfo(L, "l", ar) && ar->currentline > 0)
            sb->trip_line = ar->currentline;
    }
    if (sb->trip != AP_OK) {
        /* Not raise_trip: inside a hook the current frame is the script function's, whose registers stay as
         * they are (the hook runs with LUA_MINSTACK free slots above them). */
        lua_pushlightuserdata(L, (void *)&TRIP_KEY);
        lua_error(L);
    }
}

/* ---- allocator and tensor budget ---------------------------------------------------------------------- */

/* Remember the script line of the latest refused allocation, for the message should the refusal become the
 * heap limit error (memory errors carry no position). Reads the call stack only: no allocation. */
static void note_heap_line(ap_sandbox *sb)
{
    lua_Debug ar;
    if (!sb->L)
        return;
    for (int level = 0; lua_getstack(sb->L, level, &ar); level++) {
        if (lua_getinfo(sb->L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.source, CHUNK_NAME) == 0) {
            sb->heap_line = ar.currentline;
            return;
        }
    }
}

/* Lua heap with a limit. In 5.4 osize is a type tag when ptr is NULL. Shrinks are never refused. A refusal
 * is not a trip by itself: Lua runs an emergency GC and asks again; a memory error that still reaches a pcall
 * or the top becomes the limit (see after_pcall / classify). */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ap_sandbox *sb = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->heap -= old;
        return NULL;
    }
    if (nsize > old && (nsize - old > sb->heap_limit || sb->heap > sb->heap_limit - (nsize - old))) {
        note_heap_line(sb);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize <= old)
            p = ptr; /* a failed shrink keeps the larger block */
        else
            return NULL;
    }
    sb->heap = sb->heap - old + nsize;
    if (sb->heap > sb->usage.peak_heap_bytes)
        sb->usage.peak_heap_bytes = sb->heap;
    return p;
}

static ap_status sb_charge_bytes(void *ud, size_t bytes, ap_error *err)
{
    ap_sandbox *sb = ud;
    ap_status st = sb_poll(sb);
    if (st == AP_OK && bytes > sb->tensor_limit - sb->tensor_bytes && sb->L)
        lua_gc(sb->L, LUA_GCCOLLECT, 0); /* dead tensors may hold the bytes; their __gc releases them */
    if (st == AP_OK && (sb->tensor_bytes > sb->tensor_limit || bytes > sb->tensor_limit - sb->tensor_bytes))
        st = sb_trip(sb, AP_E_LIMIT, "tensor memory limit of %zu bytes exceeded (%zu in use, %zu more asked)",
                     sb->tensor_limit, sb->tensor_bytes, bytes);
    if (st != AP_OK)
        return ap_error_set(err, st, "%s", sb->trip_msg);
    sb->tensor_bytes += bytes;
    if (sb->tensor_bytes > sb->usage.peak_tensor_bytes)
        sb->usage.peak_tensor_bytes = sb->tensor_bytes;
    return AP_OK;
}

static void sb_release_bytes(void *ud, size_t bytes)
{
    ap_sandbox *sb = ud;
    sb->tensor_bytes = bytes > sb->tensor_bytes ? 0 : sb->tensor_bytes - bytes;
}

static ap_status sb_charge_work(void *ud, uint64_t units, ap_error *err)
{
    ap_sandbox *sb = ud;
    ap_status st = sb_poll(sb);
    if (st == AP_OK) {
        if (units > sb->work_limit - sb->usage.work || sb->usage.work > sb->work_limit)
            st = sb_trip(sb, AP_E_LIMIT, "work limit of %llu element operations exceeded",
                         (unsigned long long)sb->work_limit);
        else
            sb->usage.work += units;
    }
    if (st != AP_OK)
        return ap_error_set(err, st, "%s", sb->trip_msg);
    return AP_OK;
}

/* ---- the environment ---------------------------------------------------------------------------------- */

/* After a protected call inside the script: a memory error or a tripped limit goes on up. */
static void heap_trip(ap_sandbox *sb)
{
    if (sb->trip == AP_OK)
        sb->trip_line = sb->heap_line;
    sb_trip(sb, AP_E_LIMIT, "Lua heap limit of %zu bytes exceeded", sb->heap_limit);
}

static void after_pcall(lua_State *L, ap_sandbox *sb, int status)
{
    if (status == LUA_ERRMEM)
        heap_trip(sb);
    if (sb->trip != AP_OK)
        raise_trip(L);
}

/* A protected call costs far more than one VM instruction (setjmp, error object, unwinding): charge it as
 * PCALL_COST instructions, so a loop of failing pcalls meets the instruction limit in reasonable time. */
#define PCALL_COST 100
static void charge_pcall(lua_State *L, ap_sandbox *sb)
{
    sb->usage.instructions += PCALL_COST;
    if (sb->usage.instructions > sb->instr_limit)
        sb_trip(sb, AP_E_LIMIT, "instruction limit of %llu exceeded", (unsigned long long)sb->instr_limit);
    if (sb->trip != AP_OK)
        raise_trip(L);
}

static int sb_pcall(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    luaL_checkany(L, 1);
    charge_pcall(L, sb);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    after_pcall(L, sb, status);
    if (status != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L);
}

/* Call the function a wrapper stands for (upvalue 1: a library function, or the script's xpcall handler) with the
 * wrapper's arguments, keeping nresults of its results (LUA_MULTRET: all); they are what the wrapper returns. */
static int call_wrapped(lua_State *L, int nresults)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, nresults);
    return nresults == LUA_MULTRET ? lua_gettop(L) : nresults;
}

/* The message handler xpcall really installs. An error the hook raised leaves hooks disabled until the
 * enclosing pcall returns, so the script's handler must not run then: once a limit has tripped, the error
 * value goes through untouched and after_pcall raises the limit again. */
static int xpcall_handler(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    if (sb->trip != AP_OK)
        return 1;
    return call_wrapped(L, 1);
}

static int sb_xpcall(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    charge_pcall(L, sb);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2); /* f, handler, true, f, args... */
    int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    after_pcall(L, sb, status);
    if (status != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - 2;
}

/* Grow the output buffer to hold need bytes plus a NUL (it never exceeds output_bytes + 1). */
static int out_reserve(ap_sandbox *sb, size_t need)
{
    if (need + 1 <= sb->out_cap)
        return 0;
    size_t cap = sb->out_cap ? sb->out_cap : 256;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > sb->lim.output_bytes + 1)
        cap = sb->lim.output_bytes + 1;
    char *p = realloc(sb->out, cap);
    if (!p)
        return -1;
    sb->out = p;
    sb->out_cap = cap;
    return 0;
}

static void out_append(lua_State *L, ap_sandbox *sb, const char *s, size_t len)
{
    size_t room = sb->lim.output_bytes - sb->out_len;
    size_t take = len > room ? room : len;
    if (out_reserve(sb, sb->out_len + take) != 0) {
        sb_trip(sb, AP_E_LIMIT, "out of memory for the output buffer");
        raise_trip(L);
    }
    memcpy(sb->out + sb->out_len, s, take);
    sb->out_len += take;
    sb->out[sb->out_len] = '\0';
    sb->usage.output_bytes = sb->out_len;
    if (take < len) {
        sb_trip(sb, AP_E_LIMIT, "output limit of %zu bytes exceeded", sb->lim.output_bytes);
        raise_trip(L);
    }
}

/* print: captured in the sandbox's bounded buffer. */
static int sb_print(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            out_append(L, sb, "\t", 1);
        out_append(L, sb, s, len);
        lua_pop(L, 1);
    }
    out_append(L, sb, "\n", 1);
    return 0;
}

/* string.rep: the result's size is checked against the heap limit first, and the count charged as work
 * (an empty string repeated 2^62 times would otherwise loop inside C without allocating). */
static int sb_rep(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && lsep == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    double total = (double)n * (double)l + (double)(n - 1) * (double)lsep;
    ap_error e;
    if (total > (double)sb->heap_limit) {
        sb_trip(sb, AP_E_LIMIT, "string.rep of %.0f bytes exceeds the Lua heap limit of %zu bytes", total,
                sb->heap_limit);
        raise_trip(L);
    }
    if (sb_charge_work(sb, (uint64_t)n, &e) != AP_OK)
        raise_trip(L);
    return call_wrapped(L, 1);
}

/* table.move and table.sort loop inside C: charge their element count as work first. */
static int sb_table_move(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    luaL_checkinteger(L, 4);
    ap_error err;
    if (e >= f) {
        double n = (double)e - (double)f + 1.0;
        if (n > (double)UINT64_MAX / 2 || sb_charge_work(sb, (uint64_t)n, &err) != AP_OK) {
            sb_trip(sb, AP_E_LIMIT, "table.move of %.0f elements exceeds the work limit", n);
            raise_trip(L);
        }
    }
    return call_wrapped(L, LUA_MULTRET);
}

static int sb_table_sort(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Unsigned n = (lua_Unsigned)luaL_len(L, 1);
    ap_error err;
    double work = (double)n * (log2((double)n + 1.0) + 1.0);
    if (work > (double)UINT64_MAX / 2 || sb_charge_work(sb, (uint64_t)work, &err) != AP_OK)
        raise_trip(L);
    return call_wrapped(L, 0);
}

/* Open a standard library with its luaopen function and leave its table on the stack. */
static void open_lib(lua_State *L, lua_CFunction opener)
{
    lua_pushcfunction(L, opener);
    lua_call(L, 0, 1);
}

/* Copy the named fields of the table at src into the table at dst. */
static void copy_fields(lua_State *L, int src, int dst, const char *const *names)
{
    src = lua_absindex(L, src);
    dst = lua_absindex(L, dst);
    for (; *names; names++) {
        lua_getfield(L, src, *names);
        lua_setfield(L, dst, *names);
    }
}

/* Replace the field `name` of the table at t by a C closure with the original as upvalue. */
static void wrap_field(lua_State *L, int t, const char *name, lua_CFunction f)
{
    t = lua_absindex(L, t);
    lua_getfield(L, t, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, t, name);
}

/* string: the contract's functions only, in a new locked metatable (the full library, with dump and the
 * pattern functions, becomes unreachable). The arithmetic metamethods keep "10" + 1 working. */
static void open_string(lua_State *L, int env)
{
    static const char *const allowed[] = {"byte",  "char", "format", "len",     "lower",
                                          "upper", "rep",  "sub",    "reverse", NULL};
    static const char *const arith[] = {"__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv", NULL};
    open_lib(L, luaopen_string); /* full */
    lua_newtable(L);             /* limited */
    copy_fields(L, -2, -1, allowed);
    wrap_field(L, -1, "rep", sb_rep);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1); /* full, limited, "", old mt */
    lua_newtable(L);         /* new mt */
    copy_fields(L, -2, -1, arith);
    lua_pushvalue(L, -4);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_remove(L, -2); /* full, limited, "", new mt */
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    lua_setfield(L, env, "string");
    lua_pop(L, 1);
}

static void open_env(lua_State *L, ap_sandbox *sb)
{
    static const char *const base[] = {"assert",   "error",    "ipairs", "next",     "pairs",  "select",
                                       "tonumber", "tostring", "type",   "rawequal", "rawlen", NULL};
    lua_newtable(L);
    int env = lua_gettop(L);
    open_lib(L, luaopen_base); /* fills the old globals table, which we then drop */
    copy_fields(L, -1, env, base);
    lua_pop(L, 1);
    lua_pushcfunction(L, sb_pcall);
    lua_setfield(L, env, "pcall");
    lua_pushcfunction(L, sb_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, env, "print");
    open_string(L, env);
    open_lib(L, luaopen_math);
    lua_pushnil(L);
    lua_setfield(L, -2, "random");
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_setfield(L, env, "math");
    open_lib(L, luaopen_table);
    wrap_field(L, -1, "move", sb_table_move);
    wrap_field(L, -1, "sort", sb_table_sort);
    lua_setfield(L, env, "table");
    open_lib(L, luaopen_utf8);
    lua_setfield(L, env, "utf8");
    lap_tensor_open(L);
    lua_setfield(L, env, "T");
    lap_tensor_set_budget(L, &sb->budget);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS); /* env becomes the globals of every chunk */
}

/* ---- one run ------------------------------------------------------------------------------------------ */

static int host_error(lua_State *L, ap_sandbox *sb, ap_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int host_error(lua_State *L, ap_sandbox *sb, ap_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ap_error_vset(&sb->err, code, fmt, ap);
    va_end(ap);
    lua_settop(L, 0);
    lua_pushlightuserdata(L, (void *)&HOST_KEY);
    return lua_error(L);
}

/* Split "metric:LINE: message" into its line and the message after it. */
static const char *strip_position(const char *msg, int *line)
{
    size_t plen = strlen(CHUNK_PREFIX);
    if (strncmp(msg, CHUNK_PREFIX, plen) != 0)
        return msg;
    const char *p = msg + plen;
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || *end != ':' || n <= 0 || n > 1000000000L)
        return msg;
    *line = (int)n;
    end++;
    while (*end == ' ')
        end++;
    return end;
}

/* Copy msg as one line: control characters become spaces. */
static void set_message(ap_error *err, ap_status code, const char *msg, int line)
{
    ap_error_set(err, code, "%s", msg);
    err->line = line;
    for (char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    size_t n = strlen(err->msg);
    while (n > 0 && err->msg[n - 1] == ' ')
        err->msg[--n] = '\0';
    if (n == 0)
        snprintf(err->msg, sizeof err->msg, "error with an empty message");
}

/* Push an [rows, cols] tensor copied from data (charged to the budget). */
static void push_tensor(lua_State *L, ap_sandbox *sb, int64_t rows, int64_t cols, const float *data)
{
    ap_error e;
    ap_tensor *t = ap_tensor_from_data(rows, cols, data, &sb->budget, &e);
    if (!t) {
        if (sb->trip != AP_OK)
            raise_trip(L);
        host_error(L, sb, e.code, "%s", e.msg);
    }
    lap_tensor_push(L, t);
}

/* X[name] = a derived statistic: l2 from sq or sq from l2. */
static void push_derived(lua_State *L, ap_sandbox *sb, int64_t in, const float *src, double tokens, int to_l2)
{
    ap_error e;
    ap_tensor *t = ap_tensor_new(1, in, &sb->budget, &e);
    if (!t) {
        if (sb->trip != AP_OK)
            raise_trip(L);
        host_error(L, sb, e.code, "%s", e.msg);
    }
    float *d = ap_tensor_data(t);
    for (int64_t j = 0; j < in; j++)
        d[j] =
            to_l2 ? (float)sqrt((double)src[j] * tokens) : (float)(tokens > 0 ? (double)src[j] * src[j] / tokens : 0.0);
    lap_tensor_push(L, t);
}

/* The contract's statistics of X with their bits (autoprune.h); hinv is an extension present only with Hessians. */
static const struct {
    const char *name;
    unsigned bit;
} X_FIELDS[] = {
    {"l2", AP_X_L2},         {"sq", AP_X_SQ},     {"mean", AP_X_MEAN}, {"std", AP_X_STD},
    {"absmax", AP_X_ABSMAX}, {"skew", AP_X_SKEW}, {"kurt", AP_X_KURT}, {"hinv", AP_X_HINV},
};

static unsigned x_field_bit(const char *name)
{
    for (size_t i = 0; i < sizeof X_FIELDS / sizeof X_FIELDS[0]; i++)
        if (!strcmp(name, X_FIELDS[i].name))
            return X_FIELDS[i].bit;
    return 0;
}

/* X.__index: X itself stays empty, so every read of a statistic comes here and is noted in sb->x_reads (what
 * calibration must gather for this metric). Upvalues: the table of values, the bits of X->missing. */
static int x_index(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    unsigned bit = k ? x_field_bit(k) : 0;
    sb->x_reads |= bit;
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (lua_isnil(L, -1) && (bit & (unsigned)lua_tointeger(L, lua_upvalueindex(2))))
        return luaL_error(L,
                          "X.%s was not gathered for this run: calibration gathers only the statistics the "
                          "metric reads (declare more with needs = {...}, doc/metric-api.md)",
                          k);
    return 1;
}

/* X.__pairs: iterating X reads every statistic in it. */
static int x_pairs(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    sb->x_reads |= AP_X_ALL;
    lua_getglobal(L, "next");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

static void push_x(lua_State *L, run_ctx *c)
{
    const ap_xstats *X = c->X;
    ap_sandbox *sb = c->sb;
    lua_createtable(L, 0, 0); /* X: empty, reads go through x_index */
    lua_createtable(L, 0, 2); /* its metatable */
    lua_createtable(L, 0, 9); /* the values */
    const float *data[] = {X->l2, X->sq, X->mean, X->std, X->absmax, X->skew, X->kurt};
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
        if (!data[i])
            continue;
        push_tensor(L, sb, 1, c->in, data[i]);
        lua_setfield(L, -2, X_FIELDS[i].name);
    }
    if (!X->l2 && X->sq) {
        push_derived(L, sb, c->in, X->sq, X->tokens, 1);
        lua_setfield(L, -2, "l2");
    } else if (X->l2 && !X->sq) {
        push_derived(L, sb, c->in, X->l2, X->tokens, 0);
        lua_setfield(L, -2, "sq");
    }
    for (size_t i = 0; i < X->n_extra; i++) {
        if (!X->extra_names || !X->extra || !X->extra_names[i] || !X->extra[i])
            continue;
        push_tensor(L, sb, 1, c->in, X->extra[i]);
        lua_setfield(L, -2, X->extra_names[i]);
    }
    if (X->tokens == floor(X->tokens) && fabs(X->tokens) < 9007199254740992.0)
        lua_pushinteger(L, (lua_Integer)X->tokens); /* a count: print it as one */
    else
        lua_pushnumber(L, X->tokens);
    lua_setfield(L, -2, "tokens");
    lua_pushvalue(L, -1);
    lua_pushinteger(L, (lua_Integer)X->missing);
    lua_pushcclosure(L, x_index, 2);
    lua_setfield(L, -3, "__index");
    lua_pushcclosure(L, x_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

static void push_info(lua_State *L, run_ctx *c)
{
    const ap_layer_info *info = c->info;
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, info ? info->layer : 1);
    lua_setfield(L, -2, "layer");
    lua_pushstring(L, info && info->name ? info->name : "");
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, info ? info->n_layers : 1);
    lua_setfield(L, -2, "n_layers");
    lua_pushnumber(L, info ? info->sparsity : 0.5);
    lua_setfield(L, -2, "sparsity");
    lua_pushinteger(L, c->out);
    lua_setfield(L, -2, "out");
    lua_pushinteger(L, c->in);
    lua_setfield(L, -2, "in");
}

/* The returned table's optional needs = {"l2", "absmax", ...}: statistics the metric reads beyond those the check
 * sees it read (a read on a path the synthetic layers never take). Read raw, like group. */
static void take_needs(lua_State *L, ap_sandbox *sb)
{
    sb->x_needs = 0;
    lua_pushliteral(L, "needs");
    lua_rawget(L, -2);
    int t = lua_type(L, -1);
    if (t != LUA_TNIL && t != LUA_TTABLE)
        host_error(L, sb, AP_E_TYPE, "the returned table's needs must be a list of statistic names");
    for (lua_Integer i = 1; t == LUA_TTABLE; i++) {
        if (lua_rawgeti(L, -1, i) == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        unsigned bit = lua_type(L, -1) == LUA_TSTRING ? x_field_bit(lua_tostring(L, -1)) : 0;
        if (!bit)
            host_error(L, sb, AP_E_TYPE, "needs[%lld] is not a statistic of X (l2 sq mean std absmax skew kurt hinv)",
                       (long long)i);
        sb->x_needs |= bit;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* The chunk's value at the top: a function, or a table {score = function, group = "row"|"layer"}.
 * Leaves the score function at the top; reads the table raw (no script code runs). */
static void take_metric(lua_State *L, ap_sandbox *sb)
{
    int t = lua_type(L, -1);
    if (t == LUA_TFUNCTION) {
        sb->group_declared = 0;
        snprintf(sb->group, sizeof sb->group, "row");
        sb->x_needs = 0;
        return;
    }
    if (t != LUA_TTABLE)
        host_error(L, sb, AP_E_TYPE,
                   "the script returned %s; it must return a function(W, X, info) or a table {score = function, "
                   "group = \"row\"|\"layer\"}",
                   t == LUA_TNONE || t == LUA_TNIL ? "nothing" : lua_typename(L, t));
    lua_pushliteral(L, "group");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TNIL) {
        sb->group_declared = 0;
        snprintf(sb->group, sizeof sb->group, "row");
    } else {
        const char *g = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!g || (strcmp(g, "row") != 0 && strcmp(g, "layer") != 0))
            host_error(L, sb, AP_E_TYPE, "the returned table's group must be \"row\" or \"layer\"");
        sb->group_declared = 1;
        snprintf(sb->group, sizeof sb->group, "%s", g);
    }
    lua_pop(L, 1);
    take_needs(L, sb);
    lua_pushliteral(L, "score");
    lua_rawget(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION)
        host_error(L, sb, AP_E_TYPE, "the returned table has no score function (field \"score\")");
    lua_remove(L, -2);
}

/* 1 when v is NaN or +-Inf (exponent bits all set): a bit test the copy loop below can vectorise. */
static inline int nonfinite_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7f800000u) == 0x7f800000u;
}

/* dst[0..n) = src[0..n) in one pass that also notes whether any value is not finite. */
static int copy_finite(float *restrict dst, const float *restrict src, int64_t n)
{
    int bad = 0;
    for (int64_t k = 0; k < n; k++) {
        dst[k] = src[k];
        bad |= nonfinite_bits(src[k]);
    }
    return bad;
}

/* Check the metric's result (raw reads only) and copy it, broadcast, into c->scores. */
static void take_scores(lua_State *L, run_ctx *c, int nres)
{
    ap_sandbox *sb = c->sb;
    int64_t out = c->out, in = c->in;
    float *s = c->scores;
    ap_tensor *r = nres > 0 ? lap_tensor_test(L, -nres) : NULL;
    int bad = 0;
    if (r) {
        if (!((r->rows == out || r->rows == 1) && (r->cols == in || r->cols == 1)))
            host_error(L, sb, AP_E_SHAPE, "the score is [%lld, %lld], which does not broadcast to W's [%lld, %lld]",
                       (long long)r->rows, (long long)r->cols, (long long)out, (long long)in);
        const float *d = ap_tensor_data(r);
        for (int64_t i = 0; i < out; i++) {
            const float *row = d + (r->rows == 1 ? 0 : i * r->cols);
            if (r->cols == in) {
                bad |= copy_finite(s + i * in, row, in);
            } else {
                bad |= nonfinite_bits(row[0]);
                for (int64_t j = 0; j < in; j++)
                    s[i * in + j] = row[0];
            }
        }
    } else if (nres > 0 && lua_type(L, -nres) == LUA_TNUMBER) {
        float v = (float)lua_tonumber(L, -nres);
        bad = nonfinite_bits(v);
        for (int64_t k = 0; k < out * in; k++)
            s[k] = v;
    } else {
        int t = nres > 0 ? lua_type(L, -nres) : LUA_TNONE;
        host_error(L, sb, AP_E_TYPE, "the metric returned %s, not a score tensor",
                   t == LUA_TNONE ? "nothing" : lua_typename(L, t));
    }
    for (int64_t k = 0; bad && k < out * in; k++) {
        if (nonfinite_bits(s[k]))
            host_error(L, sb, AP_E_NONFINITE, "the score holds a non-finite value (%s) at row %lld, column %lld",
                       isnan(s[k]) ? "nan"
                       : s[k] > 0  ? "inf"
                                   : "-inf",
                       (long long)(k / in + 1), (long long)(k % in + 1));
    }
}

/* ---- ap_sandbox_call: Lua data in, a list of numbers out ---------------------------------------------- */

static void push_value(lua_State *L, ap_sandbox *sb, const ap_value *v, int depth);

/* Push a table from its description: keyed entries become fields, the others list items in order. */
static void push_table(lua_State *L, ap_sandbox *sb, const ap_value *v, int depth)
{
    if (depth >= AP_VALUE_MAX_DEPTH || (v->n && !v->items) || v->n > INT_MAX)
        host_error(L, sb, AP_E_ARG, "call data: a table nested deeper than %d or without its items",
                   AP_VALUE_MAX_DEPTH);
    lua_createtable(L, 0, 0);
    lua_Integer next = 1;
    for (size_t i = 0; i < v->n; i++) {
        const ap_value *e = &v->items[i];
        if (e->key) {
            lua_pushstring(L, e->key);
            push_value(L, sb, e, depth + 1);
            lua_rawset(L, -3);
        } else {
            push_value(L, sb, e, depth + 1);
            lua_rawseti(L, -2, next++);
        }
    }
}

static void push_value(lua_State *L, ap_sandbox *sb, const ap_value *v, int depth)
{
    if (!lua_checkstack(L, 4))
        host_error(L, sb, AP_E_NOMEM, "call data: no Lua stack space");
    switch (v->kind) {
    case AP_VALUE_NUMBER: lua_pushnumber(L, v->number); break;
    case AP_VALUE_INTEGER: lua_pushinteger(L, (lua_Integer)v->integer); break;
    case AP_VALUE_STRING: lua_pushstring(L, v->string ? v->string : ""); break;
    case AP_VALUE_TABLE: push_table(L, sb, v, depth); break;
    default: host_error(L, sb, AP_E_ARG, "call data: unknown value kind %d", (int)v->kind);
    }
}

/* The chunk's value at the top: a function, or a table whose field `entry` (read raw) is one. */
static void take_entry(lua_State *L, run_ctx *c)
{
    int t = lua_type(L, -1);
    if (t == LUA_TTABLE && c->entry) {
        lua_pushstring(L, c->entry);
        lua_rawget(L, -2);
        lua_remove(L, -2);
    } else if (t != LUA_TFUNCTION) {
        host_error(L, c->sb, AP_E_TYPE, "the script returned %s; it must return a function%s%s%s",
                   t == LUA_TNONE || t == LUA_TNIL ? "nothing" : lua_typename(L, t),
                   c->entry ? " or a table with a function `" : "", c->entry ? c->entry : "", c->entry ? "`" : "");
    }
    if (lua_type(L, -1) != LUA_TFUNCTION)
        host_error(L, c->sb, AP_E_TYPE, "the returned table has no function `%s`", c->entry);
}

/* Check the function's result is a list of n finite numbers (raw reads only: no script code runs), then copy
 * it out; out is untouched when a check fails. */
static void take_numbers(lua_State *L, run_ctx *c)
{
    ap_sandbox *sb = c->sb;
    size_t n = c->n_values;
    if (!lua_istable(L, -1))
        host_error(L, sb, AP_E_TYPE, "the function returned %s, not a list of %zu numbers",
                   lua_isnoneornil(L, -1) ? "nothing" : luaL_typename(L, -1), n);
    lua_Unsigned len = lua_rawlen(L, -1);
    if (len != (lua_Unsigned)n)
        host_error(L, sb, AP_E_SHAPE, "the function returned %llu numbers, expected %zu", (unsigned long long)len, n);
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            int t = lua_rawgeti(L, -1, (lua_Integer)i + 1);
            double v = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (t != LUA_TNUMBER)
                host_error(L, sb, AP_E_TYPE, "item %zu of the result is a %s, not a number", i + 1, lua_typename(L, t));
            if (!isfinite(v))
                host_error(L, sb, AP_E_NONFINITE, "item %zu of the result is not finite (%s)", i + 1,
                           isnan(v) ? "nan"
                           : v > 0  ? "inf"
                                    : "-inf");
            if (pass == 1)
                c->values[i] = v;
        }
    }
}

/* With the chunk's value at the top: find the function, call it with the described arguments, read back. */
static int call_entry(lua_State *L, run_ctx *c)
{
    take_entry(L, c);
    for (size_t i = 0; i < c->nargs; i++)
        push_value(L, c->sb, &c->args[i], 0);
    lua_call(L, (int)c->nargs, 1);
    take_numbers(L, c);
    return 0;
}

/* Everything a run does, inside one protected call: environment, chunk, metric call, result checks. */
static int run_protected(lua_State *L)
{
    run_ctx *c = lua_touserdata(L, 1);
    ap_sandbox *sb = c->sb;
    lua_settop(L, 0);
    open_env(L, sb);
    int st = luaL_loadbufferx(L, sb->src, sb->src_len, CHUNK_NAME, "t");
    if (st == LUA_ERRMEM) {
        sb_trip(sb, AP_E_LIMIT, "Lua heap limit of %zu bytes exceeded while compiling", sb->heap_limit);
        raise_trip(L);
    }
    if (st != LUA_OK) {
        int line = 0;
        const char *m = strip_position(lua_tostring(L, -1), &line);
        set_message(&sb->err, AP_E_SYNTAX, m, line);
        lua_settop(L, 0);
        lua_pushlightuserdata(L, (void *)&HOST_KEY);
        return lua_error(L);
    }
    lua_call(L, 0, 1);
    if (c->calling)
        return call_entry(L, c);
    take_metric(L, sb);
    if (!c->scoring)
        return 0;
    int base = lua_gettop(L) - 1;
    push_tensor(L, sb, c->out, c->in, c->W);
    push_x(L, c);
    push_info(L, c);
    lua_call(L, 3, LUA_MULTRET);
    take_scores(L, c, lua_gettop(L) - base);
    return 0;
}

/* Message handler of the top-level call: note the line of the innermost script frame (errors raised inside
 * C primitives carry no position of their own). Runs no script code and allocates nothing. */
static int run_msgh(lua_State *L)
{
    ap_sandbox *sb = sb_of(L);
    lua_Debug ar;
    for (int level = 0; sb->msgh_line == 0 && lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.source, CHUNK_NAME) == 0)
            sb->msgh_line = ar.currentline;
    }
    return 1;
}

/* Turn the outcome of the top-level call into sb->err. The error value is read raw, never converted. */
static void classify(lua_State *L, ap_sandbox *sb, int status)
{
    if (status == LUA_OK && sb->trip == AP_OK)
        return;
    if (status == LUA_ERRMEM && sb->trip == AP_OK)
        heap_trip(sb);
    if (sb->trip != AP_OK) {
        set_message(&sb->err, sb->trip, sb->trip_msg, sb->trip_line ? sb->trip_line : sb->msgh_line);
        return;
    }
    if (lua_touserdata(L, -1) == (void *)&HOST_KEY)
        return; /* sb->err already filled */
    ap_status kind = lap_tensor_error_kind(L, -1);
    if (kind != AP_E_SHAPE && kind != AP_E_TYPE && kind != AP_E_NONFINITE && kind != AP_E_LIMIT)
        kind = AP_E_RUNTIME;
    int line = 0;
    const char *msg = NULL;
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        msg = strip_position(lua_tostring(L, -1), &line);
    } else if (t == LUA_TTABLE) {
        lua_pushliteral(L, "message");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING)
            msg = strip_position(lua_tostring(L, -1), &line);
        lua_pop(L, 1);
    }
    char buf[64];
    if (!msg) {
        snprintf(buf, sizeof buf, "non-string error (%s)", lua_typename(L, t));
        msg = buf;
    }
    if (status == LUA_ERRERR)
        msg = "error in error handling";
    set_message(&sb->err, kind, msg, line ? line : sb->msgh_line);
}

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }

static void run_begin(ap_sandbox *sb, int64_t out, int64_t in)
{
    sb->trip = AP_OK;
    sb->trip_msg[0] = '\0';
    sb->trip_line = sb->msgh_line = sb->heap_line = 0;
    memset(&sb->usage, 0, sizeof sb->usage);
    ap_error_clear(&sb->err);
    sb->out_len = 0;
    if (sb->out)
        sb->out[0] = '\0';
    size_t numel = sat_mul((size_t)out, (size_t)in);
    sb->instr_limit = sb->lim.instructions;
    sb->heap_limit = sb->lim.heap_bytes;
    sb->tensor_limit = sb->lim.tensor_bytes
                           ? sb->lim.tensor_bytes
                           : sat_add(sat_mul(sat_mul(numel, sizeof(float)), AUTO_TENSOR_FACTOR), AUTO_TENSOR_BASE);
    sb->work_limit = sb->lim.work ? sb->lim.work : (uint64_t)sat_add(sat_mul(numel, AUTO_WORK_FACTOR), AUTO_WORK_BASE);
    sb->heap = sb->tensor_bytes = 0;
    sb->start_ns = ap_clock_ns();
    uint64_t wall = sb->lim.wall_ms > UINT64_MAX / 2000000ull ? UINT64_MAX / 2000000ull : sb->lim.wall_ms;
    sb->deadline_ns = sb->start_ns + wall * 1000000ull;
}

static int run(ap_sandbox *sb, run_ctx *c)
{
    run_begin(sb, c->out, c->in);
    if (atomic_exchange(&sb->interrupt, 0)) { /* interrupted while idle: this run is the one stopped */
        sb->usage.wall_ms = 0;
        return ap_error_set(&sb->err, AP_E_INTERRUPTED, "interrupted");
    }
    lua_State *L = lua_newstate(sb_alloc, sb);
    if (!L) {
        sb->usage.wall_ms = (double)(ap_clock_ns() - sb->start_ns) / 1e6;
        return ap_error_set(&sb->err, AP_E_LIMIT, "the Lua heap limit of %zu bytes is too small for a state",
                            sb->heap_limit);
    }
    sb->L = L;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_STEP);
    lua_pushcfunction(L, run_msgh);
    lua_pushcfunction(L, run_protected);
    lua_pushlightuserdata(L, c);
    int status = lua_pcall(L, 1, 0, 1);
    classify(L, sb, status);
    /* Close with a limit tripped: should anything try to run script code now, it stops at once. */
    sb_trip(sb, AP_E_LIMIT, "closing");
    lua_close(L);
    sb->L = NULL;
    if (sb->err.code == AP_E_INTERRUPTED)
        atomic_store(&sb->interrupt, 0);
    sb->usage.wall_ms = (double)(ap_clock_ns() - sb->start_ns) / 1e6;
    sb->usage.output_bytes = sb->out_len;
    return sb->err.code;
}

/* ---- public API --------------------------------------------------------------------------------------- */

void ap_limits_default(ap_limits *l)
{
    memset(l, 0, sizeof *l);
    l->instructions = DEF_INSTRUCTIONS;
    l->wall_ms = DEF_WALL_MS;
    l->heap_bytes = DEF_HEAP;
    l->output_bytes = DEF_OUTPUT;
    l->source_bytes = DEF_SOURCE;
}

ap_sandbox *ap_sandbox_new(const ap_limits *limits)
{
    ap_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return NULL;
    ap_limits d;
    ap_limits_default(&d);
    if (limits) {
        sb->lim = *limits;
        if (!sb->lim.instructions)
            sb->lim.instructions = d.instructions;
        if (!sb->lim.wall_ms)
            sb->lim.wall_ms = d.wall_ms;
        if (!sb->lim.heap_bytes)
            sb->lim.heap_bytes = d.heap_bytes;
        if (!sb->lim.output_bytes)
            sb->lim.output_bytes = d.output_bytes;
        if (!sb->lim.source_bytes)
            sb->lim.source_bytes = d.source_bytes;
        if (sb->lim.output_bytes > SIZE_MAX / 4)
            sb->lim.output_bytes = SIZE_MAX / 4; /* + 1 stays safe */
        if (sb->lim.source_bytes > SIZE_MAX / 4)
            sb->lim.source_bytes = SIZE_MAX / 4;
    } else {
        sb->lim = d;
    }
    atomic_init(&sb->interrupt, 0);
    sb->budget.charge_bytes = sb_charge_bytes;
    sb->budget.release_bytes = sb_release_bytes;
    sb->budget.charge_work = sb_charge_work;
    sb->budget.ud = sb;
    snprintf(sb->name, sizeof sb->name, "metric");
    snprintf(sb->group, sizeof sb->group, "row");
    return sb;
}

void ap_sandbox_free(ap_sandbox *sb)
{
    if (!sb)
        return;
    free(sb->src);
    free(sb->out);
    free(sb);
}

/* Copy the source into sb (not compiled yet); shared by metric loading and ap_sandbox_call. */
static int source_set(ap_sandbox *sb, const char *src, size_t len, const char *name)
{
    if (!sb)
        return AP_KIND_ARG;
    sb->loaded = sb->has_source = 0;
    sb->x_reads = 0;
    memset(&sb->usage, 0, sizeof sb->usage);
    if (!src)
        return ap_error_set(&sb->err, AP_E_ARG, "no source given");
    if (len == 0)
        len = strlen(src);
    snprintf(sb->name, sizeof sb->name, "%s", name ? name : "metric");
    if (len > sb->lim.source_bytes)
        return ap_error_set(&sb->err, AP_E_LIMIT, "the script is %zu bytes, over the source limit of %zu bytes", len,
                            sb->lim.source_bytes);
    char *copy = malloc(len + 1);
    if (!copy)
        return ap_error_set(&sb->err, AP_E_NOMEM, "out of memory for the source");
    memcpy(copy, src, len);
    copy[len] = '\0';
    free(sb->src);
    sb->src = copy;
    sb->src_len = len;
    sb->has_source = 1;
    ap_error_clear(&sb->err);
    return AP_OK;
}

/* Read a source file (bounded by the source limit) into sb, named by its path. */
static int source_read(ap_sandbox *sb, const char *path)
{
    sb->loaded = sb->has_source = 0;
    memset(&sb->usage, 0, sizeof sb->usage);
    if (!path)
        return ap_error_set(&sb->err, AP_E_ARG, "no path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return ap_error_set(&sb->err, AP_E_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = sb->lim.source_bytes;
    char *buf = malloc(cap + 2);
    if (!buf) {
        fclose(f);
        return ap_error_set(&sb->err, AP_E_NOMEM, "out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    int st;
    if (bad)
        st = ap_error_set(&sb->err, AP_E_IO, "cannot read %s", path);
    else if (n > cap)
        st = ap_error_set(&sb->err, AP_E_LIMIT, "%s is over the source limit of %zu bytes", path, cap);
    else {
        buf[n] = '\0'; /* len 0 below means strlen: an empty file stays empty */
        st = source_set(sb, buf, n, path);
    }
    free(buf);
    return st;
}

/* Run the chunk once to check it returns a metric. */
static int load_metric(ap_sandbox *sb)
{
    run_ctx c = {.sb = sb, .scoring = 0, .out = 0, .in = 0};
    int st = run(sb, &c);
    sb->loaded = st == AP_OK;
    return st;
}

int ap_sandbox_load_string(ap_sandbox *sb, const char *src, size_t len, const char *name)
{
    if (!sb)
        return AP_KIND_ARG;
    int st = source_set(sb, src, len, name);
    return st != AP_OK ? st : load_metric(sb);
}

int ap_sandbox_load_file(ap_sandbox *sb, const char *path)
{
    if (!sb)
        return AP_KIND_ARG;
    int st = source_read(sb, path);
    return st != AP_OK ? st : load_metric(sb);
}

int ap_sandbox_source_string(ap_sandbox *sb, const char *src, size_t len, const char *name)
{
    return sb ? source_set(sb, src, len, name) : AP_KIND_ARG;
}

int ap_sandbox_source_file(ap_sandbox *sb, const char *path) { return sb ? source_read(sb, path) : AP_KIND_ARG; }

int ap_sandbox_call(ap_sandbox *sb, const char *entry, const ap_value *args, size_t nargs, double *out, size_t n)
{
    if (!sb)
        return AP_KIND_ARG;
    memset(&sb->usage, 0, sizeof sb->usage);
    if (!sb->has_source)
        return ap_error_set(&sb->err, AP_E_ARG, "no script given to call");
    if ((nargs && !args) || nargs > 200 || (n && !out) || n > (size_t)INT_MAX)
        return ap_error_set(&sb->err, AP_E_ARG, "bad arguments to call: %zu arguments, %zu results", nargs, n);
    run_ctx c = {.sb = sb, .calling = 1, .entry = entry, .args = args, .nargs = nargs, .values = out, .n_values = n};
    return run(sb, &c);
}

int ap_sandbox_score(ap_sandbox *sb, const float *W, int64_t out, int64_t in, const ap_xstats *X,
                     const ap_layer_info *info, float *scores)
{
    if (!sb)
        return AP_KIND_ARG;
    memset(&sb->usage, 0, sizeof sb->usage);
    if (!sb->loaded)
        return ap_error_set(&sb->err, AP_E_ARG, "no metric loaded");
    if (!W || !X || !scores || out <= 0 || in <= 0 || out > AP_TENSOR_MAX_NUMEL / in)
        return ap_error_set(&sb->err, AP_E_ARG, "bad arguments to score: W [%lld, %lld]", (long long)out,
                            (long long)in);
    run_ctx c = {.sb = sb, .scoring = 1, .W = W, .out = out, .in = in, .X = X, .info = info, .scores = scores};
    return run(sb, &c);
}

const char *ap_sandbox_group(const ap_sandbox *sb) { return sb ? sb->group : "row"; }
int ap_sandbox_group_declared(const ap_sandbox *sb) { return sb ? sb->group_declared : 0; }
unsigned ap_sandbox_x_needs(const ap_sandbox *sb) { return sb ? sb->x_needs : 0; }
unsigned ap_sandbox_x_reads(const ap_sandbox *sb) { return sb ? sb->x_reads : 0; }

int ap_sandbox_error(const ap_sandbox *sb, const char **message, int *line)
{
    if (message)
        *message = sb ? sb->err.msg : "no sandbox";
    if (line)
        *line = sb ? sb->err.line : 0;
    return sb ? (int)sb->err.code : AP_KIND_ARG;
}

const char *ap_kind_name(int kind) { return ap_status_name((ap_status)kind); }

void ap_sandbox_usage(const ap_sandbox *sb, ap_usage *usage)
{
    if (sb && usage)
        *usage = sb->usage;
}

const char *ap_sandbox_output(const ap_sandbox *sb, size_t *len)
{
    if (len)
        *len = sb && sb->out ? sb->out_len : 0;
    return sb && sb->out ? sb->out : "";
}

void ap_sandbox_interrupt(ap_sandbox *sb)
{
    if (sb)
        atomic_store(&sb->interrupt, 1);
}

const char *ap_version(void) { return AP_VERSION; }

void ap_sandbox_error_get(const ap_sandbox *sb, ap_error *err)
{
    if (err)
        *err = sb->err;
}

void ap_sandbox_limits(const ap_sandbox *sb, ap_limits *limits) { *limits = sb->lim; }

const char *ap_sandbox_name(const ap_sandbox *sb) { return sb->name; }
