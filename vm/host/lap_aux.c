/* lap_aux.c — the lauxlib of the ap module: errors, optional fields, limits and usage (rules in lap_aux.h). */
#include "lap_aux.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ap_limits.h"

#define ERROR_MT "ap.error"

/* ---- errors ------------------------------------------------------------------------------------------- */

static int error_tostring(lua_State *L)
{
    char buf[AP_ERROR_MSG_MAX + 64];
    lua_pushstring(L, ap_lua_describe_error(L, 1, buf, sizeof buf));
    return 1;
}

int ap_lua_raise(lua_State *L, const ap_error *err)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, ap_status_name(err->code));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, err->msg);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, err->line);
    lua_setfield(L, -2, "line");
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return lua_error(L);
}

int lapL_raise(lua_State *L, ap_status code, const char *fmt, ...)
{
    ap_error e;
    va_list ap;
    va_start(ap, fmt);
    ap_error_vset(&e, code, fmt, ap);
    va_end(ap);
    return ap_lua_raise(L, &e);
}

const char *ap_lua_describe_error(lua_State *L, int idx, char *buf, size_t n)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        snprintf(buf, n, "%s", lua_tostring(L, idx));
        return buf;
    }
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "kind");
        lua_rawget(L, idx);
        lua_pushliteral(L, "message");
        lua_rawget(L, idx);
        lua_pushliteral(L, "line");
        lua_rawget(L, idx);
        if (lua_type(L, -3) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING) {
            lua_Integer line = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
            if (line > 0)
                snprintf(buf, n, "%s: %s (line %lld)", lua_tostring(L, -3), lua_tostring(L, -2), (long long)line);
            else
                snprintf(buf, n, "%s: %s", lua_tostring(L, -3), lua_tostring(L, -2));
            lua_pop(L, 3);
            return buf;
        }
        lua_pop(L, 3);
    }
    snprintf(buf, n, "(error object is a %s value)", lua_typename(L, t));
    return buf;
}

/* ---- optional fields ---------------------------------------------------------------------------------- */

/* Push t[key] (key may be dotted: "calib.seed" is t.calib.seed) and return its type; nil when t or a table on
 * the way is absent. A non-table on the way is a bad argument. */
static int push_field(lua_State *L, int t, const char *key)
{
    t = lua_absindex(L, t);
    if (lua_type(L, t) != LUA_TTABLE) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    lua_pushvalue(L, t);
    const char *part = key;
    for (const char *dot; (dot = strchr(part, '.')) != NULL; part = dot + 1) {
        lua_pushlstring(L, part, (size_t)(dot - part));
        int ty = lua_gettable(L, -2);
        lua_remove(L, -2);
        if (ty == LUA_TNIL)
            return LUA_TNIL;
        if (ty != LUA_TTABLE) {
            lua_pushfstring(L, "%s: table expected, got %s", key, luaL_typename(L, -1));
            luaL_argerror(L, t, lua_tostring(L, -1));
        }
    }
    int ty = lua_getfield(L, -1, part);
    lua_remove(L, -2);
    return ty;
}

static int type_error(lua_State *L, int t, const char *key, const char *expected)
{
    const char *msg = lua_pushfstring(L, "%s: %s expected, got %s", key, expected, luaL_typename(L, -1));
    return luaL_argerror(L, t, msg);
}

lua_Number lapL_optnumber(lua_State *L, int t, const char *key, lua_Number def)
{
    lua_Number v = def;
    if (push_field(L, t, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            type_error(L, t, key, "number");
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

lua_Number lapL_optnumber_in(lua_State *L, int t, const char *key, lua_Number def, lua_Number lo, lua_Number hi)
{
    lua_Number v = def;
    if (push_field(L, t, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            type_error(L, t, key, "number");
        v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi))
            luaL_argerror(L, t, lua_pushfstring(L, "%s: %f is outside [%f, %f]", key, v, lo, hi));
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer lapL_optinteger(lua_State *L, int t, const char *key, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = def;
    if (push_field(L, t, key) != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER)
            type_error(L, t, key, "integer");
        if (v < lo || v > hi)
            luaL_argerror(L, t, lua_pushfstring(L, "%s: %I is outside [%I, %I]", key, v, lo, hi));
    }
    lua_pop(L, 1);
    return v;
}

const char *lapL_optstring(lua_State *L, int t, const char *key, const char *def)
{
    const char *v = def;
    if (push_field(L, t, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            type_error(L, t, key, "string");
        v = lua_tostring(L, -1); /* stays valid: the option table keeps the string alive */
    }
    lua_pop(L, 1);
    return v;
}

int lapL_optboolean(lua_State *L, int t, const char *key, int def)
{
    int v = def;
    if (push_field(L, t, key) != LUA_TNIL)
        v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* ---- limits and usage --------------------------------------------------------------------------------- */

void lapL_checklimits(lua_State *L, int t, const char *key, ap_limits *l)
{
    ap_limits_default(l);
    t = lua_absindex(L, t);
    if (key)
        push_field(L, t, key);
    else
        lua_pushvalue(L, t);
    if (lua_isnil(L, -1) || lua_isnone(L, t)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        type_error(L, t, key ? key : "limits", "table");
    int lim = lua_gettop(L);
    for (lua_pushnil(L); lua_next(L, lim); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, t, "limits: keys must be limit names");
        const char *name = lua_tostring(L, -2);
        if (lua_type(L, -1) != LUA_TNUMBER)
            type_error(L, t, name, "number");
        ap_error e;
        if (ap_limits_set(l, name, lua_tonumber(L, -1), &e) != AP_OK)
            luaL_argerror(L, t, lua_pushstring(L, e.msg));
    }
    lua_pop(L, 1);
}

void lapL_pushusage(lua_State *L, const ap_usage *u)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)u->instructions);
    lua_setfield(L, -2, "instructions");
    lua_pushinteger(L, (lua_Integer)u->peak_heap_bytes);
    lua_setfield(L, -2, "peak_heap_bytes");
    lua_pushinteger(L, (lua_Integer)u->peak_tensor_bytes);
    lua_setfield(L, -2, "peak_tensor_bytes");
    lua_pushinteger(L, (lua_Integer)u->work);
    lua_setfield(L, -2, "work");
    lua_pushnumber(L, u->wall_ms);
    lua_setfield(L, -2, "wall_ms");
    lua_pushinteger(L, (lua_Integer)u->output_bytes);
    lua_setfield(L, -2, "output_bytes");
}
