/* ap_json.h — untrusted JSON text in: a pre-scan (strict UTF-8, no NUL, bounded depth and size) before cJSON,
 * and checks cJSON leaves out (duplicate keys, trailing garbage). Used by the model-file parsers. */
#ifndef AP_JSON_H
#define AP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ap_error.h"

typedef struct ap_json_limits {
    int max_depth;    /* deepest nesting of arrays/objects allowed (>= 1) */
    size_t max_nodes; /* upper bound on values (bounds cJSON's memory); 0 = no bound */
} ap_json_limits;

/* Parse `len` bytes of `text` (no NUL terminator needed). On success `*out` is a tree the caller frees with
 * cJSON_Delete. Rejects: invalid UTF-8 (overlong, surrogates, > U+10FFFF), NUL bytes, raw control characters
 * or "\u0000" inside strings, nesting deeper than the limit, more values than the limit, anything but
 * whitespace after the value. Errors (AP_E_FORMAT) start with `label`. */
ap_status ap_json_parse(cJSON **out, const char *text, size_t len, const ap_json_limits *lim, const char *label,
                        ap_error *err);

/* AP_E_FORMAT naming `label` and `where` if an object (recursively when `deep`) has a key twice.
 * cJSON keeps duplicates and returns the first, while Python keeps the last: ambiguity we refuse. */
ap_status ap_json_check_unique_keys(const cJSON *obj, int deep, const char *label, const char *where, ap_error *err);

/* Is `v` a JSON number that is an integer in [lo, hi] (|values| < 2^53 so doubles hold them exactly)? */
int ap_json_is_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out);

/* Is s[0..n) valid UTF-8 (RFC 3629) without NUL bytes? */
int ap_json_utf8_ok(const char *s, size_t n);

/* Write `s` at `out` as a JSON string literal with quotes (no NUL added); returns the bytes it takes (call with
 * out == NULL to size it). Control characters, '"' and '\\' are escaped. */
size_t ap_json_escape(char *out, const char *s);

/* Read a whole regular file of at most `max` bytes into a NUL-terminated heap buffer (`*text`, the caller
 * frees it); `*len` excludes the NUL. AP_E_IO when it cannot be read, AP_E_FORMAT when larger than `max`. */
ap_status ap_json_read_file(const char *path, size_t max, char **text, size_t *len, ap_error *err);

/* Copy `s` into `buf` (size n) for an error message: at most 64 characters, control bytes as '?'. */
const char *ap_json_quote(const char *s, char *buf, size_t n);

#endif
