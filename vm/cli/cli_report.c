/* cli_report.c — `autoprune report RUN_DIR`: report.html of a search run with inline SVG charts. The page is built
 * by the bundled lua/report.lua (readable and easy to change) in the trusted Lua environment; this file parses the
 * options, calls report.write and prints the outcome. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ap_lua.h"
#include "cli.h"

static const char USAGE[] = "autoprune report [--out FILE] [--json] [--quiet] RUN_DIR";

static const char HELP[] =
    "Write RUN_DIR/report.html for a search run (lua/search.lua writes the folder): one self-contained page with\n"
    "plain SVG charts, no JavaScript: per-layer sparsity of the uniform, OWL and SDSA allocations side by side,\n"
    "per-layer weight skewness and outlier ratios, search progress (best and median proxy perplexity per\n"
    "generation), the best candidates and the best metric's source. It reads facts.json, events.jsonl,\n"
    "archive.json and best.lua; a missing file leaves its section out with a note.\n"
    "\n"
    "options:\n"
    "  --out FILE   write the page there instead of RUN_DIR/report.html\n"
    "  --json       print {\"ok\":true,\"path\":...,\"charts\":N,\"marks\":N} on stdout (marks: bars and points)\n"
    "  --quiet      print nothing on success\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit status: 0 ok, 1 failed (RUN_DIR is not a folder, the page cannot be written), 2 usage error.\n";

typedef struct report_opts {
    const char *dir, *out;
    int json, quiet;
} report_opts;

/* Returns -1 on success (run on), else the exit status to return. */
static int parse(int argc, char **argv, report_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (ap_cli_is_help(a)) {
            printf("usage: %s\n%s", USAGE, HELP);
            return AP_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            o->quiet = 1;
        else if (strcmp(a, "--out") == 0) {
            if (++i >= argc)
                return ap_cli_usage_error("report", USAGE, "--out needs a file name");
            o->out = argv[i];
        } else if (a[0] == '-' && a[1] != '\0')
            return ap_cli_usage_error("report", USAGE, "unknown option '%s'", a);
        else if (o->dir)
            return ap_cli_usage_error("report", USAGE, "one RUN_DIR only (got '%s' and '%s')", o->dir, a);
        else
            o->dir = a;
    }
    if (!o->dir)
        return ap_cli_usage_error("report", USAGE, "no RUN_DIR given");
    return -1;
}

/* report.write(dir, {out = out}) -> path, {charts, marks}; leaves path and summary on the stack. */
static int call_write(lua_State *L)
{
    const report_opts *o = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "report");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "write");
    lua_pushstring(L, o->dir);
    lua_createtable(L, 0, 1);
    if (o->out) {
        lua_pushstring(L, o->out);
        lua_setfield(L, -2, "out");
    }
    lua_call(L, 2, 2);
    return 2;
}

static lua_Integer field_int(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

int ap_cli_report(int argc, char **argv)
{
    report_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct stat st;
    if (stat(o.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "autoprune report: %s: not a run folder (no such directory)\n", o.dir);
        return AP_EXIT_FAIL;
    }
    ap_error err;
    lua_State *L = ap_lua_new(&err);
    if (!L) {
        fprintf(stderr, "autoprune report: %s\n", err.msg);
        return AP_EXIT_FAIL;
    }
    lua_pushcfunction(L, call_write);
    lua_pushlightuserdata(L, &o);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        char buf[1024];
        fprintf(stderr, "autoprune report: %s\n", ap_lua_describe_error(L, -1, buf, sizeof buf));
        lua_close(L);
        return AP_EXIT_FAIL;
    }
    const char *path = lua_tostring(L, -2);
    lua_Integer charts = lua_istable(L, -1) ? field_int(L, -1, "charts") : 0;
    lua_Integer marks = lua_istable(L, -1) ? field_int(L, -1, "marks") : 0;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", 1);
        ap_cli_json_add_string(j, "path", path);
        cJSON_AddNumberToObject(j, "charts", (double)charts);
        cJSON_AddNumberToObject(j, "marks", (double)marks);
        ap_cli_json_emit(j);
    } else if (!o.quiet) {
        printf("wrote %s (%lld charts)\n", path ? path : "?", (long long)charts);
    }
    lua_close(L);
    return AP_EXIT_OK;
}
