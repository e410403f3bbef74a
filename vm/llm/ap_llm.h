/* ap_llm.h — the OpenAI-compatible chat client (libcurl multi + cJSON), its reply parser and code extractor. */
#ifndef AP_LLM_H
#define AP_LLM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ap_error.h"

/*
 * One endpoint: POST {base_url}/chat/completions, which OpenAI, vLLM, llama.cpp's server and Ollama all speak.
 * "Configured" means base_url is non-empty. api_key is sent only in the Authorization header: it never appears in
 * an error message or result (server texts that echo it are redacted).
 */
#define AP_LLM_URL_MAX 1024
#define AP_LLM_NAME_MAX 256
#define AP_LLM_KEY_MAX 1024

typedef struct ap_llm_config {
    char base_url
        [AP_LLM_URL_MAX];        /* e.g. http://127.0.0.1:8080/v1 ; a URL already ending in /chat/completions is kept */
    char model[AP_LLM_NAME_MAX]; /* sent when non-empty (llama.cpp ignores it, OpenAI and Ollama need it) */
    char api_key[AP_LLM_KEY_MAX]; /* secret: "Authorization: Bearer <key>" when non-empty, never printed */
    double connect_timeout_s;     /* per attempt, default 10 */
    double timeout_s;             /* whole attempt (connect + reply), default 120 */
    int retries;                  /* extra attempts after the first on retryable failures, default 3 */
    double backoff_base_s;        /* first backoff; doubles per retry, jittered to [0.5, 1] of it; default 1 */
    double backoff_max_s;         /* cap of a backoff and of an honoured Retry-After, default 30 */
    size_t max_reply_bytes;       /* larger bodies fail with kind "too_large", default 4 MiB */
} ap_llm_config;

/* Defaults above, all strings empty. */
void ap_llm_config_defaults(ap_llm_config *cfg);
/* Fill the strings still empty from the environment: AUTOPRUNE_LLM_BASE_URL (else OPENAI_BASE_URL),
 * AUTOPRUNE_LLM_MODEL, AUTOPRUNE_LLM_API_KEY (else OPENAI_API_KEY). Values too long for the fields are ignored. */
void ap_llm_config_from_env(ap_llm_config *cfg);
/* Set a string field from a caller's value; AP_E_ARG (naming the field, never the value) when too long. */
ap_status ap_llm_config_set(char *field, size_t field_size, const char *name, const char *value, ap_error *err);
int ap_llm_configured(const ap_llm_config *cfg);
/* The base URL with any user:password@ part and query string removed, for messages and events. */
void ap_llm_redact_url(const char *url, char *out, size_t out_size);

typedef struct ap_llm_message {
    const char *role;    /* borrowed: "system", "user", "assistant" */
    const char *content; /* borrowed, UTF-8 */
} ap_llm_message;

typedef struct ap_llm_request {
    const ap_llm_config *config;    /* borrowed, must outlive the call */
    const ap_llm_message *messages; /* borrowed, n_messages of them */
    size_t n_messages;
    double temperature; /* sent when has_temperature */
    int has_temperature;
    int max_tokens; /* sent when > 0 */
    int64_t seed;   /* sent when has_seed */
    int has_seed;
} ap_llm_request;

/*
 * What one request came to. status is AP_OK (content set), AP_E_NET (transport or HTTP status), AP_E_REPLY (the
 * body was too large, malformed, empty or truncated), AP_E_ARG (bad request or no base URL), AP_E_NOMEM or
 * AP_E_INTERRUPTED. kind is the finer name: "ok", "timeout", "connect", "dropped", "http_429", "http_5xx",
 * "http_4xx", "http_status" (other non-2xx), "net" (other transport errors), "too_large", "malformed", "empty",
 * "truncated", "api_error" (a 200 carrying an error object), "config" (no base URL), "arg" (no or bad messages),
 * "nomem", "interrupted".
 * Retried kinds: timeout, connect, dropped, http_429 and http_5xx (after Retry-After when the server gives one).
 */
typedef struct ap_llm_result {
    ap_status status;
    char kind[16];
    char message[AP_ERROR_MSG_MAX]; /* empty on success; never contains the API key */
    char *content;                  /* owned (free with ap_llm_result_free); set on success, and on "truncated" */
    size_t content_len;
    char finish_reason[32];
    long prompt_tokens, completion_tokens, total_tokens; /* from "usage"; -1 when absent */
    long http_status;                                    /* of the last attempt, 0 when none came */
    int attempts;
    double seconds; /* from the first attempt's start to the end, backoffs included */
} ap_llm_result;

void ap_llm_result_free(ap_llm_result *res);

/* One request, blocking. Always fills *res (status is also returned). */
ap_status ap_llm_chat(const ap_llm_request *req, ap_llm_result *res);

/*
 * n requests in flight at once (at most max_parallel, <= 0 meaning all), each retried on its own. Fills results[i]
 * for every i. Returns AP_OK when the batch ran (look at each result), or an error when it could not start (curl
 * could not be set up), in which case every result says so too. stop (may be NULL) is polled about every 50 ms:
 * once non-zero, requests not finished end with kind "interrupted".
 */
ap_status ap_llm_chat_many(const ap_llm_request *reqs, ap_llm_result *results, size_t n, int max_parallel,
                           const volatile sig_atomic_t *stop, ap_error *err);

/* ---- pure parsers (no network), fuzzable from a buffer ---- */

typedef struct ap_llm_reply {
    char *content; /* owned; set when the reply had one (even when status is "truncated") */
    size_t content_len;
    char finish_reason[32];
    long prompt_tokens, completion_tokens, total_tokens; /* -1 when absent */
    char kind[16]; /* "ok", "malformed", "empty", "truncated", "api_error", "nomem" */
} ap_llm_reply;

/* Parse a chat-completions body (len bytes, need not be NUL-terminated). AP_OK, or AP_E_REPLY/AP_E_NOMEM with
 * reply->kind and err saying why. Free with ap_llm_reply_free in every case. */
ap_status ap_llm_parse_reply(const char *body, size_t len, ap_llm_reply *reply, ap_error *err);
void ap_llm_reply_free(ap_llm_reply *reply);

#define AP_LLM_MAX_CHUNKS 64

typedef struct ap_llm_chunk {
    char *text; /* owned, NUL-terminated */
    size_t len;
    int fenced; /* 0 bare text, 1 ``` fence, 2 ```lua fence */
    int closed; /* 0 when the fence ran to the end of the text (a cut-off reply) */
} ap_llm_chunk;

typedef struct ap_llm_chunks {
    ap_llm_chunk *items; /* owned */
    size_t n;
} ap_llm_chunks;

/*
 * The candidate Lua chunks of a reply, best first: every ```lua block in order, then every untagged ``` block
 * (blocks tagged with another language are skipped), or, when the text has no fence at all, the whole text trimmed.
 * A <think>…</think> preamble of reasoning models is skipped when fences follow it. At most AP_LLM_MAX_CHUNKS.
 * The caller takes the first chunk that loads. Free with ap_llm_chunks_free.
 */
ap_status ap_llm_extract_code(const char *content, size_t len, ap_llm_chunks *out, ap_error *err);
void ap_llm_chunks_free(ap_llm_chunks *chunks);

#endif
