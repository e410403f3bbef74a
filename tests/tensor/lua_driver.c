/* lua_driver.c — runs a Lua script with the tensor binding for tests/tensor/test_tensor_oracle.py (compiled by
 * that test): tensors travel as small binary files, errors report the binding's kind.
 * Usage: lua_driver SCRIPT DIR. Lua globals: T, DIR, load(name) -> tensor, save(name, tensor|number),
 * kind(err) -> kind name of an error value, set_budget(max_bytes, max_work) (0 = no limit, but counted; both nil =
 * no budget; resets the peak), usage() -> bytes in use, peak bytes, work units. File format: "APT1", int64 rows, int64 cols, int64 elemsize (4|8), data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lap_tensor.h"

typedef struct drv_budget {
    ap_budget b;
    size_t in_use, peak, max_bytes;
    uint64_t work, max_work;
} drv_budget;

static ap_status charge_bytes(void *ud, size_t bytes, ap_error *err)
{
    drv_budget *d = ud;
    if (d->max_bytes && d->in_use + bytes > d->max_bytes)
        return ap_error_set(err, AP_E_LIMIT, "tensor memory limit of %zu bytes exceeded", d->max_bytes);
    d->in_use += bytes;
    if (d->in_use > d->peak)
        d->peak = d->in_use;
    return AP_OK;
}

static void release_bytes(void *ud, size_t bytes)
{
    drv_budget *d = ud;
    d->in_use -= bytes;
}

static ap_status charge_work(void *ud, uint64_t units, ap_error *err)
{
    drv_budget *d = ud;
    if (d->max_work && (units > d->max_work || d->work > d->max_work - units))
        return ap_error_set(err, AP_E_LIMIT, "work limit exceeded");
    d->work += units;
    return AP_OK;
}

static drv_budget *budget_of(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static const char *path_of(lua_State *L, const char *name)
{
    lua_getglobal(L, "DIR");
    const char *dir = luaL_checkstring(L, -1);
    return lua_pushfstring(L, "%s/%s.bin", dir, name);
}

static int l_load(lua_State *L)
{
    const char *path = path_of(L, luaL_checkstring(L, 1));
    FILE *f = fopen(path, "rb");
    if (!f)
        return luaL_error(L, "cannot open %s", path);
    char magic[4];
    int64_t hdr[3];
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "APT1", 4) != 0 || fread(hdr, sizeof hdr, 1, f) != 1 ||
        hdr[2] != 4) {
        fclose(f);
        return luaL_error(L, "bad tensor file %s", path);
    }
    size_t n = (size_t)(hdr[0] * hdr[1]);
    float *buf = malloc(n ? n * sizeof(float) : 1);
    size_t got = buf ? fread(buf, sizeof(float), n, f) : 0;
    fclose(f);
    if (got != n) {
        free(buf);
        return luaL_error(L, "short tensor file %s", path);
    }
    ap_error err = {0};
    ap_tensor *t = ap_tensor_from_data(hdr[0], hdr[1], buf, NULL, &err);
    free(buf);
    if (!t)
        return luaL_error(L, "%s", err.msg);
    lap_tensor_push(L, t);
    return 1;
}

static int l_save(lua_State *L)
{
    const char *path = path_of(L, luaL_checkstring(L, 1));
    ap_tensor *t = lap_tensor_test(L, 2);
    double num = 0;
    if (!t)
        num = luaL_checknumber(L, 2);
    FILE *f = fopen(path, "wb");
    if (!f)
        return luaL_error(L, "cannot write %s", path);
    int64_t hdr[3] = {t ? t->rows : 1, t ? t->cols : 1, t ? 4 : 8};
    int ok = fwrite("APT1", 1, 4, f) == 4 && fwrite(hdr, sizeof hdr, 1, f) == 1;
    if (t)
        ok =
            ok && fwrite(ap_tensor_data(t), sizeof(float), (size_t)ap_tensor_numel(t), f) == (size_t)ap_tensor_numel(t);
    else
        ok = ok && fwrite(&num, sizeof num, 1, f) == 1;
    if (fclose(f) != 0 || !ok)
        return luaL_error(L, "cannot write %s", path);
    return 0;
}

static int l_kind(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushstring(L, ap_status_name(lap_tensor_error_kind(L, 1)));
    return 1;
}

static int l_set_budget(lua_State *L)
{
    drv_budget *d = budget_of(L);
    if (lua_isnoneornil(L, 1) && lua_isnoneornil(L, 2)) {
        lap_tensor_set_budget(L, NULL);
        return 0;
    }
    d->max_bytes = (size_t)luaL_optinteger(L, 1, 0);
    d->max_work = (uint64_t)luaL_optinteger(L, 2, 0);
    d->work = 0;
    d->peak = d->in_use;
    lap_tensor_set_budget(L, &d->b);
    return 0;
}

static int l_usage(lua_State *L)
{
    drv_budget *d = budget_of(L);
    lua_pushinteger(L, (lua_Integer)d->in_use);
    lua_pushinteger(L, (lua_Integer)d->peak);
    lua_pushinteger(L, (lua_Integer)d->work);
    return 3;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lua_driver SCRIPT DIR\n");
        return 2;
    }
    /* The budget lives outside the state: tensors release into it while the state closes. */
    static drv_budget d;
    d.b.charge_bytes = charge_bytes;
    d.b.release_bytes = release_bytes;
    d.b.charge_work = charge_work;
    d.b.ud = &d;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "T", lap_tensor_open, 1);
    lua_pop(L, 1);
    lua_pushstring(L, argv[2]);
    lua_setglobal(L, "DIR");
    static const luaL_Reg fns[] = {
        {"load", l_load},   {"save", l_save}, {"kind", l_kind}, {"set_budget", l_set_budget},
        {"usage", l_usage}, {NULL, NULL},
    };
    lua_pushglobaltable(L);
    lua_pushlightuserdata(L, &d);
    luaL_setfuncs(L, fns, 1);
    lua_pop(L, 1);
    int rc = 0;
    if (luaL_dofile(L, argv[1]) != LUA_OK) {
        fprintf(stderr, "lua_driver: %s\n", lua_tostring(L, -1));
        rc = 1;
    }
    lua_close(L);
    if (d.in_use != 0) {
        fprintf(stderr, "lua_driver: %zu tensor bytes still charged after lua_close\n", d.in_use);
        rc = 1;
    }
    return rc;
}
