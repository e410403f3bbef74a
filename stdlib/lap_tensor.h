/* lap_tensor.h — the Lua binding of the tensor stdlib: the `T` table, tensor methods and operators, budgets and
 * error kinds per lua_State. The only part of stdlib/ that knows Lua. */
#ifndef LAP_TENSOR_H
#define LAP_TENSOR_H

#include <lua.h>

#include "ap_tensor.h"

/* Create (or find) the locked tensor metatable and this state's binding context, and push a new `T` table holding
 * every function (T.abs(W) ...). Methods (W:abs()) and operators (+ - * / ^ unary -) work on every tensor.
 * The metatable's __metatable field is set, so getmetatable/setmetatable cannot reach it; __gc is idempotent.
 * Returns 1 (values pushed), so it can serve as a luaL_requiref opener. Raises a Lua error on memory failure. */
int lap_tensor_open(lua_State *L);

/* Store the budget that tensor operations of this state charge (borrowed: it must outlive the state and every
 * tensor created in it). NULL, or never set, = unlimited (trusted scripts). When the budget refuses bytes
 * (AP_E_LIMIT), a full GC runs and the charge is retried once before the operation fails. */
void lap_tensor_set_budget(lua_State *L, const ap_budget *b);

/* The tensor at idx (borrowed; valid while the value is alive in the state), or a Lua error (kind AP_E_TYPE)
 * if it is not a live tensor. */
ap_tensor *lap_tensor_check(lua_State *L, int idx);
/* The same, or NULL when the value is not a tensor or was freed. */
ap_tensor *lap_tensor_test(lua_State *L, int idx);
/* Push t as a Lua tensor; takes ownership of t (it is freed even if pushing raises a memory error). */
void lap_tensor_push(lua_State *L, ap_tensor *t);

/* The kind of the error value at idx if it is the error the binding raised last in this state: AP_E_SHAPE
 * (shapes do not broadcast, bad dim/size/index), AP_E_TYPE (wrong argument type, freed tensor), AP_E_LIMIT
 * (budget refused bytes or work, or out of memory), AP_E_INTERRUPTED (the budget said so), AP_E_RUNTIME (bad
 * argument values such as q outside [0, 1]). Any other value: AP_E_RUNTIME. */
ap_status lap_tensor_error_kind(lua_State *L, int idx);

#endif
