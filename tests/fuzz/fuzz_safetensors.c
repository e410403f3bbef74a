/* fuzz_safetensors.c — libFuzzer target: the safetensors reader over a memory buffer (all validation), then
 * every accepted tensor is looked up by name and converted, so an accepted file must be fully readable. */
#include <stddef.h>
#include <stdint.h>

#include "ap_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_safetensors *st = NULL;
    ap_error err;
    if (ap_safetensors_open_buffer(&st, data, size, "fuzz", &err) != AP_OK)
        return 0;
    const uint8_t *end = data + size;
    for (size_t i = 0; i < ap_safetensors_count(st); i++) {
        const ap_st_tensor *t = ap_safetensors_at(st, i);
        if (ap_safetensors_find(st, t->name) != t)
            __builtin_trap();
        const uint8_t *p = t->data;
        if (p < data || p > end || t->nbytes > (size_t)(end - p))
            __builtin_trap();
        if ((size_t)t->numel * ap_dtype_size(t->dtype) != t->nbytes)
            __builtin_trap();
        float buf[64];
        size_t k = (size_t)t->numel < 64 ? (size_t)t->numel : 64;
        ap_dtype_to_f32(t->dtype, t->data, buf, k);
    }
    ap_safetensors_close(st);
    return 0;
}
