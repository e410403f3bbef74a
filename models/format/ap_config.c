/* ap_config.c — parsing and validating a model's config.json (LLaMA, Mistral, Qwen2) with cJSON. */
#include "ap_config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_json.h"

static const ap_json_limits config_limits = {.max_depth = 32, .max_nodes = (size_t)1 << 20};

typedef struct {
    const cJSON *root;
    const char *label;
    ap_error *err;
} ctx;

static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v; /* JSON null means "use the default", as in transformers */
}

/* An integer field in [lo, hi]; `def` when absent, or an error when def < lo (required). */
static ap_status get_int(ctx *c, const cJSON *obj, const char *name, const char *key, int64_t lo, int64_t hi,
                         int64_t def, int *out)
{
    const cJSON *v = field(obj, key);
    int64_t x;
    if (!v) {
        if (def < lo)
            return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": missing", c->label, name);
        *out = (int)def;
        return AP_OK;
    }
    if (!ap_json_is_int(v, INT64_MIN / 2, INT64_MAX / 2, &x))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be an integer in [%lld, %lld]", c->label, name,
                            (long long)lo, (long long)hi);
    if (x < lo || x > hi)
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": %lld is out of range [%lld, %lld]", c->label, name,
                            (long long)x, (long long)lo, (long long)hi);
    *out = (int)x;
    return AP_OK;
}

/* A finite number in (lo, hi]; `def` when absent, required when def is NAN. */
static ap_status get_num(ctx *c, const cJSON *obj, const char *name, const char *key, double lo, double hi, double def,
                         double *out)
{
    const cJSON *v = field(obj, key);
    if (!v) {
        if (isnan(def))
            return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": missing", c->label, name);
        *out = def;
        return AP_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be a finite number", c->label, name);
    if (!(v->valuedouble > lo && v->valuedouble <= hi))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": %g is out of range (%g, %g]", c->label, name,
                            v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return AP_OK;
}

static ap_status get_bool(ctx *c, const cJSON *obj, const char *key, int def, int *out)
{
    const cJSON *v = field(obj, key);
    if (!v) {
        *out = def;
        return AP_OK;
    }
    if (!cJSON_IsBool(v))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be true or false", c->label, key);
    *out = cJSON_IsTrue(v);
    return AP_OK;
}

static ap_status parse_arch(ctx *c, ap_config *cfg)
{
    static const struct {
        const char *arch, *model_type;
        ap_arch id;
    } known[] = {
        {"LlamaForCausalLM", "llama", AP_ARCH_LLAMA},
        {"MistralForCausalLM", "mistral", AP_ARCH_MISTRAL},
        {"Qwen2ForCausalLM", "qwen2", AP_ARCH_QWEN2},
    };
    const cJSON *a = field(c->root, "architectures");
    const char *name = NULL;
    char q[80];
    if (a) {
        if (!cJSON_IsArray(a) || !cJSON_IsString(a->child))
            return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"architectures\": must be a non-empty list of strings",
                                c->label);
        name = a->child->valuestring;
    }
    const cJSON *mt = field(c->root, "model_type");
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        int hit = name ? strcmp(name, known[i].arch) == 0
                       : (cJSON_IsString(mt) && strcmp(mt->valuestring, known[i].model_type) == 0);
        if (hit) {
            cfg->arch = known[i].id;
            snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", known[i].arch);
            return AP_OK;
        }
    }
    if (!name)
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"architectures\": missing (and no known model_type)",
                            c->label);
    return ap_error_set(c->err, AP_E_UNSUPPORTED,
                        "%s: field \"architectures\": unsupported architecture \"%s\" (supported: LlamaForCausalLM,"
                        " MistralForCausalLM, Qwen2ForCausalLM)",
                        c->label, ap_json_quote(name, q, sizeof q));
}

static ap_status parse_sizes(ctx *c, ap_config *cfg)
{
    const cJSON *r = c->root;
    ap_status s;
    if ((s = get_int(c, r, "hidden_size", "hidden_size", 1, AP_CFG_MAX_HIDDEN, -1, &cfg->hidden)))
        return s;
    if ((s = get_int(c, r, "num_hidden_layers", "num_hidden_layers", 1, AP_CFG_MAX_LAYERS, -1, &cfg->n_layers)))
        return s;
    if ((s = get_int(c, r, "num_attention_heads", "num_attention_heads", 1, AP_CFG_MAX_HEADS, -1, &cfg->n_heads)))
        return s;
    if ((s = get_int(c, r, "num_key_value_heads", "num_key_value_heads", 1, AP_CFG_MAX_HEADS, cfg->n_heads,
                     &cfg->n_kv_heads)))
        return s;
    if (cfg->n_heads % cfg->n_kv_heads)
        return ap_error_set(c->err, AP_E_FORMAT,
                            "%s: field \"num_key_value_heads\": %d must divide"
                            " num_attention_heads (%d)",
                            c->label, cfg->n_kv_heads, cfg->n_heads);
    if (!field(r, "head_dim") && cfg->hidden % cfg->n_heads)
        return ap_error_set(c->err, AP_E_FORMAT,
                            "%s: field \"num_attention_heads\": %d must divide hidden_size (%d)"
                            " when head_dim is not given",
                            c->label, cfg->n_heads, cfg->hidden);
    if ((s = get_int(c, r, "head_dim", "head_dim", 1, AP_CFG_MAX_HEAD_DIM, cfg->hidden / cfg->n_heads, &cfg->head_dim)))
        return s;
    if (cfg->head_dim % 2)
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"head_dim\": %d must be even (rotary embeddings)",
                            c->label, cfg->head_dim);
    if ((int64_t)cfg->n_heads * cfg->head_dim > AP_CFG_MAX_HIDDEN)
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"head_dim\": num_attention_heads x head_dim exceeds %d",
                            c->label, AP_CFG_MAX_HIDDEN);
    if ((s = get_int(c, r, "intermediate_size", "intermediate_size", 1, AP_CFG_MAX_FFN, -1, &cfg->ffn)))
        return s;
    if ((s = get_int(c, r, "vocab_size", "vocab_size", 1, AP_CFG_MAX_VOCAB, -1, &cfg->vocab)))
        return s;
    if ((s = get_int(c, r, "max_position_embeddings", "max_position_embeddings", 1, AP_CFG_MAX_POS, 2048,
                     &cfg->max_pos)))
        return s;
    return get_num(c, r, "rms_norm_eps", "rms_norm_eps", 0.0, 1.0, 1e-6, &cfg->rms_eps);
}

static ap_status parse_rope_type(ctx *c, ap_config *cfg, const cJSON *obj, const char *where)
{
    char name[96], q[80];
    const cJSON *t = field(obj, "rope_type");
    const char *tkey = "rope_type";
    if (!t) {
        t = field(obj, "type");
        tkey = "type";
    }
    snprintf(name, sizeof name, "%s.%s", where, tkey);
    if (t && !cJSON_IsString(t))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be a string", c->label, name);
    const char *type = t ? t->valuestring : "default";
    if (strcmp(type, "default") == 0) {
        cfg->rope_type = AP_ROPE_DEFAULT;
        return AP_OK;
    }
    if (strcmp(type, "llama3") != 0)
        return ap_error_set(c->err, AP_E_UNSUPPORTED,
                            "%s: field \"%s\": unsupported rope type \"%s\" (supported:"
                            " default, llama3)",
                            c->label, name, ap_json_quote(type, q, sizeof q));
    cfg->rope_type = AP_ROPE_LLAMA3;
    ap_status s;
    snprintf(name, sizeof name, "%s.factor", where);
    if ((s = get_num(c, obj, name, "factor", 0.0, 1e6, NAN, &cfg->rope_factor)))
        return s;
    snprintf(name, sizeof name, "%s.low_freq_factor", where);
    if ((s = get_num(c, obj, name, "low_freq_factor", 0.0, 1e6, NAN, &cfg->rope_low_freq_factor)))
        return s;
    snprintf(name, sizeof name, "%s.high_freq_factor", where);
    if ((s = get_num(c, obj, name, "high_freq_factor", 0.0, 1e6, NAN, &cfg->rope_high_freq_factor)))
        return s;
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be greater than low_freq_factor", c->label,
                            name);
    snprintf(name, sizeof name, "%s.original_max_position_embeddings", where);
    return get_int(c, obj, name, "original_max_position_embeddings", 1, AP_CFG_MAX_POS, -1,
                   &cfg->rope_original_max_pos);
}

/* rope_theta at the top level or in rope_parameters; the type in rope_parameters or (older) rope_scaling. */
static ap_status parse_rope(ctx *c, ap_config *cfg)
{
    const cJSON *rp = field(c->root, "rope_parameters"), *rs = field(c->root, "rope_scaling");
    ap_status s = get_num(c, c->root, "rope_theta", "rope_theta", 0.0, 1e12, 10000.0, &cfg->rope_theta);
    if (s)
        return s;
    cfg->rope_type = AP_ROPE_DEFAULT;
    if (rp) {
        if (!cJSON_IsObject(rp))
            return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"rope_parameters\": must be an object", c->label);
        if ((s = get_num(c, rp, "rope_parameters.rope_theta", "rope_theta", 0.0, 1e12, cfg->rope_theta,
                         &cfg->rope_theta)))
            return s;
        if ((s = parse_rope_type(c, cfg, rp, "rope_parameters")))
            return s;
    }
    if (rs && !(rp && cfg->rope_type != AP_ROPE_DEFAULT)) {
        if (!cJSON_IsObject(rs))
            return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"rope_scaling\": must be an object or null", c->label);
        if ((s = parse_rope_type(c, cfg, rs, "rope_scaling")))
            return s;
    }
    return AP_OK;
}

/* An id field: an integer in [0, vocab), a list of them (first used), or absent/null (-1). */
static ap_status get_token_id(ctx *c, const ap_config *cfg, const char *key, int *out)
{
    const cJSON *v = field(c->root, key);
    *out = -1;
    if (!v)
        return AP_OK;
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next)
            if (!ap_json_is_int(e, 0, cfg->vocab - 1, NULL))
                return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": ids must be integers in [0, %d)", c->label,
                                    key, cfg->vocab);
        v = v->child;
        if (!v)
            return AP_OK;
    }
    int64_t x;
    if (!ap_json_is_int(v, 0, cfg->vocab - 1, &x))
        return ap_error_set(c->err, AP_E_FORMAT, "%s: field \"%s\": must be an integer in [0, %d)", c->label, key,
                            cfg->vocab);
    *out = (int)x;
    return AP_OK;
}

static ap_status parse_variant(ctx *c, ap_config *cfg)
{
    const cJSON *r = c->root, *act = field(r, "hidden_act");
    char q[80];
    ap_status s;
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return ap_error_set(c->err, AP_E_UNSUPPORTED,
                            "%s: field \"hidden_act\": unsupported activation \"%s\""
                            " (only silu)",
                            c->label,
                            cJSON_IsString(act) ? ap_json_quote(act->valuestring, q, sizeof q) : "(not a string)");
    if ((s = get_bool(c, r, "tie_word_embeddings", 0, &cfg->tie_embeddings)))
        return s;
    int mlp_bias = 0, attn_bias = 0, sliding = 0;
    if ((s = get_bool(c, r, "mlp_bias", 0, &mlp_bias)))
        return s;
    if (mlp_bias)
        return ap_error_set(c->err, AP_E_UNSUPPORTED, "%s: field \"mlp_bias\": true is not supported", c->label);
    if (cfg->arch == AP_ARCH_QWEN2) {
        cfg->qkv_bias = 1; /* Qwen2 always has q/k/v biases and no o_proj bias */
        if ((s = get_bool(c, r, "use_sliding_window", 0, &sliding)))
            return s;
        if (sliding)
            return ap_error_set(c->err, AP_E_UNSUPPORTED, "%s: field \"use_sliding_window\": true is not supported",
                                c->label);
    } else {
        if ((s = get_bool(c, r, "attention_bias", 0, &attn_bias)))
            return s;
        cfg->qkv_bias = cfg->o_bias = attn_bias;
    }
    if (cfg->arch == AP_ARCH_MISTRAL &&
        (s = get_int(c, r, "sliding_window", "sliding_window", 1, AP_CFG_MAX_POS, 0, &cfg->sliding_window)))
        return s;
    if ((s = get_token_id(c, cfg, "bos_token_id", &cfg->bos_id)))
        return s;
    return get_token_id(c, cfg, "eos_token_id", &cfg->eos_id);
}

ap_status ap_config_parse(ap_config *cfg, const char *json, size_t len, const char *label, ap_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!label)
        label = "config.json";
    if (!json)
        return ap_error_set(err, AP_E_ARG, "%s: no text", label);
    if (len > AP_CFG_MAX_FILE)
        return ap_error_set(err, AP_E_FORMAT, "%s: %zu bytes, larger than the limit of %zu", label, len,
                            AP_CFG_MAX_FILE);
    cJSON *root = NULL;
    ap_status s = ap_json_parse(&root, json, len, &config_limits, label, err);
    if (s)
        return s;
    ctx c = {root, label, err};
    if (!cJSON_IsObject(root))
        s = ap_error_set(err, AP_E_FORMAT, "%s: not a JSON object", label);
    if (!s)
        s = ap_json_check_unique_keys(root, 1, label, "top level", err);
    if (!s)
        s = parse_arch(&c, cfg);
    if (!s)
        s = parse_sizes(&c, cfg);
    if (!s)
        s = parse_rope(&c, cfg);
    if (!s)
        s = parse_variant(&c, cfg);
    cJSON_Delete(root);
    if (s)
        memset(cfg, 0, sizeof *cfg);
    return s;
}

ap_status ap_config_load(ap_config *cfg, const char *path, ap_error *err)
{
    char *text = NULL;
    size_t len = 0;
    memset(cfg, 0, sizeof *cfg);
    ap_status s = ap_json_read_file(path, AP_CFG_MAX_FILE, &text, &len, err);
    if (s)
        return s;
    s = ap_config_parse(cfg, text, len, path, err);
    free(text);
    return s;
}
