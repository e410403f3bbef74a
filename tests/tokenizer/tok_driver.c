/* tok_driver.c — command-line access to ap_tokenizer for the script tests: encode a file to ids (one per line),
 * or decode ids back to text. Built by the tests against $AP_BUILD/libautoprune.a.
 * Usage: tok_driver [-n] [-t] TOKENIZER_JSON TEXT_FILE      encode (-n: no special tokens, -t: timing to stderr)
 *        tok_driver -d [-s] TOKENIZER_JSON IDS_FILE         decode whitespace-separated ids (-s: skip special)
 *        tok_driver -l TOKENIZER_JSON                        load only: print the vocab size and BOS, or the error */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_clock.h"
#include "ap_file.h"
#include "ap_tokenizer.h"

/* The whole file through the library's one whole-file read (NUL-terminated); NULL on any failure. */
static char *read_all(const char *path, size_t *n)
{
    char *buf = NULL;
    ap_error err = {0};
    if (ap_file_read(path, AP_TEXT_MAX_BYTES, &buf, n, &err) != AP_OK)
        return NULL;
    return buf;
}

int main(int argc, char **argv)
{
    int special = 1, timing = 0, decode = 0, skip = 0, load_only = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        for (const char *o = argv[a] + 1; *o; o++) {
            if (*o == 'n')
                special = 0;
            else if (*o == 't')
                timing = 1;
            else if (*o == 'd')
                decode = 1;
            else if (*o == 's')
                skip = 1;
            else if (*o == 'l')
                load_only = 1;
            else {
                fprintf(stderr, "tok_driver: unknown option -%c\n", *o);
                return 2;
            }
        }
    }
    if (argc - a != (load_only ? 1 : 2)) {
        fprintf(stderr, "usage: tok_driver [-n] [-t] [-d [-s]] [-l] TOKENIZER_JSON [FILE]\n");
        return 2;
    }
    ap_error err = {0};
    ap_tokenizer *tok;
    double t0 = ap_clock_seconds();
    if (ap_tokenizer_load(&tok, argv[a], &err)) {
        fprintf(stderr, "error (%s): %s\n", ap_status_name(err.code), err.msg);
        return 1;
    }
    double t_load = ap_clock_seconds() - t0;
    if (load_only) {
        printf("vocab %d bos %d\n", ap_tokenizer_vocab_size(tok), ap_tokenizer_bos(tok));
        ap_tokenizer_free(tok);
        return 0;
    }
    size_t n;
    char *text = read_all(argv[a + 1], &n);
    if (!text) {
        fprintf(stderr, "tok_driver: cannot read %s\n", argv[a + 1]);
        ap_tokenizer_free(tok);
        return 1;
    }
    int rc = 0;
    if (decode) {
        size_t cap = n / 2 + 1, m = 0;
        int32_t *ids = malloc(cap * sizeof *ids);
        char *p = text, *end;
        text = realloc(text, n + 1);
        p = text;
        p[n] = '\0';
        for (long v; ids && (v = strtol(p, &end, 10), end != p); p = end)
            ids[m++] = (int32_t)v;
        char *out;
        size_t len;
        if (ap_tokenizer_decode(tok, ids, m, skip, &out, &len, &err)) {
            fprintf(stderr, "error (%s): %s\n", ap_status_name(err.code), err.msg);
            rc = 1;
        } else {
            fwrite(out, 1, len, stdout);
            free(out);
        }
        free(ids);
    } else {
        int32_t *ids;
        size_t m;
        t0 = ap_clock_seconds();
        double c0 = ap_clock_cpu_seconds();
        if (ap_tokenizer_encode(tok, text, n, special, &ids, &m, &err)) {
            fprintf(stderr, "error (%s): %s\n", ap_status_name(err.code), err.msg);
            rc = 1;
        } else {
            double t_enc = ap_clock_seconds() - t0, c_enc = ap_clock_cpu_seconds() - c0;
            if (timing)
                fprintf(stderr, "load %.3f s, encode %zu bytes -> %zu ids in %.3f s CPU (%.3f s wall)\n", t_load, n, m,
                        c_enc, t_enc);
            for (size_t i = 0; i < m; i++)
                printf("%d\n", ids[i]);
            free(ids);
        }
    }
    free(text);
    ap_tokenizer_free(tok);
    return rc;
}
