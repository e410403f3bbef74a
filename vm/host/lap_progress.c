/* lap_progress.c — ap.progress(label, unit [, opts]) -> a bar object with :update(done, total) and :done(). */
#include "lap_progress.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "ap_progress.h"

#define BAR_MT "ap.progress"

typedef struct lbar {
    ap_progress p;
    char unit[32]; /* ap_progress borrows its unit strings: they live here */
    char rate_unit[32];
} lbar;

static lbar *check_bar(lua_State *L) { return luaL_checkudata(L, 1, BAR_MT); }

static int bar_update(lua_State *L)
{
    lbar *b = check_bar(L);
    lua_Integer done = luaL_checkinteger(L, 2), total = luaL_checkinteger(L, 3);
    luaL_argcheck(L, done >= 0 && total >= 0, 2, "counts must be >= 0");
    ap_progress_update(&b->p, (int64_t)done, (int64_t)total);
    return 0;
}

static int bar_done(lua_State *L)
{
    ap_progress_done(&check_bar(L)->p);
    return 0;
}

static int progress_new(lua_State *L)
{
    const char *label = luaL_checkstring(L, 1);
    const char *unit = luaL_optstring(L, 2, "");
    int quiet = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "quiet");
        quiet = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lbar *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BAR_MT);
    snprintf(b->unit, sizeof b->unit, "%s", unit);
    ap_progress_start(&b->p, ap_progress_wanted(quiet), label, b->unit);
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "rate_unit");
        if (lua_isstring(L, -1)) {
            snprintf(b->rate_unit, sizeof b->rate_unit, "%s", lua_tostring(L, -1));
            b->p.rate_unit = b->rate_unit;
        }
        lua_getfield(L, 3, "rate_scale");
        b->p.rate_scale = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
        lua_pop(L, 2);
    }
    return 1;
}

int lap_progress_open(lua_State *L)
{
    static const luaL_Reg methods[] = {{"update", bar_update}, {"done", bar_done}, {NULL, NULL}};
    if (luaL_newmetatable(L, BAR_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, bar_done); /* a forgotten bar does not leave its line behind */
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, progress_new);
    return 1;
}
