/* ap_config.h — a model's config.json: the architecture families autoprune runs and their hyper-parameters. */
#ifndef AP_CONFIG_H
#define AP_CONFIG_H

#include <stddef.h>

#include "ap_error.h"

typedef enum { AP_ARCH_LLAMA, AP_ARCH_MISTRAL, AP_ARCH_QWEN2 } ap_arch;
typedef enum { AP_ROPE_DEFAULT, AP_ROPE_LLAMA3 } ap_rope_type;

typedef struct ap_config {
    ap_arch arch;
    char arch_name[64];          /* as in "architectures"[0] */
    int hidden;                  /* hidden_size */
    int n_layers;                /* num_hidden_layers */
    int n_heads;                 /* num_attention_heads */
    int n_kv_heads;              /* num_key_value_heads (defaults to n_heads) */
    int head_dim;                /* head_dim (defaults to hidden / n_heads) */
    int ffn;                     /* intermediate_size */
    int vocab;                   /* vocab_size */
    int max_pos;                 /* max_position_embeddings */
    double rms_eps;              /* rms_norm_eps */
    double rope_theta;           /* rope_theta or rope_parameters.rope_theta */
    ap_rope_type rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;  /* llama3 */
    int rope_original_max_pos;                                         /* llama3 */
    int tie_embeddings;          /* tie_word_embeddings */
    int qkv_bias;                /* Qwen2 (and attention_bias: true) */
    int bos_id, eos_id;          /* -1 where absent */
} ap_config;

/* Parse config.json text; `label` (the file name) appears in every error with the field. */
ap_status ap_config_parse(ap_config *cfg, const char *json, size_t len, const char *label, ap_error *err);
ap_status ap_config_load(ap_config *cfg, const char *path, ap_error *err);

#endif
