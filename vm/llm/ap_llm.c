/* ap_llm.c — the OpenAI-compatible chat client: requests in parallel through curl multi, retries, reply parsing. */
#include "ap_llm.h"

#include <ctype.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_clock.h"

#define DEFAULT_MAX_REPLY ((size_t)4 << 20)
#define SNIPPET_MAX 200

/* ------------------------------------------------------------------ configuration */

void ap_llm_config_defaults(ap_llm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_s = 10;
    cfg->timeout_s = 120;
    cfg->retries = 3;
    cfg->backoff_base_s = 1;
    cfg->backoff_max_s = 30;
    cfg->max_reply_bytes = DEFAULT_MAX_REPLY;
}

static void fill_from_env(char *field, size_t size, const char *name, const char *fallback)
{
    if (field[0])
        return;
    const char *v = getenv(name);
    if ((!v || !v[0]) && fallback)
        v = getenv(fallback);
    if (v && strlen(v) < size)
        memcpy(field, v, strlen(v) + 1);
}

void ap_llm_config_from_env(ap_llm_config *cfg)
{
    fill_from_env(cfg->base_url, sizeof cfg->base_url, "AUTOPRUNE_LLM_BASE_URL", "OPENAI_BASE_URL");
    fill_from_env(cfg->model, sizeof cfg->model, "AUTOPRUNE_LLM_MODEL", NULL);
    fill_from_env(cfg->api_key, sizeof cfg->api_key, "AUTOPRUNE_LLM_API_KEY", "OPENAI_API_KEY");
}

ap_status ap_llm_config_set(char *field, size_t field_size, const char *name, const char *value, ap_error *err)
{
    size_t n = value ? strlen(value) : 0;
    if (n >= field_size)
        return ap_error_set(err, AP_E_ARG, "llm config: %s is too long (%zu bytes, at most %zu)", name, n,
                            field_size - 1);
    if (n)
        memcpy(field, value, n);
    field[n] = '\0';
    return AP_OK;
}

int ap_llm_configured(const ap_llm_config *cfg) { return cfg && cfg->base_url[0] != '\0'; }

void ap_llm_redact_url(const char *url, char *out, size_t out_size)
{
    if (!out_size)
        return;
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    size_t host_span = strcspn(host, "/?#");
    const char *at = memchr(host, '@', host_span);
    size_t pre = (size_t)(host - url);
    const char *rest = at ? at + 1 : host;
    size_t rest_len = strcspn(rest, "?#");
    snprintf(out, out_size, "%.*s%.*s", (int)pre, url, (int)rest_len, rest);
}

/* Replace every occurrence of the key in msg (a NUL-terminated buffer of size bytes) by "[redacted]". */
static void redact_key(char *msg, size_t size, const char *key)
{
    size_t klen = strlen(key);
    if (klen == 0 || size == 0 || !strstr(msg, key))
        return;
    static const char mask[] = "[redacted]";
    char out[AP_ERROR_MSG_MAX];
    size_t o = 0;
    for (const char *p = msg; *p && o + 1 < sizeof out;) {
        if (strncmp(p, key, klen) == 0) {
            for (const char *m = mask; *m && o + 1 < sizeof out; m++)
                out[o++] = *m;
            p += klen;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

/* Overwrite every occurrence of the key in a received body with '*' before anything reads or cuts it, so no
 * message, snippet or content can carry the key or a truncated piece of it. */
static void mask_key(char *data, size_t len, const char *key)
{
    size_t klen = strlen(key);
    if (klen == 0 || !data)
        return;
    char *p = data, *end = data + len;
    while ((size_t)(end - p) >= klen && (p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        memset(p, '*', klen);
        p += klen;
    }
}

/* ------------------------------------------------------------------ reply parser */

static void reply_init(ap_llm_reply *r)
{
    memset(r, 0, sizeof *r);
    r->prompt_tokens = r->completion_tokens = r->total_tokens = -1;
    strcpy(r->kind, "ok");
}

void ap_llm_reply_free(ap_llm_reply *reply)
{
    if (!reply)
        return;
    free(reply->content);
    reply->content = NULL;
    reply->content_len = 0;
}

static ap_status reply_fail(ap_llm_reply *r, ap_error *err, ap_status code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static ap_status reply_fail(ap_llm_reply *r, ap_error *err, ap_status code, const char *kind, const char *fmt, ...)
{
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    ap_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Copy at most n bytes of s into out as printable ASCII (others become '?'), for messages. */
static void printable(char *out, size_t size, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    out[j] = '\0';
}

static long token_count(const cJSON *usage, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e15)
        return -1;
    return (long)v->valuedouble;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* message.content is a string, or (some servers) an array of parts {type:"text", text:"..."}. */
static ap_status take_content(const cJSON *content, ap_llm_reply *r, ap_error *err)
{
    if (cJSON_IsString(content)) {
        size_t n = strlen(content->valuestring);
        r->content = malloc(n + 1);
        if (!r->content)
            return reply_fail(r, err, AP_E_NOMEM, "nomem", "llm reply: out of memory for content");
        memcpy(r->content, content->valuestring, n + 1);
        r->content_len = n;
        return AP_OK;
    }
    if (!cJSON_IsArray(content))
        return reply_fail(r, err, AP_E_REPLY, "malformed", "llm reply: choices[0].message.content is not a string");
    size_t total = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(t))
            total += strlen(t->valuestring);
    }
    r->content = malloc(total + 1);
    if (!r->content)
        return reply_fail(r, err, AP_E_NOMEM, "nomem", "llm reply: out of memory for content");
    size_t at = 0;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            continue;
        size_t n = strlen(t->valuestring);
        memcpy(r->content + at, t->valuestring, n);
        at += n;
    }
    r->content[at] = '\0';
    r->content_len = at;
    return AP_OK;
}

static ap_status parse_root(const cJSON *root, ap_llm_reply *r, ap_error *err)
{
    if (!cJSON_IsObject(root))
        return reply_fail(r, err, AP_E_REPLY, "malformed", "llm reply: the body is JSON but not an object");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage)) {
        r->prompt_tokens = token_count(usage, "prompt_tokens");
        r->completion_tokens = token_count(usage, "completion_tokens");
        r->total_tokens = token_count(usage, "total_tokens");
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (!choices && error) {
        const cJSON *m = cJSON_IsObject(error) ? cJSON_GetObjectItemCaseSensitive(error, "message") : error;
        char text[SNIPPET_MAX];
        printable(text, sizeof text, cJSON_IsString(m) ? m->valuestring : "(no message)",
                  cJSON_IsString(m) ? strlen(m->valuestring) : 12);
        return reply_fail(r, err, AP_E_REPLY, "api_error", "llm reply: the server sent an error object: %s", text);
    }
    if (!cJSON_IsArray(choices))
        return reply_fail(r, err, AP_E_REPLY, "malformed", "llm reply: no \"choices\" array");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    if (!choice)
        return reply_fail(r, err, AP_E_REPLY, "empty", "llm reply: \"choices\" is empty");
    if (!cJSON_IsObject(choice))
        return reply_fail(r, err, AP_E_REPLY, "malformed", "llm reply: choices[0] is not an object");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(fr))
        printable(r->finish_reason, sizeof r->finish_reason, fr->valuestring, strlen(fr->valuestring));
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    if (!cJSON_IsObject(msg))
        return reply_fail(r, err, AP_E_REPLY, "malformed", "llm reply: choices[0].message is missing or not an object");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!content || cJSON_IsNull(content))
        return reply_fail(r, err, AP_E_REPLY, "empty", "llm reply: choices[0].message.content is missing or null");
    ap_status st = take_content(content, r, err);
    if (st != AP_OK)
        return st;
    if (strcmp(r->finish_reason, "length") == 0)
        return reply_fail(r, err, AP_E_REPLY, "truncated",
                          "llm reply: cut off at max_tokens (finish_reason \"length\", %zu bytes of content)",
                          r->content_len);
    if (is_blank(r->content, r->content_len))
        return reply_fail(r, err, AP_E_REPLY, "empty", "llm reply: choices[0].message.content is blank");
    return AP_OK;
}

ap_status ap_llm_parse_reply(const char *body, size_t len, ap_llm_reply *reply, ap_error *err)
{
    reply_init(reply);
    ap_error_clear(err);
    if (!body || is_blank(body, len))
        return reply_fail(reply, err, AP_E_REPLY, "empty", "llm reply: the body is empty");
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (body[i] == '<')
        return reply_fail(reply, err, AP_E_REPLY, "malformed", "llm reply: the body is HTML or XML, not JSON");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = (end && end >= body && end <= body + len) ? (size_t)(end - body) : 0;
        return reply_fail(reply, err, AP_E_REPLY, "malformed", "llm reply: not valid JSON (near byte %zu of %zu)", at,
                          len);
    }
    ap_status st = parse_root(root, reply, err);
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------------ code extraction */

void ap_llm_chunks_free(ap_llm_chunks *chunks)
{
    if (!chunks)
        return;
    for (size_t i = 0; i < chunks->n; i++)
        free(chunks->items[i].text);
    free(chunks->items);
    chunks->items = NULL;
    chunks->n = 0;
}

typedef struct span {
    size_t begin, end;
    int fenced, closed;
} span;

typedef struct span_list {
    span items[AP_LLM_MAX_CHUNKS];
    size_t n;
    int saw_fence; /* any fence line, including ones of other languages */
} span_list;

/* Count the backticks opening a line (after any indentation); returns 0 when fewer than 3. */
static size_t fence_ticks(const char *s, size_t line_begin, size_t line_end, size_t *after)
{
    size_t i = line_begin;
    while (i < line_end && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t t = i;
    while (i < line_end && s[i] == '`')
        i++;
    *after = i;
    return (i - t >= 3) ? i - t : 0;
}

/* 2 for a lua tag, 1 for none, 0 for another language. */
static int fence_tag(const char *s, size_t i, size_t line_end)
{
    while (i < line_end && isspace((unsigned char)s[i]))
        i++;
    if (i == line_end)
        return 1;
    if (line_end - i >= 3 && strncasecmp(s + i, "lua", 3) == 0)
        return 2;
    return 0;
}

static size_t line_end_of(const char *s, size_t len, size_t i)
{
    const char *nl = memchr(s + i, '\n', len - i);
    return nl ? (size_t)(nl - s) : len;
}

static int is_close_fence(const char *s, size_t b, size_t e, size_t ticks)
{
    size_t after;
    size_t t = fence_ticks(s, b, e, &after);
    return t >= ticks && is_blank(s + after, e - after);
}

/* Find the fenced blocks of s[from, len) in order. */
static void scan_fences(const char *s, size_t len, size_t from, span_list *out)
{
    size_t pos = from;
    while (pos < len && out->n < AP_LLM_MAX_CHUNKS) {
        size_t eol = line_end_of(s, len, pos), after;
        size_t ticks = fence_ticks(s, pos, eol, &after);
        if (!ticks || memchr(s + after, '`', eol - after)) { /* not a fence, or inline ```code``` */
            pos = eol + 1;
            continue;
        }
        out->saw_fence = 1;
        int tag = fence_tag(s, after, eol);
        size_t body = eol < len ? eol + 1 : len, q = body;
        span sp = {body, len, tag, 0};
        while (q < len) {
            size_t qe = line_end_of(s, len, q);
            if (is_close_fence(s, q, qe, ticks)) {
                sp.end = q;
                sp.closed = 1;
                q = qe + 1;
                break;
            }
            q = qe + 1;
        }
        if (!sp.closed)
            q = len;
        if (tag && !is_blank(s + sp.begin, sp.end - sp.begin))
            out->items[out->n++] = sp;
        pos = q;
    }
}

static size_t last_think_end(const char *s, size_t len)
{
    static const char tag[] = "</think>";
    size_t found = 0, n = sizeof tag - 1;
    for (size_t i = 0; i + n <= len; i++)
        if (s[i] == '<' && memcmp(s + i, tag, n) == 0)
            found = i + n;
    return found;
}

static ap_status push_chunk(ap_llm_chunks *out, const char *s, span sp, ap_error *err)
{
    size_t n = sp.end - sp.begin;
    char *t = malloc(n + 1);
    if (!t)
        return ap_error_set(err, AP_E_NOMEM, "llm reply: out of memory extracting code");
    memcpy(t, s + sp.begin, n);
    t[n] = '\0';
    out->items[out->n++] = (ap_llm_chunk){t, n, sp.fenced, sp.closed};
    return AP_OK;
}

ap_status ap_llm_extract_code(const char *content, size_t len, ap_llm_chunks *out, ap_error *err)
{
    out->items = NULL;
    out->n = 0;
    ap_error_clear(err);
    if (!content)
        len = 0;
    span_list spans = {0}, *sl = &spans;
    size_t from = last_think_end(content, len);
    scan_fences(content, len, from, sl);
    if (!sl->saw_fence && from > 0)
        scan_fences(content, len, 0, sl);
    size_t want = sl->saw_fence ? sl->n : 1;
    out->items = calloc(want ? want : 1, sizeof *out->items);
    ap_status st = out->items ? AP_OK : ap_error_set(err, AP_E_NOMEM, "llm reply: out of memory extracting code");
    if (st == AP_OK && !sl->saw_fence) {
        span sp = {from, len, 0, 1};
        while (sp.begin < sp.end && isspace((unsigned char)content[sp.begin]))
            sp.begin++;
        while (sp.end > sp.begin && isspace((unsigned char)content[sp.end - 1]))
            sp.end--;
        if (sp.end > sp.begin)
            st = push_chunk(out, content, sp, err);
    }
    for (int tag = 2; st == AP_OK && sl->saw_fence && tag >= 1; tag--)
        for (size_t i = 0; st == AP_OK && i < sl->n; i++)
            if (sl->items[i].fenced == tag)
                st = push_chunk(out, content, sl->items[i], err);
    if (st != AP_OK || out->n == 0)
        ap_llm_chunks_free(out); /* no chunk: items is NULL */
    return st;
}

/* ------------------------------------------------------------------ requests */

void ap_llm_result_free(ap_llm_result *res)
{
    if (!res)
        return;
    free(res->content);
    res->content = NULL;
    res->content_len = 0;
}

typedef struct growbuf {
    char *data;
    size_t len, cap, limit;
    int over; /* the body passed limit: the transfer was aborted */
} growbuf;

typedef enum { JOB_WAIT, JOB_RUN, JOB_DONE } job_state;

typedef struct job {
    const ap_llm_request *req;
    ap_llm_result *res;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* the request JSON, kept for every attempt */
    char url[AP_LLM_URL_MAX + 32];
    char shown_url[AP_LLM_URL_MAX + 32]; /* url without credentials, for messages */
    growbuf reply;
    char curl_err[CURL_ERROR_SIZE];
    job_state state;
    double started, next_at;
} job;

typedef struct batch {
    job *jobs;
    size_t n, left;
    int running, max_parallel;
    CURLM *multi;
    uint64_t rng; /* jitter only; seeded per batch from the clock */
} batch;

static double jitter01(batch *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return (double)(b->rng >> 11) / 9007199254740992.0;
}

static void job_finish(batch *b, job *j, ap_status st, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void job_finish(batch *b, job *j, ap_status st, const char *kind, const char *fmt, ...)
{
    ap_llm_result *r = j->res;
    r->status = st;
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    if (j->req && j->req->config)
        redact_key(r->message, sizeof r->message, j->req->config->api_key);
    r->seconds = j->started > 0 ? ap_clock_seconds() - j->started : 0;
    j->state = JOB_DONE;
    b->left--;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    growbuf *g = user;
    size_t n = size * nmemb;
    if (n > g->limit - g->len) {
        g->over = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 16384;
        while (cap < g->len + n + 1)
            cap *= 2;
        if (cap > g->limit + 1)
            cap = g->limit + 1;
        char *p = realloc(g->data, cap);
        if (!p)
            return 0;
        g->data = p;
        g->cap = cap;
    }
    memcpy(g->data + g->len, data, n);
    g->len += n;
    g->data[g->len] = '\0';
    return n;
}

static char *build_body(const ap_llm_request *req)
{
    cJSON *root = cJSON_CreateObject(), *msgs = cJSON_CreateArray();
    if (!root || !msgs)
        goto fail;
    cJSON_AddItemToObject(root, "messages", msgs);
    if (req->config->model[0] && !cJSON_AddStringToObject(root, "model", req->config->model))
        goto fail;
    for (size_t i = 0; i < req->n_messages; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m)
            goto fail;
        cJSON_AddItemToArray(msgs, m);
        if (!cJSON_AddStringToObject(m, "role", req->messages[i].role) ||
            !cJSON_AddStringToObject(m, "content", req->messages[i].content))
            goto fail;
    }
    if (req->has_temperature && !cJSON_AddNumberToObject(root, "temperature", req->temperature))
        goto fail;
    if (req->max_tokens > 0 && !cJSON_AddNumberToObject(root, "max_tokens", req->max_tokens))
        goto fail;
    if (req->has_seed && !cJSON_AddNumberToObject(root, "seed", (double)req->seed))
        goto fail;
    if (!cJSON_AddFalseToObject(root, "stream"))
        goto fail;
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
fail:
    cJSON_Delete(root);
    if (root == NULL)
        cJSON_Delete(msgs);
    return NULL;
}

/* Check the request, build URL, body and handle. Returns 0 when j was finished with an error instead. */
static int job_prepare(batch *b, job *j)
{
    const ap_llm_request *q = j->req;
    if (!q || !q->config || !ap_llm_configured(q->config)) {
        job_finish(b, j, AP_E_ARG, "config", "llm: no base URL configured (set base_url or AUTOPRUNE_LLM_BASE_URL)");
        return 0;
    }
    if (q->n_messages == 0 || !q->messages) {
        job_finish(b, j, AP_E_ARG, "arg", "llm: a request needs at least one message");
        return 0;
    }
    for (size_t i = 0; i < q->n_messages; i++)
        if (!q->messages[i].role || !q->messages[i].content) {
            job_finish(b, j, AP_E_ARG, "arg", "llm: message %zu has no role or no content", i + 1);
            return 0;
        }
    const char *base = q->config->base_url;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    static const char suffix[] = "/chat/completions";
    size_t slen = sizeof suffix - 1;
    int has_suffix = blen >= slen && memcmp(base + blen - slen, suffix, slen) == 0;
    snprintf(j->url, sizeof j->url, "%.*s%s", (int)blen, base, has_suffix ? "" : suffix);
    ap_llm_redact_url(j->url, j->shown_url, sizeof j->shown_url);
    j->body = build_body(q);
    j->easy = curl_easy_init();
    if (!j->body || !j->easy) {
        job_finish(b, j, AP_E_NOMEM, "nomem", "llm: out of memory building the request");
        return 0;
    }
    char auth[AP_LLM_KEY_MAX + 32];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h)
        h = curl_slist_append(h, "Accept: application/json");
    if (h)
        h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip for long prompts */
    if (h && q->config->api_key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->config->api_key);
        struct curl_slist *h2 = curl_slist_append(h, auth);
        explicit_bzero(auth, sizeof auth);
        if (!h2)
            curl_slist_free_all(h);
        h = h2;
    }
    if (!h) {
        job_finish(b, j, AP_E_NOMEM, "nomem", "llm: out of memory building the request");
        return 0;
    }
    j->headers = h;
    const ap_llm_config *c = q->config;
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &j->reply);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "autoprune-llm/1");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(fmax(c->connect_timeout_s, 0.001) * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(fmax(c->timeout_s, 0.001) * 1000));
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    j->reply.limit = c->max_reply_bytes ? c->max_reply_bytes : DEFAULT_MAX_REPLY;
    return 1;
}

static int job_start(batch *b, job *j)
{
    j->reply.len = 0;
    j->reply.over = 0;
    j->curl_err[0] = '\0';
    if (j->started == 0)
        j->started = ap_clock_seconds();
    j->res->attempts++;
    if (curl_multi_add_handle(b->multi, j->easy) != CURLM_OK) {
        job_finish(b, j, AP_E_NET, "net", "llm: could not start a transfer to %s", j->shown_url);
        return 0;
    }
    j->state = JOB_RUN;
    b->running++;
    return 1;
}

/* The server's own words for a failed status: error.message of a JSON body, else the body's start. */
static void error_snippet(const growbuf *g, char *out, size_t size)
{
    out[0] = '\0';
    if (!g->len)
        return;
    cJSON *root = cJSON_ParseWithLength(g->data, g->len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m))
        printable(out, size, m->valuestring, strlen(m->valuestring));
    else
        printable(out, size, g->data, g->len);
    cJSON_Delete(root);
}

static void finish_ok_body(batch *b, job *j)
{
    ap_llm_reply rep;
    ap_error e;
    ap_status st = ap_llm_parse_reply(j->reply.data, j->reply.len, &rep, &e);
    ap_llm_result *r = j->res;
    r->content = rep.content;
    r->content_len = rep.content_len;
    rep.content = NULL;
    memcpy(r->finish_reason, rep.finish_reason, sizeof r->finish_reason);
    r->prompt_tokens = rep.prompt_tokens;
    r->completion_tokens = rep.completion_tokens;
    r->total_tokens = rep.total_tokens;
    if (st == AP_OK)
        job_finish(b, j, AP_OK, "ok", "%s", "");
    else
        job_finish(b, j, st, rep.kind, "%s (from %s, %zu bytes)", e.msg, j->shown_url, j->reply.len);
    if (st != AP_OK && strcmp(rep.kind, "truncated") != 0)
        ap_llm_result_free(r);
}

/* How long to wait before the next attempt: Retry-After when the server gave one, else jittered doubling. */
static double backoff(batch *b, const job *j, double retry_after)
{
    const ap_llm_config *c = j->req->config;
    double cap = c->backoff_max_s > 0 ? c->backoff_max_s : 0;
    if (retry_after > 0)
        return fmin(retry_after, cap) + 0.05 * jitter01(b) * fmin(retry_after, cap);
    double d = c->backoff_base_s > 0 ? c->backoff_base_s : 0;
    for (int i = 1; i < j->res->attempts && d < cap; i++)
        d *= 2;
    d = fmin(d, cap);
    return d * (0.5 + 0.5 * jitter01(b));
}

/* Classify a finished attempt: finish the job, or schedule its next attempt when the failure is retryable. */
static void job_done(batch *b, job *j, CURLcode rc)
{
    ap_llm_result *r = j->res;
    const ap_llm_config *c = j->req->config;
    long code = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    r->http_status = code;
    mask_key(j->reply.data, j->reply.len, c->api_key);
    const char *kind = NULL;
    char why[AP_ERROR_MSG_MAX] = "";
    if (j->reply.over) {
        job_finish(b, j, AP_E_REPLY, "too_large", "llm: the reply from %s passed %zu bytes; not read further",
                   j->shown_url, j->reply.limit);
        return;
    }
    if (rc != CURLE_OK) {
        switch (rc) {
        case CURLE_OPERATION_TIMEDOUT: kind = "timeout"; break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: kind = "connect"; break;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM: kind = "dropped"; break;
        default: break;
        }
        snprintf(why, sizeof why, "%s", j->curl_err[0] ? j->curl_err : curl_easy_strerror(rc));
        if (!kind) {
            job_finish(b, j, AP_E_NET, "net", "llm: request to %s failed: %s", j->shown_url, why);
            return;
        }
    } else if (code >= 200 && code < 300) {
        finish_ok_body(b, j);
        return;
    } else {
        char snip[SNIPPET_MAX];
        error_snippet(&j->reply, snip, sizeof snip);
        snprintf(why, sizeof why, "HTTP %ld%s%s", code, snip[0] ? ": " : "", snip);
        if (code == 429 || (code >= 500 && code < 600)) {
            kind = code == 429 ? "http_429" : "http_5xx";
            curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &retry_after); /* 503s may carry one too */
        } else {
            job_finish(b, j, AP_E_NET, code >= 400 && code < 500 ? "http_4xx" : "http_status",
                       "llm: %s from %s (not retried)", why, j->shown_url);
            return;
        }
    }
    if (r->attempts <= (c->retries > 0 ? c->retries : 0)) {
        j->state = JOB_WAIT;
        j->next_at = ap_clock_seconds() + backoff(b, j, (double)retry_after);
        return;
    }
    job_finish(b, j, AP_E_NET, kind, "llm: %s: %s from %s after %d attempt%s", kind, why, j->shown_url, r->attempts,
               r->attempts == 1 ? "" : "s");
}

static void start_due(batch *b, double t)
{
    for (size_t i = 0; i < b->n; i++) {
        job *j = &b->jobs[i];
        if (b->max_parallel > 0 && b->running >= b->max_parallel)
            return;
        if (j->state == JOB_WAIT && j->next_at <= t)
            job_start(b, j);
    }
}

static void collect(batch *b)
{
    CURLMsg *m;
    int queued;
    while ((m = curl_multi_info_read(b->multi, &queued)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        CURL *e = m->easy_handle;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        job *j = (job *)(void *)priv;
        curl_multi_remove_handle(b->multi, e);
        b->running--;
        job_done(b, j, rc);
    }
}

static void interrupt_all(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        job *j = &b->jobs[i];
        if (j->state == JOB_DONE)
            continue;
        if (j->state == JOB_RUN) {
            curl_multi_remove_handle(b->multi, j->easy);
            b->running--;
        }
        job_finish(b, j, AP_E_INTERRUPTED, "interrupted", "llm: request to %s stopped from outside", j->shown_url);
    }
}

/* Milliseconds until something needs doing: the next due retry, a stop check, at most 50 ms. */
static int wait_ms(const batch *b, double t)
{
    double w = 0.05;
    if (b->max_parallel > 0 && b->running >= b->max_parallel)
        return 50;
    for (size_t i = 0; i < b->n; i++)
        if (b->jobs[i].state == JOB_WAIT)
            w = fmin(w, fmax(b->jobs[i].next_at - t, 0));
    return (int)(w * 1000) + 1;
}

static void run_batch(batch *b, const volatile sig_atomic_t *stop)
{
    while (b->left > 0) {
        if (stop && *stop) {
            interrupt_all(b);
            break;
        }
        start_due(b, ap_clock_seconds());
        int still = 0;
        curl_multi_perform(b->multi, &still);
        collect(b);
        if (b->left == 0)
            break;
        int ms = wait_ms(b, ap_clock_seconds());
        if (b->running > 0) {
            curl_multi_poll(b->multi, NULL, 0, ms, NULL);
        } else {
            struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static void result_init(ap_llm_result *r)
{
    memset(r, 0, sizeof *r);
    r->prompt_tokens = r->completion_tokens = r->total_tokens = -1;
    strcpy(r->kind, "ok");
}

ap_status ap_llm_chat_many(const ap_llm_request *reqs, ap_llm_result *results, size_t n, int max_parallel,
                           const volatile sig_atomic_t *stop, ap_error *err)
{
    ap_error_clear(err);
    for (size_t i = 0; i < n; i++)
        result_init(&results[i]);
    if (n == 0)
        return AP_OK;
    batch b = {0};
    b.n = b.left = n;
    b.max_parallel = max_parallel;
    b.rng = ((uint64_t)(ap_clock_seconds() * 1e9) ^ (uint64_t)(uintptr_t)results) | 1;
    b.jobs = calloc(n, sizeof *b.jobs);
    int global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    b.multi = global ? curl_multi_init() : NULL;
    if (!b.jobs || !b.multi) {
        for (size_t i = 0; i < n; i++) {
            ap_llm_result *r = &results[i];
            r->status = AP_E_NOMEM;
            snprintf(r->kind, sizeof r->kind, "nomem");
            snprintf(r->message, sizeof r->message, "llm: could not set up libcurl");
        }
        free(b.jobs);
        if (global)
            curl_global_cleanup();
        return ap_error_set(err, AP_E_NOMEM, "llm: could not set up libcurl");
    }
    for (size_t i = 0; i < n; i++) {
        job *j = &b.jobs[i];
        j->req = &reqs[i];
        j->res = &results[i];
        j->state = JOB_WAIT;
        job_prepare(&b, j);
    }
    run_batch(&b, stop);
    for (size_t i = 0; i < n; i++) {
        job *j = &b.jobs[i];
        if (j->easy)
            curl_easy_cleanup(j->easy);
        curl_slist_free_all(j->headers);
        free(j->body);
        free(j->reply.data);
    }
    curl_multi_cleanup(b.multi);
    curl_global_cleanup();
    free(b.jobs);
    return AP_OK;
}

ap_status ap_llm_chat(const ap_llm_request *req, ap_llm_result *res)
{
    ap_llm_chat_many(req, res, 1, 1, NULL, NULL);
    return res->status;
}
