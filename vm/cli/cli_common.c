/* cli_common.c — helpers shared by the CLI commands: help flags, usage errors, option values, JSON text. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int ap_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int ap_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "autoprune %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: %s\n", usage);
    va_end(ap);
    return AP_EXIT_USAGE;
}

int ap_cli_parse_size(const char *text, unsigned long long *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'M')
        shift = 20;
    else if (*end == 'G')
        shift = 30;
    if (shift)
        end++;
    if (*end != '\0' || (shift && v > (~0ull >> shift)))
        return -1;
    *value = v << shift;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    int n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4))
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    unsigned cp = p[0] & (0x7f >> n);
    for (int i = 1; i < n; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

void ap_cli_utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = utf8_len(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

void ap_cli_json_add_string(cJSON *obj, const char *key, const char *s)
{
    if (!s) {
        cJSON_AddNullToObject(obj, key);
        return;
    }
    char *copy = strdup(s);
    if (!copy)
        return;
    ap_cli_utf8_clean(copy);
    cJSON_AddStringToObject(obj, key, copy);
    free(copy);
}

void ap_cli_json_emit(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    }
    cJSON_Delete(obj);
    fflush(stdout);
}
