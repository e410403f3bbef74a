/* ap_unicode.c — the Unicode the tokenizers need: UTF-8 decoding, the classes of the split regexes
 * (\p{L}, \p{N}, \s) and NFC, from the tables generated into ap_unicode_tables.h. */
#include "ap_unicode.h"

#include <stdlib.h>

#include "ap_unicode_tables.h"

/* The character at s[0..n): its code point and byte length. A byte that starts no valid sequence (RFC 3629) is
 * AP_CP_INVALID of length 1, so every byte of any input belongs to exactly one character. */
uint32_t ap_utf8_next(const unsigned char *s, size_t n, size_t *clen)
{
    unsigned c = s[0];
    *clen = 1;
    if (c < 0x80)
        return c;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3, cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4, cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return AP_CP_INVALID;
    }
    if (n < k || s[1] < lo || s[1] > hi)
        return AP_CP_INVALID;
    cp = (cp << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < k; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return AP_CP_INVALID;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *clen = k;
    return cp;
}

size_t ap_utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Is the whole of s[0..n) valid UTF-8? */
bool ap_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (ap_utf8_next((const unsigned char *)s + i, n - i, &k) == AP_CP_INVALID)
            return false;
    return true;
}

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* The Unicode White_Space property: what \s matches in the regex engines the tokenizers use. */
bool ap_unicode_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 9 && cp <= 13);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* The class of a code point for the split regexes: \p{L}, \p{N}, \s or anything else. */
int ap_unicode_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return AP_UC_LETTER;
        if (cp >= '0' && cp <= '9')
            return AP_UC_NUMBER;
        return ap_unicode_is_space(cp) ? AP_UC_SPACE : AP_UC_OTHER;
    }
    if (cp == AP_CP_INVALID)
        return AP_UC_OTHER;
    if (ap_unicode_is_space(cp))
        return AP_UC_SPACE;
    if (in_ranges(ap_uni_letter, sizeof ap_uni_letter / sizeof ap_uni_letter[0], cp))
        return AP_UC_LETTER;
    if (in_ranges(ap_uni_number, sizeof ap_uni_number / sizeof ap_uni_number[0], cp))
        return AP_UC_NUMBER;
    return AP_UC_OTHER;
}

/* ---- NFC (canonical decomposition, ordering and composition) */

/* A text without any "unsafe" code point (combining marks, second halves of compositions, decomposing
 * characters) is its own NFC: the common case is one scan. Invalid bytes pass through. */
bool ap_nfc_is_identity(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k) {
        if ((unsigned char)s[i] < 0x80) {
            k = 1;
            continue;
        }
        uint32_t cp = ap_utf8_next((const unsigned char *)s + i, n - i, &k);
        if (cp >= 0x300 && cp != AP_CP_INVALID &&
            in_ranges(ap_uni_nfc_unsafe, sizeof ap_uni_nfc_unsafe / sizeof ap_uni_nfc_unsafe[0], cp))
            return false;
    }
    return true;
}

#define RAW_BYTE 0x80000000u /* an invalid byte carried through NFC unchanged: class 0, composes with nothing */
enum {
    H_SBASE = 0xAC00,
    H_LBASE = 0x1100,
    H_VBASE = 0x1161,
    H_TBASE = 0x11A7,
    H_LCOUNT = 19,
    H_VCOUNT = 21,
    H_TCOUNT = 28,
    H_NCOUNT = 588,
    H_SCOUNT = 11172
};

/* bsearch comparators: the key is the code point (or the pair a << 32 | b) looked up. */
static int cmp_ccc_row(const void *key, const void *row)
{
    uint32_t cp = *(const uint32_t *)key;
    const ap_uni_ccc_row *r = row;
    return cp < r->lo ? -1 : cp > r->hi ? 1 : 0;
}

static int cmp_decomp_row(const void *key, const void *row)
{
    uint32_t cp = *(const uint32_t *)key, at = ((const ap_uni_decomp_row *)row)->cp;
    return (cp > at) - (cp < at);
}

static int cmp_comp_row(const void *key, const void *row)
{
    const ap_uni_comp_row *r = row;
    uint64_t k = *(const uint64_t *)key, at = (uint64_t)r->a << 32 | r->b;
    return (k > at) - (k < at);
}

#define N_ROWS(table) (sizeof table / sizeof table[0])

static int ccc_of(uint32_t cp)
{
    if (cp < 0x300 || cp & RAW_BYTE)
        return 0;
    const ap_uni_ccc_row *r = bsearch(&cp, ap_uni_ccc, N_ROWS(ap_uni_ccc), sizeof *r, cmp_ccc_row);
    return r ? r->ccc : 0;
}

static const ap_uni_decomp_row *decomp_of(uint32_t cp)
{
    return bsearch(&cp, ap_uni_decomp, N_ROWS(ap_uni_decomp), sizeof ap_uni_decomp[0], cmp_decomp_row);
}

/* The primary composite of a + b, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a - H_LBASE < H_LCOUNT && b - H_VBASE < H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a - H_SBASE < H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b - H_TBASE - 1 < H_TCOUNT - 1)
        return a + (b - H_TBASE);
    uint64_t key = (uint64_t)a << 32 | b;
    const ap_uni_comp_row *r = bsearch(&key, ap_uni_comp, N_ROWS(ap_uni_comp), sizeof *r, cmp_comp_row);
    return r ? r->c : 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Canonical ordering: each run of non-starters sorted stably by combining class (insertion sort for the usual
 * short runs, a keyed sort for long hostile ones so that it stays n log n). */
static bool canonical_order(uint32_t *c, size_t m)
{
    for (size_t i = 0; i < m;) {
        if (!ccc_of(c[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < m && ccc_of(c[j]))
            j++;
        if (j - i <= 32) {
            for (size_t a = i + 1; a < j; a++)
                for (size_t b = a; b > i && ccc_of(c[b - 1]) > ccc_of(c[b]); b--) {
                    uint32_t x = c[b];
                    c[b] = c[b - 1];
                    c[b - 1] = x;
                }
        } else {
            uint64_t *key = malloc((j - i) * sizeof *key);
            uint32_t *val = malloc((j - i) * sizeof *val);
            if (!key || !val) {
                free(key);
                free(val);
                return false;
            }
            for (size_t a = i; a < j; a++)
                key[a - i] = (uint64_t)ccc_of(c[a]) << 32 | (a - i), val[a - i] = c[a];
            qsort(key, j - i, sizeof *key, cmp_u64);
            for (size_t a = i; a < j; a++)
                c[a] = val[(uint32_t)key[a - i]];
            free(key);
            free(val);
        }
        i = j;
    }
    return true;
}

/* Canonical composition in place: each character joins the last starter when nothing between blocks it. */
static size_t compose_all(uint32_t *c, size_t m)
{
    size_t out = 0, starter = SIZE_MAX;
    int last = 0; /* combining class of the last character kept after the starter */
    for (size_t i = 0; i < m; i++) {
        int cc = ccc_of(c[i]);
        bool adjacent = starter != SIZE_MAX && out == starter + 1;
        if (starter != SIZE_MAX && !(c[i] & RAW_BYTE) && !(c[starter] & RAW_BYTE) &&
            (adjacent || (last != 0 && last < cc))) {
            uint32_t comp = compose_pair(c[starter], c[i]);
            if (comp) {
                c[starter] = comp;
                continue;
            }
        }
        if (cc == 0)
            starter = out, last = 0;
        else
            last = cc;
        c[out++] = c[i];
    }
    return out;
}

bool ap_nfc(const char *s, size_t n, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (n > SIZE_MAX / (4 * sizeof(uint32_t)))
        return false;
    uint32_t *c = malloc((n + 1) * 4 * sizeof *c); /* a character decomposes into at most 4 code points */
    if (!c)
        return false;
    size_t m = 0;
    for (size_t i = 0, k; i < n; i += k) {
        uint32_t cp = ap_utf8_next((const unsigned char *)s + i, n - i, &k);
        const ap_uni_decomp_row *d;
        if (cp == AP_CP_INVALID) {
            c[m++] = RAW_BYTE | (unsigned char)s[i];
        } else if (cp - H_SBASE < H_SCOUNT) {
            uint32_t si = cp - H_SBASE;
            c[m++] = H_LBASE + si / H_NCOUNT;
            c[m++] = H_VBASE + (si % H_NCOUNT) / H_TCOUNT;
            if (si % H_TCOUNT)
                c[m++] = H_TBASE + si % H_TCOUNT;
        } else if (cp >= 0xC0 && (d = decomp_of(cp))) {
            for (int j = 0; j < d->n; j++)
                c[m++] = d->d[j];
        } else {
            c[m++] = cp;
        }
    }
    if (!canonical_order(c, m)) {
        free(c);
        return false;
    }
    m = compose_all(c, m);
    char *o = malloc(4 * m + 1); /* composing never lengthens the UTF-8 */
    if (!o) {
        free(c);
        return false;
    }
    size_t len = 0;
    for (size_t i = 0; i < m; i++) {
        if (c[i] & RAW_BYTE)
            o[len++] = (char)(c[i] & 0xFF);
        else
            len += ap_utf8_put(c[i], o + len);
    }
    o[len] = '\0';
    free(c);
    *out = o;
    *out_len = len;
    return true;
}
