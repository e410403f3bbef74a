#!/usr/bin/env python3
"""tests/search/test_search_llm.py — the LLM fault matrix at the search level.

lua/search.lua runs two LLM-only generations of 8 branches against tests/search/fake_llm.py. Each branch's
"implement" request (and one shared "diagnose" request) gets one scripted fault: good metrics, metrics wrapped in
prose, several code blocks, syntax errors, hostile code, an infinite loop, 429 then success, 500s, invalid JSON, a
reply slower than the timeout, a dropped connection, a connection dropped mid-body, 200 with HTML, a 10 MB reply,
never answering, a body sent byte by byte. The search must finish, record every failure with its kind (events.jsonl
for the LLM's faults, archive.json + events for the candidates' failures), escape nothing, and keep the best valid
metric as best.lua.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
sys.path.insert(0, os.path.join(ROOT, "tests", "search"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import fake_llm  # noqa: E402
from aptest import Tap  # noqa: E402

TIMEOUT, RETRIES, BRANCHES = 2, 1, 8
tap = Tap()


GOOD_A = "return function(W, X, info) return W:abs() * X.l2 end\n"
GOOD_B = "return function(W, X, info) return W:abs() * (X.l2 + 1e-3) end\n"
GOOD_C = "return { group = \"row\", score = function(W, X, info) return W:abs() * X.l2:sqrt() end }\n"
GOOD_D = "return function(W) return W:abs() end\n"
PWNED = "/tmp/ap-search-llm-pwned-%d" % os.getpid()
HOSTILE = ("os.execute('touch %s')\nio.open('%s', 'w')\nreturn function(W) return W:abs() end\n" % (PWNED, PWNED))
LOOP = "return function(W) while true do end end\n"
SYNTAX = "return function(W) return W:abs( end\n"


def fenced(code, lang="lua"):
    return "```%s\n%s```\n" % (lang, code)


# (generation, branch, name, replies to its implement request, expectation)
# expectation: ("ok", code) a valid candidate with that code; ("candidate", kind) a failed candidate of that kind;
# ("llm", kind) an LLM error event of that kind and no candidate from the branch.
def retried(reply):
    return [reply] * (RETRIES + 1)


FAULTS = [
    (1, 1, "good metric", [dict(content=fenced(GOOD_A))], ("ok", GOOD_A)),
    (1, 2, "metric wrapped in prose", [dict(content="I scale by the input norm plus a floor.\n\n" + fenced(GOOD_B) +
                                            "\nThis keeps outlier channels.")], ("ok", GOOD_B)),
    (1, 3, "several code blocks", [dict(content="First a sketch:\n" + fenced(SYNTAX) + "Then the metric:\n" +
                                        fenced(GOOD_C) + fenced("print(1)\n", "python"))], ("ok", GOOD_C)),
    (1, 4, "syntax error", [dict(content=fenced(SYNTAX))], ("candidate", "syntax")),
    (1, 5, "hostile code", [dict(content=fenced(HOSTILE))], ("candidate", "runtime")),
    (1, 6, "infinite loop", [dict(content=fenced(LOOP))], ("candidate", "limit")),
    (1, 7, "429 then success", [dict(type="status", status=429), dict(content=fenced(GOOD_D))], ("ok", GOOD_D)),
    (1, 8, "500s", retried(dict(type="status", status=500)), ("llm", "http_5xx")),
    (2, 1, "invalid JSON", [dict(type="raw", content_type="application/json", body='{"choices":[{"message":')],
     ("llm", "malformed")),
    (2, 2, "reply slower than the timeout", retried(dict(delay=TIMEOUT + 3, content=fenced(GOOD_A))),
     ("llm", "timeout")),
    # libcurl silently re-sends a request once when a reused keep-alive connection closes unanswered: each attempt
    # may take two of these
    (2, 3, "dropped connection", retried(dict(type="drop")) * 2, ("llm", "dropped")),
    (2, 4, "dropped mid-body", retried(dict(type="drop_mid_body", content=fenced(GOOD_A))), ("llm", "dropped")),
    (2, 5, "200 with HTML", [dict(type="raw", body="<html><body><h1>502 Bad Gateway</h1></body></html>")],
     ("llm", "malformed")),
    (2, 6, "10 MB reply", [dict(type="big", bytes=10 * 1024 * 1024)], ("llm", "too_large")),
    (2, 7, "never answering", retried(dict(type="hang")), ("llm", "timeout")),
    (2, 8, "slow byte by byte", retried(dict(type="slow", interval=0.05, content=fenced(GOOD_A))), ("llm", "timeout")),
]


def marker(g, b):
    return "MARK-g%d-b%d" % (g, b)


def script():
    replies = []
    # hypothesise: each branch answers with its marker, generation 1's entries first (taken in order)
    for g in (1, 2):
        for b in range(1, BRANCHES + 1):
            replies.append(dict(match="(idea %d of %d)" % (b, BRANCHES),
                                content="%s: weigh |W| by the input norm." % marker(g, b)))
    # implement: the fault of each branch, matched on its principle as the implement prompt quotes it
    for g, b, _, rs, _ in FAULTS:
        for r in rs:
            r = dict(r)
            r["match"] = "Your principle:\\n\\n" + marker(g, b)
            replies.append(r)
    # a shared node fails too: generation 2's diagnose gets 500s (generation 1's is answered first)
    replies.append(dict(match="Step 3 of", content="- fine\nInsight: keep the outlier channels."))
    replies += [dict(match="Step 3 of", type="status", status=500)] * (RETRIES + 1)
    return {"replies": replies, "default": {"content": "- observed.\nInsight: scale by activations."}}


def main():
    tmp = tempfile.mkdtemp(prefix="ap-search-llm-")
    runs = os.path.join(tmp, "runs")
    with fake_llm.Running(script(), tmp, max_seconds=400) as srv:
        env = dict(os.environ, AUTOPRUNE_LLM_BASE_URL=srv.base, AUTOPRUNE_LLM_MODEL="fake",
                   AUTOPRUNE_LLM_API_KEY="sk-test")
        args = [AUTOPRUNE, "run", "lua/search.lua", "--name", "L", "--runs-dir", runs, "--llm", "only",
                "--generations", "2", "--population", str(BRANCHES), "--nsamples", "8", "--proxy-windows", "2",
                "--allocs", "uniform", "--no-final", "--llm-timeout", str(TIMEOUT), "--llm-retries", str(RETRIES)]
        t0 = time.time()
        p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        secs = time.time() - t0
        requests = srv.requests()
    tap.check(p.returncode == 0, "the search finishes under the fault matrix (exit %d, %.0f s)%s"
              % (p.returncode, secs, "" if p.returncode == 0 else ": " + p.stderr[-400:]))
    run = os.path.join(runs, "L")
    events = [json.loads(line) for line in open(os.path.join(run, "events.jsonl"))]
    archive = json.load(open(os.path.join(run, "archive.json"))) if os.path.exists(run + "/archive.json") else {}
    cands = archive.get("candidates", [])
    tap.check(any(e["type"] == "end" for e in events), "events.jsonl ends with an end record")
    llm_errors = [e for e in events if e["type"] == "error" and e.get("stage") == "llm"]
    survived = 0
    for g, b, name, _, (what, val) in FAULTS:
        if what == "ok":
            c = [c for c in cands if c["origin"] == "llm" and c["code"].strip() == val.strip()]
            good = len(c) == 1 and c[0]["status"] == "ok" and c[0]["fitness"] > 1
            detail = c and (c[0]["status"], c[0].get("fitness"))
        elif what == "candidate":
            c = [c for c in cands if c["origin"] == "llm" and c["generation"] == g and c.get("thought", "")
                 .startswith(marker(g, b))]
            err = c and c[0].get("error") or {}
            ev = [e for e in events if e["type"] == "check" and c and e["id"] == c[0]["id"]]
            good = (len(c) == 1 and c[0]["status"] == "failed" and err.get("kind") == val and
                    ev and ev[0].get("kind") == val)
            detail = c and (c[0]["status"], err.get("kind"), (err.get("message") or "")[:80])
        else:
            e = [e for e in llm_errors if e.get("generation") == g and e.get("node") == "implement"
                 and e.get("branch") == b]
            none = not [c for c in cands if c.get("thought", "").startswith(marker(g, b))]
            good = len(e) == 1 and e[0].get("kind") == val and none
            detail = e and (e[0].get("kind"), e[0].get("attempts"), (e[0].get("message") or "")[:80])
        survived += bool(good)
        tap.check(good, "generation %d branch %d, %s: %s %s recorded (%s)" % (g, b, name, what, val if what != "ok"
                                                                              else "candidate", detail))
    diag = [e for e in llm_errors if e.get("node") == "diagnose"]
    good = len(diag) == 1 and diag[0].get("generation") == 2 and diag[0].get("kind") == "http_5xx"
    survived += bool(good)
    tap.check(good, "a failed shared node (generation 2 diagnose, 500s) is recorded and the generation goes on (%s)"
              % [(e.get("generation"), e.get("kind")) for e in diag])
    replies = [e for e in events if e["type"] == "reply" and e.get("node") == "implement" and e.get("branch") == 7
               and e.get("generation") == 1]
    tap.check(replies and replies[0].get("attempts") == 2, "429 then success took two attempts (%s)"
              % [e.get("attempts") for e in replies])
    expected = len([f for f in FAULTS if f[4][0] == "llm"]) + 1
    tap.check(all(e.get("kind") for e in llm_errors) and len(llm_errors) == expected,
              "every LLM failure has a kind (%d: %s)" % (len(llm_errors), sorted({e.get("kind") for e in llm_errors})))
    failed = [c for c in cands if c["status"] == "failed"]
    tap.check(failed and all(c.get("error", {}).get("kind") for c in failed) and
              not [c for c in failed if c.get("fitness") is not None],
              "every failed candidate in archive.json has an error kind and no fitness (%d)" % len(failed))
    tap.check(not os.path.exists(PWNED), "the hostile metric wrote nothing (%s)" % PWNED)
    ok = [c for c in cands if c["status"] == "ok"]
    best = min(ok, key=lambda c: (c["fitness"], c["id"])) if ok else {"id": 0, "fitness": 0, "code": "?"}
    path = os.path.join(run, "best.lua")
    best_lua = open(path).read() if os.path.exists(path) else ""
    tap.check(ok and best_lua.endswith(best["code"]) and ("candidate %d" % best["id"]) in best_lua.split("\n")[0],
              "best.lua holds the best valid metric (candidate %d, proxy ppl %.2f of %d valid)"
              % (best["id"], best["fitness"], len(ok)))
    hangs = [r for r in requests if r.get("type") == "hang"]
    tap.check(len(hangs) == RETRIES + 1 and all(r.get("client_gone") for r in hangs),
              "the client gave up on the unanswered requests (%d)" % len(hangs))
    tap.check(secs < 300, "the search took %.0f s with the faults (bounded by timeouts and retries)" % secs)
    tap.note("faults survived: %d of %d" % (survived, len(FAULTS) + 1))
    if tap.failed == 0:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tap.note("run folder kept: " + run)
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
