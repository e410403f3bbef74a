/* cli.h — the commands of the autoprune CLI (one vm/cli/cli_<name>.c each) and the helpers they share.
 * A command gets argv starting at its own name (argv[0] = "check") and returns the exit status:
 * 0 ok, 1 failed, 2 usage error. Every command answers --help (on stdout, status 0).
 * Adding a command: write vm/cli/cli_<name>.c defining ap_cli_<name>, declare it here, and add one line to the
 * table in vm/cli/main.c. */
#ifndef AP_CLI_H
#define AP_CLI_H

#include <cJSON.h>
#include <stdio.h>

#define AP_EXIT_OK 0
#define AP_EXIT_FAIL 1
#define AP_EXIT_USAGE 2

int ap_cli_check(int argc, char **argv);  /* autoprune check FILE.lua... [--json]  (vm/cli/cli_check.c) */
int ap_cli_run(int argc, char **argv);    /* autoprune run SCRIPT.lua [ARGS...]   (vm/cli/cli_run.c) */
int ap_cli_eval(int argc, char **argv);   /* autoprune eval ...                   (vm/cli/cli_eval.c) */
int ap_cli_prune(int argc, char **argv);  /* autoprune prune ...                  (vm/cli/cli_prune.c) */
int ap_cli_report(int argc, char **argv); /* autoprune report RUN_DIR             (vm/cli/cli_report.c) */
int ap_cli_repl(int argc, char **argv);   /* autoprune repl                       (vm/cli/cli_repl.c) */

/* 1 when arg is -h or --help. */
int ap_cli_is_help(const char *arg);
/* Print "autoprune <cmd>: <message>" and "usage: <usage>" on stderr; returns AP_EXIT_USAGE. */
int ap_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parse a non-negative integer option value (decimal, optional k/M/G suffix = 2^10/2^20/2^30);
 * returns 0 on success, -1 when the text is not one. */
int ap_cli_parse_size(const char *text, unsigned long long *value);
/* Replace the bytes of s that are not valid UTF-8 by '?', in place (JSON text must be UTF-8). */
void ap_cli_utf8_clean(char *s);
/* Add s to obj under key, cleaned to valid UTF-8 (s may be NULL: JSON null). */
void ap_cli_json_add_string(cJSON *obj, const char *key, const char *s);
/* Print obj on stdout as one line of compact JSON and free it. */
void ap_cli_json_emit(cJSON *obj);

#endif
