/* lap_sys.h — small process services for trusted controller scripts: a monotonic clock and Ctrl-C handling. */
#ifndef LAP_SYS_H
#define LAP_SYS_H

#include <lua.h>

/* Sets ap.clock, ap.watch_interrupt and ap.interrupted in the table at the top of the stack. */
void lap_sys_register(lua_State *L);

#endif
