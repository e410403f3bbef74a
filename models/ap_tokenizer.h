/* ap_tokenizer.h — tokenizer.json: sentencepiece-style BPE with byte fallback (LLaMA-2) and byte-level BPE
 * (GPT-2, LLaMA-3, Qwen). Untrusted input: bounded, validated, n·log n encoding. */
#ifndef AP_TOKENIZER_H
#define AP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

typedef struct ap_tokenizer ap_tokenizer;

ap_status ap_tokenizer_load(ap_tokenizer **out, const char *path, ap_error *err);
ap_status ap_tokenizer_parse(ap_tokenizer **out, const char *json, size_t len, const char *label, ap_error *err);
void ap_tokenizer_free(ap_tokenizer *tok);

/* Encode text (len bytes, any bytes) as the tokenizer's post-processor does (e.g. BOS first for LLaMA-2 style
 * when add_special is set). *ids is allocated (caller frees with free()), *n_ids set. */
ap_status ap_tokenizer_encode(const ap_tokenizer *tok, const char *text, size_t len, int add_special,
                              int32_t **ids, size_t *n_ids, ap_error *err);
int ap_tokenizer_vocab_size(const ap_tokenizer *tok);
int ap_tokenizer_bos(const ap_tokenizer *tok);   /* -1 if none */
/* The token string of an id (borrowed), or NULL if out of range. */
const char *ap_tokenizer_piece(const ap_tokenizer *tok, int32_t id);

#endif
