/* lap_sys.c — ap.clock() (monotonic seconds), ap.watch_interrupt() and ap.interrupted(): a controller asks to be
 * told of Ctrl-C / SIGTERM instead of dying, finishes the candidate in hand, writes its report and exits cleanly.
 * A second Ctrl-C kills as usual. */
#include "lap_sys.h"

#include <lauxlib.h>
#include <signal.h>

#include "ap_clock.h"

/* The one piece of process-wide state: signal handlers can reach nothing else. */
static volatile sig_atomic_t interrupt_seen;

static void on_interrupt(int sig)
{
    interrupt_seen = 1;
    signal(sig, SIG_DFL); /* the next one terminates */
}

static int sys_clock(lua_State *L)
{
    lua_pushnumber(L, ap_clock_seconds());
    return 1;
}

static int sys_watch_interrupt(lua_State *L)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    (void)L;
    return 0;
}

static int sys_interrupted(lua_State *L)
{
    lua_pushboolean(L, interrupt_seen != 0);
    return 1;
}

void lap_sys_register(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"clock", sys_clock},
        {"watch_interrupt", sys_watch_interrupt},
        {"interrupted", sys_interrupted},
        {NULL, NULL},
    };
    luaL_setfuncs(L, funcs, 0);
}
