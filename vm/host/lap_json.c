/* lap_json.c — ap.json.encode / ap.json.decode: Lua values <-> JSON text, via Debian's cJSON.
 * A table whose keys are exactly 1..n (n > 0) becomes an array; any other table an object (keys as strings);
 * NaN and infinities become null. Decoding maps null to nil (an array element that is null leaves a hole). */
#include "lap_json.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAP_JSON_MAX_DEPTH 200

static cJSON *to_json(lua_State *L, int idx, int depth);

/* 1..n with no other keys? Returns n, or 0 for an object (or an empty table). */
static lua_Integer array_length(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n ? n : 0;
}

static cJSON *table_to_json(lua_State *L, int idx, int depth)
{
    lua_Integer n = array_length(L, idx);
    cJSON *out = n > 0 ? cJSON_CreateArray() : cJSON_CreateObject();
    if (n > 0) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            cJSON_AddItemToArray(out, to_json(L, lua_gettop(L), depth + 1));
            lua_pop(L, 1);
        }
        return out;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int t = lua_type(L, -2);
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            lua_pushvalue(L, -2); /* copy the key: tolstring must not change the one lua_next uses */
            const char *key = lua_tostring(L, -1);
            cJSON_AddItemToObject(out, key, to_json(L, lua_gettop(L) - 1, depth + 1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return out;
}

static cJSON *to_json(lua_State *L, int idx, int depth)
{
    if (depth > LAP_JSON_MAX_DEPTH)
        luaL_error(L, "ap.json.encode: nesting deeper than %d (a cycle?)", LAP_JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "ap.json.encode");
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return cJSON_CreateNull();
    case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        double v = lua_tonumber(L, idx);
        if (!isfinite(v))
            return cJSON_CreateNull();
        if (lua_isinteger(L, idx))
            return cJSON_CreateNumber(v);
        /* cJSON prints 15 digits whenever they come within an epsilon of the value; the shortest form that reads
         * back exactly instead, so a result crossing ap.isolate's pipe or archive.json keeps every bit */
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        return cJSON_CreateRaw(buf);
    }
    case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TTABLE: return table_to_json(L, idx, depth);
    default: return cJSON_CreateString(luaL_typename(L, idx));
    }
}

static char *encode_value(lua_State *L, int idx, int pretty)
{
    cJSON *root = to_json(L, lua_absindex(L, idx), 0);
    char *text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        luaL_error(L, "ap.json.encode: out of memory");
    return text;
}

char *lap_json_encode(lua_State *L, int idx) { return encode_value(L, idx, 0); }

/* ap.json.encode(value [, pretty]) -> string */
static int json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int pretty = lua_toboolean(L, 2);
    lua_settop(L, 1);
    char *text = encode_value(L, 1, pretty);
    lua_pushstring(L, text);
    cJSON_free(text);
    return 1;
}

static void push_json(lua_State *L, const cJSON *item, int depth)
{
    luaL_checkstack(L, 4, "ap.json.decode");
    if (cJSON_IsBool(item)) {
        lua_pushboolean(L, cJSON_IsTrue(item));
    } else if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)v);
        else
            lua_pushnumber(L, v);
    } else if (cJSON_IsString(item)) {
        lua_pushstring(L, item->valuestring);
    } else if (cJSON_IsArray(item)) {
        lua_newtable(L);
        lua_Integer i = 0;
        for (const cJSON *c = item->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_rawseti(L, -2, ++i);
        }
    } else if (cJSON_IsObject(item)) {
        lua_newtable(L);
        for (const cJSON *c = item->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_setfield(L, -2, c->string);
        }
    } else {
        lua_pushnil(L);
    }
}

int lap_json_push(lua_State *L, const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return 0;
    push_json(L, root, 0);
    cJSON_Delete(root);
    return 1;
}

/* ap.json.decode(text) -> value | nil, message */
static int json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    if (!lap_json_push(L, text, len)) {
        const char *at = cJSON_GetErrorPtr();
        long offset = (at && at >= text && at <= text + len) ? (long)(at - text) : -1;
        lua_pushnil(L);
        lua_pushfstring(L, "invalid JSON near byte %d", (int)offset);
        return 2;
    }
    return 1;
}

int lap_json_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"encode", json_encode},
        {"decode", json_decode},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
