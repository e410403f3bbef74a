/* ap_tokenizer.c — tokenizer.json: validated loading, BPE encoding with Hugging Face tokenizers' semantics
 * (sentencepiece-style with byte fallback, and byte-level with the GPT-2 / LLaMA-3 / Qwen2 split regexes),
 * and decoding. */
#include "ap_tokenizer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ap_file.h"
#include "ap_json.h"
#include "ap_unicode.h"

#define MAX_OPS 16      /* steps of a normalizer / pre-tokenizer / decoder sequence */
#define MAX_TEMPLATE 16 /* special ids the post-processor puts before or after the sequence */
#define MAX_SHORT 64    /* Prepend / Replace / Metaspace strings */

/* ---------------------------------------------------------------- hash maps */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return mix64(h ^ n);
}

static size_t table_size(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

/* uint64 key -> two int32 values (merges: pair -> rank, merged id; trie: node<<8|byte -> child). Sized once
 * for the number of keys it will hold. */
#define KEY_EMPTY UINT64_MAX
typedef struct {
    uint64_t key;
    int32_t a, b;
} u64slot;
typedef struct {
    u64slot *slot;
    size_t mask;
} u64map;

static bool u64map_init(u64map *m, size_t n)
{
    size_t cap = table_size(n);
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot)
        return false;
    for (size_t i = 0; i < cap; i++)
        m->slot[i].key = KEY_EMPTY;
    m->mask = cap - 1;
    return true;
}

static const u64slot *u64map_get(const u64map *m, uint64_t key)
{
    if (!m->slot)
        return NULL;
    for (size_t i = mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == key)
            return &m->slot[i];
        if (m->slot[i].key == KEY_EMPTY)
            return NULL;
    }
}

/* The slot of key, created if absent (*fresh says which). */
static u64slot *u64map_put(u64map *m, uint64_t key, bool *fresh)
{
    for (size_t i = mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == key) {
            *fresh = false;
            return &m->slot[i];
        }
        if (m->slot[i].key == KEY_EMPTY) {
            m->slot[i].key = key;
            *fresh = true;
            return &m->slot[i];
        }
    }
}

/* ---------------------------------------------------------------- the tokenizer */

enum { N_PREPEND, N_REPLACE, N_NFC };
enum { P_METASPACE, P_SPLIT, P_BYTELEVEL, P_DIGITS };
enum { PAT_GPT2, PAT_LLAMA3, PAT_QWEN2 };
enum { SCHEME_ALWAYS, SCHEME_FIRST, SCHEME_NEVER };
enum { D_REPLACE, D_BYTEFALLBACK, D_FUSE, D_STRIP, D_BYTELEVEL, D_METASPACE };

typedef struct {
    int kind;
    char a[MAX_SHORT], b[MAX_SHORT];
    size_t alen, blen;
} norm_op;
typedef struct {
    int kind, pattern, scheme;
    bool split, prefix_space, use_regex, individual;
    char rep[8];
    size_t replen;
} pre_op;
typedef struct {
    int kind, start, stop, scheme;
    char a[MAX_SHORT], b[MAX_SHORT];
    size_t alen, blen;
} dec_op;

typedef struct {
    int32_t id;
    bool lstrip, rstrip, single_word, normalized, special;
} added_tok;

/* Byte trie of added tokens: leftmost-longest matching with cost bounded by the longest token per position. */
typedef struct {
    u64map edge;   /* node << 8 | byte -> child node (in .a) */
    int32_t *term; /* node -> index in added[] of the token ending there, or -1 */
    int32_t n_nodes;
    bool first[256]; /* bytes some token starts with: most positions are skipped without a lookup */
} trie;

struct ap_tokenizer {
    char label[256];
    int32_t n_ids, n_model;
    char **piece; /* id -> token string (owned, NUL-terminated) */
    uint32_t *piece_len;
    uint8_t *special; /* id -> special added token */
    uint32_t *vslot;  /* model vocab hash: id + 1, 0 = empty */
    size_t vmask;
    u64map merges;             /* (left id << 32 | right id) -> rank, merged id */
    int32_t unk, byte_id[256]; /* <0xXX> ids for byte fallback (-1 where absent) */
    int32_t ascii_id[128];     /* id of each one-byte character, or -1: the hot path of the first BPE step */
    u64map join;               /* adjacent character pairs inside merge results (cp << 21 | cp): see find_joins */
    size_t join_used;
    bool cuts; /* join is complete: cut pieces where no merge can join */
    bool byte_fallback, fuse_unk, ignore_merges;
    added_tok *added;
    int n_added;
    trie tr_raw, tr_norm; /* added tokens matched in the raw / the normalized text */
    norm_op norm[MAX_OPS];
    int n_norm;
    pre_op pre[MAX_OPS];
    int n_pre;
    dec_op dec[MAX_OPS];
    int n_dec;
    char dec_unsupported[96]; /* decoding refused (encoding still works) */
    int32_t prefix[MAX_TEMPLATE], suffix[MAX_TEMPLATE];
    int n_prefix, n_suffix;
    char bl_char[256][3]; /* byte-level alphabet: byte -> UTF-8 of its printable stand-in */
    uint8_t bl_len[256];
    int16_t bl_back[324]; /* code point (< 324) -> byte, or -1 */
};

static int32_t vocab_find(const ap_tokenizer *t, const char *s, size_t n)
{
    for (size_t i = hash_bytes(s, n) & t->vmask;; i = (i + 1) & t->vmask) {
        uint32_t v = t->vslot[i];
        if (!v)
            return -1;
        int32_t id = (int32_t)v - 1;
        if (t->piece_len[id] == n && memcmp(t->piece[id], s, n) == 0)
            return id;
    }
}

static void vocab_insert(ap_tokenizer *t, int32_t id)
{
    size_t i = hash_bytes(t->piece[id], t->piece_len[id]) & t->vmask;
    while (t->vslot[i])
        i = (i + 1) & t->vmask;
    t->vslot[i] = (uint32_t)id + 1;
}

/* GPT-2's byte -> printable character map: printable Latin-1 bytes stand for themselves, the other 68 bytes take
 * U+0100 onwards in byte order. */
static void bytelevel_init(ap_tokenizer *t)
{
    int next = 256;
    for (int i = 0; i < 324; i++)
        t->bl_back[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)next++;
        t->bl_len[b] = (uint8_t)ap_utf8_put(cp, t->bl_char[b]);
        t->bl_back[cp] = (int16_t)b;
    }
}

void ap_tokenizer_free(ap_tokenizer *t)
{
    if (!t)
        return;
    if (t->piece)
        for (int32_t i = 0; i < t->n_ids; i++)
            free(t->piece[i]);
    free(t->piece);
    free(t->piece_len);
    free(t->special);
    free(t->vslot);
    free(t->merges.slot);
    free(t->join.slot);
    free(t->added);
    free(t->tr_raw.edge.slot);
    free(t->tr_raw.term);
    free(t->tr_norm.edge.slot);
    free(t->tr_norm.term);
    free(t);
}

int ap_tokenizer_vocab_size(const ap_tokenizer *t) { return t ? t->n_ids : 0; }
int ap_tokenizer_bos(const ap_tokenizer *t) { return t && t->n_prefix > 0 ? t->prefix[0] : -1; }

const char *ap_tokenizer_piece(const ap_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids ? t->piece[id] : NULL;
}

int32_t ap_tokenizer_find(const ap_tokenizer *t, const char *s)
{
    if (!t || !s)
        return -1;
    size_t n = strlen(s);
    int32_t id = vocab_find(t, s, n);
    if (id >= 0)
        return id;
    for (int i = 0; i < t->n_added; i++) {
        int32_t a = t->added[i].id;
        if (t->piece_len[a] == n && memcmp(t->piece[a], s, n) == 0)
            return a;
    }
    return -1;
}

/* ---------------------------------------------------------------- loading: helpers */

typedef struct {
    ap_tokenizer *t;
    ap_error *err;
    const char *label;
} loader;

#define FAIL(L, code, ...) ap_error_set((L)->err, code, __VA_ARGS__)

static const char *quote(const char *s, char *buf, size_t n) { return ap_json_quote(s, buf, n); }

/* Optional boolean field: absent or null gives dflt. */
static ap_status get_bool(loader *L, const cJSON *obj, const char *key, const char *where, bool dflt, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return AP_OK;
    }
    if (!cJSON_IsBool(v))
        return FAIL(L, AP_E_FORMAT, "%s: %s.%s: expected true or false", L->label, where, key);
    *out = cJSON_IsTrue(v);
    return AP_OK;
}

/* Optional short string field (at most MAX_SHORT - 1 bytes); absent or null gives NULL. */
static ap_status get_short(loader *L, const cJSON *obj, const char *key, const char *where, char *out, size_t *len,
                           bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = false;
    if (!v || cJSON_IsNull(v))
        return AP_OK;
    if (!cJSON_IsString(v))
        return FAIL(L, AP_E_FORMAT, "%s: %s.%s: expected a string", L->label, where, key);
    size_t n = strlen(v->valuestring);
    if (n >= MAX_SHORT)
        return FAIL(L, AP_E_FORMAT, "%s: %s.%s: string longer than %d bytes", L->label, where, key, MAX_SHORT - 1);
    memcpy(out, v->valuestring, n + 1);
    *len = n;
    *present = true;
    return AP_OK;
}

static const char *type_of(const cJSON *obj)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* ---------------------------------------------------------------- loading: model */

static ap_status load_vocab(loader *L, const cJSON *vocab, int n_added_max)
{
    ap_tokenizer *t = L->t;
    char q[80];
    if (!cJSON_IsObject(vocab))
        return FAIL(L, AP_E_FORMAT, "%s: model.vocab: missing or not an object", L->label);
    int n = cJSON_GetArraySize(vocab);
    if (n < 1 || n > AP_TOKENIZER_MAX_VOCAB)
        return FAIL(L, AP_E_FORMAT, "%s: model.vocab: %d entries (1 to %d allowed)", L->label, n,
                    AP_TOKENIZER_MAX_VOCAB);
    int32_t cap = n + n_added_max;
    t->piece = calloc((size_t)cap, sizeof *t->piece);
    t->piece_len = calloc((size_t)cap, sizeof *t->piece_len);
    t->special = calloc((size_t)cap, 1);
    size_t slots = table_size((size_t)n);
    t->vslot = calloc(slots, sizeof *t->vslot);
    if (!t->piece || !t->piece_len || !t->special || !t->vslot)
        return FAIL(L, AP_E_NOMEM, "%s: out of memory for a vocabulary of %d tokens", L->label, n);
    t->vmask = slots - 1;
    t->n_ids = cap; /* so that free() sees every slot; the real count is set once added tokens are known */
    t->n_model = n;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        size_t len = strlen(e->string);
        int64_t id;
        if (len == 0)
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: empty token", L->label);
        if (len > AP_TOKENIZER_MAX_TOKEN_BYTES)
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: token \"%s\" is %zu bytes long (at most %d)", L->label,
                        quote(e->string, q, sizeof q), len, AP_TOKENIZER_MAX_TOKEN_BYTES);
        if (!ap_json_is_int(e, 0, INT32_MAX - 1, &id))
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: token \"%s\": id is not a non-negative integer", L->label,
                        quote(e->string, q, sizeof q));
        if (id >= cap)
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: token \"%s\" has id %lld, out of range (at most %d ids)",
                        L->label, quote(e->string, q, sizeof q), (long long)id, cap);
        if (t->piece[id]) {
            char q2[80];
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: id %lld is used by both \"%s\" and \"%s\"", L->label,
                        (long long)id, quote(t->piece[id], q2, sizeof q2), quote(e->string, q, sizeof q));
        }
        if (vocab_find(t, e->string, len) >= 0)
            return FAIL(L, AP_E_FORMAT, "%s: model.vocab: duplicate token \"%s\"", L->label,
                        quote(e->string, q, sizeof q));
        if (!(t->piece[id] = strdup(e->string)))
            return FAIL(L, AP_E_NOMEM, "%s: out of memory", L->label);
        t->piece_len[id] = (uint32_t)len;
        vocab_insert(t, (int32_t)id);
    }
    return AP_OK;
}

/* One merge: "a b" or ["a", "b"]. */
static ap_status merge_parts(loader *L, const cJSON *m, int r, const char **a, size_t *alen, const char **b,
                             size_t *blen)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ') || sp == s || !sp[1])
            return FAIL(L, AP_E_FORMAT, "%s: model.merges[%d]: expected \"left right\" (two tokens, one space)",
                        L->label, r);
        *a = s, *alen = (size_t)(sp - s), *b = sp + 1, *blen = strlen(sp + 1);
        return AP_OK;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
        *a = m->child->valuestring, *alen = strlen(*a);
        *b = m->child->next->valuestring, *blen = strlen(*b);
        return AP_OK;
    }
    return FAIL(L, AP_E_FORMAT,
                "%s: model.merges[%d]: expected a \"left right\" string or a [\"left\", \"right\"] pair", L->label, r);
}

static ap_status load_merges(loader *L, const cJSON *merges)
{
    ap_tokenizer *t = L->t;
    char q[80];
    if (!merges || cJSON_IsNull(merges))
        return AP_OK;
    if (!cJSON_IsArray(merges))
        return FAIL(L, AP_E_FORMAT, "%s: model.merges: not an array", L->label);
    int n = cJSON_GetArraySize(merges);
    if (n > AP_TOKENIZER_MAX_MERGES)
        return FAIL(L, AP_E_FORMAT, "%s: model.merges: %d entries (at most %d)", L->label, n, AP_TOKENIZER_MAX_MERGES);
    if (!u64map_init(&t->merges, (size_t)n))
        return FAIL(L, AP_E_NOMEM, "%s: out of memory for %d merges", L->label, n);
    char *cat = malloc(2 * AP_TOKENIZER_MAX_TOKEN_BYTES + 1);
    if (!cat)
        return FAIL(L, AP_E_NOMEM, "%s: out of memory", L->label);
    ap_status st = AP_OK;
    int r = 0;
    for (const cJSON *m = merges->child; m && !st; m = m->next, r++) {
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        if ((st = merge_parts(L, m, r, &a, &alen, &b, &blen)))
            break;
        int32_t ia = vocab_find(t, a, alen), ib = vocab_find(t, b, blen);
        if (ia < 0 || ib < 0) {
            char tmp[AP_TOKENIZER_MAX_TOKEN_BYTES + 1];
            const char *miss = ia < 0 ? a : b;
            size_t ml = ia < 0 ? alen : blen;
            if (ml > AP_TOKENIZER_MAX_TOKEN_BYTES)
                ml = AP_TOKENIZER_MAX_TOKEN_BYTES;
            memcpy(tmp, miss, ml);
            tmp[ml] = '\0';
            st = FAIL(L, AP_E_FORMAT, "%s: model.merges[%d]: token \"%s\" is not in the vocabulary", L->label, r,
                      quote(tmp, q, sizeof q));
            break;
        }
        memcpy(cat, a, alen);
        memcpy(cat + alen, b, blen);
        cat[alen + blen] = '\0';
        int32_t im = vocab_find(t, cat, alen + blen);
        if (im < 0) {
            st = FAIL(L, AP_E_FORMAT, "%s: model.merges[%d]: the merged token \"%s\" is not in the vocabulary",
                      L->label, r, quote(cat, q, sizeof q));
            break;
        }
        bool fresh;
        u64slot *s = u64map_put(&t->merges, (uint64_t)ia << 32 | (uint32_t)ib, &fresh);
        s->a = r; /* a repeated pair keeps its last rank, as Hugging Face's merge map does */
        s->b = im;
    }
    free(cat);
    return st;
}

static ap_status load_model(loader *L, const cJSON *model, int n_added_max)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    char q[80];
    if (!cJSON_IsObject(model))
        return FAIL(L, AP_E_FORMAT, "%s: model: missing or not an object", L->label);
    const char *ty = type_of(model);
    if (cJSON_GetObjectItemCaseSensitive(model, "type") && (!ty || strcmp(ty, "BPE") != 0))
        return FAIL(L, AP_E_UNSUPPORTED, "%s: model.type \"%s\" is not supported (only BPE)", L->label,
                    ty ? quote(ty, q, sizeof q) : "?");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return FAIL(L, AP_E_UNSUPPORTED, "%s: model.dropout: BPE dropout is not supported", L->label);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
            return FAIL(L, AP_E_UNSUPPORTED, "%s: model.%s is not supported", L->label, affixes[i]);
    }
    if ((st = load_vocab(L, cJSON_GetObjectItemCaseSensitive(model, "vocab"), n_added_max)))
        return st;
    if ((st = load_merges(L, cJSON_GetObjectItemCaseSensitive(model, "merges"))))
        return st;
    if ((st = get_bool(L, model, "byte_fallback", "model", false, &t->byte_fallback)))
        return st;
    if ((st = get_bool(L, model, "fuse_unk", "model", false, &t->fuse_unk)))
        return st;
    if ((st = get_bool(L, model, "ignore_merges", "model", false, &t->ignore_merges)))
        return st;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = t->byte_fallback ? vocab_find(t, name, 6) : -1;
    }
    t->unk = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (unk && !cJSON_IsNull(unk)) {
        if (!cJSON_IsString(unk))
            return FAIL(L, AP_E_FORMAT, "%s: model.unk_token: expected a string", L->label);
        t->unk = vocab_find(t, unk->valuestring, strlen(unk->valuestring));
        if (t->unk < 0)
            return FAIL(L, AP_E_FORMAT, "%s: model.unk_token \"%s\" is not in the vocabulary", L->label,
                        quote(unk->valuestring, q, sizeof q));
    }
    return AP_OK;
}

/* ---------------------------------------------------------------- loading: added tokens */

static ap_status load_added(loader *L, const cJSON *arr)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    char q[80], where[48];
    int i = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        if (!cJSON_IsObject(e))
            return FAIL(L, AP_E_FORMAT, "%s: %s: not an object", L->label, where);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        int64_t id;
        if (!cJSON_IsString(c))
            return FAIL(L, AP_E_FORMAT, "%s: %s.content: expected a string", L->label, where);
        size_t len = strlen(c->valuestring);
        if (len == 0 || len > AP_TOKENIZER_MAX_ADDED_BYTES)
            return FAIL(L, AP_E_FORMAT, "%s: %s.content: %zu bytes (1 to %d allowed)", L->label, where, len,
                        AP_TOKENIZER_MAX_ADDED_BYTES);
        if (!ap_json_is_int(cJSON_GetObjectItemCaseSensitive(e, "id"), 0, INT32_MAX - 1, &id))
            return FAIL(L, AP_E_FORMAT, "%s: %s.id: not a non-negative integer", L->label, where);
        if (id >= t->n_ids)
            return FAIL(L, AP_E_FORMAT, "%s: %s: id %lld is out of range (at most %d ids)", L->label, where,
                        (long long)id, t->n_ids);
        added_tok *a = &t->added[t->n_added];
        a->id = (int32_t)id;
        if ((st = get_bool(L, e, "lstrip", where, false, &a->lstrip)) ||
            (st = get_bool(L, e, "rstrip", where, false, &a->rstrip)) ||
            (st = get_bool(L, e, "single_word", where, false, &a->single_word)) ||
            (st = get_bool(L, e, "special", where, false, &a->special)) ||
            (st = get_bool(L, e, "normalized", where, !a->special, &a->normalized)))
            return st;
        for (int k = 0; k < t->n_added; k++) {
            int32_t o = t->added[k].id;
            if (t->piece_len[o] == len && memcmp(t->piece[o], c->valuestring, len) == 0)
                return FAIL(L, AP_E_FORMAT, "%s: %s: token \"%s\" is added twice", L->label, where,
                            quote(c->valuestring, q, sizeof q));
            if (o == a->id)
                return FAIL(L, AP_E_FORMAT, "%s: %s: id %d is used by two added tokens", L->label, where, o);
        }
        int32_t in_vocab = vocab_find(t, c->valuestring, len);
        if (in_vocab >= 0 && in_vocab != a->id)
            return FAIL(L, AP_E_FORMAT, "%s: %s: token \"%s\" has id %d in model.vocab but id %d here", L->label, where,
                        quote(c->valuestring, q, sizeof q), in_vocab, a->id);
        if (in_vocab < 0) {
            if (t->piece[a->id])
                return FAIL(L, AP_E_FORMAT, "%s: %s: id %d of \"%s\" is already the vocabulary's \"%s\"", L->label,
                            where, a->id, quote(c->valuestring, q, sizeof q), t->piece[a->id]);
            if (!(t->piece[a->id] = strdup(c->valuestring)))
                return FAIL(L, AP_E_NOMEM, "%s: out of memory", L->label);
            t->piece_len[a->id] = (uint32_t)len;
        }
        t->special[a->id] = a->special;
        t->n_added++;
    }
    return AP_OK;
}

/* Ids must be exactly 0 .. n-1: unique (checked while loading) and all below the number of tokens. */
static ap_status check_dense(loader *L)
{
    ap_tokenizer *t = L->t;
    int32_t n = 0, cap = t->n_ids;
    for (int32_t i = 0; i < cap; i++)
        n += t->piece[i] != NULL;
    for (int32_t i = n; i < cap; i++) {
        if (t->piece[i]) {
            char q[80];
            bool added = vocab_find(t, t->piece[i], t->piece_len[i]) != i;
            return FAIL(L, AP_E_FORMAT, "%s: %s: token \"%s\" has id %d, out of range (the tokenizer has %d tokens)",
                        L->label, added ? "added_tokens" : "model.vocab", quote(t->piece[i], q, sizeof q), i, n);
        }
    }
    t->n_ids = n;
    return AP_OK;
}

static ap_status trie_build(loader *L, trie *tr, bool normalized)
{
    ap_tokenizer *t = L->t;
    size_t bytes = 1;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized)
            bytes += t->piece_len[t->added[i].id];
    if (!u64map_init(&tr->edge, bytes) || !(tr->term = malloc(bytes * sizeof *tr->term)))
        return FAIL(L, AP_E_NOMEM, "%s: out of memory for added tokens", L->label);
    tr->n_nodes = 1;
    tr->term[0] = -1;
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].normalized != normalized)
            continue;
        const unsigned char *s = (const unsigned char *)t->piece[t->added[i].id];
        int32_t node = 0;
        for (; *s; s++) {
            bool fresh;
            u64slot *e = u64map_put(&tr->edge, (uint64_t)node << 8 | *s, &fresh);
            if (fresh) {
                e->a = tr->n_nodes;
                tr->term[tr->n_nodes++] = -1;
            }
            node = e->a;
        }
        tr->term[node] = i;
        tr->first[(unsigned char)t->piece[t->added[i].id][0]] = true;
    }
    return AP_OK;
}

/* ---------------------------------------------------------------- loading: pipeline sections */

typedef ap_status (*section_fn)(loader *L, const cJSON *item, const char *where);

/* What the four pipeline sections (normalizer, pre_tokenizer, post_processor, decoder) share: absent or null is
 * none; otherwise an object with a "type", where a "Sequence" lists further sections under list_key, each loaded by
 * fn in order. *ty is the type of a single section for the caller to load, NULL when nothing is left to do. */
static ap_status open_section(loader *L, const cJSON *n, const char *where, const char *list_key, section_fn fn,
                              const char **ty)
{
    *ty = NULL;
    if (!n || cJSON_IsNull(n))
        return AP_OK;
    const char *type = cJSON_IsObject(n) ? type_of(n) : NULL;
    if (!type)
        return FAIL(L, AP_E_FORMAT, "%s: %s: expected an object with a \"type\"", L->label, where);
    if (strcmp(type, "Sequence") != 0) {
        *ty = type;
        return AP_OK;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, list_key);
    if (!cJSON_IsArray(list))
        return FAIL(L, AP_E_FORMAT, "%s: %s.%s: expected an array", L->label, where, list_key);
    ap_status st;
    for (const cJSON *c = list->child; c; c = c->next)
        if ((st = fn(L, c, where)))
            return st;
    return AP_OK;
}

static ap_status load_normalizer(loader *L, const cJSON *n, const char *where)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    char q[80];
    bool present;
    const char *ty;
    if ((st = open_section(L, n, where, "normalizers", load_normalizer, &ty)) || !ty)
        return st;
    if (t->n_norm == MAX_OPS)
        return FAIL(L, AP_E_FORMAT, "%s: %s: more than %d steps", L->label, where, MAX_OPS);
    norm_op *op = &t->norm[t->n_norm];
    if (strcmp(ty, "Prepend") == 0) {
        op->kind = N_PREPEND;
        if ((st = get_short(L, n, "prepend", where, op->a, &op->alen, &present)))
            return st;
        if (!present)
            return FAIL(L, AP_E_FORMAT, "%s: %s.prepend: missing", L->label, where);
    } else if (strcmp(ty, "Replace") == 0) {
        op->kind = N_REPLACE;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        if (!cJSON_IsObject(pat) || !cJSON_GetObjectItemCaseSensitive(pat, "String"))
            return FAIL(L, AP_E_UNSUPPORTED, "%s: %s.pattern: only a plain {\"String\": ...} pattern is supported",
                        L->label, where);
        if ((st = get_short(L, pat, "String", where, op->a, &op->alen, &present)))
            return st;
        if (!present || !op->alen)
            return FAIL(L, AP_E_FORMAT, "%s: %s.pattern.String: missing or empty", L->label, where);
        if ((st = get_short(L, n, "content", where, op->b, &op->blen, &present)))
            return st;
        if (!present)
            return FAIL(L, AP_E_FORMAT, "%s: %s.content: missing", L->label, where);
    } else if (strcmp(ty, "NFC") == 0) {
        op->kind = N_NFC;
    } else {
        return FAIL(L, AP_E_UNSUPPORTED, "%s: %s.type \"%s\" is not supported", L->label, where,
                    quote(ty, q, sizeof q));
    }
    t->n_norm++;
    return AP_OK;
}

/* The split regexes in use (as tokenizer.json spells them after JSON unescaping), matched by hand. */
static const char PAT_GPT2_TEXT[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PAT_LLAMA3_TEXT[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2_TEXT[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static ap_status load_scheme(loader *L, const cJSON *p, const char *where, int *scheme)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme");
    if (cJSON_IsString(s)) {
        if (strcmp(s->valuestring, "always") == 0)
            *scheme = SCHEME_ALWAYS;
        else if (strcmp(s->valuestring, "first") == 0)
            *scheme = SCHEME_FIRST;
        else if (strcmp(s->valuestring, "never") == 0)
            *scheme = SCHEME_NEVER;
        else
            return FAIL(L, AP_E_FORMAT, "%s: %s.prepend_scheme: expected always, first or never", L->label, where);
        return AP_OK;
    }
    bool add; /* files written before prepend_scheme existed */
    ap_status st = get_bool(L, p, "add_prefix_space", where, true, &add);
    *scheme = add ? SCHEME_ALWAYS : SCHEME_NEVER;
    return st;
}

static ap_status load_replacement(loader *L, const cJSON *p, const char *where, char *rep, size_t *len)
{
    char buf[MAX_SHORT];
    bool present;
    ap_status st = get_short(L, p, "replacement", where, buf, len, &present);
    if (st)
        return st;
    if (!present) {
        memcpy(buf, "\xE2\x96\x81", 4);
        *len = 3;
    }
    size_t k;
    if (*len == 0 || *len > 4 || ap_utf8_next((const unsigned char *)buf, *len, &k) == AP_CP_INVALID || k != *len)
        return FAIL(L, AP_E_FORMAT, "%s: %s.replacement: expected one character", L->label, where);
    memcpy(rep, buf, *len + 1);
    return AP_OK;
}

static ap_status load_split(loader *L, const cJSON *p, const char *where, pre_op *op)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
    const cJSON *re = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(p, "invert");
    if (!cJSON_IsString(re))
        return FAIL(L, AP_E_UNSUPPORTED,
                    "%s: %s.pattern: only the GPT-2 / LLaMA-3 / Qwen2 Regex patterns are supported", L->label, where);
    if (strcmp(re->valuestring, PAT_GPT2_TEXT) == 0)
        op->pattern = PAT_GPT2;
    else if (strcmp(re->valuestring, PAT_LLAMA3_TEXT) == 0)
        op->pattern = PAT_LLAMA3;
    else if (strcmp(re->valuestring, PAT_QWEN2_TEXT) == 0)
        op->pattern = PAT_QWEN2;
    else
        return FAIL(L, AP_E_UNSUPPORTED,
                    "%s: %s.pattern.Regex: this regex is not supported (only the GPT-2, LLaMA-3 "
                    "and Qwen2 split patterns)",
                    L->label, where);
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0)
        return FAIL(L, AP_E_UNSUPPORTED, "%s: %s.behavior: only \"Isolated\" is supported", L->label, where);
    if (cJSON_IsTrue(inv))
        return FAIL(L, AP_E_UNSUPPORTED, "%s: %s.invert: true is not supported", L->label, where);
    return AP_OK;
}

static ap_status load_pre(loader *L, const cJSON *p, const char *where)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    char q[80];
    const char *ty;
    if ((st = open_section(L, p, where, "pretokenizers", load_pre, &ty)) || !ty)
        return st;
    if (t->n_pre == MAX_OPS)
        return FAIL(L, AP_E_FORMAT, "%s: %s: more than %d steps", L->label, where, MAX_OPS);
    pre_op *op = &t->pre[t->n_pre];
    memset(op, 0, sizeof *op);
    if (strcmp(ty, "Metaspace") == 0) {
        op->kind = P_METASPACE;
        if ((st = load_replacement(L, p, where, op->rep, &op->replen)) ||
            (st = load_scheme(L, p, where, &op->scheme)) || (st = get_bool(L, p, "split", where, true, &op->split)))
            return st;
    } else if (strcmp(ty, "ByteLevel") == 0) {
        op->kind = P_BYTELEVEL;
        if ((st = get_bool(L, p, "add_prefix_space", where, true, &op->prefix_space)) ||
            (st = get_bool(L, p, "use_regex", where, true, &op->use_regex)))
            return st;
    } else if (strcmp(ty, "Split") == 0) {
        op->kind = P_SPLIT;
        if ((st = load_split(L, p, where, op)))
            return st;
    } else if (strcmp(ty, "Digits") == 0) {
        op->kind = P_DIGITS;
        if ((st = get_bool(L, p, "individual_digits", where, false, &op->individual)))
            return st;
    } else {
        return FAIL(L, AP_E_UNSUPPORTED, "%s: %s.type \"%s\" is not supported", L->label, where,
                    quote(ty, q, sizeof q));
    }
    t->n_pre++;
    return AP_OK;
}

/* The ids a template's special token stands for, from the post-processor's special_tokens map. */
static ap_status template_ids(loader *L, const cJSON *specials, const char *name, int32_t *dst, int *n)
{
    char q[80];
    const cJSON *sp = cJSON_IsObject(specials) ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
    const cJSON *ids = cJSON_IsObject(sp) ? cJSON_GetObjectItemCaseSensitive(sp, "ids") : NULL;
    if (!cJSON_IsArray(ids))
        return FAIL(L, AP_E_FORMAT, "%s: post_processor.special_tokens: \"%s\" is missing or has no ids", L->label,
                    quote(name, q, sizeof q));
    for (const cJSON *v = ids->child; v; v = v->next) {
        int64_t id;
        if (!ap_json_is_int(v, 0, L->t->n_ids - 1, &id))
            return FAIL(L, AP_E_FORMAT, "%s: post_processor.special_tokens.%s.ids: id out of range (%d tokens)",
                        L->label, quote(name, q, sizeof q), L->t->n_ids);
        if (*n == MAX_TEMPLATE)
            return FAIL(L, AP_E_FORMAT, "%s: post_processor: more than %d special ids", L->label, MAX_TEMPLATE);
        dst[(*n)++] = (int32_t)id;
    }
    return AP_OK;
}

static ap_status load_template(loader *L, const cJSON *p)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    if (!cJSON_IsArray(single))
        return FAIL(L, AP_E_UNSUPPORTED, "%s: post_processor.single: expected an array of template pieces", L->label);
    int seen_a = 0;
    for (const cJSON *it = single->child; it; it = it->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp ? sp : sq, "id");
        if (!cJSON_IsString(id))
            return FAIL(L, AP_E_FORMAT, "%s: post_processor.single: a piece is neither SpecialToken nor Sequence",
                        L->label);
        if (sq) {
            if (strcmp(id->valuestring, "A") != 0 || seen_a++)
                return FAIL(L, AP_E_FORMAT, "%s: post_processor.single: expected one Sequence A", L->label);
        } else if ((st = template_ids(L, specials, id->valuestring, seen_a ? t->suffix : t->prefix,
                                      seen_a ? &t->n_suffix : &t->n_prefix))) {
            return st;
        }
    }
    if (!seen_a)
        return FAIL(L, AP_E_FORMAT, "%s: post_processor.single: no Sequence A", L->label);
    return AP_OK;
}

/* Bert/RobertaProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2]. */
static ap_status load_cls_sep(loader *L, const cJSON *p, const char *key, int32_t *dst, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    int64_t id;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !ap_json_is_int(v->child->next, 0, L->t->n_ids - 1, &id))
        return FAIL(L, AP_E_FORMAT, "%s: post_processor.%s: expected [token, id] with an id in range", L->label, key);
    if (*n == MAX_TEMPLATE)
        return FAIL(L, AP_E_FORMAT, "%s: post_processor: more than %d special ids", L->label, MAX_TEMPLATE);
    dst[(*n)++] = (int32_t)id;
    return AP_OK;
}

static ap_status load_post(loader *L, const cJSON *p, const char *where)
{
    ap_status st;
    char q[80];
    const char *ty;
    if ((st = open_section(L, p, where, "processors", load_post, &ty)) || !ty)
        return st;
    if (strcmp(ty, "TemplateProcessing") == 0)
        return load_template(L, p);
    if (strcmp(ty, "ByteLevel") == 0)
        return AP_OK; /* only offsets; no ids */
    if (strcmp(ty, "BertProcessing") == 0 || strcmp(ty, "RobertaProcessing") == 0) {
        if ((st = load_cls_sep(L, p, "cls", L->t->prefix, &L->t->n_prefix)))
            return st;
        return load_cls_sep(L, p, "sep", L->t->suffix, &L->t->n_suffix);
    }
    return FAIL(L, AP_E_UNSUPPORTED, "%s: post_processor.type \"%s\" is not supported", L->label,
                quote(ty, q, sizeof q));
}

/* An unsupported decoder only disables decoding: encoding is what evaluation needs. */
static ap_status load_decoder(loader *L, const cJSON *d, const char *where)
{
    ap_tokenizer *t = L->t;
    ap_status st;
    bool present;
    if (t->dec_unsupported[0])
        return AP_OK;
    const char *ty;
    if ((st = open_section(L, d, where, "decoders", load_decoder, &ty)) || !ty)
        return st;
    if (t->n_dec == MAX_OPS)
        return FAIL(L, AP_E_FORMAT, "%s: decoder: more than %d steps", L->label, MAX_OPS);
    dec_op *op = &t->dec[t->n_dec];
    memset(op, 0, sizeof *op);
    if (strcmp(ty, "Replace") == 0) {
        op->kind = D_REPLACE;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(d, "pattern");
        if (!cJSON_IsObject(pat) || !cJSON_GetObjectItemCaseSensitive(pat, "String"))
            goto unsupported;
        if ((st = get_short(L, pat, "String", "decoder.pattern", op->a, &op->alen, &present)))
            return st;
        if (!present || !op->alen)
            return FAIL(L, AP_E_FORMAT, "%s: decoder.pattern.String: empty", L->label);
        if ((st = get_short(L, d, "content", "decoder", op->b, &op->blen, &present)))
            return st;
    } else if (strcmp(ty, "ByteFallback") == 0) {
        op->kind = D_BYTEFALLBACK;
    } else if (strcmp(ty, "Fuse") == 0) {
        op->kind = D_FUSE;
    } else if (strcmp(ty, "Strip") == 0) {
        int64_t a, b;
        op->kind = D_STRIP;
        if ((st = get_short(L, d, "content", "decoder", op->a, &op->alen, &present)))
            return st;
        if (!present || !op->alen || !ap_json_is_int(cJSON_GetObjectItemCaseSensitive(d, "start"), 0, 1 << 20, &a) ||
            !ap_json_is_int(cJSON_GetObjectItemCaseSensitive(d, "stop"), 0, 1 << 20, &b))
            return FAIL(L, AP_E_FORMAT, "%s: decoder (Strip): expected content, start and stop", L->label);
        op->start = (int)a, op->stop = (int)b;
    } else if (strcmp(ty, "ByteLevel") == 0) {
        op->kind = D_BYTELEVEL;
    } else if (strcmp(ty, "Metaspace") == 0) {
        op->kind = D_METASPACE;
        if ((st = load_replacement(L, d, "decoder", op->a, &op->alen)) ||
            (st = load_scheme(L, d, "decoder", &op->scheme)))
            return st;
    } else {
        goto unsupported;
    }
    t->n_dec++;
    return AP_OK;
unsupported:
    snprintf(t->dec_unsupported, sizeof t->dec_unsupported, "decoder \"%.40s\"", ty);
    return AP_OK;
}

/* ---------------------------------------------------------------- loading: entry points */

#define MAX_JOINS (1u << 20) /* distinct joinable pairs kept; beyond it no cuts (correct, only slower) */

static bool join_add(ap_tokenizer *t, uint64_t key)
{
    bool fresh;
    if (2 * (t->join_used + 1) > t->join.mask + 1) {
        u64map bigger;
        if (!u64map_init(&bigger, 2 * (t->join.mask + 1)))
            return false;
        for (size_t i = 0; i <= t->join.mask; i++)
            if (t->join.slot[i].key != KEY_EMPTY)
                u64map_put(&bigger, t->join.slot[i].key, &fresh);
        free(t->join.slot);
        t->join = bigger;
    }
    u64map_put(&t->join, key, &fresh);
    t->join_used += fresh;
    return true;
}

/* Every pair of adjacent characters inside a merge result. Between two vocabulary characters that form no such
 * pair, no merge can ever produce a symbol spanning them (its string would hold the pair), so a piece can be cut
 * there and the parts merged separately with the same result: merges never span the cut, and the order of merges
 * inside a part does not depend on other parts. For sentencepiece-style text that cuts before (nearly) every
 * "▁", giving small heaps instead of one over the whole text. */
static void find_joins(ap_tokenizer *t)
{
    t->cuts = false;
    if (!u64map_init(&t->join, 1024))
        return;
    for (size_t i = 0; t->merges.slot && i <= t->merges.mask; i++) {
        const u64slot *m = &t->merges.slot[i];
        if (m->key == KEY_EMPTY)
            continue;
        const unsigned char *p = (const unsigned char *)t->piece[m->b];
        size_t n = t->piece_len[m->b], k;
        uint32_t prev = ap_utf8_next(p, n, &k);
        for (size_t j = k; j < n; j += k) {
            uint32_t cp = ap_utf8_next(p + j, n - j, &k);
            if (t->join_used >= MAX_JOINS || !join_add(t, (uint64_t)prev << 21 | cp))
                return;
            prev = cp;
        }
    }
    t->cuts = true;
}

static ap_status parse_root(loader *L, const cJSON *root)
{
    ap_status st;
    if (!cJSON_IsObject(root))
        return FAIL(L, AP_E_FORMAT, "%s: not a JSON object", L->label);
    if ((st = ap_json_check_unique_keys(root, 1, L->label, "tokenizer", L->err)))
        return st;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return FAIL(L, AP_E_FORMAT, "%s: added_tokens: expected an array", L->label);
    int n_added = added ? cJSON_GetArraySize(added) : 0;
    if (n_added > AP_TOKENIZER_MAX_ADDED)
        return FAIL(L, AP_E_FORMAT, "%s: added_tokens: %d entries (at most %d)", L->label, n_added,
                    AP_TOKENIZER_MAX_ADDED);
    if (!(L->t->added = calloc((size_t)n_added + 1, sizeof *L->t->added)))
        return FAIL(L, AP_E_NOMEM, "%s: out of memory", L->label);
    if ((st = load_model(L, cJSON_GetObjectItemCaseSensitive(root, "model"), n_added)) || (st = load_added(L, added)) ||
        (st = check_dense(L)) || (st = trie_build(L, &L->t->tr_raw, false)) ||
        (st = trie_build(L, &L->t->tr_norm, true)) ||
        (st = load_normalizer(L, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer")) ||
        (st = load_pre(L, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pre_tokenizer")) ||
        (st = load_post(L, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "post_processor")) ||
        (st = load_decoder(L, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder")))
        return st;
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        L->t->ascii_id[c] = vocab_find(L->t, &ch, 1);
    }
    find_joins(L->t);
    return AP_OK;
}

ap_status ap_tokenizer_parse(ap_tokenizer **out, const char *json, size_t len, const char *label, ap_error *err)
{
    *out = NULL;
    if (!label)
        label = "tokenizer.json";
    if (!json)
        return ap_error_set(err, AP_E_ARG, "%s: no JSON text", label);
    if (len > AP_TOKENIZER_MAX_FILE_BYTES)
        return ap_error_set(err, AP_E_FORMAT, "%s: %zu bytes, larger than the %u-byte limit for a tokenizer", label,
                            len, AP_TOKENIZER_MAX_FILE_BYTES);
    ap_json_limits lim = {AP_TOKENIZER_MAX_DEPTH, 0};
    cJSON *root = NULL;
    ap_status st = ap_json_parse(&root, json, len, &lim, label, err);
    if (st)
        return st;
    ap_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", label);
    }
    snprintf(t->label, sizeof t->label, "%s", label);
    bytelevel_init(t);
    loader L = {t, err, t->label};
    st = parse_root(&L, root);
    cJSON_Delete(root);
    if (st) {
        ap_tokenizer_free(t);
        return st;
    }
    *out = t;
    return AP_OK;
}

ap_status ap_tokenizer_load(ap_tokenizer **out, const char *path, ap_error *err)
{
    *out = NULL;
    size_t n;
    char *buf;
    ap_status st = ap_file_read(path, AP_TOKENIZER_MAX_FILE_BYTES, &buf, &n, err);
    if (st)
        return st;
    st = ap_tokenizer_parse(out, buf, n, path, err);
    free(buf);
    return st;
}

ap_status ap_tokenizer_encode_file(const char *model_dir, const char *text_path, int32_t **ids, size_t *n_ids,
                                   ap_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    char tpath[4200];
    if (snprintf(tpath, sizeof tpath, "%s/tokenizer.json", model_dir) >= (int)sizeof tpath)
        return ap_error_set(err, AP_E_ARG, "model folder name too long: %s", model_dir);
    ap_tokenizer *tok = NULL;
    ap_status st = ap_tokenizer_load(&tok, tpath, err);
    if (st)
        return st;
    char *text = NULL;
    size_t len = 0;
    st = ap_file_read(text_path, AP_TEXT_MAX_BYTES, &text, &len, err);
    if (!st)
        st = ap_tokenizer_encode(tok, text, len, 1, ids, n_ids, err);
    free(text);
    ap_tokenizer_free(tok);
    return st;
}

/* ---------------------------------------------------------------- encoding: buffers */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;
typedef struct {
    int32_t *p;
    size_t n, cap;
} ivec;
/* Pieces: consecutive ranges of one text buffer; piece i is text[end[i-1], end[i]). */
typedef struct {
    sbuf text;
    size_t *end;
    size_t n, cap;
} plist;
typedef struct {
    int32_t id, prev, next;
    uint32_t len;
} sym;

typedef struct {
    const ap_tokenizer *t;
    ivec out;
    plist pa, pb;
    sbuf seg, tmp;
    sym *sy;
    size_t sy_cap;
    uint64_t *heap;
    size_t heap_cap;
    uint32_t *cps;
    uint8_t *cls;
    size_t *offs;
    size_t cp_cap;
    bool oom;
} enc;

/* Make room for need elements in *p (capacity *cap); false (and e->oom) on overflow or allocation failure. */
static bool grow(enc *e, void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) {
            e->oom = true;
            return false;
        }
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q) {
        e->oom = true;
        return false;
    }
    *p = q;
    *cap = nc;
    return true;
}

static bool sb_add(enc *e, sbuf *b, const char *s, size_t n)
{
    if (!grow(e, (void **)&b->p, &b->cap, b->n + n + 1, 1))
        return false;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return true;
}

static bool iv_add(enc *e, ivec *v, int32_t id)
{
    if (!grow(e, (void **)&v->p, &v->cap, v->n + 1, sizeof *v->p))
        return false;
    v->p[v->n++] = id;
    return true;
}

static void pl_clear(plist *l)
{
    l->text.n = 0;
    l->n = 0;
}

/* Close the current piece at the end of the text (empty pieces are dropped, as Hugging Face drops them). */
static bool pl_cut(enc *e, plist *l)
{
    size_t start = l->n ? l->end[l->n - 1] : 0;
    if (l->text.n == start)
        return true;
    if (!grow(e, (void **)&l->end, &l->cap, l->n + 1, sizeof *l->end))
        return false;
    l->end[l->n++] = l->text.n;
    return true;
}

static void pl_piece(const plist *l, size_t i, const char **s, size_t *n)
{
    size_t a = i ? l->end[i - 1] : 0;
    *s = l->text.p + a;
    *n = l->end[i] - a;
}

/* ---------------------------------------------------------------- encoding: BPE on one piece */

/* A 4-ary min-heap: half the depth of a binary one, and the four children share a cache line, which matters
 * when one heap spans a whole 1 MB text. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (h[p] <= v)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static void heap_sift_down(uint64_t *h, size_t n, size_t i)
{
    uint64_t v = h[i];
    for (;;) {
        size_t c = 4 * i + 1, best = c;
        if (c >= n)
            break;
        size_t end = c + 4 < n ? c + 4 : n;
        for (size_t k = c + 1; k < end; k++)
            if (h[k] < h[best])
                best = k;
        if (v <= h[best])
            break;
        h[i] = h[best];
        i = best;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0];
    h[0] = h[--*n];
    if (*n)
        heap_sift_down(h, *n, 0);
    return top;
}

/* The merge of symbols a, b: rank and merged id, or NULL. */
static const u64slot *merge_of(const ap_tokenizer *t, int32_t a, int32_t b)
{
    return u64map_get(&t->merges, (uint64_t)a << 32 | (uint32_t)b);
}

static bool add_sym(enc *e, size_t *n, int32_t id, uint32_t len)
{
    if (!grow(e, (void **)&e->sy, &e->sy_cap, *n + 1, sizeof *e->sy))
        return false;
    e->sy[*n] = (sym){id, (int32_t)*n - 1, (int32_t)*n + 1, len};
    (*n)++;
    return true;
}

/* Characters -> initial symbols, as Hugging Face's BPE does: a vocabulary character, else its <0xXX> byte tokens
 * (byte_fallback, all bytes present), else unk (consecutive unks fused when fuse_unk; a pending unk is only
 * emitted before the next vocabulary character, so byte tokens can precede it), else dropped. */
static bool initial_symbols(enc *e, const char *s, size_t n, size_t *nsym)
{
    const ap_tokenizer *t = e->t;
    int32_t unk_len = 0; /* pending unk bytes, 0 = none */
    *nsym = 0;
    for (size_t i = 0, cl; i < n; i += cl) {
        unsigned char c0 = (unsigned char)s[i];
        int32_t id;
        if (c0 < 0x80) {
            cl = 1;
            id = t->ascii_id[c0];
        } else {
            ap_utf8_next((const unsigned char *)s + i, n - i, &cl);
            id = vocab_find(t, s + i, cl);
        }
        if (id >= 0) {
            if (unk_len && !add_sym(e, nsym, t->unk, (uint32_t)unk_len))
                return false;
            unk_len = 0;
            if (!add_sym(e, nsym, id, (uint32_t)cl))
                return false;
            continue;
        }
        bool all = t->byte_fallback;
        for (size_t k = 0; all && k < cl; k++)
            all = t->byte_id[(unsigned char)s[i + k]] >= 0;
        if (all) {
            for (size_t k = 0; k < cl; k++)
                if (!add_sym(e, nsym, t->byte_id[(unsigned char)s[i + k]], 1))
                    return false;
            continue;
        }
        if (t->unk < 0)
            continue;
        if (unk_len && !t->fuse_unk && !add_sym(e, nsym, t->unk, (uint32_t)unk_len))
            return false;
        unk_len = (unk_len && t->fuse_unk ? unk_len : 0) + (int32_t)cl;
    }
    if (unk_len && !add_sym(e, nsym, t->unk, (uint32_t)unk_len))
        return false;
    if (*nsym)
        e->sy[*nsym - 1].next = -1;
    return true;
}

/* Repeatedly merge the adjacent pair of lowest rank (leftmost among equal ranks) until none is left: a heap of
 * (rank << 32 | position) with stale entries skipped, n log n in the number of characters. */
static bool merge_all(enc *e, size_t nsym)
{
    const ap_tokenizer *t = e->t;
    sym *sy = e->sy;
    size_t nh = 0;
    /* Each merge pops one entry and pushes at most two, so the heap holds at most 2 * nsym entries. */
    if (!grow(e, (void **)&e->heap, &e->heap_cap, 2 * nsym + 1, sizeof *e->heap))
        return false;
    uint64_t *h = e->heap;
    for (size_t i = 0; i + 1 < nsym; i++) {
        const u64slot *m = merge_of(t, sy[i].id, sy[i + 1].id);
        if (m)
            h[nh++] = (uint64_t)(uint32_t)m->a << 32 | i;
    }
    for (size_t i = nh / 4 + 1; i-- > 0;)
        if (i < nh)
            heap_sift_down(h, nh, i);
    while (nh) {
        uint64_t top = heap_pop(h, &nh);
        uint32_t rank = (uint32_t)(top >> 32), pos = (uint32_t)top;
        if (!sy[pos].len || sy[pos].next < 0)
            continue;
        int32_t nx = sy[pos].next;
        const u64slot *m = merge_of(t, sy[pos].id, sy[nx].id);
        if (!m || (uint32_t)m->a != rank)
            continue; /* the pair changed since this entry was pushed */
        sy[pos].id = m->b;
        sy[pos].len += sy[nx].len;
        sy[pos].next = sy[nx].next;
        sy[nx].len = 0;
        if (sy[pos].next >= 0)
            sy[sy[pos].next].prev = (int32_t)pos;
        int32_t pv = sy[pos].prev;
        if (pv >= 0 && (m = merge_of(t, sy[pv].id, sy[pos].id)))
            heap_push(h, &nh, (uint64_t)(uint32_t)m->a << 32 | (uint32_t)pv);
        if (sy[pos].next >= 0 && (m = merge_of(t, sy[pos].id, sy[sy[pos].next].id)))
            heap_push(h, &nh, (uint64_t)(uint32_t)m->a << 32 | pos);
    }
    return true;
}

static bool bpe_word(enc *e, const char *s, size_t n)
{
    size_t nsym;
    if (!initial_symbols(e, s, n, &nsym) || !merge_all(e, nsym))
        return false;
    for (int32_t i = nsym ? 0 : -1; i >= 0; i = e->sy[i].next)
        if (!iv_add(e, &e->out, e->sy[i].id))
            return false;
    return true;
}

/* BPE over one pre-tokenized piece, cut into parts between vocabulary characters that no merge joins (see
 * find_joins); without such cuts the whole piece is one heap, still n log n. */
static bool bpe_piece(enc *e, const char *s, size_t n)
{
    const ap_tokenizer *t = e->t;
    if (t->ignore_merges) {
        int32_t id = vocab_find(t, s, n);
        if (id >= 0)
            return iv_add(e, &e->out, id);
    }
    if (!t->cuts)
        return bpe_word(e, s, n);
    size_t start = 0;
    uint32_t prev = 0;
    bool prev_vocab = false;
    for (size_t i = 0, k; i < n; i += k) {
        unsigned char c0 = (unsigned char)s[i];
        uint32_t cp;
        bool in_vocab;
        if (c0 < 0x80) {
            k = 1, cp = c0;
            in_vocab = t->ascii_id[c0] >= 0;
        } else {
            cp = ap_utf8_next((const unsigned char *)s + i, n - i, &k);
            in_vocab = cp != AP_CP_INVALID && vocab_find(t, s + i, k) >= 0;
        }
        if (prev_vocab && in_vocab && !u64map_get(&t->join, (uint64_t)prev << 21 | cp)) {
            if (!bpe_word(e, s + start, i - start))
                return false;
            start = i;
        }
        prev = cp, prev_vocab = in_vocab;
    }
    return bpe_word(e, s + start, n - start);
}

/* ---------------------------------------------------------------- encoding: split regexes */

/* 's 't 're 've 'm 'll 'd at i (case-insensitive with Unicode folding of s: ſ). Returns characters matched. */
static size_t match_contraction(const uint32_t *cp, size_t i, size_t n, bool icase)
{
    static const char *const forms[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (cp[i] != '\'')
        return 0;
    for (int f = 0; f < 7; f++) {
        size_t k = 0;
        for (; forms[f][k]; k++) {
            if (i + 1 + k >= n)
                break;
            uint32_t c = cp[i + 1 + k], want = (uint32_t)forms[f][k];
            if (icase && c < 0x80 && c >= 'A' && c <= 'Z')
                c += 32;
            if (icase && c == 0x17F)
                c = 's';
            if (c != want)
                break;
        }
        if (!forms[f][k])
            return k + 1;
    }
    return 0;
}

static size_t run_of(const uint8_t *cl, size_t i, size_t n, int c)
{
    while (i < n && cl[i] == c)
        i++;
    return i;
}

/* \s+(?!\S) then \s+ at a whitespace character: the whole run at the end of the text, else all but the last
 * character of a run of two or more (that last one goes with the next word), else the single character. */
static size_t match_space_tail(const uint8_t *cl, size_t i, size_t n)
{
    size_t q = run_of(cl, i, n, AP_UC_SPACE);
    if (q == n || q - i < 2)
        return q - i;
    return q - 1 - i;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ — leftmost-first
 * alternation, so the first alternative that matches at i decides. Returns characters matched (>= 1). */
static size_t match_gpt2(const uint32_t *cp, const uint8_t *cl, size_t i, size_t n)
{
    size_t k = match_contraction(cp, i, n, false);
    if (k)
        return k;
    static const int word[] = {AP_UC_LETTER, AP_UC_NUMBER, AP_UC_OTHER};
    for (int w = 0; w < 3; w++) {
        if (cp[i] == ' ' && i + 1 < n && cl[i + 1] == word[w])
            return run_of(cl, i + 1, n, word[w]) - i;
        if (cl[i] == word[w])
            return run_of(cl, i, n, word[w]) - i;
    }
    return match_space_tail(cl, i, n);
}

/* LLaMA-3 (max_digits 3) and Qwen2 (1): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const uint32_t *cp, const uint8_t *cl, size_t i, size_t n, size_t max_digits)
{
    size_t k = match_contraction(cp, i, n, true);
    if (k)
        return k;
    if (cl[i] == AP_UC_LETTER)
        return run_of(cl, i, n, AP_UC_LETTER) - i;
    if (cp[i] != '\r' && cp[i] != '\n' && cl[i] != AP_UC_NUMBER && i + 1 < n && cl[i + 1] == AP_UC_LETTER)
        return run_of(cl, i + 1, n, AP_UC_LETTER) - i;
    if (cl[i] == AP_UC_NUMBER) {
        size_t e = i;
        while (e < n && e - i < max_digits && cl[e] == AP_UC_NUMBER)
            e++;
        return e - i;
    }
    size_t s = (cp[i] == ' ' && i + 1 < n && cl[i + 1] == AP_UC_OTHER) ? i + 1 : i;
    if (cl[s] == AP_UC_OTHER) {
        size_t e = run_of(cl, s, n, AP_UC_OTHER);
        while (e < n && (cp[e] == '\r' || cp[e] == '\n'))
            e++;
        return e - i;
    }
    /* \s*[\r\n]+: greedy \s* backs off to the last line break of the whitespace run. */
    size_t q = run_of(cl, i, n, AP_UC_SPACE), last = SIZE_MAX;
    for (size_t j = i; j < q; j++)
        if (cp[j] == '\r' || cp[j] == '\n')
            last = j;
    if (last != SIZE_MAX)
        return last + 1 - i;
    return match_space_tail(cl, i, n);
}

/* Decode s[0..n) into code points, classes and byte offsets (offs[count] = n). Returns the character count. */
static size_t decode_chars(enc *e, const char *s, size_t n)
{
    if (n + 1 > e->cp_cap) {
        size_t cap = e->cp_cap;
        if (!grow(e, (void **)&e->cps, &cap, n + 1, sizeof *e->cps))
            return 0;
        uint8_t *cl = realloc(e->cls, cap);
        if (cl)
            e->cls = cl;
        size_t *of = cl ? realloc(e->offs, cap * sizeof *of) : NULL;
        if (of)
            e->offs = of;
        if (!cl || !of) {
            e->oom = true;
            return 0;
        }
        e->cp_cap = cap;
    }
    size_t m = 0;
    for (size_t i = 0, k; i < n; i += k, m++) {
        e->cps[m] = ap_utf8_next((const unsigned char *)s + i, n - i, &k);
        e->cls[m] = (uint8_t)ap_unicode_class(e->cps[m]);
        e->offs[m] = i;
    }
    e->offs[m] = n;
    return m;
}

/* ---------------------------------------------------------------- encoding: pre-tokenizers */

/* Split every piece of e->pa at the boundaries `cut` gives (a callback returning the next piece's length in
 * characters from character i), into e->pb. */
typedef size_t (*cut_fn)(const pre_op *op, const uint32_t *cp, const uint8_t *cl, size_t i, size_t n);

static size_t cut_regex(const pre_op *op, const uint32_t *cp, const uint8_t *cl, size_t i, size_t n)
{
    if (op->kind == P_BYTELEVEL || op->pattern == PAT_GPT2)
        return match_gpt2(cp, cl, i, n);
    return match_llama3(cp, cl, i, n, op->pattern == PAT_LLAMA3 ? 3 : 1);
}

/* Digits: runs of \p{N} (or single ones with individual_digits) isolated from the rest. */
static size_t cut_digits(const pre_op *op, const uint32_t *cp, const uint8_t *cl, size_t i, size_t n)
{
    (void)cp;
    if (cl[i] != AP_UC_NUMBER) {
        size_t j = i;
        while (j < n && cl[j] != AP_UC_NUMBER)
            j++;
        return j - i;
    }
    return op->individual ? 1 : run_of(cl, i, n, AP_UC_NUMBER) - i;
}

static bool split_pieces(enc *e, const pre_op *op, cut_fn cut)
{
    pl_clear(&e->pb);
    for (size_t p = 0; p < e->pa.n; p++) {
        const char *s;
        size_t n;
        pl_piece(&e->pa, p, &s, &n);
        size_t m = decode_chars(e, s, n);
        if (e->oom)
            return false;
        for (size_t i = 0; i < m;) {
            size_t k = cut(op, e->cps, e->cls, i, m);
            if (!sb_add(e, &e->pb.text, s + e->offs[i], e->offs[i + k] - e->offs[i]) || !pl_cut(e, &e->pb))
                return false;
            i += k;
        }
    }
    return true;
}

/* Metaspace: spaces -> the replacement character, the replacement prepended (always, or only to the text's
 * first piece), then split before every replacement character (MergedWithNext). */
static bool pre_metaspace(enc *e, const pre_op *op, bool at_start)
{
    pl_clear(&e->pb);
    for (size_t p = 0; p < e->pa.n; p++) {
        const char *s;
        size_t n;
        pl_piece(&e->pa, p, &s, &n);
        e->tmp.n = 0;
        for (size_t i = 0; i < n; i++)
            if (!(s[i] == ' ' ? sb_add(e, &e->tmp, op->rep, op->replen) : sb_add(e, &e->tmp, s + i, 1)))
                return false;
        bool starts = e->tmp.n >= op->replen && memcmp(e->tmp.p, op->rep, op->replen) == 0;
        bool prepend = !starts && (op->scheme == SCHEME_ALWAYS || (op->scheme == SCHEME_FIRST && at_start && p == 0));
        if (prepend && !sb_add(e, &e->pb.text, op->rep, op->replen))
            return false;
        for (size_t i = 0; i < e->tmp.n;) {
            if (op->split && i + op->replen <= e->tmp.n && memcmp(e->tmp.p + i, op->rep, op->replen) == 0 &&
                !pl_cut(e, &e->pb))
                return false;
            size_t k = 1;
            ap_utf8_next((const unsigned char *)e->tmp.p + i, e->tmp.n - i, &k);
            if (!sb_add(e, &e->pb.text, e->tmp.p + i, k))
                return false;
            i += k;
        }
        if (!pl_cut(e, &e->pb))
            return false;
    }
    return true;
}

/* ByteLevel: optional leading space, the GPT-2 split (use_regex), then every byte -> its printable character. */
static bool pre_bytelevel(enc *e, const pre_op *op)
{
    const ap_tokenizer *t = e->t;
    if (op->prefix_space) {
        pl_clear(&e->pb);
        for (size_t p = 0; p < e->pa.n; p++) {
            const char *s;
            size_t n;
            pl_piece(&e->pa, p, &s, &n);
            if ((n == 0 || s[0] != ' ') && !sb_add(e, &e->pb.text, " ", 1))
                return false;
            if (!sb_add(e, &e->pb.text, s, n) || !pl_cut(e, &e->pb))
                return false;
        }
        plist x = e->pa;
        e->pa = e->pb;
        e->pb = x;
    }
    if (op->use_regex) {
        if (!split_pieces(e, op, cut_regex))
            return false;
        plist x = e->pa;
        e->pa = e->pb;
        e->pb = x;
    }
    pl_clear(&e->pb);
    for (size_t p = 0; p < e->pa.n; p++) {
        const char *s;
        size_t n;
        pl_piece(&e->pa, p, &s, &n);
        for (size_t i = 0; i < n; i++) {
            unsigned char b = (unsigned char)s[i];
            if (!sb_add(e, &e->pb.text, t->bl_char[b], t->bl_len[b]))
                return false;
        }
        if (!pl_cut(e, &e->pb))
            return false;
    }
    return true;
}

/* Run the pre-tokenizers over one text (already normalized): e->pa holds the resulting pieces. */
static bool pre_tokenize(enc *e, const char *s, size_t n, bool at_start)
{
    const ap_tokenizer *t = e->t;
    pl_clear(&e->pa);
    if (!sb_add(e, &e->pa.text, s, n) || !pl_cut(e, &e->pa))
        return false;
    for (int k = 0; k < t->n_pre; k++) {
        const pre_op *op = &t->pre[k];
        bool ok = op->kind == P_METASPACE   ? pre_metaspace(e, op, at_start)
                  : op->kind == P_BYTELEVEL ? pre_bytelevel(e, op)
                  : op->kind == P_DIGITS    ? split_pieces(e, op, cut_digits)
                                            : split_pieces(e, op, cut_regex);
        if (!ok)
            return false;
        plist x = e->pa;
        e->pa = e->pb;
        e->pb = x;
    }
    return true;
}

/* ---------------------------------------------------------------- encoding: normalizers */

/* Normalize s into e->seg. Returns AP_OK or an error status. */
static ap_status normalize(enc *e, const char *s, size_t n)
{
    const ap_tokenizer *t = e->t;
    e->seg.n = 0;
    if (!sb_add(e, &e->seg, s, n))
        return AP_E_NOMEM;
    for (int k = 0; k < t->n_norm; k++) {
        const norm_op *op = &t->norm[k];
        if (op->kind == N_NFC) {
            if (ap_nfc_is_identity(e->seg.p, e->seg.n))
                continue;
            char *o;
            size_t olen;
            if (!ap_nfc(e->seg.p, e->seg.n, &o, &olen))
                return AP_E_NOMEM;
            free(e->seg.p);
            e->seg = (sbuf){o, olen, olen + 1};
            continue;
        }
        e->tmp.n = 0;
        if (op->kind == N_PREPEND) {
            if (e->seg.n && (!sb_add(e, &e->tmp, op->a, op->alen) || !sb_add(e, &e->tmp, e->seg.p, e->seg.n)))
                return AP_E_NOMEM;
        } else {
            for (size_t i = 0; i < e->seg.n;) { /* copy the stretches between matches whole */
                const char *hit = memmem(e->seg.p + i, e->seg.n - i, op->a, op->alen);
                size_t upto = hit ? (size_t)(hit - e->seg.p) : e->seg.n;
                if (!sb_add(e, &e->tmp, e->seg.p + i, upto - i))
                    return AP_E_NOMEM;
                if (hit && !sb_add(e, &e->tmp, op->b, op->blen))
                    return AP_E_NOMEM;
                i = hit ? upto + op->alen : upto;
            }
        }
        sbuf x = e->seg;
        e->seg = e->tmp;
        e->tmp = x;
    }
    return AP_OK;
}

/* ---------------------------------------------------------------- encoding: added tokens */

static bool word_char_before(const char *s, size_t at)
{
    if (at == 0)
        return false;
    size_t j = at - 1, k;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80 && at - j < 4)
        j--;
    uint32_t cp = ap_utf8_next((const unsigned char *)s + j, at - j, &k);
    return cp == '_' || ap_unicode_class(cp) == AP_UC_LETTER || ap_unicode_class(cp) == AP_UC_NUMBER;
}

static bool word_char_at(const char *s, size_t n, size_t at)
{
    if (at >= n)
        return false;
    size_t k;
    uint32_t cp = ap_utf8_next((const unsigned char *)s + at, n - at, &k);
    return cp == '_' || ap_unicode_class(cp) == AP_UC_LETTER || ap_unicode_class(cp) == AP_UC_NUMBER;
}

static bool space_at(const char *s, size_t n, size_t at, size_t *k)
{
    if (at >= n)
        return false;
    return ap_unicode_is_space(ap_utf8_next((const unsigned char *)s + at, n - at, k));
}

/* The next added token in s[from..n): leftmost-longest (as Hugging Face's Aho-Corasick matcher), then widened by
 * lstrip/rstrip over whitespace (never left of `floor`). single_word tokens touching a word character are skipped.
 * Returns the index in t->added[] or -1; [*ms, *me) is the span the token replaces. */
static int next_added(const ap_tokenizer *t, const trie *tr, const char *s, size_t n, size_t from, size_t floor,
                      size_t *ms, size_t *me)
{
    if (tr->n_nodes <= 1)
        return -1;
    for (size_t i = from; i < n; i++) {
        if (!tr->first[(unsigned char)s[i]])
            continue;
        int best = -1;
        size_t best_end = 0;
        int32_t node = 0;
        for (size_t j = i; j < n; j++) {
            const u64slot *ed = u64map_get(&tr->edge, (uint64_t)node << 8 | (unsigned char)s[j]);
            if (!ed)
                break;
            node = ed->a;
            if (tr->term[node] >= 0)
                best = tr->term[node], best_end = j + 1;
        }
        if (best < 0)
            continue;
        const added_tok *a = &t->added[best];
        if (a->single_word && (word_char_before(s, i) || word_char_at(s, n, best_end))) {
            continue;
        }
        size_t st = i, en = best_end, k;
        if (a->lstrip)
            while (st > floor) {
                size_t j = st - 1;
                while (j > floor && ((unsigned char)s[j] & 0xC0) == 0x80)
                    j--;
                if (!space_at(s, n, j, &k) || j + k != st)
                    break;
                st = j;
            }
        if (a->rstrip)
            while (space_at(s, n, en, &k))
                en += k;
        *ms = st;
        *me = en;
        return best;
    }
    return -1;
}

/* Pre-tokenize and BPE-encode one normalized text (no added tokens inside). */
static bool encode_plain(enc *e, const char *s, size_t n, bool at_start)
{
    if (!n)
        return true;
    if (!pre_tokenize(e, s, n, at_start))
        return false;
    for (size_t p = 0; p < e->pa.n; p++) {
        const char *ps;
        size_t pn;
        pl_piece(&e->pa, p, &ps, &pn);
        if (!bpe_piece(e, ps, pn))
            return false;
    }
    return true;
}

/* One stretch of raw text between raw-matched added tokens: normalize, split on normalized added tokens,
 * encode the rest. */
static ap_status encode_segment(enc *e, const char *s, size_t n, bool at_start, ap_error *err)
{
    const ap_tokenizer *t = e->t;
    if (!n)
        return AP_OK;
    if (normalize(e, s, n))
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory encoding", t->label);
    const char *norm = e->seg.p; /* stays put: pre-tokenizing and BPE do not touch e->seg */
    size_t nn = e->seg.n, from = 0, ms, me;
    bool ok = true;
    int which;
    while (ok && (which = next_added(t, &t->tr_norm, norm, nn, from, from, &ms, &me)) >= 0) {
        ok = encode_plain(e, norm + from, ms - from, at_start && from == 0) && iv_add(e, &e->out, t->added[which].id);
        from = me;
    }
    if (ok)
        ok = encode_plain(e, norm + from, nn - from, at_start && from == 0);
    if (!ok)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory encoding", t->label);
    return AP_OK;
}

static void enc_free(enc *e)
{
    free(e->pa.text.p);
    free(e->pa.end);
    free(e->pb.text.p);
    free(e->pb.end);
    free(e->seg.p);
    free(e->tmp.p);
    free(e->sy);
    free(e->heap);
    free(e->cps);
    free(e->cls);
    free(e->offs);
}

ap_status ap_tokenizer_encode(const ap_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
                              size_t *n_ids, ap_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len))
        return ap_error_set(err, AP_E_ARG, "tokenizer encode: no tokenizer or no text");
    if (!text)
        text = ""; /* no text at all: pointer arithmetic below needs an object */
    if (len > (size_t)INT32_MAX)
        return ap_error_set(err, AP_E_ARG, "%s: text of %zu bytes is too long to encode at once", t->label, len);
    enc e = {.t = t};
    ap_status st = AP_OK;
    bool ok = true;
    for (int i = 0; add_special && ok && i < t->n_prefix; i++)
        ok = iv_add(&e, &e.out, t->prefix[i]);
    size_t from = 0, ms, me;
    int which;
    while (ok && !st && (which = next_added(t, &t->tr_raw, text, len, from, from, &ms, &me)) >= 0) {
        st = encode_segment(&e, text + from, ms - from, from == 0, err);
        ok = !st && iv_add(&e, &e.out, t->added[which].id);
        from = me;
    }
    if (ok && !st)
        st = encode_segment(&e, text + from, len - from, from == 0, err);
    for (int i = 0; add_special && ok && !st && i < t->n_suffix; i++)
        ok = iv_add(&e, &e.out, t->suffix[i]);
    if (!st && (!ok || e.oom))
        st = ap_error_set(err, AP_E_NOMEM, "%s: out of memory encoding", t->label);
    enc_free(&e);
    if (st) {
        free(e.out.p);
        return st;
    }
    if (!e.out.p)
        e.out.p = malloc(sizeof *e.out.p); /* a valid pointer even for no ids */
    if (!e.out.p)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory encoding", t->label);
    *ids = e.out.p;
    *n_ids = e.out.n;
    return AP_OK;
}

/* ---------------------------------------------------------------- decoding */

/* Decoding runs the decoder chain over a list of token strings, like Hugging Face's decode_chain. */
typedef struct {
    sbuf all;
    size_t *end;
    size_t n, cap;
} slist;

static bool sl_push(enc *e, slist *l, const char *s, size_t n)
{
    if (!sb_add(e, &l->all, s, n) || !grow(e, (void **)&l->end, &l->cap, l->n + 1, sizeof *l->end))
        return false;
    l->end[l->n++] = l->all.n;
    return true;
}

static void sl_get(const slist *l, size_t i, const char **s, size_t *n)
{
    size_t a = i ? l->end[i - 1] : 0;
    *s = l->all.p ? l->all.p + a : ""; /* a fused list of nothing has no buffer (null + 0 is undefined) */
    *n = l->end[i] - a;
}

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD";

/* Append bytes as text: valid UTF-8 as is, else one U+FFFD per byte (Hugging Face's ByteFallback). */
static bool push_bytes(enc *e, slist *out, const char *b, size_t n)
{
    if (ap_utf8_valid(b, n))
        return sl_push(e, out, b, n);
    for (size_t i = 0; i < n; i++)
        if (!sl_push(e, out, REPLACEMENT_CHAR, 3))
            return false;
    return true;
}

static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static bool dec_step(enc *e, const dec_op *op, const slist *in, slist *out)
{
    const ap_tokenizer *t = e->t;
    sbuf bytes = {0}; /* a run of <0xXX> tokens, turned into text as a whole */
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        const char *s;
        size_t n;
        sl_get(in, i, &s, &n);
        e->tmp.n = 0;
        switch (op->kind) {
        case D_REPLACE:
        case D_METASPACE: {
            /* Metaspace, as Hugging Face does it: in the first token (which holds the prepended replacement)
             * every replacement character is dropped, elsewhere it becomes a space. */
            bool drop = op->kind == D_METASPACE && i == 0 && op->scheme != SCHEME_NEVER;
            const char *from = op->a, *to = op->kind == D_REPLACE ? op->b : " ";
            size_t fl = op->alen, tl = op->kind == D_REPLACE ? op->blen : drop ? 0 : 1, j = 0;
            while (j < n) {
                bool hit = j + fl <= n && !memcmp(s + j, from, fl);
                if (!sb_add(e, &e->tmp, hit ? to : s + j, hit ? tl : 1))
                    return false;
                j += hit ? fl : 1;
            }
            if (!sl_push(e, out, e->tmp.p ? e->tmp.p : "", e->tmp.n))
                return false;
            break;
        }
        case D_BYTEFALLBACK: {
            int b = byte_token(s, n);
            if (b >= 0) {
                char c = (char)b;
                ok = sb_add(e, &bytes, &c, 1);
                break;
            }
            ok = (!bytes.n || push_bytes(e, out, bytes.p, bytes.n)) && sl_push(e, out, s, n);
            bytes.n = 0;
            break;
        }
        case D_FUSE:
            if (!sb_add(e, &out->all, s, n))
                return false;
            break;
        case D_STRIP: {
            size_t a = 0, b = n;
            for (int k = 0; k < op->start && a + op->alen <= b && !memcmp(s + a, op->a, op->alen); k++)
                a += op->alen;
            for (int k = 0; k < op->stop && b >= a + op->alen && !memcmp(s + b - op->alen, op->a, op->alen); k++)
                b -= op->alen;
            if (!sl_push(e, out, s + a, b - a))
                return false;
            break;
        }
        case D_BYTELEVEL: {
            bool mapped = true;
            for (size_t j = 0, k; j < n && mapped; j += k) {
                uint32_t cp = ap_utf8_next((const unsigned char *)s + j, n - j, &k);
                mapped = cp < 324 && t->bl_back[cp] >= 0;
                if (mapped) {
                    char c = (char)t->bl_back[cp];
                    if (!sb_add(e, &e->tmp, &c, 1))
                        return false;
                }
            }
            if (!mapped) {
                e->tmp.n = 0;
                if (!sb_add(e, &e->tmp, s, n))
                    return false;
            }
            if (!sl_push(e, out, e->tmp.p ? e->tmp.p : "", e->tmp.n))
                return false;
            break;
        }
        }
    }
    if (ok && bytes.n)
        ok = push_bytes(e, out, bytes.p, bytes.n);
    free(bytes.p);
    if (!ok)
        return false;
    if (op->kind == D_FUSE) {
        if (!grow(e, (void **)&out->end, &out->cap, 1, sizeof *out->end))
            return false;
        out->end[0] = out->all.n;
        out->n = 1;
    }
    return true;
}

/* Join decoded pieces; byte-level output may be any bytes, so it is made valid UTF-8 (U+FFFD per bad byte). */
static bool dec_join(enc *e, const slist *l, sbuf *out)
{
    size_t n = l->n ? l->end[l->n - 1] : 0;
    for (size_t i = 0, k; i < n; i += k) {
        uint32_t cp = ap_utf8_next((const unsigned char *)l->all.p + i, n - i, &k);
        if (!(cp == AP_CP_INVALID ? sb_add(e, out, REPLACEMENT_CHAR, 3) : sb_add(e, out, l->all.p + i, k)))
            return false;
    }
    return grow(e, (void **)&out->p, &out->cap, out->n + 1, 1);
}

ap_status ap_tokenizer_decode(const ap_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special, char **text,
                              size_t *len, ap_error *err)
{
    *text = NULL;
    if (len)
        *len = 0;
    if (!t || (!ids && n_ids))
        return ap_error_set(err, AP_E_ARG, "tokenizer decode: no tokenizer or no ids");
    if (t->dec_unsupported[0])
        return ap_error_set(err, AP_E_UNSUPPORTED, "%s: %s is not supported for decoding", t->label,
                            t->dec_unsupported);
    enc e = {.t = t};
    slist a = {0}, b = {0};
    sbuf out = {0};
    ap_status st = AP_OK;
    for (size_t i = 0; i < n_ids && !st; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids) {
            st = ap_error_set(err, AP_E_ARG, "%s: decode: id %d at position %zu is out of range (%d tokens)", t->label,
                              ids[i], i, t->n_ids);
            break;
        }
        if (skip_special && t->special[ids[i]])
            continue;
        if (!sl_push(&e, &a, t->piece[ids[i]], t->piece_len[ids[i]]))
            break;
    }
    for (int k = 0; k < t->n_dec && !st && !e.oom; k++) {
        b.all.n = 0;
        b.n = 0;
        if (!dec_step(&e, &t->dec[k], &a, &b))
            break;
        slist x = a;
        a = b;
        b = x;
    }
    if (!st && !e.oom)
        dec_join(&e, &a, &out);
    if (!st && e.oom)
        st = ap_error_set(err, AP_E_NOMEM, "%s: out of memory decoding", t->label);
    free(a.all.p);
    free(a.end);
    free(b.all.p);
    free(b.end);
    enc_free(&e);
    if (st) {
        free(out.p);
        return st;
    }
    out.p[out.n] = '\0';
    *text = out.p;
    if (len)
        *len = out.n;
    return AP_OK;
}
