#!/usr/bin/python3
"""test_llm_client.py — ap.llm driven through `$AUTOPRUNE run` against tests/search/fake_llm.py on 127.0.0.1:
every scripted reply and fault gives the right result or error kind, retries are counted, time is bounded,
nothing crashes, requests run in parallel, and the API key is sent as a Bearer header but never printed."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("AP_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
sys.path.insert(0, os.path.join(ROOT, "tests", "search"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import fake_llm  # noqa: E402
from aptest import Tap  # noqa: E402

KEY = "sk-g1test-SECRET-9f8e7d6c5b4a"
ENV_KEY = "sk-envkey-SECRET-1122334455"

tap = Tap()


def tagged(name, **reply):
    reply["match"] = "[case:%s]" % name
    return reply


GOOD_METRIC = "return function(W, X, info)\n  return W:abs() * X.l2\nend\n"
PROSE = "Looking at the kurtosis, I propose scaling by the input norm.\n\n```lua\n" + GOOD_METRIC + \
        "```\n\nThis keeps outlier channels."
SEVERAL = "First idea:\n```lua\nreturn function(W) return W:abs() end\n```\nBetter:\n```lua\n" + GOOD_METRIC + \
          "```\nAnd in Python:\n```python\nprint(1)\n```\n"
SYNTAX = "```lua\nreturn function(W) return W:abs( end\n```\n```lua\n" + GOOD_METRIC + "```"
HOSTILE = "```lua\nos.execute('rm -rf /')\nreturn function(W) return io.open('/etc/passwd') end\n```"
LOOP = "```lua\nreturn function(W) while true do end end\n```"
BAD_JSON = '{"choices":[{"message":{"content":"x"}'

# name, replies, request options (retries, timeout), expected kind, attempts, max seconds
CASES = [
    ("good", [dict(content=GOOD_METRIC, usage={"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49})],
     2, 3, "ok", 1, 4),
    ("prose", [dict(content=PROSE)], 2, 3, "ok", 1, 4),
    ("several", [dict(content=SEVERAL)], 2, 3, "ok", 1, 4),
    ("syntax", [dict(content=SYNTAX)], 2, 3, "ok", 1, 4),
    ("hostile", [dict(content=HOSTILE)], 2, 3, "ok", 1, 4),
    ("loop", [dict(content=LOOP)], 2, 3, "ok", 1, 4),
    ("r429", [dict(type="status", status=429, headers={"Retry-After": "1"}), dict(content=GOOD_METRIC)],
     2, 3, "ok", 2, 3),
    ("r500", [dict(type="status", status=500), dict(type="status", status=503), dict(content=GOOD_METRIC)],
     2, 3, "ok", 3, 2.5),
    ("all500", [dict(type="status", status=500)] * 3, 2, 3, "http_5xx", 3, 2.5),
    ("r404", [dict(type="status", status=404)], 2, 3, "http_4xx", 1, 4),
    ("r401", [dict(type="status", status=401,
                   body=json.dumps({"error": {"message": "Incorrect API key provided: " + KEY}}))],
     2, 3, "http_4xx", 1, 4),
    ("badjson", [dict(type="raw", content_type="application/json", body=BAD_JSON)], 2, 3, "malformed", 1, 4),
    ("html", [dict(type="raw", body="<html><body><h1>Welcome to nginx</h1></body></html>")],
     2, 3, "malformed", 1, 4),
    ("slow", [dict(delay=5), dict(delay=5)], 1, 0.8, "timeout", 2, 3),
    ("drop", [dict(type="drop"), dict(content=GOOD_METRIC)], 2, 3, "ok", 2, 2.5),
    ("midbody", [dict(type="drop_mid_body"), dict(type="drop_mid_body")], 1, 3, "dropped", 2, 2.5),
    ("big", [dict(type="big", bytes=10 * 1024 * 1024)], 2, 5, "too_large", 1, 4),
    ("hang", [dict(type="hang")], 0, 0.8, "timeout", 1, 2),
    ("bytewise", [dict(type="slow", interval=0.05)], 0, 0.8, "timeout", 1, 2),
    ("length", [dict(content="```lua\nreturn function(W)\n  return W:ab", finish_reason="length")],
     2, 3, "truncated", 1, 4),
    ("null", [dict(content=None)], 2, 3, "empty", 1, 4),
] + [("par%d" % i, [dict(delay=1.0, content=GOOD_METRIC)], 0, 3, "ok", 1, 2) for i in range(6)]

LUA = r'''
local base, key = os.getenv("AP_TEST_BASE"), os.getenv("AP_TEST_KEY")
local cases = {%(cases)s}
local function flat(v, prefix, out)          -- every field of a result, to look for leaks
  if type(v) == "table" then
    for k, x in pairs(v) do flat(x, prefix .. "." .. tostring(k), out) end
  else
    out[#out + 1] = prefix .. "=" .. tostring(v)
  end
  return out
end
local reqs = {}
for i, c in ipairs(cases) do
  reqs[i] = {messages = {{role = "system", content = "You write Lua metrics."},
                         {role = "user", content = "write a metric [case:" .. c[1] .. "]"}},
             retries = c[2], timeout = c[3], temperature = 0.7, max_tokens = 256, seed = i}
end
local t0 = os.time()
local res = ap.llm.chat_many(reqs, {base_url = base, api_key = key, model = "fake-model", connect_timeout = 1,
                                    backoff = 0.05, backoff_max = 2, max_parallel = 64})
for i, r in ipairs(res) do
  local e = r.error or {}
  local text = r.content or e.content or ""
  local chunks = ap.llm.extract_code(text)
  local loads = 0
  for j, ch in ipairs(chunks) do
    if load(ch, "=chunk", "t", {}) then loads = j break end
  end
  print(string.format("case %%s ok=%%s kind=%%s class=%%s attempts=%%d seconds=%%.3f http=%%s chunks=%%d loads=%%d pt=%%s ct=%%s",
    cases[i][1], tostring(r.ok), r.ok and "ok" or e.kind, r.ok and "ok" or e.class, r.attempts, r.seconds,
    tostring(r.http_status or e.http_status), #chunks, loads,
    tostring((r.usage or e.usage or {}).prompt_tokens), tostring((r.usage or e.usage or {}).completion_tokens)))
  if not r.ok then print("errstr " .. cases[i][1] .. " " .. tostring(e)) end
  for _, line in ipairs(flat(r, cases[i][1], {})) do print("field " .. line) end
  if chunks[1] then print("chunk1 " .. cases[i][1] .. " " .. (chunks[1]:gsub("\n", "\\n"))) end
end
-- single blocking calls: one good, one error, through ap.llm.chat
local r, e = ap.llm.chat{base_url = base, api_key = key, model = "fake-model", retries = 0, timeout = 3,
                         messages = {{role = "user", content = "single [case:single_ok]"}}}
print("single_ok", r and r.ok, r and r.attempts, r and #r.content, e)
r, e = ap.llm.chat{base_url = base, api_key = key, retries = 0, timeout = 3, prompt = "single [case:single_err]"}
print("single_err", r, e and e.kind, e and e.attempts, e and tostring(e))
for _, line in ipairs(flat(e, "single_err", {})) do print("field " .. line) end
local ok, msg = pcall(ap.llm.chat, {base_url = base, api_key = key, messages = {{role = "user"}}})
print("badarg", ok, msg)
print("configured", ap.llm.configured{base_url = base, api_key = key, model = "m"})
local lim = {}
for i = 1, 4 do lim[i] = {prompt = "limited [case:lim" .. i .. "]"} end
local lres = ap.llm.chat_many(lim, {base_url = base, api_key = key, retries = 0, timeout = 3, max_parallel = 2})
local n_ok = 0
for _, r in ipairs(lres) do if r.ok then n_ok = n_ok + 1 end end
print("limited", n_ok)
'''

ENV_LUA = r'''
local ok, base, model = ap.llm.configured()
print("configured", ok, base, model)
local r, e = ap.llm.chat{prompt = "from env [case:%s]", retries = 0, timeout = 3}
print("result", r and r.ok, e and e.kind, e and tostring(e))
'''


def run_lua(tmp, name, source, env_extra, clear_env=True):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(source)
    env = {k: v for k, v in os.environ.items()
           if not (clear_env and (k.startswith("AUTOPRUNE_LLM_") or k.startswith("OPENAI_") or "proxy" in k.lower()))}
    env.update(env_extra)
    t0 = time.monotonic()
    p = subprocess.run([AUTOPRUNE, "run", path], capture_output=True, text=True, env=env, timeout=60)
    return p, time.monotonic() - t0


def main():
    if not tap.check(os.access(AUTOPRUNE, os.X_OK), "the CLI exists: %s" % AUTOPRUNE):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="ap-llm-client-") as tmp:
        replies = [tagged(name, **r) for name, rs, *_ in CASES for r in rs]
        replies += [tagged("single_ok", content=GOOD_METRIC), tagged("single_err", type="raw", body="<html/>"),
                    tagged("env", content="env ok"), tagged("openai_env", content="openai env ok")]
        replies += [tagged("lim%d" % i, delay=0.5, content="x") for i in range(1, 5)]
        with fake_llm.Running(replies, tmp) as srv:
            base = srv.base
            lua_cases = ", ".join('{"%s", %d, %g}' % (n, retries, timeout) for n, _, retries, timeout, *_ in CASES)
            p, wall = run_lua(tmp, "cases.lua", LUA % {"cases": lua_cases},
                              {"AP_TEST_BASE": base, "AP_TEST_KEY": KEY})
            out = p.stdout + p.stderr
            tap.check(p.returncode == 0, "autoprune run exits 0 (status %d) %s" % (p.returncode, p.stderr[-300:]))
            tap.check(wall < 10, "the whole fault matrix took %.1f s (< 10 s: requests ran in parallel)" % wall)
            results = {m.group(1): m for m in re.finditer(
                r"^case (\S+) ok=(\S+) kind=(\S+) class=(\S+) attempts=(\d+) seconds=([\d.]+) http=(\S+) "
                r"chunks=(\d+) loads=(\d+) pt=(\S+) ct=(\S+)$", p.stdout, re.M)}
            for name, _, retries, timeout, kind, attempts, max_s in CASES:
                m = results.get(name)
                if not tap.check(m is not None, "%s: a result came back" % name):
                    continue
                tap.check(m.group(3) == kind and int(m.group(5)) == attempts,
                          "%s: kind %s after %d attempt(s) (got %s after %s)" % (name, kind, attempts, m.group(3),
                                                                                   m.group(5)))
                tap.check(float(m.group(6)) <= max_s, "%s: bounded time %s s <= %s s" % (name, m.group(6), max_s))
            classes = {n: results[n].group(4) for n in results}
            tap.check(classes.get("slow") == "net" and classes.get("r404") == "net" and classes.get("big") == "reply"
                      and classes.get("html") == "reply" and classes.get("null") == "reply",
                      "error classes: transport and HTTP status -> net, the body -> reply (%s)" % classes)
            g = results.get("good")
            tap.check(g is not None and g.group(10) == "40" and g.group(11) == "9", "good: token usage recorded")
            tap.check(g is not None and g.group(7) == "200", "good: http_status 200")
            chunk = lambda n: (re.search(r"^chunk1 %s (.*)$" % n, p.stdout, re.M) or [None, ""])[1]
            loads = lambda n: int(results[n].group(9)) if n in results else -1
            tap.check(loads("good") == 1 and "W:abs() * X.l2" in chunk("good"), "good: bare metric is the chunk")
            tap.check(loads("prose") == 1 and "W:abs() * X.l2" in chunk("prose") and "kurtosis" not in chunk("prose"),
                      "prose: the fenced metric is pulled out of the prose")
            tap.check(results.get("several") and results["several"].group(8) == "2"
                      and "W:abs() end" in chunk("several"),
                      "several: the two lua blocks in order, the python block skipped")
            tap.check(loads("syntax") == 2, "syntax: the first chunk does not load, the second does (caller picks)")
            tap.check(loads("hostile") == 1 and "os.execute" in chunk("hostile"),
                      "hostile: returned as text only (never run by the client)")
            tap.check(loads("loop") == 1, "loop: returned as text; the sandbox limits it later")
            tap.check(loads("length") == 0 and int(results["length"].group(8)) == 1 if "length" in results else False,
                      "length: truncated content kept, its cut-off chunk does not load")
            tap.check(re.search(r"^errstr r401 http_4xx: .*\*{8}", p.stdout, re.M) is not None,
                      "r401: the error prints as 'kind: message' and the echoed key is masked")
            tap.check(re.search(r"^single_ok\ttrue\t1\t\d+\tnil$", p.stdout, re.M) is not None,
                      "ap.llm.chat: a good reply -> result table")
            tap.check(re.search(r"^single_err\tnil\tmalformed\t1\tmalformed: ", p.stdout, re.M) is not None,
                      "ap.llm.chat: a bad reply -> nil, {kind=malformed, attempts=1}")
            tap.check(re.search(r"^badarg\tfalse\t.*messages\[1\] needs string role and content", p.stdout, re.M)
                      is not None, "ap.llm.chat: a bad argument raises a Lua error naming the field")
            tap.check(re.search(r"^configured\ttrue\thttp://127\.0\.0\.1:\d+/v1\tm$", p.stdout, re.M) is not None,
                      "ap.llm.configured: true, base URL and model")
            tap.check(KEY not in out and "SECRET" not in out,
                      "the key appears nowhere in stdout/stderr (every field of every result printed)")
            tap.check("AddressSanitizer" not in out and "runtime error" not in out, "no sanitizer report")

            n_expected = sum(c[5] for c in CASES) + 2
            recs = [r for r in srv.requests(n_expected + 4) if "[case:" in json.dumps(r.get("body"))
                    and "[case:lim" not in json.dumps(r.get("body"))]
            tap.check(len(recs) == n_expected, "the server saw %d requests (expected %d = sum of attempts)"
                      % (len(recs), n_expected))
            auth = [r["headers"].get("Authorization") for r in recs]
            tap.check(all(a == "Bearer " + KEY for a in auth), "every request carried the key as a Bearer header")
            bodies = [r["body"] for r in recs if isinstance(r["body"], dict)]
            tap.check(len(bodies) == len(recs) and all(b.get("model") == "fake-model" and b.get("max_tokens") == 256 and
                                                       b.get("temperature") == 0.7 and "seed" in b
                                                       for b in bodies if "single" not in json.dumps(b)),
                      "request bodies carry model, messages, temperature, max_tokens, seed")
            first = [r for r in recs if "single" not in json.dumps(r["body"])]
            par = [r for r in recs if "[case:par" in json.dumps(r["body"])]
            tap.check(len(par) == 6 and max(r["t_start"] for r in par) < min(r["t_end"] for r in par),
                      "parallel: the six 1-second requests were all in the server at the same moment")
            overlap = max(sum(1 for q in first if q["t_start"] <= r["t_start"] < q["t_end"]) for r in first)
            tap.check(overlap >= 8, "parallel: %d requests in the server at one moment (>= 8)" % overlap)
            lim = [r for r in srv.requests(n_expected + 4) if "[case:lim" in json.dumps(r["body"])]
            lim_overlap = max((sum(1 for q in lim if q["t_start"] <= r["t_start"] < q["t_end"]) for r in lim),
                              default=0)
            tap.check("limited\t4" in p.stdout and len(lim) == 4 and lim_overlap == 2,
                      "max_parallel = 2: four requests, at most two in the server at once (%d)" % lim_overlap)
            r429 = sorted((r for r in recs if "[case:r429]" in json.dumps(r["body"])), key=lambda r: r["t_start"])
            tap.check(len(r429) == 2 and r429[1]["t_start"] - r429[0]["t_end"] >= 0.95,
                      "429: the retry waited for Retry-After: 1 (%.2f s)" %
                      (r429[1]["t_start"] - r429[0]["t_end"] if len(r429) == 2 else -1))

            # configuration from the environment: AUTOPRUNE_LLM_*, then the OPENAI_* fallbacks
            p, _ = run_lua(tmp, "env.lua", ENV_LUA % "env",
                           {"AUTOPRUNE_LLM_BASE_URL": base, "AUTOPRUNE_LLM_API_KEY": ENV_KEY,
                            "AUTOPRUNE_LLM_MODEL": "env-model"})
            tap.check(p.returncode == 0 and re.search(r"^configured\ttrue\thttp://127\.0\.0\.1:\d+/v1\tenv-model$",
                                                      p.stdout, re.M) and "result\ttrue" in p.stdout,
                      "AUTOPRUNE_LLM_BASE_URL/MODEL/API_KEY configure the client")
            tap.check(ENV_KEY not in p.stdout + p.stderr, "the environment's key is not printed")
            p, _ = run_lua(tmp, "env2.lua", ENV_LUA % "openai_env",
                           {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": ENV_KEY})
            tap.check(p.returncode == 0 and "result\ttrue" in p.stdout, "OPENAI_BASE_URL / OPENAI_API_KEY fallbacks")
            recs = srv.requests(n_expected + 6)
            env_auth = [r["headers"].get("Authorization") for r in recs if "from env" in json.dumps(r["body"])]
            tap.check(env_auth == ["Bearer " + ENV_KEY] * 2, "the environment's key went in the Authorization header")
            p, _ = run_lua(tmp, "none.lua", ENV_LUA % "none", {})
            tap.check(p.returncode == 0 and "configured\tfalse" in p.stdout and "result\tnil\tconfig\t" in p.stdout,
                      "no base URL: configured() is false and chat gives kind config")
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
