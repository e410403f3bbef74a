/* fuzz_tok_encode.c — libFuzzer target: encoding arbitrary text with a fixed, real tokenizer (ap-tiny's
 * LLaMA-2 style tokenizer.json, loaded once): ids in range, a bounded count, and valid UTF-8 text without
 * added-token strings or "▁" decodes back to itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ap_tokenizer.h"

#ifndef AP_DATADIR
#define AP_DATADIR "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ap_tokenizer *tok; /* read-only after LLVMFuzzerInitialize; freed by the process exit */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *path = getenv("AP_FUZZ_TOKENIZER");
    ap_error err;
    if (ap_tokenizer_load(&tok, path ? path : AP_DATADIR "/models/ap-tiny/tokenizer.json", &err) != AP_OK)
        abort(); /* the fixture is missing: nothing to fuzz */
    return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const uint8_t *s, size_t n)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
        if (k == 4 || (k && k >= n - i))
            return 0; /* invalid lead byte, or cut short */
        uint32_t cp = k == 0 ? c : k == 1 ? (c & 0x1Fu) : k == 2 ? (c & 0x0Fu) : (c & 0x07u);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ap_error err;
    if (ap_tokenizer_encode(tok, (const char *)data, size, 1, &ids, &n, &err) != AP_OK)
        __builtin_trap(); /* any bytes are encodable: unknown ones take their <0xXX> token */
    /* at most one token per byte, plus <s> and the prepended "▁" */
    if (n > size + 2)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ap_tokenizer_vocab_size(tok))
            __builtin_trap();
    char *text = NULL;
    size_t len = 0;
    if (ap_tokenizer_decode(tok, ids, n, 1, &text, &len, &err) != AP_OK)
        __builtin_trap();
    if (strlen(text) > len)
        __builtin_trap();
    /* the round trip: added tokens in the text ("<s>", "</s>", "<unk>") are special and dropped on decode, and
     * a literal "▁" decodes as the space it stands for */
    if (valid_utf8(data, size) && !memchr(data, '<', size) && !memmem(data, size, "\xE2\x96\x81", 3) &&
        (len != size || memcmp(text, data, size)))
        __builtin_trap();
    free(text);
    free(ids);
    return 0;
}
