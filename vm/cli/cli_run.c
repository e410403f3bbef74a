/* cli_run.c — `autoprune run SCRIPT.lua [ARGS...]`: a trusted Lua script with the full standard library, T and ap. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "ap_lua.h"
#include "cli.h"

static const char USAGE[] = "autoprune run SCRIPT.lua [ARGS...]   (SCRIPT '-' reads standard input)";

static const char HELP[] =
    "Run a trusted Lua 5.4 script with the full standard library, the tensor table T and the module ap\n"
    "(a global, and require \"ap\"): ap.load_tensors, ap.save_tensors, ap.metric, ap.version, ap.datadir, ...\n"
    "The script gets its arguments in `arg` (arg[0] = SCRIPT, arg[1..n] = ARGS) and as `...`;\n"
    "require finds modules under the data dir's lua/ folder. Options go before SCRIPT; everything after it\n"
    "belongs to the script.\n"
    "\n"
    "options:\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit status: 0 when the script ends normally (or what it passes to os.exit), 1 when it raises an error\n"
    "(message and traceback on stderr), 2 usage error.\n";

int ap_cli_run(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (ap_cli_is_help(argv[i])) {
            printf("usage: %s\n%s", USAGE, HELP);
            return AP_EXIT_OK;
        }
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        return ap_cli_usage_error("run", USAGE, "unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return ap_cli_usage_error("run", USAGE, "no script given");
    const char *script = argv[i];
    ap_error err;
    lua_State *L = ap_lua_new(&err);
    if (!L) {
        fprintf(stderr, "autoprune run: %s\n", err.msg);
        return AP_EXIT_FAIL;
    }
    /* arg: arg[-1] = "autoprune", arg[0] = the script, arg[1..] = its arguments (as lua.c does). */
    int n_args = argc - i - 1;
    lua_createtable(L, n_args, 2);
    lua_pushstring(L, "autoprune");
    lua_rawseti(L, -2, -1);
    for (int k = 0; k <= n_args; k++) {
        lua_pushstring(L, argv[i + k]);
        lua_rawseti(L, -2, k);
    }
    lua_setglobal(L, "arg");
    int status = AP_EXIT_OK;
    lua_pushcfunction(L, ap_lua_traceback);
    int rc = luaL_loadfilex(L, strcmp(script, "-") == 0 ? NULL : script, NULL);
    if (rc != LUA_OK) {
        fprintf(stderr, "autoprune run: %s\n", lua_tostring(L, -1));
        status = AP_EXIT_FAIL;
    } else {
        if (!lua_checkstack(L, n_args + 1)) {
            fprintf(stderr, "autoprune run: too many arguments (%d)\n", n_args);
            lua_close(L);
            return AP_EXIT_USAGE;
        }
        for (int k = 1; k <= n_args; k++)
            lua_pushstring(L, argv[i + k]);
        if (lua_pcall(L, n_args, 0, 1) != LUA_OK) {
            fprintf(stderr, "autoprune run: %s\n", lua_tostring(L, -1));
            status = AP_EXIT_FAIL;
        }
    }
    fflush(stdout);
    lua_close(L);
    return status;
}
