/* cli_repl.c — `autoprune repl [--model DIR]`: an interactive Lua 5.4 prompt in the trusted environment (T and ap
 * loaded; optionally a model open as the global m), with GNU Readline line editing, history and tab completion of
 * names (T.ab<TAB>, m:ca<TAB>) on a terminal. Expressions are printed as lua5.4's own interpreter prints them. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "ap_lua.h"
#include "autoprune.h"
#include "cli.h"

static const char USAGE[] = "autoprune repl [--model DIR] [--quiet]";

static const char HELP[] =
    "An interactive Lua 5.4 prompt with the full standard library, the tensor table T and the module ap, as in\n"
    "`autoprune run`. An expression is evaluated and its values printed (as the lua5.4 interpreter does); a\n"
    "statement is run; an unfinished chunk (an open `function`, `do`, `{`, ...) continues on the next line.\n"
    "On a terminal: line editing and history (GNU Readline), tab completion of names such as T.ab or m:ca.\n"
    "Input that is not a terminal is read line by line without prompts, so `echo 'print(1+1)' | autoprune repl`\n"
    "works. End with Ctrl-D or os.exit().\n"
    "\n"
    "options:\n"
    "  --model DIR   open this model folder as the global m (ap.model.load)\n"
    "  --quiet       no banner on a terminal\n"
    "  -h, --help    this text\n"
    "\n"
    "Exit status: 0 at the end of input (or what os.exit passes); when the input is not a terminal, 1 if any\n"
    "chunk raised an error or the model could not be opened; 2 usage error.\n";

/* ---- evaluation ---------------------------------------------------------------------------------------- */

/* Compile `return <src>` (an expression) or else src itself (a statement). Returns the load status; the chunk or
 * the error message is on the stack. */
static int compile(lua_State *L, const char *src, size_t len)
{
    lua_pushfstring(L, "return %s;", src);
    size_t rlen;
    const char *ret = lua_tolstring(L, -1, &rlen);
    if (luaL_loadbuffer(L, ret, rlen, "=stdin") == LUA_OK) {
        lua_remove(L, -2);
        return LUA_OK;
    }
    lua_pop(L, 2);
    return luaL_loadbuffer(L, src, len, "=stdin");
}

/* An unfinished chunk: its syntax error is "... near <eof>". */
static int incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char eof[] = "<eof>";
    return len >= sizeof eof - 1 && strcmp(msg + len - (sizeof eof - 1), eof) == 0;
}

/* Print every value on the stack above base like lua.c: tostring of each, tab-separated. */
static void print_results(lua_State *L, int base)
{
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, base + 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK) {
        char buf[1024];
        fprintf(stderr, "error calling 'print' (%s)\n", ap_lua_describe_error(L, -1, buf, sizeof buf));
        lua_pop(L, 1);
    }
}

/* Run the compiled chunk at the top; print its results or the error. Returns 0 ok, -1 error. */
static int run_chunk(lua_State *L)
{
    int base = lua_gettop(L) - 1;
    lua_pushcfunction(L, ap_lua_traceback);
    lua_insert(L, base + 1);
    int status = lua_pcall(L, 0, LUA_MULTRET, base + 1);
    lua_remove(L, base + 1);
    if (status != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        lua_settop(L, base);
        return -1;
    }
    print_results(L, base);
    lua_settop(L, base);
    fflush(stdout);
    return 0;
}

/* ---- input --------------------------------------------------------------------------------------------- */

/* readline's completion callback takes no user data, so the state it completes against is reached through this
 * one static (set for the duration of an interactive session only). */
static lua_State *completion_state;

/* Push the value named by path[0..len) ("ap.model", "m"), walking '.' and ':' through fields; nil if absent. */
static void push_path(lua_State *L, const char *path, size_t len)
{
    lua_pushglobaltable(L);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '.' && path[j] != ':')
            j++;
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushlstring(L, path + i, j - i);
            lua_rawget(L, -2);
        } else if (luaL_getmetafield(L, -1, "__index") == LUA_TTABLE) {
            lua_pushlstring(L, path + i, j - i);
            lua_rawget(L, -2);
            lua_remove(L, -2);
        } else {
            lua_pushnil(L);
        }
        lua_remove(L, -2);
        i = j + 1;
    }
}

/* Names in the table at idx starting with part, as prefix .. name, appended to out (a Lua table at out_idx). */
static void collect(lua_State *L, int idx, const char *prefix, size_t plen, const char *part, int out_idx)
{
    size_t partlen = strlen(part);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            if (strncmp(k, part, partlen) == 0) {
                lua_pushlstring(L, prefix, plen);
                lua_pushstring(L, k);
                lua_concat(L, 2);
                lua_rawseti(L, out_idx, (lua_Integer)lua_rawlen(L, out_idx) + 1);
            }
        }
        lua_pop(L, 1);
    }
}

static char *completion_entry(const char *text, int state)
{
    lua_State *L = completion_state;
    if (state == 0) { /* build the candidate list in the registry */
        lua_newtable(L);
        int out = lua_gettop(L);
        const char *sep = NULL;
        for (const char *p = text; *p; p++)
            if (*p == '.' || *p == ':')
                sep = p;
        size_t plen = sep ? (size_t)(sep - text) + 1 : 0;
        if (sep)
            push_path(L, text, (size_t)(sep - text));
        else
            lua_pushglobaltable(L);
        const char *part = text + plen;
        if (lua_type(L, -1) == LUA_TTABLE)
            collect(L, lua_gettop(L), text, plen, part, out);
        if (luaL_getmetafield(L, -1, "__index") == LUA_TTABLE) { /* methods of userdata, inherited fields */
            collect(L, lua_gettop(L), text, plen, part, out);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "autoprune.repl.completions");
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "autoprune.repl.completions");
    lua_rawgeti(L, -1, state + 1);
    char *r = lua_type(L, -1) == LUA_TSTRING ? strdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 2);
    return r;
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    rl_completion_append_character = '\0';
    return rl_completion_matches(text, completion_entry);
}

/* One line of input without its newline (malloc'd; caller frees), or NULL at the end of input. */
static char *read_line(int tty, const char *prompt)
{
    if (tty) {
        char *s = readline(prompt);
        if (s && *s)
            add_history(s);
        return s;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

/* Read chunks until the end of input; returns the number of chunks that failed. */
static int loop(lua_State *L, int tty)
{
    int errors = 0;
    char *line;
    while ((line = read_line(tty, "> ")) != NULL) {
        lua_settop(L, 0);
        lua_pushstring(L, line); /* the chunk's source grows here until it compiles */
        free(line);
        int status, cut = 0;
        for (;;) {
            size_t len;
            const char *src = lua_tolstring(L, 1, &len);
            status = compile(L, src, len); /* pushes the function or the error message */
            if (!incomplete(L, status))
                break;
            lua_pop(L, 1);
            char *more = read_line(tty, ">> ");
            if (!more) {
                cut = 1;
                break;
            }
            lua_pushliteral(L, "\n");
            lua_pushstring(L, more);
            free(more);
            lua_concat(L, 3);
        }
        if (cut) {
            fprintf(stderr, "stdin: unfinished chunk at the end of input\n");
            errors++;
        } else if (status == LUA_OK) {
            lua_remove(L, 1); /* the source */
            errors += run_chunk(L) != 0;
        } else {
            fprintf(stderr, "%s\n", lua_tostring(L, -1));
            errors++;
        }
    }
    lua_settop(L, 0);
    if (tty)
        putchar('\n');
    return errors;
}

/* ---- the command --------------------------------------------------------------------------------------- */

/* m = ap.model.load(dir); raises on failure. */
static int open_model(lua_State *L)
{
    const char *dir = lua_touserdata(L, 1);
    lua_getglobal(L, "ap");
    lua_getfield(L, -1, "model");
    lua_getfield(L, -1, "load");
    lua_pushstring(L, dir);
    lua_call(L, 1, 1);
    lua_setglobal(L, "m");
    return 0;
}

int ap_cli_repl(int argc, char **argv)
{
    const char *model = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (ap_cli_is_help(argv[i])) {
            printf("usage: %s\n%s", USAGE, HELP);
            return AP_EXIT_OK;
        }
        if (strcmp(argv[i], "--model") == 0) {
            if (++i >= argc)
                return ap_cli_usage_error("repl", USAGE, "--model needs a folder");
            model = argv[i];
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else {
            return ap_cli_usage_error("repl", USAGE, "unknown argument '%s'", argv[i]);
        }
    }
    ap_error err;
    lua_State *L = ap_lua_new(&err);
    if (!L) {
        fprintf(stderr, "autoprune repl: %s\n", err.msg);
        return AP_EXIT_FAIL;
    }
    int tty = isatty(0) && isatty(1);
    int failed = 0;
    if (model) {
        lua_pushcfunction(L, open_model);
        lua_pushlightuserdata(L, (void *)model);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            char buf[1024];
            fprintf(stderr, "autoprune repl: %s\n", ap_lua_describe_error(L, -1, buf, sizeof buf));
            lua_pop(L, 1);
            failed = 1;
        }
    }
    if (tty && !quiet)
        printf("autoprune %s (%s): T and ap are loaded%s. Tab completes names; Ctrl-D ends.\n", ap_version(),
               LUA_RELEASE, model && !failed ? "; the model is m" : "");
    if (tty) {
        completion_state = L;
        rl_readline_name = "autoprune";
        rl_attempted_completion_function = complete;
    }
    int errors = loop(L, tty);
    completion_state = NULL;
    lua_close(L);
    if (tty)
        return AP_EXIT_OK;
    return failed || errors ? AP_EXIT_FAIL : AP_EXIT_OK;
}
