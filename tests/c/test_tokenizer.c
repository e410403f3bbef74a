/* test_tokenizer.c — unit tests of ap_tokenizer on small hand-made tokenizer.json files: both BPE styles, both
 * merge forms, byte fallback, unk, special tokens, decoding, and hostile files that must fail cleanly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aptest.h"
#include "ap_tokenizer.h"

#define SP "\xE2\x96\x81" /* ▁ */

/* ---- building JSON texts */

typedef struct {
    char *p;
    size_t n;
    FILE *f;
} jbuf;

static void jopen(jbuf *b)
{
    b->p = NULL;
    b->n = 0;
    b->f = open_memstream(&b->p, &b->n);
}
static void jf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jf(jbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->f, fmt, ap);
    va_end(ap);
}
static char *jclose(jbuf *b)
{
    fclose(b->f);
    return b->p;
}

/* The sentencepiece-style test vocabulary: specials 0-2, byte tokens 3-258, then characters and merges. */
static const char *const sp_chars[] = {SP, "a", "b", "c", "h", "e", "l", "o"}; /* 259 .. 266 */
static const char *const sp_merges[][2] = {
    /* 267 .. 274 */
    {SP, "a"}, {"b", "c"}, {SP "a", "bc"}, {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {SP, "hello"},
};
enum {
    ID_SP = 259,
    ID_A,
    ID_B,
    ID_C,
    ID_H,
    ID_E,
    ID_L,
    ID_O,
    ID_SPA,
    ID_BC,
    ID_SPABC,
    ID_HE,
    ID_LL,
    ID_HELL,
    ID_HELLO,
    ID_SPHELLO,
    SP_VOCAB
};

/* style: 0 legacy normalizer (Prepend + Replace), 1 Metaspace first, 2 Metaspace always.
 * pairs: merges as ["a","b"] instead of "a b". */
static char *sp_json(int style, int pairs, int byte_fallback, int fuse_unk, const char *extra_vocab,
                     const char *extra_merges)
{
    jbuf b;
    jopen(&b);
    jf(&b, "{\"version\":\"1.0\",\"added_tokens\":["
           "{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"
           "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false},"
           "{\"id\":2,\"content\":\"</s>\",\"special\":true,\"normalized\":false}],");
    if (style == 0)
        jf(&b,
           "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"" SP "\"},"
           "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"" SP "\"}]},\"pre_tokenizer\":null,");
    else
        jf(&b,
           "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"" SP "\","
           "\"prepend_scheme\":\"%s\",\"split\":true},",
           style == 1 ? "first" : "always");
    jf(&b, "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
           "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<s>\":"
           "{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},");
    if (style == 2) /* the Metaspace decoder */
        jf(&b, "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"" SP "\",\"prepend_scheme\":\"always\"},");
    else
        jf(&b, "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"" SP
               "\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\","
               "\"content\":\" \",\"start\":1,\"stop\":0}]},");
    jf(&b,
       "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"fuse_unk\":%s,\"byte_fallback\":%s,"
       "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2",
       fuse_unk ? "true" : "false", byte_fallback ? "true" : "false");
    for (int i = 0; i < 256; i++)
        jf(&b, ",\"<0x%02X>\":%d", i, 3 + i);
    int id = 259;
    for (size_t i = 0; i < sizeof sp_chars / sizeof *sp_chars; i++)
        jf(&b, ",\"%s\":%d", sp_chars[i], id++);
    for (size_t i = 0; i < sizeof sp_merges / sizeof *sp_merges; i++)
        jf(&b, ",\"%s%s\":%d", sp_merges[i][0], sp_merges[i][1], id++);
    if (extra_vocab)
        jf(&b, ",%s", extra_vocab);
    jf(&b, "},\"merges\":[");
    for (size_t i = 0; i < sizeof sp_merges / sizeof *sp_merges; i++) {
        if (pairs)
            jf(&b, "%s[\"%s\",\"%s\"]", i ? "," : "", sp_merges[i][0], sp_merges[i][1]);
        else
            jf(&b, "%s\"%s %s\"", i ? "," : "", sp_merges[i][0], sp_merges[i][1]);
    }
    if (extra_merges)
        jf(&b, ",%s", extra_merges);
    jf(&b, "]}}");
    return jclose(&b);
}

static ap_tokenizer *parse_or_null(const char *json, ap_error *err)
{
    ap_tokenizer *t = NULL;
    if (ap_tokenizer_parse(&t, json, strlen(json), "test.json", err) != AP_OK)
        return NULL;
    return t;
}

/* Encode and compare with the expected ids; prints both on a mismatch. */
static int enc_is(const ap_tokenizer *t, const char *text, size_t len, int special, const int32_t *want, size_t nwant)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ap_error err = {0};
    if (ap_tokenizer_encode(t, text, len, special, &ids, &n, &err) != AP_OK) {
        printf("# encode failed: %s\n", err.msg);
        return 0;
    }
    int ok = n == nwant && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        printf("# got:");
        for (size_t i = 0; i < n; i++)
            printf(" %d", ids[i]);
        printf("  want:");
        for (size_t i = 0; i < nwant; i++)
            printf(" %d", want[i]);
        printf("\n");
    }
    free(ids);
    return ok;
}
#define ENC_IS(t, text, special, ...)                                                                                  \
    enc_is(t, text, strlen(text), special, (const int32_t[]){__VA_ARGS__},                                             \
           sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

static int dec_is(const ap_tokenizer *t, const int32_t *ids, size_t n, int skip, const char *want)
{
    char *s = NULL;
    size_t len = 0;
    ap_error err = {0};
    if (ap_tokenizer_decode(t, ids, n, skip, &s, &len, &err) != AP_OK) {
        printf("# decode failed: %s\n", err.msg);
        return 0;
    }
    int ok = len == strlen(want) && memcmp(s, want, len) == 0 && s[len] == '\0';
    if (!ok)
        printf("# decoded \"%s\", want \"%s\"\n", s, want);
    free(s);
    return ok;
}
#define DEC_IS(t, skip, want, ...)                                                                                     \
    dec_is(t, (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t), skip, want)

/* ---- sentencepiece style */

static void test_sp_style(void)
{
    ap_error err = {0};
    for (int pairs = 0; pairs < 2; pairs++) {
        char *js = sp_json(0, pairs, 1, 1, NULL, NULL);
        ap_tokenizer *t = parse_or_null(js, &err);
        free(js);
        AP_CHECK(t != NULL, "legacy style loads (merges as %s) %s", pairs ? "pairs" : "strings", t ? "" : err.msg);
        if (!t)
            continue;
        AP_CHECK(ap_tokenizer_vocab_size(t) == SP_VOCAB && ap_tokenizer_bos(t) == 1, "vocab size %d, BOS %d",
                 ap_tokenizer_vocab_size(t), ap_tokenizer_bos(t));
        AP_CHECK(ENC_IS(t, "abc hello", 1, 1, ID_SPABC, ID_SPHELLO), "merges by rank over the word, BOS first");
        AP_CHECK(ENC_IS(t, "abc hello", 0, ID_SPABC, ID_SPHELLO), "no BOS without add_special");
        AP_CHECK(ENC_IS(t, "lll", 0, ID_SP, ID_LL, ID_L), "equal ranks merge leftmost first");
        AP_CHECK(ENC_IS(t, " a", 0, ID_SP, ID_SPA), "legacy Prepend+Replace: a leading space gives two \xE2\x96\x81");
        AP_CHECK(ENC_IS(t, "a\xC3\xA9", 0, ID_SPA, 3 + 0xC3, 3 + 0xA9), "a non-vocab character -> its byte tokens");
        AP_CHECK(ENC_IS(t,
                        "a\xFF"
                        "b",
                        0, ID_SPA, 3 + 0xFF, ID_B),
                 "an invalid UTF-8 byte -> its byte token");
        AP_CHECK(ENC_IS(t, "a<s>b", 1, 1, ID_SPA, 1, ID_SP, ID_B),
                 "special tokens matched in the text; each piece normalized on its own");
        AP_CHECK(ENC_IS(t, "</s></s>", 0, 2, 2), "adjacent special tokens");
        AP_CHECK(ENC_IS(t, "", 1, 1), "empty text: only BOS");
        AP_CHECK(enc_is(t, NULL, 0, 1, (const int32_t[]){1}, 1), "no text (NULL, 0): only BOS");
        AP_CHECK(enc_is(t, "a\0b", 3, 0, (const int32_t[]){ID_SPA, 3, ID_B}, 3), "a NUL byte is a byte token");
        AP_CHECK(DEC_IS(t, 1, "abc hello", 1, ID_SPABC, ID_SPHELLO), "decode skipping specials");
        AP_CHECK(DEC_IS(t, 0, "<s> abc hello", 1, ID_SPABC, ID_SPHELLO), "decode keeping specials");
        AP_CHECK(DEC_IS(t, 1, "a\xC3\xA9", ID_SPA, 3 + 0xC3, 3 + 0xA9), "decode fuses byte tokens into UTF-8");
        AP_CHECK(DEC_IS(t, 1, "a\xEF\xBF\xBD", ID_SPA, 3 + 0xC3), "a lone byte token decodes to U+FFFD");
        AP_CHECK(dec_is(t, NULL, 0, 1, "") && dec_is(t, (const int32_t[]){1, 2}, 2, 1, ""),
                 "decoding nothing (no ids, or only skipped specials) gives an empty string");
        char *s = NULL;
        size_t len;
        AP_CHECK(ap_tokenizer_decode(t, (const int32_t[]){5000}, 1, 0, &s, &len, &err) == AP_E_ARG && !s,
                 "decode of an id out of range is AP_E_ARG: %s", err.msg);
        AP_CHECK(ap_tokenizer_find(t, SP "hello") == ID_SPHELLO && ap_tokenizer_find(t, "</s>") == 2 &&
                     ap_tokenizer_find(t, "zz") == -1,
                 "find");
        AP_CHECK(ap_tokenizer_piece(t, ID_HE) && strcmp(ap_tokenizer_piece(t, ID_HE), "he") == 0 &&
                     !ap_tokenizer_piece(t, SP_VOCAB) && !ap_tokenizer_piece(t, -1),
                 "piece");
        ap_tokenizer_free(t);
    }
}

static void test_unk(void)
{
    ap_error err = {0};
    for (int fuse = 0; fuse < 2; fuse++) {
        char *js = sp_json(0, 0, 0, fuse, NULL, NULL);
        ap_tokenizer *t = parse_or_null(js, &err);
        free(js);
        AP_CHECK(t != NULL, "no byte fallback loads %s", t ? "" : err.msg);
        if (!t)
            continue;
        if (fuse)
            AP_CHECK(ENC_IS(t,
                            "a\xC3\xA9\xC3\xA9"
                            "b",
                            0, ID_SPA, 0, ID_B),
                     "fuse_unk: consecutive unknowns -> one unk");
        else
            AP_CHECK(ENC_IS(t,
                            "a\xC3\xA9\xC3\xA9"
                            "b",
                            0, ID_SPA, 0, 0, ID_B),
                     "without fuse_unk: one unk each");
        ap_tokenizer_free(t);
    }
}

static void test_metaspace(void)
{
    ap_error err = {0};
    char *js = sp_json(1, 0, 1, 1, NULL, NULL);
    ap_tokenizer *t = parse_or_null(js, &err);
    free(js);
    AP_CHECK(t != NULL, "Metaspace (prepend_scheme first) loads %s", t ? "" : err.msg);
    if (t) {
        AP_CHECK(ENC_IS(t, "abc hello", 1, 1, ID_SPABC, ID_SPHELLO), "Metaspace: same words as the legacy style");
        AP_CHECK(ENC_IS(t, " a", 0, ID_SPA), "Metaspace: no second \xE2\x96\x81 when the text starts with a space");
        AP_CHECK(ENC_IS(t, "a<s>b", 0, ID_SPA, 1, ID_B), "prepend_scheme first: nothing prepended after a special");
        AP_CHECK(ENC_IS(t, "a  b", 0, ID_SPA, ID_SP, ID_SP, ID_B), "split before every \xE2\x96\x81");
        ap_tokenizer_free(t);
    }
    js = sp_json(2, 0, 1, 1, NULL, NULL);
    t = parse_or_null(js, &err);
    free(js);
    AP_CHECK(t && ENC_IS(t, "a<s>b", 0, ID_SPA, 1, ID_SP, ID_B), "prepend_scheme always: prepended after a special");
    AP_CHECK(t && DEC_IS(t, 1, "a  b", ID_SPA, ID_SP, ID_SP, ID_B), "Metaspace decoder: \xE2\x96\x81 -> space");
    AP_CHECK(t && DEC_IS(t, 1, " a", ID_SP, ID_SPA), "Metaspace decoder: \xE2\x96\x81 dropped in the first token only");
    ap_tokenizer_free(t);
}

/* A merge result holding every pair of adjacent vocabulary characters (its merge never applies: "☃" is not in the
 * text) leaves no place where a text can be cut: the whole text is one heap, and the results must be the same as
 * with the cuts. */
static void test_whole_text_path(void)
{
    ap_error err = {0};
    char all[512] = "", vocab[1200], merge[600];
    for (size_t i = 0; i < sizeof sp_chars / sizeof *sp_chars; i++)
        for (size_t j = 0; j < sizeof sp_chars / sizeof *sp_chars; j++) {
            strcat(all, sp_chars[i]);
            strcat(all, sp_chars[j]);
        }
    snprintf(vocab, sizeof vocab, "\"\xE2\x98\x83\":275,\"%s\":276,\"\xE2\x98\x83%s\":277", all, all);
    snprintf(merge, sizeof merge, "\"\xE2\x98\x83 %s\"", all);
    char *js1 = sp_json(0, 0, 1, 1, NULL, NULL);
    char *js2 = sp_json(0, 0, 1, 1, vocab, merge);
    ap_tokenizer *t1 = parse_or_null(js1, &err), *t2 = parse_or_null(js2, &err);
    free(js1);
    free(js2);
    AP_CHECK(t1 && t2, "tokenizers with and without a separator-crossing merge load");
    if (!t1 || !t2)
        goto out;
    size_t n = 1 << 20;
    char *text = malloc(n);
    static const char *const words[] = {"abc ", "hello ", "lll", "a", " ", "\xC3\xA9", "bc"};
    unsigned seed = 12345;
    for (size_t i = 0; i < n;) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 7];
        size_t k = strlen(w);
        if (i + k > n)
            k = n - i;
        memcpy(text + i, w, k);
        i += k;
    }
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    clock_t c0 = clock();
    ap_status s1 = ap_tokenizer_encode(t1, text, n, 1, &a, &na, &err);
    clock_t c1 = clock();
    ap_status s2 = ap_tokenizer_encode(t2, text, n, 1, &b, &nb, &err);
    clock_t c2 = clock();
    double d1 = (double)(c1 - c0) / CLOCKS_PER_SEC, d2 = (double)(c2 - c1) / CLOCKS_PER_SEC;
    AP_CHECK(s1 == AP_OK && s2 == AP_OK && na == nb && memcmp(a, b, na * sizeof *a) == 0,
             "1 MiB as one word (whole-text heap) = per-word merging: %zu ids", na);
    AP_CHECK(d2 < 10.0, "1 MiB encoded as one heap in %.3f s (per word: %.3f s): n log n, not quadratic", d2, d1);
    /* A long run with no merges at all and a long run of one repeated merge. */
    memset(text, 'l', n);
    free(b);
    b = NULL;
    AP_CHECK(ap_tokenizer_encode(t2, text, n, 0, &b, &nb, &err) == AP_OK && nb == 1 + n / 2 && b[0] == ID_SP &&
                 b[1] == ID_LL && b[nb - 1] == ID_LL,
             "1 MiB of 'l': %zu ids, pairs merged left to right", nb);
    free(a);
    free(b);
    free(text);
out:
    ap_tokenizer_free(t1);
    ap_tokenizer_free(t2);
}

/* ---- byte-level style */

/* GPT-2's byte -> character map, for building the vocabulary: byte b's character gets id b. */
static int bl_char(int b, char *out)
{
    int cp = b, n = 256;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174))
                n++;
        cp = n;
    }
    if (cp < 0x80) {
        if (cp == '"' || cp == '\\') {
            out[0] = '\\';
            out[1] = (char)cp;
            return 2;
        }
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

#define G "\xC4\xA0" /* Ġ, the stand-in for a space */

/* pattern: 0 ByteLevel with its GPT-2 regex; 1 Split(LLaMA-3 regex) + ByteLevel without regex. */
static char *bl_json(int pattern, int ignore_merges, int prefix_space)
{
    jbuf b;
    jopen(&b);
    jf(&b, "{\"added_tokens\":[{\"id\":264,\"content\":\"<|endoftext|>\",\"special\":true,\"normalized\":false}],"
           "\"normalizer\":null,");
    if (pattern == 0)
        jf(&b,
           "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":%s,\"trim_offsets\":true,"
           "\"use_regex\":true},",
           prefix_space ? "true" : "false");
    else
        jf(&b, "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
               "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}"
               "\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\","
               "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
               "\"use_regex\":false}]},");
    jf(&b,
       "\"post_processor\":{\"type\":\"ByteLevel\",\"trim_offsets\":false},\"decoder\":{\"type\":\"ByteLevel\"},"
       "\"model\":{\"type\":\"BPE\",\"ignore_merges\":%s,\"vocab\":{",
       ignore_merges ? "true" : "false");
    for (int i = 0; i < 256; i++) {
        char c[3];
        int k = bl_char(i, c);
        jf(&b, "%s\"%.*s\":%d", i ? "," : "", k, c, i);
    }
    /* 256 Ġt, 257 he, 258 Ġthe, 259 ll, 261 'll; no merges lead to 260 Ġhello, 262 'LL, 263 123: only
     * ignore_merges finds them */
    jf(&b, ",\"" G "t\":256,\"he\":257,\"" G "the\":258,\"ll\":259,\"" G "hello\":260,\"'ll\":261,"
           "\"'LL\":262,\"123\":263},"
           "\"merges\":[\"" G " t\",\"h e\",\"" G "t he\",\"l l\",\"' ll\"]}}");
    return jclose(&b);
}

static void test_byte_level(void)
{
    ap_error err = {0};
    char *js = bl_json(0, 0, 0);
    ap_tokenizer *t = parse_or_null(js, &err);
    free(js);
    AP_CHECK(t != NULL, "GPT-2 style byte-level loads %s", t ? "" : err.msg);
    if (t) {
        AP_CHECK(ap_tokenizer_bos(t) == -1 && ap_tokenizer_vocab_size(t) == 265, "no BOS, 265 ids");
        AP_CHECK(ENC_IS(t, "the the", 1, 't', 257, 258), "'the' then ' the' (space joins the next word)");
        AP_CHECK(ENC_IS(t, "\xC3\xA9", 1, 0xC3, 0xA9), "a two-byte character -> two byte symbols");
        AP_CHECK(ENC_IS(t, "we'll", 1, 'w', 'e', 261), "contraction 'll split off and merged");
        AP_CHECK(ENC_IS(t, "WE'LL", 1, 'W', 'E', '\'', 'L', 'L'), "GPT-2 contractions are case-sensitive");
        AP_CHECK(ENC_IS(t, "a  b", 1, 'a', ' ', ' ', 'b'), "whitespace run: all but the last space alone");
        AP_CHECK(ENC_IS(t, "x<|endoftext|>y", 1, 'x', 264, 'y'), "special token in byte-level text");
        AP_CHECK(ENC_IS(t, " hello", 1, ' ', 257, 259, 'o'), "without ignore_merges: the merge path only");
        AP_CHECK(ENC_IS(t, "12345", 1, '1', '2', '3', '4', '5'), "GPT-2: a digit run is one piece");
        AP_CHECK(DEC_IS(t, 0, "the the\xC3\xA9<|endoftext|>", 't', 257, 258, 0xC3, 0xA9, 264),
                 "byte-level decode restores the bytes");
        AP_CHECK(DEC_IS(t, 1, "the", 't', 257, 264), "byte-level decode skipping specials");
        ap_tokenizer_free(t);
    }
    js = bl_json(0, 0, 1);
    t = parse_or_null(js, &err);
    free(js);
    AP_CHECK(t && ENC_IS(t, "the", 1, 258) && ENC_IS(t, " the", 1, 258) &&
                 ENC_IS(t, "a<|endoftext|>the", 1, 32, 'a', 264, 258),
             "ByteLevel add_prefix_space: a space before each text stretch that lacks one");
    ap_tokenizer_free(t);
    js = bl_json(1, 1, 0);
    t = parse_or_null(js, &err);
    free(js);
    AP_CHECK(t != NULL, "LLaMA-3 style (Split regex + ByteLevel, ignore_merges) loads %s", t ? "" : err.msg);
    if (t) {
        AP_CHECK(ENC_IS(t, " hello", 1, 260), "ignore_merges: a whole word in the vocabulary is one token");
        AP_CHECK(ENC_IS(t, "WE'LL", 1, 'W', 'E', 262), "(?i) contraction 'LL split off as one piece");
        AP_CHECK(ENC_IS(t, "12345", 1, 263, '4', '5'), "digits in groups of three");
        AP_CHECK(ENC_IS(t, "(the", 1, '(', 't', 257), "one non-letter joins the following letters");
        ap_tokenizer_free(t);
    }
}

/* NFC (Qwen2's normalizer) before byte-level BPE: composition, reordering, Hangul, and a long hostile run. */
static void test_nfc(void)
{
    ap_error err = {0};
    char *js = bl_json(0, 0, 0);
    char *at = strstr(js, "\"normalizer\":null");
    const char *nfc = "\"normalizer\":{\"type\":\"NFC\"}";
    char *js2 = malloc(strlen(js) + strlen(nfc) + 1);
    sprintf(js2, "%.*s%s%s", (int)(at - js), js, nfc, at + strlen("\"normalizer\":null"));
    ap_tokenizer *t = parse_or_null(js2, &err);
    free(js);
    free(js2);
    AP_CHECK(t != NULL, "byte-level with an NFC normalizer loads %s", t ? "" : err.msg);
    if (!t)
        return;
    AP_CHECK(ENC_IS(t, "e\xCC\x81", 1, 0xC3, 0xA9), "NFC: e + U+0301 -> U+00E9");
    AP_CHECK(ENC_IS(t, "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", 1, 0xEA, 0xB0, 0x81), "NFC: Hangul L V T -> U+AC01");
    AP_CHECK(ENC_IS(t, "\xE2\x84\xAB", 1, 0xC3, 0x85), "NFC: the Angstrom sign -> U+00C5");
    AP_CHECK(ENC_IS(t, "a\xCC\x81\xCC\x96", 1, 0xC3, 0xA1, 0xCC, 0x96), "NFC: marks reordered, then composed");
    AP_CHECK(ENC_IS(t,
                    "\xFF"
                    "e\xCC\x81",
                    1, 0xFF, 0xC3, 0xA9),
             "NFC: an invalid byte passes through");
    /* 'a' then 200000 marks alternating U+0301 (class 230) and U+0316 (220): reordering sorts the whole run. */
    size_t marks = 200000, n = 1 + 2 * marks;
    char *text = malloc(n);
    text[0] = 'a';
    for (size_t i = 0; i < marks; i++) {
        text[1 + 2 * i] = (char)0xCC;
        text[2 + 2 * i] = (char)(i % 2 ? 0x96 : 0x81);
    }
    int32_t *ids = NULL;
    size_t nids = 0;
    clock_t c0 = clock();
    ap_status st = ap_tokenizer_encode(t, text, n, 1, &ids, &nids, &err);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    AP_CHECK(st == AP_OK && nids == 2 + 2 * (marks - 1) && ids[0] == 0xC3 && ids[1] == 0xA1 && ids[2] == 0xCC &&
                 ids[3] == 0x96 && ids[nids - 1] == 0x81,
             "NFC of a 400 kB run of marks: %zu ids in %.3f s", nids, secs);
    AP_CHECK(secs < 10.0, "the long run of marks is sorted in n log n (%.3f s)", secs);
    free(ids);
    free(text);
    ap_tokenizer_free(t);
}

/* ---- hostile and malformed files */

static void expect_fail(const char *json, size_t len, ap_status want, const char *needle, const char *what)
{
    ap_tokenizer *t = NULL;
    ap_error err = {0};
    ap_status st = ap_tokenizer_parse(&t, json, len, "evil.json", &err);
    AP_CHECK(st == want && !t && strstr(err.msg, needle) && strstr(err.msg, "evil.json"), "%s -> %s: %s", what,
             ap_status_name(st), err.msg);
    ap_tokenizer_free(t);
}
#define FAILS(json, want, needle, what) expect_fail(json, strlen(json), want, needle, what)

#define MINI(vocab, merges) "{\"model\":{\"type\":\"BPE\",\"vocab\":{" vocab "},\"merges\":[" merges "]}}"

static void test_hostile(void)
{
    ap_tokenizer *t = NULL;
    ap_error err = {0};
    AP_CHECK(ap_tokenizer_parse(&t, MINI("\"a\":0,\"b\":1,\"ab\":2", "\"a b\""),
                                strlen(MINI("\"a\":0,\"b\":1,\"ab\":2", "\"a b\"")), "ok.json", &err) == AP_OK,
             "the minimal valid file loads %s", err.msg);
    AP_CHECK(t && ENC_IS(t, "ab a", 1, 2, 0), "minimal: no normalizer, no BOS; the space is dropped (no unk)");
    ap_tokenizer_free(t);

    FAILS(MINI("\"a\":0,\"b\":0", ""), AP_E_FORMAT, "id 0", "duplicate ids");
    FAILS(MINI("\"a\":0,\"b\":7", ""), AP_E_FORMAT, "out of range", "id out of range");
    FAILS(MINI("\"a\":0,\"b\":-1", ""), AP_E_FORMAT, "model.vocab", "negative id");
    FAILS(MINI("\"a\":0,\"b\":1.5", ""), AP_E_FORMAT, "model.vocab", "fractional id");
    FAILS(MINI("\"a\":0,\"b\":\"1\"", ""), AP_E_FORMAT, "model.vocab", "string id");
    FAILS(MINI("\"a\":0,\"a\":1", ""), AP_E_FORMAT, "duplicate", "duplicate token key");
    FAILS(MINI("\"a\":0,\"b\":1", "\"a c\""), AP_E_FORMAT, "model.merges[0]", "merge naming a missing token");
    FAILS(MINI("\"a\":0,\"b\":1", "\"a b\""), AP_E_FORMAT, "merged token", "merge whose result is missing");
    FAILS(MINI("\"a\":0,\"b\":1,\"ab\":2", "\"ab\""), AP_E_FORMAT, "model.merges[0]", "merge without a space");
    FAILS(MINI("\"a\":0,\"b\":1,\"ab\":2", "[\"a\"]"), AP_E_FORMAT, "model.merges[0]", "merge pair of one");
    FAILS(MINI("\"a\":0,\"b\":1,\"ab\":2", "7"), AP_E_FORMAT, "model.merges[0]", "merge that is a number");
    FAILS(MINI("", ""), AP_E_FORMAT, "model.vocab", "empty vocabulary");
    FAILS("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", AP_E_UNSUPPORTED, "model.type",
          "WordPiece model");
    FAILS("{\"model\":{\"vocab\":{\"a\":0},\"unk_token\":\"<unk>\"}}", AP_E_FORMAT, "unk_token",
          "unk token not in the vocabulary");
    FAILS("{\"model\":{\"vocab\":{\"a\":0},\"dropout\":0.1}}", AP_E_UNSUPPORTED, "dropout", "BPE dropout");
    FAILS("{\"added_tokens\":[{\"id\":1,\"content\":\"a\"}],\"model\":{\"vocab\":{\"a\":0,\"b\":1}}}", AP_E_FORMAT,
          "added_tokens[0]", "added token with another id than the vocabulary's");
    FAILS("{\"added_tokens\":[{\"id\":0,\"content\":\"<x>\"}],\"model\":{\"vocab\":{\"a\":0}}}", AP_E_FORMAT,
          "added_tokens[0]", "added token reusing a vocabulary id");
    FAILS("{\"added_tokens\":[{\"id\":9,\"content\":\"<x>\"}],\"model\":{\"vocab\":{\"a\":0}}}", AP_E_FORMAT,
          "out of range", "added token id out of range");
    FAILS("{\"added_tokens\":[{\"id\":1,\"content\":\"\"}],\"model\":{\"vocab\":{\"a\":0}}}", AP_E_FORMAT,
          "added_tokens[0].content", "empty added token");
    FAILS("{\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"},{\"id\":2,\"content\":\"<x>\"}],"
          "\"model\":{\"vocab\":{\"a\":0}}}",
          AP_E_FORMAT, "added twice", "added token twice");
    FAILS("{\"model\":{\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},"
          "\"behavior\":\"Isolated\"}}",
          AP_E_UNSUPPORTED, "pre_tokenizer", "unknown split regex");
    FAILS("{\"model\":{\"vocab\":{\"a\":0}},\"normalizer\":{\"type\":\"Lowercase\"}}", AP_E_UNSUPPORTED, "normalizer",
          "unsupported normalizer");
    FAILS("{\"model\":{\"vocab\":{\"a\":0}},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":"
          "[{\"SpecialToken\":{\"id\":\"<s>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}}",
          AP_E_FORMAT, "post_processor", "template naming an undefined special token");
    FAILS("{\"model\":{\"vocab\":{\"a\":0}},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":"
          "[{\"SpecialToken\":{\"id\":\"<s>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":"
          "{\"id\":\"<s>\",\"ids\":[5]}}}}",
          AP_E_FORMAT, "out of range", "template id out of range");
    FAILS("{\"model\":", AP_E_FORMAT, "not valid JSON", "truncated JSON");
    FAILS("[1,2]", AP_E_FORMAT, "not a JSON object", "JSON array at the top");
    FAILS("{\"model\":{\"vocab\":{\"a\xff\":0}}}", AP_E_FORMAT, "UTF-8", "invalid UTF-8 in the file");
    FAILS("{\"model\":{\"vocab\":{\"a\\u0000b\":0}}}", AP_E_FORMAT, "u0000", "NUL escape in a token");

    /* Deep nesting, a huge token, a huge added token. */
    jbuf b;
    jopen(&b);
    jf(&b, "{\"model\":{\"vocab\":{\"a\":0}},\"x\":");
    for (int i = 0; i < 100000; i++)
        jf(&b, "[");
    for (int i = 0; i < 100000; i++)
        jf(&b, "]");
    jf(&b, "}");
    char *deep = jclose(&b);
    FAILS(deep, AP_E_FORMAT, "nested deeper", "100000 nested arrays");
    free(deep);
    jopen(&b);
    jf(&b, "{\"model\":{\"vocab\":{\"a\":0,\"");
    for (int i = 0; i < AP_TOKENIZER_MAX_TOKEN_BYTES + 1; i++)
        jf(&b, "x");
    jf(&b, "\":1}}}");
    char *huge = jclose(&b);
    FAILS(huge, AP_E_FORMAT, "bytes long", "a token longer than the limit");
    free(huge);
    jopen(&b);
    jf(&b, "{\"added_tokens\":[{\"id\":1,\"content\":\"");
    for (int i = 0; i < AP_TOKENIZER_MAX_ADDED_BYTES + 1; i++)
        jf(&b, "y");
    jf(&b, "\"}],\"model\":{\"vocab\":{\"a\":0}}}");
    huge = jclose(&b);
    FAILS(huge, AP_E_FORMAT, "added_tokens[0].content", "an added token longer than the limit");
    free(huge);

    /* Size limits checked before reading: a sparse file just over the limit. */
    char path[] = "/tmp/ap-tok-big-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        int rc = ftruncate(fd, (off_t)AP_TOKENIZER_MAX_FILE_BYTES + 1);
        close(fd);
        AP_CHECK(rc == 0 && ap_tokenizer_load(&t, path, &err) == AP_E_FORMAT && !t && strstr(err.msg, path) &&
                     strstr(err.msg, "limit"),
                 "a file over the size limit is refused unread: %s", err.msg);
        unlink(path);
    } else {
        AP_CHECK(0, "could not create a temporary file");
    }
    AP_CHECK(ap_tokenizer_load(&t, "/nonexistent/tokenizer.json", &err) == AP_E_IO && !t &&
                 strstr(err.msg, "/nonexistent/tokenizer.json"),
             "a missing file is AP_E_IO naming it");
}

int main(void)
{
    test_sp_style();
    test_unk();
    test_metaspace();
    test_whole_text_path();
    test_byte_level();
    test_nfc();
    test_hostile();
    return aptest_done();
}
