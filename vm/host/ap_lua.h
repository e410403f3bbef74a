/* ap_lua.h — the trusted Lua environment of controller scripts (`autoprune run`, the repl): the full standard
 * library, the tensor table T, and the `ap` module (a global, and `require "ap"`).
 *
 * ap has: ap.version, ap.datadir(), ap.load_tensors(path), ap.save_tensors(path, {name = tensor, ...} [, dtype]),
 * ap.metric(spec [, limits]) -> metric object (:score(W, X, info), :group(), :usage(), :output(), :name()),
 * plus the submodules and registrars listed in ap_lua.c.
 *
 * Adding to ap (other modules): write `int lap_<name>_open(lua_State *L)` that pushes one value (a table of
 * functions, or a function) and add ONE line {"<name>", lap_<name>_open} to ap_submodules[] in ap_lua.c:
 * scripts then see ap.<name>. A module that adds several functions directly to ap writes
 * `void lap_<name>_register(lua_State *L)` (luaL_setfuncs into the table at the top) and adds one line to
 * ap_registrars[]. Errors follow the rule in lap_aux.h: bad arguments through luaL_argerror (strings),
 * failed operations through ap_lua_raise (tables {kind = "io", message = "...", line = N}).
 */
#ifndef AP_LUA_H
#define AP_LUA_H

#include <lua.h>
#include <stddef.h>

#include "ap_error.h"
#include "lap_aux.h" /* ap_lua_raise, ap_lua_describe_error: the error rule */

/* A new state with the trusted environment; package.path starts with <datadir>/lua/?.lua and
 * <datadir>/lua/?/init.lua. Returns NULL with err filled on failure. Close with lua_close. */
lua_State *ap_lua_new(ap_error *err);

/* Push the ap module table (luaL_requiref-style opener: returns 1). */
int ap_lua_open_ap(lua_State *L);

/* A message handler for lua_pcall in the trusted state (run, repl): the error in one line (a string, an object's
 * __tostring, or an ap error table described), then a traceback. */
int ap_lua_traceback(lua_State *L);

#endif
