/* lap_aux.h — the lauxlib of the ap module: how every binding in vm/host/ raises errors, reads optional fields
 * of an option table, reads sandbox limits and pushes sandbox usage.
 *
 * The error rule, for every ap function:
 *   - a bad ARGUMENT (wrong type, out of range, unknown option value) raises a string through luaL_argerror, as
 *     Lua's own functions do: "bad argument #2 to 'prune' (sparsity: number expected, got string)";
 *   - a failed OPERATION (a file that cannot be read, a metric that does not load, out of memory during the work)
 *     raises a table through ap_lua_raise: {kind = "io", message = "...", line = N} printing as "io: ...".
 * A controller then catches operation failures by kind and treats a string as its own programming error.
 *
 * The optional-field readers take the option table's stack index t (an argument position, so errors name the
 * argument) and a key, which may be a dotted path into nested tables ("calib.nsamples" reads t.calib.nsamples).
 * An absent field, or an absent table (t is none or nil), gives def. */
#ifndef LAP_AUX_H
#define LAP_AUX_H

#include <lua.h>
#include <stddef.h>

#include "ap_error.h"
#include "autoprune.h"

/* Raise err as a Lua error: a table {kind = ap_status_name(code), message = msg, line = line (0 = none)} whose
 * metatable gives __tostring "kind: message" (with " (line N)" when there is a line). Does not return. */
int ap_lua_raise(lua_State *L, const ap_error *err);
/* ap_lua_raise of a new error with this code and message. */
int lapL_raise(lua_State *L, ap_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A one-line description of the error value at idx into buf (the caller's): a string as is, an ap error table as
 * "kind: message (line N)", anything else by its type. Calls no metamethod. Returns buf. */
const char *ap_lua_describe_error(lua_State *L, int idx, char *buf, size_t n);

/* Optional fields (see above). Wrong types and out-of-range values raise through luaL_argerror. */
lua_Number lapL_optnumber(lua_State *L, int t, const char *key, lua_Number def);
/* A number in [lo, hi] (def is not checked: it may say "absent"). */
lua_Number lapL_optnumber_in(lua_State *L, int t, const char *key, lua_Number def, lua_Number lo, lua_Number hi);
/* An integer (a float with an exact integer value is accepted) in [lo, hi]; def is not checked. */
lua_Integer lapL_optinteger(lua_State *L, int t, const char *key, lua_Integer def, lua_Integer lo, lua_Integer hi);
/* A string (numbers are not converted). It stays valid while the option table is alive. */
const char *lapL_optstring(lua_State *L, int t, const char *key, const char *def);
/* Any value: false and nil are false (nil gives def), everything else true, as Lua's own tests. */
int lapL_optboolean(lua_State *L, int t, const char *key, int def);

/* Limits from the table t[key] (key NULL: the table at t itself; absent: the defaults) with the keys of
 * ap_limits_set (vm/ap_limits.h). An unknown key, a non-number or a value ap_limits_set refuses (negative, NaN,
 * fractional, above 2^53) raises through luaL_argerror. */
void lapL_checklimits(lua_State *L, int t, const char *key, ap_limits *l);

/* Push {instructions=, peak_heap_bytes=, peak_tensor_bytes=, work=, wall_ms=, output_bytes=}. */
void lapL_pushusage(lua_State *L, const ap_usage *u);

#endif
