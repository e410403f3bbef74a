/* fuzz_config.c — libFuzzer target: config.json parsing; an accepted config must respect the documented bounds. */
#include <stddef.h>
#include <stdint.h>

#include "ap_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_config c;
    ap_error err;
    if (ap_config_parse(&c, (const char *)data, size, "fuzz", &err) != AP_OK)
        return 0;
    if (c.hidden < 1 || c.hidden > AP_CFG_MAX_HIDDEN || c.n_layers < 1 || c.n_layers > AP_CFG_MAX_LAYERS ||
        c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads || c.head_dim < 2 || c.head_dim % 2 ||
        c.ffn < 1 || c.ffn > AP_CFG_MAX_FFN || c.vocab < 1 || c.vocab > AP_CFG_MAX_VOCAB || !(c.rms_eps > 0) ||
        !(c.rope_theta > 0) || c.bos_id >= c.vocab || c.eos_id >= c.vocab)
        __builtin_trap();
    return 0;
}
