/* ap_tokenizer.h — tokenizer.json: sentencepiece-style BPE with byte fallback (LLaMA-2) and byte-level BPE
 * (GPT-2, LLaMA-3, Qwen). Untrusted input: bounded, validated, n·log n encoding. */
#ifndef AP_TOKENIZER_H
#define AP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

typedef struct ap_tokenizer ap_tokenizer;

/* Bounds on an untrusted tokenizer.json (each violation is an AP_E_FORMAT error naming the file and field). */
#define AP_TOKENIZER_MAX_FILE_BYTES (100u << 20) /* the whole file */
#define AP_TOKENIZER_MAX_DEPTH 64                /* JSON nesting (real files nest about 6 deep) */
#define AP_TOKENIZER_MAX_VOCAB (1 << 21)         /* model.vocab entries */
#define AP_TOKENIZER_MAX_MERGES (1 << 22)        /* model.merges entries */
#define AP_TOKENIZER_MAX_ADDED (1 << 16)         /* added_tokens entries */
#define AP_TOKENIZER_MAX_TOKEN_BYTES 4096        /* one vocab token */
#define AP_TOKENIZER_MAX_ADDED_BYTES 256         /* one added token: bounds the special-token scan per byte */

/* Load and validate a tokenizer.json (path) or a JSON text in memory (label names it in errors).
 * Supported: model.type "BPE" (vocab; merges as "a b" strings or ["a","b"] pairs; byte_fallback; unk_token;
 * fuse_unk; ignore_merges), added_tokens (lstrip/rstrip/single_word/normalized), normalizers Prepend,
 * Replace (plain string pattern), NFC and Sequence; pre-tokenizers Metaspace,
 * ByteLevel, Digits, Split (the GPT-2, LLaMA-3 and Qwen2 regexes, behavior Isolated) and Sequence;
 * post-processors TemplateProcessing, ByteLevel, Bert/RobertaProcessing and Sequence; decoders Replace,
 * ByteFallback, Fuse, Strip, ByteLevel, Metaspace and Sequence. Anything else: AP_E_UNSUPPORTED naming the field.
 * On success *out is owned by the caller (ap_tokenizer_free). A loaded tokenizer is read-only: encode/decode
 * may run from several threads at once. */
ap_status ap_tokenizer_load(ap_tokenizer **out, const char *path, ap_error *err);
ap_status ap_tokenizer_parse(ap_tokenizer **out, const char *json, size_t len, const char *label, ap_error *err);
void ap_tokenizer_free(ap_tokenizer *tok);

/* Encode text (len bytes, any bytes) as the tokenizer's post-processor does (e.g. BOS first for LLaMA-2 style
 * when add_special is set). *ids is allocated (caller frees with free()), *n_ids set. Added tokens in the text
 * (e.g. "<s>") are matched as whole tokens, as Hugging Face tokenizers does. Bytes that are not valid UTF-8 are
 * single characters outside the vocabulary (so they take their <0xXX> byte token, or unk). */
ap_status ap_tokenizer_encode(const ap_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids,
                              size_t *n_ids, ap_error *err);
/* Text -> ids for calibration and evaluation: text_path read whole (a regular file of at most AP_TEXT_MAX_BYTES)
 * and encoded once with <model_dir>/tokenizer.json, special tokens added as its template says (one BOS for
 * LLaMA-2 style). *ids is the caller's (free()). */
#define AP_TEXT_MAX_BYTES ((size_t)1 << 30)
ap_status ap_tokenizer_encode_file(const char *model_dir, const char *text_path, int32_t **ids, size_t *n_ids,
                                   ap_error *err);
/* Decode ids to text with the tokenizer's decoder (e.g. "▁" -> " ", <0xXX> bytes fused, the leading space of
 * the prepended "▁" stripped; or the byte-level map reversed). skip_special drops special added tokens.
 * *text is allocated and NUL-terminated (caller frees with free()); *len excludes the NUL. An id out of range is
 * AP_E_ARG. Invalid UTF-8 produced by byte tokens becomes U+FFFD. */
ap_status ap_tokenizer_decode(const ap_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special, char **text,
                              size_t *len, ap_error *err);
int ap_tokenizer_vocab_size(const ap_tokenizer *tok); /* number of ids (model vocab + added tokens) */
int ap_tokenizer_bos(const ap_tokenizer *tok);        /* -1 if none */
/* The id of a token string (vocab or added token), or -1. */
int32_t ap_tokenizer_find(const ap_tokenizer *tok, const char *piece);
/* The token string of an id (borrowed), or NULL if out of range. */
const char *ap_tokenizer_piece(const ap_tokenizer *tok, int32_t id);

#endif
