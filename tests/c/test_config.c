/* test_config.c — config.json parsing: ap-tiny, the supported variants (GQA, head_dim, rope forms, Qwen2
 * biases, tied embeddings) and errors that name the file and the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_config.h"
#include "aptest.h"

#define BASE                                                                                                           \
    "\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":256,\"num_hidden_layers\":2,"                            \
    "\"num_attention_heads\":8,\"intermediate_size\":512,\"vocab_size\":1000"

/* BASE with one field replaced (value NULL: removed) and `extra` appended: no duplicate keys by accident. */
static const char *with(const char *key, const char *value, const char *extra)
{
    static const char *const fields[][2] = {
        {"architectures", "[\"LlamaForCausalLM\"]"},
        {"hidden_size", "256"},
        {"num_hidden_layers", "2"},
        {"num_attention_heads", "8"},
        {"intermediate_size", "512"},
        {"vocab_size", "1000"},
    };
    static char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{");
    int found = 0;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *v = fields[i][1];
        if (key && strcmp(key, fields[i][0]) == 0) {
            v = value;
            found = 1;
        }
        if (v)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\":%s", n > 1 ? "," : "", fields[i][0], v);
    }
    if (key && !found && value)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"%s\":%s", key, value);
    snprintf(buf + n, sizeof buf - n, "%s}", extra ? extra : "");
    return buf;
}

static ap_status parse(ap_config *c, const char *json, ap_error *err)
{
    return ap_config_parse(c, json, strlen(json), "cfg.json", err);
}

static void ok_case(const char *what, const char *json, ap_config *c)
{
    ap_error err = {0};
    ap_status s = parse(c, json, &err);
    AP_CHECK(s == AP_OK, "%s parses (%s)", what, err.msg);
}

/* An error of kind `want` whose message names the file and contains `field`. */
static void bad_case(const char *what, const char *json, ap_status want, const char *field)
{
    ap_error err = {0};
    ap_config c;
    ap_status s = parse(&c, json, &err);
    char quoted[128];
    snprintf(quoted, sizeof quoted, "\"%s\"", field);
    int dup_ok = strstr(what, "duplicate") || !strstr(err.msg, "duplicate"); /* not an accidental duplicate */
    AP_CHECK(s == want && strstr(err.msg, "cfg.json") && (strstr(err.msg, quoted) || strstr(err.msg, field)) && dup_ok,
             "%s: %s naming \"%s\" (got %s: %s)", what, ap_status_name(want), field, ap_status_name(s), err.msg);
}

static void test_tiny(void)
{
    const char *r = getenv("AP_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/models/ap-tiny/config.json", r && *r ? r : ".");
    ap_config c;
    ap_error err = {0};
    AP_CHECK(ap_config_load(&c, path, &err) == AP_OK, "ap-tiny config.json loads (%s)", err.msg);
    AP_CHECK(c.arch == AP_ARCH_LLAMA && strcmp(c.arch_name, "LlamaForCausalLM") == 0 && c.hidden == 128 &&
                 c.n_layers == 4 && c.n_heads == 4 && c.n_kv_heads == 2 && c.head_dim == 32 && c.ffn == 384 &&
                 c.vocab == 8192 && c.max_pos == 512,
             "ap-tiny sizes: llama, 128 hidden, 4 layers, 4 heads, 2 kv heads, head_dim 32, ffn 384, vocab 8192");
    AP_CHECK(c.rms_eps == 1e-5 && c.rope_theta == 10000.0 && c.rope_type == AP_ROPE_DEFAULT && !c.tie_embeddings &&
                 !c.qkv_bias && !c.o_bias && c.bos_id == 1 && c.eos_id == 2,
             "ap-tiny: eps 1e-5, rope_parameters theta 10000 default, untied, no biases, bos 1, eos 2");
    AP_CHECK(ap_config_load(&c, "/nonexistent/config.json", &err) == AP_E_IO && strstr(err.msg, "/nonexistent"),
             "missing file: AP_E_IO naming it");
}

static void test_variants(void)
{
    ap_config c;
    ok_case("defaults", "{" BASE "}", &c);
    AP_CHECK(c.n_kv_heads == 8 && c.head_dim == 32 && c.rope_theta == 10000 && c.rms_eps == 1e-6 && c.max_pos == 2048 &&
                 c.bos_id == -1 && c.eos_id == -1 && !c.tie_embeddings,
             "defaults: kv heads = heads, head_dim = hidden/heads, theta 1e4, eps 1e-6, ids -1");
    ok_case("GQA + head_dim != hidden/heads + tied + theta 5e5",
            "{" BASE ",\"num_key_value_heads\":2,\"head_dim\":48,\"tie_word_embeddings\":true,\"rope_theta\":500000,"
            "\"rms_norm_eps\":1e-5,\"num_key_value_heads_unused\":null}",
            &c);
    AP_CHECK(c.n_kv_heads == 2 && c.head_dim == 48 && c.tie_embeddings && c.rope_theta == 500000,
             "GQA 8/2, head_dim 48, tied, theta 500000");
    ok_case("llama3 rope_scaling",
            "{" BASE ",\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
            "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},"
            "\"eos_token_id\":[7,9],\"bos_token_id\":5}",
            &c);
    AP_CHECK(c.rope_type == AP_ROPE_LLAMA3 && c.rope_factor == 8 && c.rope_low_freq_factor == 1 &&
                 c.rope_high_freq_factor == 4 && c.rope_original_max_pos == 8192 && c.rope_theta == 500000 &&
                 c.eos_id == 7 && c.bos_id == 5,
             "llama3 scaling parameters, eos list takes the first id");
    ok_case("rope_parameters llama3",
            "{" BASE ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":123456,\"factor\":32,"
            "\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}",
            &c);
    AP_CHECK(c.rope_type == AP_ROPE_LLAMA3 && c.rope_theta == 123456 && c.rope_factor == 32,
             "rope_parameters: theta and llama3 from the new field");
    ok_case("rope_scaling default type (old 'type' key), null fields",
            "{" BASE ",\"rope_scaling\":{\"type\":\"default\"},\"num_key_value_heads\":null,\"head_dim\":null}", &c);
    AP_CHECK(c.rope_type == AP_ROPE_DEFAULT && c.n_kv_heads == 8 && c.head_dim == 32, "null means default");
    ok_case("qwen2",
            "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"intermediate_size\":128,\"vocab_size\":50,"
            "\"use_sliding_window\":false,\"sliding_window\":4096,\"tie_word_embeddings\":true}",
            &c);
    AP_CHECK(c.arch == AP_ARCH_QWEN2 && c.qkv_bias && !c.o_bias && c.tie_embeddings, "qwen2: q/k/v biases, no o bias");
    ok_case("llama attention_bias", with("attention_bias", "true", NULL), &c);
    AP_CHECK(c.qkv_bias && c.o_bias, "llama attention_bias: q/k/v and o biases");
    ok_case("mistral",
            "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":50,\"sliding_window\":4096}",
            &c);
    AP_CHECK(c.arch == AP_ARCH_MISTRAL && c.sliding_window == 4096, "mistral: sliding window 4096");
    ok_case("model_type fallback",
            "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":50}",
            &c);
    AP_CHECK(c.arch == AP_ARCH_LLAMA, "no architectures: model_type llama");
}

static void test_errors(void)
{
    bad_case("unknown architecture", "{\"architectures\":[\"GPT2LMHeadModel\"],\"hidden_size\":64}", AP_E_UNSUPPORTED,
             "architectures");
    bad_case("no architecture", "{\"hidden_size\":64}", AP_E_FORMAT, "architectures");
    bad_case("missing hidden_size", with("hidden_size", NULL, NULL), AP_E_FORMAT, "hidden_size");
    bad_case("negative layers", with("num_hidden_layers", "-3", NULL), AP_E_FORMAT, "num_hidden_layers");
    bad_case("fractional heads", with("num_attention_heads", "2.5", NULL), AP_E_FORMAT, "num_attention_heads");
    bad_case("string size", with("intermediate_size", "\"512\"", NULL), AP_E_FORMAT, "intermediate_size");
    bad_case("kv heads not dividing", with("num_key_value_heads", "3", NULL), AP_E_FORMAT, "num_key_value_heads");
    bad_case("kv heads above heads", with("num_key_value_heads", "16", NULL), AP_E_FORMAT, "num_key_value_heads");
    bad_case("heads not dividing hidden", with("num_attention_heads", "7", NULL), AP_E_FORMAT, "num_attention_heads");
    bad_case("odd head_dim", with("head_dim", "33", NULL), AP_E_FORMAT, "head_dim");
    bad_case("huge vocab", with("vocab_size", "1e15", NULL), AP_E_FORMAT, "vocab_size");
    bad_case("huge hidden", with("hidden_size", "9007199254740993", NULL), AP_E_FORMAT, "hidden_size");
    bad_case("zero eps", with("rms_norm_eps", "0", NULL), AP_E_FORMAT, "rms_norm_eps");
    bad_case("negative theta", with("rope_theta", "-1", NULL), AP_E_FORMAT, "rope_theta");
    bad_case("yarn rope", with(NULL, NULL, ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}"), AP_E_UNSUPPORTED,
             "rope_scaling.rope_type");
    bad_case("linear rope (old key)", with(NULL, NULL, ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":4}"),
             AP_E_UNSUPPORTED, "rope_scaling.type");
    bad_case("llama3 rope missing factor", with(NULL, NULL, ",\"rope_parameters\":{\"rope_type\":\"llama3\"}"),
             AP_E_FORMAT, "rope_parameters.factor");
    bad_case("llama3 high <= low",
             with(NULL, NULL,
                  ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,"
                  "\"low_freq_factor\":4,\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}"),
             AP_E_FORMAT, "high_freq_factor");
    bad_case("gelu", with("hidden_act", "\"gelu\"", NULL), AP_E_UNSUPPORTED, "hidden_act");
    bad_case("mlp_bias", with("mlp_bias", "true", NULL), AP_E_UNSUPPORTED, "mlp_bias");
    bad_case("tie as string", with("tie_word_embeddings", "\"yes\"", NULL), AP_E_FORMAT, "tie_word_embeddings");
    bad_case("bos out of range", with("bos_token_id", "1000", NULL), AP_E_FORMAT, "bos_token_id");
    bad_case("duplicate key", with(NULL, NULL, ",\"hidden_size\":128"), AP_E_FORMAT, "hidden_size");
    bad_case("not JSON", "{\"architectures\": [", AP_E_FORMAT, "JSON");
    bad_case("not an object", "[1,2,3]", AP_E_FORMAT, "object");
    bad_case("trailing garbage", with(NULL, NULL, "} x"), AP_E_FORMAT, "after");
    bad_case("invalid UTF-8", with("x", "\"\xC0\xAF\"", NULL), AP_E_FORMAT, "UTF-8");
    char *deep = malloc(200002);
    for (int i = 0; i < 100000; i++)
        deep[i] = '[', deep[100000 + i] = ']';
    deep[200000] = '\0';
    bad_case("100000-deep nesting", deep, AP_E_FORMAT, "nested");
    free(deep);
    ap_config c;
    ap_error err = {0};
    AP_CHECK(ap_config_parse(&c, "{}", 0, "cfg.json", &err) == AP_E_FORMAT, "empty text refused");
}

int main(void)
{
    test_tiny();
    test_variants();
    test_errors();
    return aptest_done();
}
