/* lap_isolate.h — ap.isolate: run a Lua function in a forked worker process with resource limits. */
#ifndef LAP_ISOLATE_H
#define LAP_ISOLATE_H

#include <lua.h>

/* Pushes the function ap.isolate(fn [, opts]). */
int lap_isolate_open(lua_State *L);

#endif
