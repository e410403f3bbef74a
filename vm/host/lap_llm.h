/* lap_llm.h — ap.llm for trusted controller scripts: chat, chat_many (parallel), configured, extract_code. */
#ifndef LAP_LLM_H
#define LAP_LLM_H

#include <lua.h>

/*
 * ap.llm.chat(req) -> result | nil, err
 *   req: messages = {{role=, content=}, ...}  (or the shorthand prompt = "...", system = "...")
 *        temperature, max_tokens, seed                       sampling, sent only when given
 *        base_url, model, api_key                            else AUTOPRUNE_LLM_* / OPENAI_* from the environment
 *        timeout (s, per attempt, default 120), connect_timeout (10), retries (3), backoff (1 s, doubled per retry,
 *        jittered), backoff_max (30 s, also the cap of an honoured Retry-After), max_reply_bytes (4 MiB)
 *   result: {ok = true, content =, finish_reason =, usage = {prompt_tokens =, completion_tokens =, total_tokens =},
 *            attempts =, seconds =, http_status =}
 *   err:    {kind =, class =, message =, attempts =, seconds =, http_status =, usage =, [content =, finish_reason =]}
 *           printing as "kind: message". kind: timeout, connect, dropped, http_429, http_5xx (these were retried),
 *           http_4xx, http_status, net, too_large, malformed, empty, truncated (content kept), api_error, config
 *           (no base URL), arg, nomem. class: "net" (transport / HTTP status), "reply" (the body), "arg", "nomem".
 *   A bad argument (wrong type, out of range) raises a Lua error naming the field.
 * ap.llm.chat_many({req, ...} [, defaults]) -> {result_or_failure, ...} in the same order, asked in parallel
 *   (at most defaults.max_parallel at once, default 16). defaults supplies any field a request leaves out.
 *   A failure is {ok = false, error = err, attempts =, seconds =}.
 * ap.llm.configured([cfg]) -> bool, base URL (credentials removed), model. Never the key.
 * ap.llm.extract_code(text) -> {chunk, ...}: ```lua blocks, then untagged ``` blocks, or the bare text when the
 *   text has no fence. The caller takes the first chunk that loads.
 * The API key is never put in any value returned to Lua; keys echoed by a server are masked with '*'.
 */

/* Push the ap.llm table (an ap_submodules[] opener: returns 1). */
int lap_llm_open(lua_State *L);

#endif
