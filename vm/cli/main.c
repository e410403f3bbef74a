/* main.c — the autoprune command line: a table of commands, --version and --help. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "autoprune.h"
#include "cli.h"

typedef struct ap_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} ap_command;

/* One line per command; keep them in the order they appear in --help. */
static const ap_command commands[] = {
    {"check", ap_cli_check, "check metric scripts in the sandbox on synthetic inputs"},
    {"run", ap_cli_run, "run a trusted Lua script with the full standard library, T and ap"},
    {"eval", ap_cli_eval, "perplexity of a model on a text (WikiText-2 test by default)"},
    {"prune", ap_cli_prune, "prune a model with a metric script, native Wanda/magnitude or SparseGPT"},
    {"report", ap_cli_report, "write report.html with SVG charts of a search run"},
    {"repl", ap_cli_repl, "interactive Lua prompt with T, ap and optionally a model loaded"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autoprune COMMAND [ARGS...]\n"
               "       autoprune --version | --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'autoprune COMMAND --help' describes a command. Exit status: 0 ok, 1 failed, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    /* Past a file-size limit (ulimit -f) write() fails with EFBIG, so a writer reports it and removes its temp file,
     * instead of the process dying of SIGXFSZ with a half-written file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return AP_EXIT_USAGE;
    }
    if (ap_cli_is_help(argv[1])) {
        usage(stdout);
        return AP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("autoprune %s\n", ap_version());
        return AP_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "autoprune: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AP_EXIT_USAGE;
}
