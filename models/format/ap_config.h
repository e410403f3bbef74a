/* ap_config.h — a model's config.json: the architecture families autoprune runs and their hyper-parameters. */
#ifndef AP_CONFIG_H
#define AP_CONFIG_H

#include <stddef.h>

#include "ap_error.h"

typedef enum { AP_ARCH_LLAMA, AP_ARCH_MISTRAL, AP_ARCH_QWEN2 } ap_arch;
typedef enum { AP_ROPE_DEFAULT, AP_ROPE_LLAMA3 } ap_rope_type;

typedef struct ap_config {
    ap_arch arch;
    char arch_name[64]; /* as in "architectures"[0] */
    int hidden;         /* hidden_size */
    int n_layers;       /* num_hidden_layers */
    int n_heads;        /* num_attention_heads */
    int n_kv_heads;     /* num_key_value_heads (defaults to n_heads) */
    int head_dim;       /* head_dim (defaults to hidden / n_heads) */
    int ffn;            /* intermediate_size */
    int vocab;          /* vocab_size */
    int max_pos;        /* max_position_embeddings */
    double rms_eps;     /* rms_norm_eps */
    double rope_theta;  /* rope_theta or rope_parameters.rope_theta */
    ap_rope_type rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    int rope_original_max_pos;                                       /* llama3 */
    int tie_embeddings;                                              /* tie_word_embeddings */
    int qkv_bias;                                                    /* Qwen2 (and attention_bias: true) */
    int bos_id, eos_id; /* -1 where absent (eos: the first id when the file gives a list) */
    int o_bias;         /* o_proj has a bias too (llama/mistral attention_bias: true; never Qwen2) */
    int sliding_window; /* Mistral's attention window; 0 = full causal attention */
} ap_config;

/* Bounds a config must respect (so hostile values cannot make later code allocate absurdly). */
#define AP_CFG_MAX_HIDDEN (1 << 16)
#define AP_CFG_MAX_LAYERS 1024
#define AP_CFG_MAX_HEADS 1024
#define AP_CFG_MAX_HEAD_DIM 1024
#define AP_CFG_MAX_FFN (1 << 20)
#define AP_CFG_MAX_VOCAB (1 << 24)
#define AP_CFG_MAX_POS (1 << 24)
#define AP_CFG_MAX_FILE ((size_t)16 << 20)

/* Parse config.json text (need not be NUL-terminated). Defaults as in transformers: num_key_value_heads =
 * num_attention_heads, head_dim = hidden_size / num_attention_heads, rms_norm_eps 1e-6, rope_theta 10000,
 * max_position_embeddings 2048, tie_word_embeddings false, hidden_act silu. Unsupported values (another
 * architecture, activation, rope type, mlp_bias, Qwen2 sliding window) give AP_E_UNSUPPORTED; malformed or
 * out-of-range ones AP_E_FORMAT. */
/* Parse config.json text; `label` (the file name) appears in every error with the field. */
ap_status ap_config_parse(ap_config *cfg, const char *json, size_t len, const char *label, ap_error *err);
ap_status ap_config_load(ap_config *cfg, const char *path, ap_error *err);

#endif
