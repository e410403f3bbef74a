/* ap_json.c — the pre-scan and checks that make cJSON safe for untrusted model files. */
#include "ap_json.h"
#include "ap_file.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not valid (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < k)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* One pass over the raw bytes; cJSON then only sees text that passed it. */
static ap_status prescan(const unsigned char *s, size_t len, const ap_json_limits *lim, const char *label,
                         ap_error *err)
{
    int depth = 0, in_str = 0;
    size_t nodes = 1;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == 0)
            return ap_error_set(err, AP_E_FORMAT, "%s: NUL byte in JSON text at byte %zu", label, i);
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, len - i);
            if (!k)
                return ap_error_set(err, AP_E_FORMAT, "%s: invalid UTF-8 at byte %zu", label, i);
            i += k;
            continue;
        }
        if (in_str) {
            if (c < 0x20)
                return ap_error_set(err, AP_E_FORMAT, "%s: control character in a JSON string at byte %zu", label, i);
            if (c == '\\') {
                if (i + 1 < len && s[i + 1] == 'u' && i + 6 <= len && memcmp(s + i + 2, "0000", 4) == 0)
                    return ap_error_set(err, AP_E_FORMAT, "%s: \\u0000 in a JSON string at byte %zu", label, i);
                i += 2; /* skip the escaped character (cJSON checks the escape itself) */
                continue;
            }
            if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > lim->max_depth)
                return ap_error_set(err, AP_E_FORMAT, "%s: JSON nested deeper than %d levels at byte %zu", label,
                                    lim->max_depth, i);
            nodes++;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',') {
            nodes++;
        }
        if (lim->max_nodes && nodes > lim->max_nodes)
            return ap_error_set(err, AP_E_FORMAT, "%s: JSON has more than %zu values", label, lim->max_nodes);
        i++;
    }
    return AP_OK;
}

ap_status ap_json_parse(cJSON **out, const char *text, size_t len, const ap_json_limits *lim, const char *label,
                        ap_error *err)
{
    *out = NULL;
    ap_status st = prescan((const unsigned char *)text, len, lim, label, err);
    if (st)
        return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = (end && end >= text && end <= text + len) ? (size_t)(end - text) : 0;
        return ap_error_set(err, AP_E_FORMAT, "%s: not valid JSON (error near byte %zu)", label, at);
    }
    for (const char *p = end; p && p < text + len; p++) {
        if (!is_ws((unsigned char)*p)) {
            cJSON_Delete(root);
            return ap_error_set(err, AP_E_FORMAT, "%s: unexpected data after the JSON value at byte %zu", label,
                                (size_t)(p - text));
        }
    }
    *out = root;
    return AP_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

ap_status ap_json_check_unique_keys(const cJSON *obj, int deep, const char *label, const char *where, ap_error *err)
{
    if (!cJSON_IsObject(obj) && !cJSON_IsArray(obj))
        return AP_OK;
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (cJSON_IsObject(obj) && n > 1) {
        const char **keys = malloc(n * sizeof *keys);
        if (!keys)
            return ap_error_set(err, AP_E_NOMEM, "%s: out of memory checking keys", label);
        size_t i = 0;
        for (const cJSON *c = obj->child; c; c = c->next)
            keys[i++] = c->string ? c->string : "";
        qsort(keys, n, sizeof *keys, cmp_str_ptr);
        for (i = 1; i < n; i++) {
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                char q[80];
                ap_json_quote(keys[i], q, sizeof q);
                free(keys);
                return ap_error_set(err, AP_E_FORMAT, "%s: %s: duplicate key \"%s\"", label, where, q);
            }
        }
        free(keys);
    }
    if (deep) {
        for (const cJSON *c = obj->child; c; c = c->next) {
            ap_status st = ap_json_check_unique_keys(c, deep, label, c->string ? c->string : where, err);
            if (st)
                return st;
        }
    }
    return AP_OK;
}

int ap_json_is_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) >= 9007199254740992.0)
        return 0;
    int64_t i = (int64_t)d;
    if (i < lo || i > hi)
        return 0;
    if (out)
        *out = i;
    return 1;
}

const char *ap_json_quote(const char *s, char *buf, size_t n)
{
    if (!n)
        return buf;
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 4 < n && i < 64; i++)
        buf[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s && j + 4 < n && strlen(s) > 64) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

ap_status ap_json_read_file(const char *path, size_t max, char **text, size_t *len, ap_error *err)
{
    return ap_file_read(path, max, text, len, err);
}

int ap_json_utf8_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (!u[i])
            return 0;
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t ap_json_escape(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
#define PUT(c)                                                                                                         \
    do {                                                                                                               \
        if (out)                                                                                                       \
            out[j] = (c);                                                                                              \
        j++;                                                                                                           \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p < 0x20) {
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[*p >> 4]);
            PUT(hex[*p & 15]);
        } else {
            PUT((char)*p);
        }
    }
    PUT('"');
#undef PUT
    return j;
}
