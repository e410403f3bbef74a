/* fuzz_tokenizer.c — libFuzzer target: tokenizer.json parsing (the input as a file) and encoding/decoding (the
 * input as text, with a built-in sentencepiece-style and a byte-level tokenizer). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SP "\xE2\x96\x81"
static const char SP_JSON[] =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false,\"lstrip\":true,\"rstrip\":true},"
    "{\"id\":2,\"content\":\"ab\",\"special\":false,\"normalized\":true,\"single_word\":true}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"" SP "\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"" SP "\"}]},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
    "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1]}}},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"" SP "\"},"
    "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
    "\"start\":1,\"stop\":0}]},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,\"vocab\":{"
    "\"<unk>\":0,\"<s>\":1,\"ab\":2,\"<0xC3>\":3,\"<0xFF>\":4,\"" SP "\":5,\"a\":6,\"b\":7,\"" SP "a\":8,"
    "\"" SP SP "\":9,\"" SP "ab\":10},\"merges\":[\"" SP " a\",\"" SP " " SP "\",[\"" SP "a\",\"b\"]]}}";
static const char BL_JSON[] =
    "{\"added_tokens\":[{\"id\":258,\"content\":\"<|x|>\",\"special\":true}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
    "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true},{\"type\":\"Digits\","
    "\"individual_digits\":true},{\"type\":\"Metaspace\",\"replacement\":\"\\u0120\",\"prepend_scheme\":\"first\"}]},"
    "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{"
    "\"a\":0,\"b\":1,\"\\u0120\":2,\"ab\":3,\"\\u0120ab\":4,\"\\u0120a\":5";

/* Encode, check the ids, decode them: nothing may crash, every id must be in range. */
static void exercise(const ap_tokenizer *t, const char *text, size_t len)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ap_error err;
    if (ap_tokenizer_encode(t, text, len, 1, &ids, &n, &err) == AP_OK) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= ap_tokenizer_vocab_size(t))
                __builtin_trap();
        char *out = NULL;
        size_t olen = 0;
        if (ap_tokenizer_decode(t, ids, n, n & 1, &out, &olen, &err) == AP_OK && strlen(out) > olen)
            __builtin_trap();
        free(out);
    }
    free(ids);
}

static ap_tokenizer *byte_level(void)
{
    /* the 256 byte characters follow the six tokens above: ids 6 .. 261 would collide with the added id, so
     * only the printable ASCII ones are added; the rest fall to the (absent) unk and are dropped */
    char *js = malloc(sizeof BL_JSON + 4096);
    if (!js)
        return NULL;
    size_t n = strlen(BL_JSON);
    memcpy(js, BL_JSON, n);
    int id = 6;
    for (int c = 33; c < 127; c++) {
        if (c == 'a' || c == 'b' || c == '"' || c == '\\')
            continue;
        n += (size_t)snprintf(js + n, 64, ",\"%c\":%d", c, id++);
    }
    while (id < 258)
        n += (size_t)snprintf(js + n, 64, ",\"<pad%d>\":%d", id, id), id++;
    n += (size_t)snprintf(js + n, 128, "},\"merges\":[\"a b\",[\"\\u0120\",\"ab\"],\"\\u0120 a\"]}}");
    ap_tokenizer *t = NULL;
    ap_error err;
    ap_tokenizer_parse(&t, js, n, "bl", &err);
    free(js);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_tokenizer *t = NULL;
    ap_error err;
    if (ap_tokenizer_parse(&t, (const char *)data, size, "fuzz.json", &err) == AP_OK) {
        static const char text[] = "a b  ab<s>\xC3\xA9 12345 we'll\n\n x\xFF";
        exercise(t, text, sizeof text - 1);
        ap_tokenizer_free(t);
    } else if (err.code == AP_OK || !err.msg[0]) {
        __builtin_trap(); /* a failure always says why */
    }
    ap_tokenizer *sp = NULL, *bl = byte_level();
    if (ap_tokenizer_parse(&sp, SP_JSON, strlen(SP_JSON), "sp", &err) != AP_OK || !bl)
        __builtin_trap();
    exercise(sp, (const char *)data, size);
    exercise(bl, (const char *)data, size);
    ap_tokenizer_free(sp);
    ap_tokenizer_free(bl);
    return 0;
}
