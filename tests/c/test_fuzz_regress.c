/* test_fuzz_regress.c — replays the fuzz seed corpora and every input a fuzzer once failed on
 * (tests/fuzz/regress/<target>/) through the fuzz targets themselves, so the normal and sanitizer builds keep
 * them fixed. A target's own checks end in __builtin_trap: a regression aborts with the file named on stderr. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aptest.h"

/* Each target defines LLVMFuzzerTestOneInput (and maybe LLVMFuzzerInitialize): include each under its own name. */
#define LLVMFuzzerTestOneInput fz_llm_reply
#include "../fuzz/fuzz_llm_reply.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_sandbox
#include "../fuzz/fuzz_sandbox.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_tokenizer
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_tok_encode
#define LLVMFuzzerInitialize fz_tok_encode_init
#include "../fuzz/fuzz_tok_encode.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_safetensors
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_st_index
#include "../fuzz/fuzz_st_index.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_config
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);
static const struct {
    const char *name, *seeds;
    fuzz_fn fn;
} TARGETS[] = {
    {"llm_reply", "tests/fuzz/llm_reply", fz_llm_reply},
    {"sandbox", "tests/fuzz/sandbox", fz_sandbox},
    {"tokenizer", "tests/fuzz/tokenizer", fz_tokenizer},
    {"tok_encode", "tests/fuzz/tok_encode", fz_tok_encode},
    {"safetensors", "tests/fuzz/safetensors", fz_safetensors},
    {"st_index", "tests/fuzz/st_index", fz_st_index},
    {"config", "tests/fuzz/config", fz_config},
};

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            char *q = realloc(buf, cap = cap ? 2 * cap : 4096);
            if (!q) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = q;
        }
        size_t r = fread(buf + *n, 1, cap - *n, f);
        if (!r)
            break;
        *n += r;
    }
    fclose(f);
    return buf;
}

/* Run every regular file of root/dir through fn; the number run, or -1 if the folder is missing. */
static int replay(const char *root, const char *dir, fuzz_fn fn)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/%s", root, dir, de->d_name);
        size_t n;
        char *data = slurp(path, &n);
        if (!data) {
            AP_CHECK(0, "read %s", path);
            continue;
        }
        fprintf(stderr, "replay %s\n", path); /* names the input if the target traps */
        fn((const uint8_t *)data, n);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

int main(void)
{
    const char *root = getenv("AP_ROOT") ? getenv("AP_ROOT") : AP_DATADIR;
    fz_tok_encode_init(NULL, NULL);
    for (size_t i = 0; i < sizeof TARGETS / sizeof *TARGETS; i++) {
        char regress[256];
        snprintf(regress, sizeof regress, "tests/fuzz/regress/%s", TARGETS[i].name);
        int seeds = replay(root, TARGETS[i].seeds, TARGETS[i].fn);
        int fixed = replay(root, regress, TARGETS[i].fn);
        /* reaching this line means no input trapped: a finding that came back aborts the binary */
        AP_CHECK(seeds > 0, "%s: %d seeds and %d fixed findings replayed, no finding", TARGETS[i].name, seeds,
                 fixed < 0 ? 0 : fixed);
    }
    ap_tokenizer_free(tok);
    return aptest_done();
}
