/* lap_isolate.c — ap.isolate(fn [, opts]): runs fn() in a fork()ed worker with an address-space limit, a CPU-time
 * limit and a wall-clock kill by the parent, and brings its result back as JSON over a pipe. A crash, hang or
 * runaway allocation in native code reached by a hostile metric then costs one candidate, not the search.
 *
 *   ok, value = ap.isolate(fn, {timeout = 60, cpu = 120, mem_mb = 4096})
 *   ok == true:  value is fn's first result (JSON-representable: tables, strings, numbers, booleans)
 *   ok == false: value is {kind = "crash"|"timeout"|"cpu"|"oom"|"error"|"lost", message = ..., signal = N,
 *                          seconds = ...}; kind "error" carries fn's own error (a table or string) in `error`.
 * The worker shares the parent's memory copy-on-write, so a loaded model costs nothing to hand over. */
#include "lap_isolate.h"

#include "ap_clock.h"
#include "lap_aux.h"
#include "lap_json.h"

#include <errno.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ISOLATE_MAX_REPLY (64u << 20)

typedef struct isolate_opts {
    double timeout_s; /* wall clock, enforced by the parent with SIGKILL */
    double cpu_s;     /* RLIMIT_CPU of the worker */
    double mem_mb;    /* address space the worker may add beyond what it inherits */
} isolate_opts;

/* Bytes of address space the process maps now (from /proc/self/statm), or 0 if unknown. */
static unsigned long long mapped_bytes(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* In the worker: limit, run fn (at stack index 1), send 'R'/'E' + JSON, and _exit without running atexit code. */
static void run_worker(lua_State *L, int fd, const isolate_opts *o, pid_t parent)
{
    /* A worker never outlives its search: if the parent is killed (SIGKILL, OOM killer), the kernel kills it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    struct rlimit cpu = {(rlim_t)o->cpu_s, (rlim_t)o->cpu_s + 1};
    setrlimit(RLIMIT_CPU, &cpu);
    if (o->mem_mb > 0) {
        rlim_t as = (rlim_t)(mapped_bytes() + (unsigned long long)(o->mem_mb * 1048576.0));
        struct rlimit mem = {as, as};
        setrlimit(RLIMIT_AS, &mem);
    }
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 0, 1, 0);
    char tag = status == LUA_OK ? 'R' : 'E';
    if (status != LUA_OK && status != LUA_ERRRUN)
        tag = 'M'; /* out of memory or error in the error handler */
    char *json = tag == 'M' ? NULL : lap_json_encode(L, -1);
    write_all(fd, &tag, 1);
    if (json)
        write_all(fd, json, strlen(json));
    close(fd);
    fflush(NULL);
    _exit(0);
}

/* Read the worker's reply until EOF or the deadline. Returns bytes read; *timed_out set when the deadline hit,
 * *complete when EOF was reached (otherwise the worker must be killed: it may be blocked writing). */
static size_t read_reply(int fd, char **buf, double deadline, int *timed_out, int *complete)
{
    size_t len = 0, cap = 4096;
    *buf = malloc(cap);
    *timed_out = 0;
    *complete = 0;
    for (;;) {
        double left = deadline - ap_clock_seconds();
        if (left <= 0) {
            *timed_out = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            continue;
        if (len + 4096 > cap && cap < ISOLATE_MAX_REPLY) {
            cap *= 2;
            *buf = realloc(*buf, cap);
        }
        if (len + 1 >= cap)
            break; /* reply too large: stop reading; the worker is killed */
        ssize_t n = read(fd, *buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *complete = n == 0;
            break;
        }
        len += (size_t)n;
    }
    (*buf)[len] = '\0';
    return len;
}

static void push_failure(lua_State *L, const char *kind, const char *message, int sig, double seconds)
{
    lua_pushboolean(L, 0);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (sig) {
        lua_pushinteger(L, sig);
        lua_setfield(L, -2, "signal");
    }
    lua_pushnumber(L, seconds);
    lua_setfield(L, -2, "seconds");
}

/* Turn the worker's exit and reply into (ok, value). */
static int report(lua_State *L, int wstatus, const char *buf, size_t len, int timed_out, double seconds)
{
    if (timed_out) {
        push_failure(L, "timeout", "worker killed at the wall-clock limit", SIGKILL, seconds);
        return 2;
    }
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        const char *kind = sig == SIGXCPU ? "cpu" : "crash";
        char msg[96];
        snprintf(msg, sizeof msg, "worker died of signal %d (%s)", sig, strsignal(sig));
        push_failure(L, kind, msg, sig, seconds);
        return 2;
    }
    if (len == 0 || (buf[0] != 'R' && buf[0] != 'E')) {
        push_failure(L, len && buf[0] == 'M' ? "oom" : "lost",
                     len && buf[0] == 'M' ? "worker ran out of memory" : "worker exited without a result", 0, seconds);
        return 2;
    }
    if (!lap_json_push(L, buf + 1, len - 1))
        lua_pushnil(L);
    if (buf[0] == 'R') {
        lua_pushboolean(L, 1);
        lua_insert(L, -2);
        return 2;
    }
    int err = lua_gettop(L);
    push_failure(L, "error", "the isolated function raised an error", 0, seconds);
    lua_pushvalue(L, err);
    lua_setfield(L, -2, "error");
    if (lua_type(L, err) == LUA_TSTRING) {
        lua_pushvalue(L, err);
        lua_setfield(L, -2, "message");
    }
    return 2;
}

static int isolate(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    isolate_opts o = {
        .timeout_s = lapL_optnumber(L, 2, "timeout", 300),
        .cpu_s = lapL_optnumber(L, 2, "cpu", 600),
        .mem_mb = lapL_optnumber(L, 2, "mem_mb", 8192),
    };
    lua_settop(L, 1);
    int fds[2];
    if (pipe(fds) != 0)
        return lapL_raise(L, AP_E_IO, "ap.isolate: pipe failed: %s", strerror(errno));
    fflush(NULL); /* or buffered output is written twice */
    double start = ap_clock_seconds();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return lapL_raise(L, AP_E_IO, "ap.isolate: fork failed: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        run_worker(L, fds[1], &o, parent);
    }
    close(fds[1]);
    char *buf = NULL;
    int timed_out, complete;
    size_t len = read_reply(fds[0], &buf, start + o.timeout_s, &timed_out, &complete);
    close(fds[0]);
    if (!complete)
        kill(pid, SIGKILL);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    int n = report(L, wstatus, buf, len, timed_out, ap_clock_seconds() - start);
    free(buf);
    return n;
}

int lap_isolate_open(lua_State *L)
{
    lua_pushcfunction(L, isolate);
    return 1;
}
