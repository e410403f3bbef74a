/* ap_unicode.h — the Unicode the tokenizers need: UTF-8 decoding, the classes of the split regexes (\p{L}, \p{N},
 * \s as White_Space) and NFC normalization. Tables: ap_unicode_tables.h, generated from Python's unicodedata by
 * tests/tokenizer/gen_unicode_tables.py. */
#ifndef AP_UNICODE_H
#define AP_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AP_CP_INVALID 0xFFFFFFFFu

/* The character at s[0..n): its code point and byte length (*len). A byte that starts no valid sequence
 * (RFC 3629: no overlongs, surrogates or values past U+10FFFF) is AP_CP_INVALID of length 1, so every byte of any
 * input belongs to exactly one character. n must be >= 1. */
uint32_t ap_utf8_next(const unsigned char *s, size_t n, size_t *len);
/* Write cp (<= U+10FFFF) as UTF-8 into out (room for 4 bytes); returns the byte count. */
size_t ap_utf8_put(uint32_t cp, char *out);
bool ap_utf8_valid(const char *s, size_t n);

enum { AP_UC_OTHER, AP_UC_LETTER, AP_UC_NUMBER, AP_UC_SPACE };
/* \p{L}, \p{N}, White_Space (what \s matches in the tokenizers' regex engines), or other (AP_CP_INVALID too). */
int ap_unicode_class(uint32_t cp);
bool ap_unicode_is_space(uint32_t cp);

/* True when s has no code point NFC could change or compose (then s is its own NFC): one quick scan. */
bool ap_nfc_is_identity(const char *s, size_t n);
/* NFC of s[0..n) (invalid bytes kept as they are): *out is allocated and NUL-terminated (caller frees with free()),
 * *out_len excludes the NUL. n log n even for hostile runs of combining marks. False only when memory runs out. */
bool ap_nfc(const char *s, size_t n, char **out, size_t *out_len);

#endif
