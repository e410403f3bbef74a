/* fuzz_st_index.c — libFuzzer target: model.safetensors.index.json validation (plain shard names only). */
#include <stddef.h>
#include <stdint.h>

#include "ap_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_error err;
    ap_checkpoint_check_index((const char *)data, size, "fuzz", &err);
    return 0;
}
