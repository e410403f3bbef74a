/* test_llm.c — the LLM client: reply parser and code extractor on tricky inputs, configuration, and every fault
 * case against tests/search/fake_llm.py on 127.0.0.1, all asked in one parallel batch. */
#include "ap_llm.h"
#include "aptest.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *KEY = "sk-test-SECRET-0123456789abcdef";

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- parser */

static const char *parse_kind(const char *body, ap_llm_reply *r)
{
    ap_error e;
    ap_llm_parse_reply(body, body ? strlen(body) : 0, r, &e);
    return r->kind;
}

static void test_parse(void)
{
    ap_llm_reply r;
    const char *good = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},"
                       "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
                       "\"total_tokens\":15}}";
    AP_CHECK(strcmp(parse_kind(good, &r), "ok") == 0 && r.content && strcmp(r.content, "hello") == 0,
             "parse: a good reply gives its content");
    AP_CHECK(r.prompt_tokens == 12 && r.completion_tokens == 3 && r.total_tokens == 15 &&
                 strcmp(r.finish_reason, "stop") == 0,
             "parse: usage and finish_reason are read");
    ap_llm_reply_free(&r);

    /* the body need not be NUL-terminated: parse only the first len bytes */
    char buf[256];
    snprintf(buf, sizeof buf, "%sGARBAGE", good);
    ap_error e;
    AP_CHECK(ap_llm_parse_reply(buf, strlen(good), &r, &e) == AP_OK, "parse: stops at len, not at NUL");
    ap_llm_reply_free(&r);

    struct {
        const char *body, *kind, *what;
    } cases[] = {
        {"", "empty", "empty body"},
        {"   \n ", "empty", "blank body"},
        {"<html><body>502 Bad Gateway</body></html>", "malformed", "HTML body with 200"},
        {"{\"choices\":[{\"message\":{\"content\":\"x\"}", "malformed", "JSON cut off mid-body"},
        {"not json at all", "malformed", "plain text"},
        {"[1,2,3]", "malformed", "JSON array, not object"},
        {"{}", "malformed", "object without choices"},
        {"{\"choices\":{}}", "malformed", "choices not an array"},
        {"{\"choices\":[]}", "empty", "no choices"},
        {"{\"choices\":[42]}", "malformed", "choice not an object"},
        {"{\"choices\":[{}]}", "malformed", "choice without message"},
        {"{\"choices\":[{\"message\":{}}]}", "empty", "message without content"},
        {"{\"choices\":[{\"message\":{\"content\":null}}]}", "empty", "content null"},
        {"{\"choices\":[{\"message\":{\"content\":\"  \\n\"}}]}", "empty", "content blank"},
        {"{\"choices\":[{\"message\":{\"content\":7}}]}", "malformed", "content a number"},
        {"{\"choices\":[{\"message\":{\"content\":\"return 1\"},\"finish_reason\":\"length\"}]}", "truncated",
         "finish_reason length"},
        {"{\"error\":{\"message\":\"model overloaded\"}}", "api_error", "200 carrying an error object"},
        {"{\"choices\":[{\"message\":{\"content\":\"\\ud800\"}}]}", "malformed", "lone surrogate escape"},
        {"{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"ab\"},{\"type\":\"text\","
         "\"text\":\"cd\"}]}}]}",
         "ok", "content as an array of text parts"},
        {"{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":-5,"
         "\"completion_tokens\":1e300}}",
         "ok", "absurd usage numbers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *k = parse_kind(cases[i].body, &r);
        AP_CHECK(strcmp(k, cases[i].kind) == 0, "parse: %s -> %s (got %s)", cases[i].what, cases[i].kind, k);
        if (strcmp(cases[i].kind, "truncated") == 0)
            AP_CHECK(r.content && strcmp(r.content, "return 1") == 0, "parse: a truncated reply keeps its content");
        if (strstr(cases[i].what, "parts"))
            AP_CHECK(r.content && strcmp(r.content, "abcd") == 0, "parse: text parts are joined");
        if (strstr(cases[i].what, "absurd"))
            AP_CHECK(r.prompt_tokens == -1 && r.completion_tokens == -1, "parse: absurd usage becomes -1");
        ap_llm_reply_free(&r);
    }
    AP_CHECK(strcmp(parse_kind(NULL, &r), "empty") == 0, "parse: NULL body is empty");
    ap_llm_reply_free(&r);

    /* deep nesting must not crash (cJSON limits depth) */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    AP_CHECK(strcmp(parse_kind(deep, &r), "malformed") == 0, "parse: 100000-deep nesting is malformed, no crash");
    ap_llm_reply_free(&r);
    free(deep);
}

/* ---------------------------------------------------------------- extractor */

static int chunks_are(const char *text, size_t n_expected, const char *const *expected)
{
    ap_llm_chunks c;
    ap_error e;
    if (ap_llm_extract_code(text, strlen(text), &c, &e) != AP_OK)
        return 0;
    int ok = c.n == n_expected;
    for (size_t i = 0; ok && i < n_expected; i++)
        ok = strcmp(c.items[i].text, expected[i]) == 0;
    if (!ok) {
        printf("# got %zu chunks:\n", c.n);
        for (size_t i = 0; i < c.n; i++)
            printf("# [%zu] <<%s>>\n", i, c.items[i].text);
    }
    ap_llm_chunks_free(&c);
    return ok;
}

static void test_extract(void)
{
    const char *bare[] = {"return function(W) return W end"};
    AP_CHECK(chunks_are("\n  return function(W) return W end  \n", 1, bare), "extract: bare text, trimmed");
    const char *one[] = {"local x = 1\nreturn x\n"};
    AP_CHECK(chunks_are("Here is my metric:\n```lua\nlocal x = 1\nreturn x\n```\nIt works because...", 1, one),
             "extract: ```lua block inside prose");
    const char *order[] = {"A\n", "C\n", "B\n"};
    AP_CHECK(chunks_are("```\nB\n```\ntext\n```lua\nA\n```\n```Lua\nC\n```\n", 3, order),
             "extract: ```lua blocks first, in order, then untagged ones");
    const char *skip[] = {"L\n"};
    AP_CHECK(chunks_are("```python\nprint(1)\n```\n```lua\nL\n```", 1, skip),
             "extract: blocks in another language are skipped");
    AP_CHECK(chunks_are("```python\nprint(1)\n```\n", 0, NULL), "extract: only foreign fences -> no chunk");
    const char *cut[] = {"return function(W)\n  return W:abs("};
    AP_CHECK(chunks_are("```lua\nreturn function(W)\n  return W:abs(", 1, cut),
             "extract: an unclosed fence runs to the end (cut-off reply)");
    const char *crlf[] = {"x = 1\r\n"};
    AP_CHECK(chunks_are("```lua\r\nx = 1\r\n```\r\n", 1, crlf), "extract: CRLF line ends");
    const char *ind[] = {"  y = 2\n"};
    AP_CHECK(chunks_are("1. Code:\n  ```lua\n  y = 2\n  ```\n", 1, ind), "extract: indented fence in a list");
    const char *longer[] = {"s = [[\n```\n]]\n"};
    AP_CHECK(chunks_are("````lua\ns = [[\n```\n]]\n````\n", 1, longer),
             "extract: a longer fence encloses a shorter one");
    const char *think[] = {"final\n"};
    AP_CHECK(chunks_are("<think>try ```lua\nnope\n``` hmm\n```lua\nnope\n```\n</think>\n```lua\nfinal\n```", 1, think),
             "extract: code inside <think> is skipped when fences follow");
    const char *think_only[] = {"inner\n"};
    AP_CHECK(chunks_are("<think>\n```lua\ninner\n```\n</think>\nno code here", 1, think_only),
             "extract: falls back to fences inside <think> when none follow");
    AP_CHECK(chunks_are("", 0, NULL), "extract: empty text -> no chunk");
    AP_CHECK(chunks_are("```lua\n```\n", 0, NULL), "extract: empty fenced block -> no chunk");
    const char *inl[] = {"use ```x``` inline"};
    AP_CHECK(chunks_are("use ```x``` inline", 1, inl), "extract: inline triple backticks are not a fence");

    /* many blocks: bounded */
    size_t n = 200;
    char *many = malloc(n * 16 + 1), *p = many;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "```lua\nx=%zu\n```\n", i % 10);
    ap_llm_chunks c;
    ap_error e;
    AP_CHECK(ap_llm_extract_code(many, strlen(many), &c, &e) == AP_OK && c.n == AP_LLM_MAX_CHUNKS,
             "extract: at most %d chunks (got %zu)", AP_LLM_MAX_CHUNKS, c.n);
    ap_llm_chunks_free(&c);
    free(many);
    AP_CHECK(ap_llm_extract_code(NULL, 0, &c, &e) == AP_OK && c.n == 0 && c.items == NULL,
             "extract: NULL text -> no chunk");
}

/* ---------------------------------------------------------------- configuration */

static void test_config(void)
{
    ap_llm_config c;
    ap_llm_config_defaults(&c);
    AP_CHECK(!ap_llm_configured(&c) && c.retries == 3 && c.max_reply_bytes == 4u << 20,
             "config: defaults, not configured");
    unsetenv("AUTOPRUNE_LLM_BASE_URL");
    unsetenv("AUTOPRUNE_LLM_API_KEY");
    unsetenv("AUTOPRUNE_LLM_MODEL");
    setenv("OPENAI_BASE_URL", "http://fallback/v1", 1);
    setenv("OPENAI_API_KEY", "k-fallback", 1);
    ap_llm_config_from_env(&c);
    AP_CHECK(strcmp(c.base_url, "http://fallback/v1") == 0 && strcmp(c.api_key, "k-fallback") == 0 &&
                 ap_llm_configured(&c),
             "config: OPENAI_* fallbacks");
    ap_llm_config_defaults(&c);
    setenv("AUTOPRUNE_LLM_BASE_URL", "http://primary/v1", 1);
    setenv("AUTOPRUNE_LLM_MODEL", "m1", 1);
    ap_llm_config_from_env(&c);
    AP_CHECK(strcmp(c.base_url, "http://primary/v1") == 0 && strcmp(c.model, "m1") == 0,
             "config: AUTOPRUNE_LLM_* take precedence");
    ap_llm_config_defaults(&c);
    ap_error e;
    ap_llm_config_set(c.base_url, sizeof c.base_url, "base_url", "http://mine", &e);
    ap_llm_config_from_env(&c);
    AP_CHECK(strcmp(c.base_url, "http://mine") == 0, "config: the caller's value wins over the environment");
    char big[AP_LLM_KEY_MAX + 10];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    AP_CHECK(ap_llm_config_set(c.api_key, sizeof c.api_key, "api_key", big, &e) == AP_E_ARG &&
                 !strstr(e.msg, "kkkkkkkk"),
             "config: an over-long key is refused without being echoed");
    unsetenv("OPENAI_BASE_URL");
    unsetenv("OPENAI_API_KEY");
    unsetenv("AUTOPRUNE_LLM_BASE_URL");
    unsetenv("AUTOPRUNE_LLM_MODEL");
    char out[256];
    ap_llm_redact_url("https://user:pw@host:8/v1?key=abc", out, sizeof out);
    AP_CHECK(strcmp(out, "https://host:8/v1") == 0, "config: URLs are shown without credentials (%s)", out);
    ap_llm_result r;
    ap_llm_request q = {.config = &c, .n_messages = 0};
    ap_llm_config_defaults(&c);
    AP_CHECK(ap_llm_chat(&q, &r) == AP_E_ARG && strcmp(r.kind, "config") == 0 && r.attempts == 0,
             "chat: no base URL -> kind config, no attempt");
    ap_llm_result_free(&r);
    ap_llm_message m = {"user", "hi"};
    q = (ap_llm_request){.config = &c, .messages = &m, .n_messages = 1};
    static const char *const not_http[] = {"file:///etc/passwd", "ftp://127.0.0.1/v1", "gopher://127.0.0.1/"};
    for (size_t i = 0; i < sizeof not_http / sizeof not_http[0]; i++) {
        snprintf(c.base_url, sizeof c.base_url, "%s", not_http[i]);
        ap_llm_chat(&q, &r);
        AP_CHECK(strcmp(r.kind, "net") == 0 && r.attempts == 1 && !r.content,
                 "chat: %s is refused (only http and https), not retried (%s)", not_http[i], r.message);
        ap_llm_result_free(&r);
    }
}

/* ---------------------------------------------------------------- against the fake server */

static pid_t server_pid;
static int server_out = -1; /* read end of the server's stdout, open while it runs */

static int start_server(const char *script_path, const char *log_path)
{
    const char *root = getenv("AP_ROOT");
    char server[1024];
    snprintf(server, sizeof server, "%s/tests/search/fake_llm.py", root ? root : ".");
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/usr/bin/python3", "python3", server, script_path, "--log", log_path, "--max-seconds", "60",
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    server_out = fd[0];
    char line[32] = {0};
    size_t got = 0;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) { /* the whole first line, however it arrives */
        ssize_t k = read(fd[0], line + got, sizeof line - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return memchr(line, '\n', got) ? atoi(line) : -1;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
    if (server_out >= 0)
        close(server_out);
    server_out = -1;
}

typedef struct fault_case {
    const char *name, *script; /* script: JSON replies (comma-separated objects) matched by "[case:NAME]" */
    int retries;
    double timeout;
    const char *kind;
    int attempts;
    double max_seconds;
} fault_case;

#define PAD190                                                                                                         \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"             \
    "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
#define R(name, json) "{\"match\":\"[case:" name "]\"," json "}"

static const fault_case CASES[] = {
    {"good",
     R("good", "\"content\":\"```lua\\nreturn 1\\n```\",\"usage\":{\"prompt_tokens\":11,"
               "\"completion_tokens\":7,\"total_tokens\":18}"),
     2, 2, "ok", 1, 3.0},
    {"r429",
     R("r429", "\"type\":\"status\",\"status\":429,\"headers\":{\"Retry-After\":\"1\"}") "," R(
         "r429", "\"content\":\"after 429\""),
     2, 2, "ok", 2, 2.5},
    {"r500",
     R("r500", "\"type\":\"status\",\"status\":500") "," R("r500", "\"type\":\"status\",\"status\":503") "," R(
         "r500", "\"content\":\"after 5xx\""),
     2, 2, "ok", 3, 2.5},
    {"all500",
     R("all500", "\"type\":\"status\",\"status\":502") "," R("all500", "\"type\":\"status\",\"status\":500") "," R(
         "all500", "\"type\":\"status\",\"status\":500"),
     2, 2, "http_5xx", 3, 2.5},
    {"r400", R("r400", "\"type\":\"status\",\"status\":400"), 2, 2, "http_4xx", 1, 3.0},
    {"r401",
     R("r401", "\"type\":\"status\",\"status\":401,\"body\":\"{\\\"error\\\":{\\\"message\\\":"
               "\\\"Incorrect API key provided: sk-test-SECRET-0123456789abcdef\\\"}}\""),
     2, 2, "http_4xx", 1, 3.0},
    {"badjson", R("badjson", "\"type\":\"raw\",\"content_type\":\"application/json\",\"body\":\"{not json\""), 2, 2,
     "malformed", 1, 3.0},
    {"html", R("html", "\"type\":\"raw\",\"body\":\"<html><body>Gateway</body></html>\""), 2, 2, "malformed", 1, 3.0},
    {"slow_reply", R("slow_reply", "\"delay\":5") "," R("slow_reply", "\"delay\":5"), 1, 0.7, "timeout", 2, 3.0},
    {"drop", R("drop", "\"type\":\"drop\"") "," R("drop", "\"content\":\"after drop\""), 2, 2, "ok", 2, 2.0},
    {"midbody", R("midbody", "\"type\":\"drop_mid_body\"") "," R("midbody", "\"type\":\"drop_mid_body\""), 1, 2,
     "dropped", 2, 2.0},
    {"big", R("big", "\"type\":\"big\",\"bytes\":10485760"), 2, 5, "too_large", 1, 4.0},
    {"hang", R("hang", "\"type\":\"hang\""), 0, 0.7, "timeout", 1, 2.0},
    {"bytewise", R("bytewise", "\"type\":\"slow\",\"interval\":0.05"), 0, 0.7, "timeout", 1, 2.0},
    {"length", R("length", "\"content\":\"return fun\",\"finish_reason\":\"length\""), 2, 2, "truncated", 1, 3.0},
    {"null", R("null", "\"content\":null"), 2, 2, "empty", 1, 3.0},
    {"apierr",
     R("apierr", "\"type\":\"raw\",\"content_type\":\"application/json\",\"body\":"
                 "\"{\\\"error\\\":{\\\"message\\\":\\\"overloaded\\\"}}\""),
     2, 2, "api_error", 1, 3.0},
    {"echo_cut",
     R("echo_cut", "\"type\":\"status\",\"status\":403,\"body\":\"{\\\"error\\\":{\\\"message\\\":"
                   "\\\"" PAD190 "sk-test-SECRET-0123456789abcdef\\\"}}\""),
     0, 2, "http_4xx", 1, 3.0},
    {"echo_content", R("echo_content", "\"content\":\"your key is sk-test-SECRET-0123456789abcdef\""), 0, 2, "ok", 1,
     3.0},
    {"exhausted", "", 1, 2, "http_5xx", 2, 2.0}, /* nothing scripted: the server answers 500 each time */
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static void test_faults(void)
{
    char script_path[] = "/tmp/ap-test-llm-XXXXXX";
    int sfd = mkstemp(script_path);
    char log_path[sizeof script_path + 8];
    snprintf(log_path, sizeof log_path, "%s.log", script_path);
    FILE *f = fdopen(sfd, "w");
    fputs("[", f);
    int first = 1;
    for (size_t i = 0; i < NCASES; i++) {
        if (!CASES[i].script[0])
            continue;
        fprintf(f, "%s%s", first ? "" : ",", CASES[i].script);
        first = 0;
    }
    fputs("]", f);
    fclose(f);
    int port = start_server(script_path, log_path);
    AP_CHECK(port > 0, "fake server started (port %d)", port);
    if (port <= 0)
        return;

    ap_llm_config cfg[NCASES];
    ap_llm_message msg[NCASES][2];
    char text[NCASES][64];
    ap_llm_request req[NCASES];
    ap_llm_result res[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        ap_llm_config_defaults(&cfg[i]);
        snprintf(cfg[i].base_url, sizeof cfg[i].base_url, "http://127.0.0.1:%d/v1/", port);
        snprintf(cfg[i].api_key, sizeof cfg[i].api_key, "%s", KEY);
        snprintf(cfg[i].model, sizeof cfg[i].model, "fake-model");
        cfg[i].retries = CASES[i].retries;
        cfg[i].timeout_s = CASES[i].timeout;
        cfg[i].connect_timeout_s = 1;
        cfg[i].backoff_base_s = 0.05;
        cfg[i].backoff_max_s = 2;
        snprintf(text[i], sizeof text[i], "write a metric [case:%s]", CASES[i].name);
        msg[i][0] = (ap_llm_message){"system", "You write Lua."};
        msg[i][1] = (ap_llm_message){"user", text[i]};
        req[i] = (ap_llm_request){.config = &cfg[i],
                                  .messages = msg[i],
                                  .n_messages = 2,
                                  .temperature = 0.7,
                                  .has_temperature = 1,
                                  .max_tokens = 256,
                                  .seed = 42 + (int64_t)i,
                                  .has_seed = 1};
    }
    double t0 = mono();
    ap_error e;
    ap_status st = ap_llm_chat_many(req, res, NCASES, 0, NULL, &e);
    double wall = mono() - t0;
    AP_CHECK(st == AP_OK, "chat_many ran the batch");
    double longest = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const fault_case *c = &CASES[i];
        ap_llm_result *r = &res[i];
        AP_CHECK(strcmp(r->kind, c->kind) == 0 && r->attempts == c->attempts,
                 "%s: kind %s after %d attempts (got %s after %d: %s)", c->name, c->kind, c->attempts, r->kind,
                 r->attempts, r->message);
        AP_CHECK(r->seconds <= c->max_seconds, "%s: bounded time %.2f s <= %.1f s", c->name, r->seconds,
                 c->max_seconds);
        AP_CHECK(!strstr(r->message, "sk-test") && !strstr(r->message, "SECRET"),
                 "%s: message holds no piece of the key", c->name);
        AP_CHECK((r->status == AP_OK) == (strcmp(c->kind, "ok") == 0) && (r->status == AP_OK || r->message[0]),
                 "%s: status %s agrees with kind", c->name, ap_status_name(r->status));
        longest = r->seconds > longest ? r->seconds : longest;
    }
    AP_CHECK(res[0].content && strstr(res[0].content, "return 1") && res[0].prompt_tokens == 11 &&
                 res[0].completion_tokens == 7,
             "good: content and usage recorded");
    AP_CHECK(res[1].seconds >= 0.95, "r429: Retry-After: 1 honoured (%.2f s)", res[1].seconds);
    AP_CHECK(res[14].content && strcmp(res[14].content, "return fun") == 0,
             "length: truncated content is kept for the caller");
    AP_CHECK(strstr(res[5].message, "*****") != NULL, "r401: the echoed key is masked (%s)", res[5].message);
    AP_CHECK(res[NCASES - 2].content && !strstr(res[NCASES - 2].content, "SECRET") &&
                 strstr(res[NCASES - 2].content, "*****"),
             "echo_content: a key echoed in the content is masked (%s)",
             res[NCASES - 2].content ? res[NCASES - 2].content : "(none)");
    AP_CHECK(wall < longest + 1.0, "the batch ran in parallel: %.2f s wall for a longest request of %.2f s", wall,
             longest);
    for (size_t i = 0; i < NCASES; i++)
        ap_llm_result_free(&res[i]);

    /* the log: the key went in the Authorization header, model/temperature/seed in the body */
    int expect = 0;
    for (size_t i = 0; i < NCASES; i++)
        expect += CASES[i].attempts;
    char line[65536];
    int n = 0, auth = 0, body_ok = 0;
    for (int tries = 0; tries < 40; tries++) { /* aborted answers are logged when the server notices: wait */
        FILE *lf = fopen(log_path, "r");
        n = 0;
        while (lf && fgets(line, sizeof line, lf))
            n++;
        if (lf)
            fclose(lf);
        if (n >= expect)
            break;
        usleep(50000);
    }
    FILE *lf = fopen(log_path, "r");
    n = 0;
    while (lf && fgets(line, sizeof line, lf)) {
        n++;
        if (strstr(line, "\"Authorization\": \"Bearer sk-test-SECRET-0123456789abcdef\""))
            auth++;
        if (strstr(line, "\"model\": \"fake-model\"") && strstr(line, "\"temperature\": 0.7") &&
            strstr(line, "\"max_tokens\": 256") && strstr(line, "\"seed\": "))
            body_ok++;
    }
    if (lf)
        fclose(lf);
    AP_CHECK(n == expect, "server saw %d requests (expected %d = sum of attempts)", n, expect);
    AP_CHECK(auth == n && body_ok == n, "every request carried the key as Bearer and the full body (%d, %d of %d)",
             auth, body_ok, n);

    /* connection refused: a port nobody listens on */
    stop_server();
    ap_llm_config dead = cfg[0];
    snprintf(dead.base_url, sizeof dead.base_url, "http://127.0.0.1:%d/v1", port);
    dead.retries = 2;
    ap_llm_result r;
    req[0].config = &dead;
    ap_llm_chat(&req[0], &r);
    AP_CHECK(strcmp(r.kind, "connect") == 0 && r.attempts == 3 && r.status == AP_E_NET,
             "connection refused: kind connect after 3 attempts (got %s after %d)", r.kind, r.attempts);
    AP_CHECK(!strstr(r.message, KEY), "connection refused: message never holds the key");
    ap_llm_result_free(&r);
    unlink(script_path);
    unlink(log_path);
}

/* max_parallel and stop */
static void test_stop(void)
{
    volatile sig_atomic_t stop = 1;
    ap_llm_config c;
    ap_llm_config_defaults(&c);
    snprintf(c.base_url, sizeof c.base_url, "http://127.0.0.1:9/v1");
    ap_llm_message m = {"user", "hi"};
    ap_llm_request q = {.config = &c, .messages = &m, .n_messages = 1};
    ap_llm_result r;
    ap_llm_chat_many(&q, &r, 1, 1, &stop, NULL);
    AP_CHECK(strcmp(r.kind, "interrupted") == 0 && r.status == AP_E_INTERRUPTED, "stop flag -> kind interrupted");
    ap_llm_result_free(&r);
}

int main(void)
{
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        unsetenv(proxies[i]); /* loopback only */
    test_parse();
    test_extract();
    test_config();
    test_stop();
    test_faults();
    return aptest_done();
}
