/* lap_llm.c — ap.llm for trusted controller scripts: chat, chat_many (parallel), configured, extract_code.
 * The API key goes from the script's table or the environment straight into the C client: no result, error table
 * or message handed back to Lua ever holds it. */
#include "lap_llm.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "ap_llm.h"
#include "lap_aux.h"

#define MAX_BATCH 1024      /* requests in one chat_many call */
#define DEFAULT_PARALLEL 16 /* requests in flight at once unless max_parallel says otherwise */
#define ERROR_MT "ap.llm.error"

/* ------------------------------------------------------------------ reading a request table */

/* Push request[name], else defaults[name] (defs 0: none); return its type. */
static int opt_field(lua_State *L, int req, int defs, const char *name)
{
    int t = lua_getfield(L, req, name);
    if (t == LUA_TNIL && defs) {
        lua_pop(L, 1);
        t = lua_getfield(L, defs, name);
    }
    return t;
}

/* A string field of the request, else of the defaults, copied into field (the C client's fixed buffer). */
static void opt_string(lua_State *L, int req, int defs, const char *name, char *field, size_t size)
{
    const char *v = defs ? lapL_optstring(L, defs, name, NULL) : NULL;
    v = lapL_optstring(L, req, name, v);
    ap_error e;
    if (v && ap_llm_config_set(field, size, name, v, &e) != AP_OK) /* never echo the value: it may be the key */
        luaL_argerror(L, req, lua_pushfstring(L, "%s is too long", name));
}

/* A number field in [lo, hi] of the request, else of the defaults, else dflt. */
static double opt_number(lua_State *L, int req, int defs, const char *name, double dflt, double lo, double hi)
{
    if (defs)
        dflt = lapL_optnumber_in(L, defs, name, dflt, lo, hi);
    return lapL_optnumber_in(L, req, name, dflt, lo, hi);
}

static void read_config(lua_State *L, int req, int defs, ap_llm_config *c)
{
    ap_llm_config_defaults(c);
    opt_string(L, req, defs, "base_url", c->base_url, sizeof c->base_url);
    opt_string(L, req, defs, "model", c->model, sizeof c->model);
    opt_string(L, req, defs, "api_key", c->api_key, sizeof c->api_key);
    ap_llm_config_from_env(c);
    c->timeout_s = opt_number(L, req, defs, "timeout", c->timeout_s, 0.001, 86400);
    c->connect_timeout_s =
        opt_number(L, req, defs, "connect_timeout", fmin(c->connect_timeout_s, c->timeout_s), 0.001, 86400);
    c->retries = (int)opt_number(L, req, defs, "retries", c->retries, 0, 100);
    c->backoff_base_s = opt_number(L, req, defs, "backoff", c->backoff_base_s, 0, 3600);
    c->backoff_max_s = opt_number(L, req, defs, "backoff_max", c->backoff_max_s, 0, 86400);
    c->max_reply_bytes =
        (size_t)opt_number(L, req, defs, "max_reply_bytes", (double)c->max_reply_bytes, 1024, 1073741824.0);
}

/* Messages of one request: messages = {{role=, content=}, ...}, or the shorthand prompt = "..." [, system = "..."]. */
static size_t count_messages(lua_State *L, int req)
{
    size_t n = 0;
    if (lua_getfield(L, req, "messages") == LUA_TTABLE) {
        n = (size_t)luaL_len(L, -1);
    } else if (!lua_isnil(L, -1)) {
        luaL_argerror(L, req, "messages: a list of {role=, content=} tables expected");
    } else {
        n = (lua_getfield(L, req, "prompt") == LUA_TSTRING) + (lua_getfield(L, req, "system") == LUA_TSTRING);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (n == 0)
        luaL_argerror(L, req, "a request needs messages = {{role=, content=}, ...} or prompt = \"...\"");
    if (n > 100000)
        luaL_argerror(L, req, "too many messages in one request");
    return n;
}

/* The strings stay referenced by the request table, which stays on the stack for the whole call. */
static void read_messages(lua_State *L, int req, ap_llm_message *out, size_t n)
{
    if (lua_getfield(L, req, "messages") == LUA_TTABLE) {
        for (size_t i = 0; i < n; i++) {
            if (lua_geti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE)
                luaL_argerror(L, req,
                              lua_pushfstring(L, "messages[%d]: a table {role=, content=} expected", (int)i + 1));
            if (lua_getfield(L, -1, "role") != LUA_TSTRING || lua_getfield(L, -2, "content") != LUA_TSTRING)
                luaL_argerror(L, req, lua_pushfstring(L, "messages[%d] needs string role and content", (int)i + 1));
            out[i].role = lua_tostring(L, -2);
            out[i].content = lua_tostring(L, -1);
            lua_pop(L, 3);
        }
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    size_t k = 0;
    if (lua_getfield(L, req, "system") == LUA_TSTRING)
        out[k++] = (ap_llm_message){"system", lua_tostring(L, -1)};
    if (lua_getfield(L, req, "prompt") == LUA_TSTRING)
        out[k++] = (ap_llm_message){"user", lua_tostring(L, -1)};
    lua_pop(L, 2);
}

static void read_sampling(lua_State *L, int req, int defs, ap_llm_request *q)
{
    q->has_temperature = opt_field(L, req, defs, "temperature") != LUA_TNIL;
    lua_pop(L, 1);
    q->temperature = opt_number(L, req, defs, "temperature", 0, 0, 10);
    q->max_tokens = (int)opt_number(L, req, defs, "max_tokens", 0, 1, 10000000);
    q->has_seed = opt_field(L, req, defs, "seed") != LUA_TNIL;
    lua_pop(L, 1);
    if (defs)
        q->seed = (int64_t)lapL_optinteger(L, defs, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER);
    q->seed = (int64_t)lapL_optinteger(L, req, "seed", q->seed, LUA_MININTEGER, LUA_MAXINTEGER);
}

/* ------------------------------------------------------------------ building results */

static void set_int(lua_State *L, const char *name, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

static void push_usage(lua_State *L, const ap_llm_result *r)
{
    lua_createtable(L, 0, 3);
    if (r->prompt_tokens >= 0)
        set_int(L, "prompt_tokens", r->prompt_tokens);
    if (r->completion_tokens >= 0)
        set_int(L, "completion_tokens", r->completion_tokens);
    if (r->total_tokens >= 0)
        set_int(L, "total_tokens", r->total_tokens);
    lua_setfield(L, -2, "usage");
}

static void set_common(lua_State *L, const ap_llm_result *r)
{
    set_int(L, "attempts", r->attempts);
    lua_pushnumber(L, r->seconds);
    lua_setfield(L, -2, "seconds");
    set_int(L, "http_status", r->http_status);
    if (r->finish_reason[0]) {
        lua_pushstring(L, r->finish_reason);
        lua_setfield(L, -2, "finish_reason");
    }
    push_usage(L, r);
    if (r->content) { /* on success, and on "truncated" so the caller may still look */
        lua_pushlstring(L, r->content, r->content_len);
        lua_setfield(L, -2, "content");
    }
}

static int error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "kind");
    lua_rawget(L, 1); /* raw: no metamethod of the script's runs here */
    lua_pushliteral(L, "message");
    lua_rawget(L, 1);
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        lua_pushliteral(L, "llm error");
    else
        lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
    return 1;
}

/* {kind=, class=, message=, attempts=, seconds=, http_status=, usage=, [content=]} printing as "kind: message". */
static void push_error(lua_State *L, const ap_llm_result *r)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, r->kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, ap_status_name(r->status));
    lua_setfield(L, -2, "class");
    lua_pushstring(L, r->message);
    lua_setfield(L, -2, "message");
    set_common(L, r);
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
}

static void push_success(lua_State *L, const ap_llm_result *r)
{
    lua_createtable(L, 0, 8);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "ok");
    set_common(L, r);
}

/* ------------------------------------------------------------------ functions */

/* Scratch memory as a userdata, so a Lua error while reading arguments leaks nothing. */
typedef struct one_call {
    ap_llm_config config;
    ap_llm_request request;
    ap_llm_result result;
    ap_llm_message messages[];
} one_call;

static int llm_chat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = count_messages(L, 1);
    one_call *c = lua_newuserdatauv(L, sizeof *c + n * sizeof c->messages[0], 0);
    memset(c, 0, sizeof *c);
    read_config(L, 1, 0, &c->config);
    read_messages(L, 1, c->messages, n);
    c->request = (ap_llm_request){.config = &c->config, .messages = c->messages, .n_messages = n};
    read_sampling(L, 1, 0, &c->request);
    ap_llm_chat(&c->request, &c->result);
    explicit_bzero(c->config.api_key, sizeof c->config.api_key);
    if (c->result.status == AP_OK) {
        push_success(L, &c->result);
        ap_llm_result_free(&c->result);
        return 1;
    }
    lua_pushnil(L);
    push_error(L, &c->result);
    ap_llm_result_free(&c->result);
    return 2;
}

typedef struct many_call {
    size_t n;
    ap_llm_config *configs;
    ap_llm_request *requests;
    ap_llm_result *results;
    ap_llm_message *messages;
} many_call;

static int llm_chat_many(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int defs = lua_isnoneornil(L, 2) ? 0 : 2;
    if (defs)
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer len = luaL_len(L, 1);
    if (len < 0 || len > MAX_BATCH)
        luaL_argerror(L, 1, lua_pushfstring(L, "between 0 and %d requests", MAX_BATCH));
    size_t n = (size_t)len, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, 1, (lua_Integer)i + 1) != LUA_TTABLE)
            luaL_argerror(L, 1, lua_pushfstring(L, "request %d is not a table", (int)i + 1));
        total += count_messages(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    int parallel = (int)opt_number(L, defs ? defs : 1, 0, "max_parallel", DEFAULT_PARALLEL, 1, MAX_BATCH);
    size_t bytes =
        n * (sizeof(ap_llm_config) + sizeof(ap_llm_request) + sizeof(ap_llm_result)) + total * sizeof(ap_llm_message);
    char *mem = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
    memset(mem, 0, bytes ? bytes : 1);
    many_call m = {n, (ap_llm_config *)(void *)mem, NULL, NULL, NULL};
    m.requests = (ap_llm_request *)(void *)(m.configs + n);
    m.results = (ap_llm_result *)(void *)(m.requests + n);
    m.messages = (ap_llm_message *)(void *)(m.results + n);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, 1, (lua_Integer)i + 1); /* still referenced by argument 1 after the pop */
        int req = lua_gettop(L);
        size_t k = count_messages(L, req);
        read_config(L, req, defs, &m.configs[i]);
        read_messages(L, req, m.messages + at, k);
        m.requests[i] = (ap_llm_request){.config = &m.configs[i], .messages = m.messages + at, .n_messages = k};
        read_sampling(L, req, defs, &m.requests[i]);
        at += k;
        lua_pop(L, 1);
    }
    ap_error err;
    ap_llm_chat_many(m.requests, m.results, n, parallel, NULL, &err);
    for (size_t i = 0; i < n; i++)
        explicit_bzero(m.configs[i].api_key, sizeof m.configs[i].api_key);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const ap_llm_result *r = &m.results[i];
        if (r->status == AP_OK) {
            push_success(L, r);
        } else {
            lua_createtable(L, 0, 4);
            lua_pushboolean(L, 0);
            lua_setfield(L, -2, "ok");
            push_error(L, r);
            lua_setfield(L, -2, "error");
            set_int(L, "attempts", r->attempts);
            lua_pushnumber(L, r->seconds);
            lua_setfield(L, -2, "seconds");
        }
        lua_seti(L, -2, (lua_Integer)i + 1);
        ap_llm_result_free(&m.results[i]);
    }
    return 1;
}

/* ap.llm.configured([cfg]) -> bool, base URL (without credentials), model. Never the key. */
static int llm_configured(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    ap_llm_config *c = lua_newuserdatauv(L, sizeof *c, 0);
    read_config(L, 1, 0, c);
    explicit_bzero(c->api_key, sizeof c->api_key);
    char shown[AP_LLM_URL_MAX];
    ap_llm_redact_url(c->base_url, shown, sizeof shown);
    lua_pushboolean(L, ap_llm_configured(c));
    lua_pushstring(L, shown);
    lua_pushstring(L, c->model);
    return 3;
}

/* ap.llm.extract_code(text) -> {chunk, ...}: ```lua blocks, then untagged ones, or the bare text. */
static int llm_extract_code(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    ap_llm_chunks chunks;
    ap_error err;
    if (ap_llm_extract_code(text, len, &chunks, &err) != AP_OK)
        ap_lua_raise(L, &err); /* out of memory */
    lua_createtable(L, (int)chunks.n, 0);
    for (size_t i = 0; i < chunks.n; i++) {
        lua_pushlstring(L, chunks.items[i].text, chunks.items[i].len);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    ap_llm_chunks_free(&chunks);
    return 1;
}

int lap_llm_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"chat", llm_chat},
        {"chat_many", llm_chat_many},
        {"configured", llm_configured},
        {"extract_code", llm_extract_code},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
