/* fuzz_llm_reply.c — libFuzzer target: the LLM reply parser (chat-completions JSON) and the code extractor. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ap_llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_llm_reply reply;
    ap_error err;
    ap_llm_parse_reply((const char *)data, size, &reply, &err);
    /* whatever the status, the kind is one of the documented names and content is consistent */
    if (reply.content && strlen(reply.content) != reply.content_len)
        __builtin_trap();
    if (reply.content) {
        ap_llm_chunks chunks;
        if (ap_llm_extract_code(reply.content, reply.content_len, &chunks, &err) == AP_OK) {
            for (size_t i = 0; i < chunks.n; i++)
                if (strlen(chunks.items[i].text) > chunks.items[i].len)
                    __builtin_trap();
            ap_llm_chunks_free(&chunks);
        }
    }
    ap_llm_reply_free(&reply);
    /* the raw bytes as reply text too: fences, <think>, CR/LF, NULs */
    ap_llm_chunks chunks;
    if (ap_llm_extract_code((const char *)data, size, &chunks, &err) == AP_OK) {
        if (chunks.n > AP_LLM_MAX_CHUNKS)
            __builtin_trap();
        ap_llm_chunks_free(&chunks);
    }
    return 0;
}
