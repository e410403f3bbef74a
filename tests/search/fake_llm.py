#!/usr/bin/python3
"""fake_llm.py — a loopback chat-completions server that replays scripted replies and faults, for the tests.

Usage: fake_llm.py SCRIPT.json [--log REQUESTS.jsonl] [--max-seconds 60]
Listens on 127.0.0.1 with a port chosen by the system and prints that port alone on the first line of stdout.
Exits by itself after --max-seconds (default 60), or on SIGTERM.

SCRIPT.json is a list of replies (or {"replies": [...], "default": {...}}). Each POST .../chat/completions takes the
first unused reply whose "match" (optional) is a substring of the request body; with none left it gets "default"
(else HTTP 500 "script exhausted"). Reply fields:
  type      "chat" (default)  a completion: content (string or null), finish_reason ("stop"), usage (computed)
            "status"          an HTTP status: status, headers {}, body (a JSON error object by default)
            "raw"             status (200), content_type ("text/html"), body as given
            "drop"            close the connection without answering
            "drop_mid_body"   announce a full chat body, send half of it, close
            "big"             a 200 chat body of `bytes` bytes (default 10 MB), sent in 64 KB pieces
            "hang"            never answer (until the client goes away or the server's time is up)
            "slow"            a chat body sent one byte at a time, `interval` seconds apart (default 0.05)
  delay     seconds to wait before answering (any type)
Every request is appended to the log as one JSON line when it ends: n, t_start, t_end (time.monotonic),
method, path, headers, body (parsed JSON when it parses), reply type, and "client_gone" for aborted answers.
"""
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    def __init__(self, data):
        if isinstance(data, list):
            data = {"replies": data}
        self.replies = list(data.get("replies", []))
        self.used = [False] * len(self.replies)
        self.default = data.get("default")
        self.lock = threading.Lock()

    def take(self, body_text):
        with self.lock:
            for i, r in enumerate(self.replies):
                if not self.used[i] and r.get("match", "") in body_text:
                    self.used[i] = True
                    return r
        if self.default is not None:
            return self.default
        return {"type": "status", "status": 500, "body": '{"error":{"message":"fake_llm: script exhausted"}}'}


class Log:
    def __init__(self, path):
        self.path, self.lock, self.n = path, threading.Lock(), 0

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def write(self, record):
        if not self.path:
            return
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def chat_body(reply, prompt_len):
    content = reply.get("content", "return function(W) return W:abs() end")
    usage = reply.get("usage")
    if usage is None:
        completion = len(content) // 4 if isinstance(content, str) else 0
        usage = {"prompt_tokens": prompt_len // 4, "completion_tokens": completion,
                 "total_tokens": prompt_len // 4 + completion}
    body = {"id": "fake-1", "object": "chat.completion", "created": int(time.time()), "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": reply.get("finish_reason", "stop")}],
            "usage": usage}
    return json.dumps(body).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_llm/1"

    def log_message(self, fmt, *args):  # keep stderr quiet; the request log is the record
        pass

    def client_gone(self, timeout):
        """Wait up to timeout seconds; True when the client closed its side meanwhile."""
        r, _, _ = select.select([self.connection], [], [], timeout)
        if r:
            try:
                return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
        return False

    def send_all(self, status, body, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_all(404, b'{"error":{"message":"only POST .../chat/completions"}}')

    def do_POST(self):
        srv = self.server
        n = srv.log.next_n()
        t_start = time.monotonic()
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        record = {"n": n, "t_start": t_start, "method": "POST", "path": self.path,
                  "headers": dict(self.headers.items()), "body": parsed}
        if not self.path.rstrip("/").endswith("/chat/completions"):
            record["type"] = "not_found"
            self.send_all(404, b'{"error":{"message":"no such path"}}')
        else:
            reply = srv.script.take(text)
            record["type"] = reply.get("type", "chat")
            try:
                self.answer(reply, len(text), record)
            except (BrokenPipeError, ConnectionResetError):
                record["client_gone"] = True
        record["t_end"] = time.monotonic()
        srv.log.write(record)

    def answer(self, reply, prompt_len, record):
        kind = reply.get("type", "chat")
        delay = float(reply.get("delay", 0))
        if delay > 0 and self.client_gone(delay):
            record["client_gone"] = True
            self.close_connection = True
            return
        if kind == "chat":
            self.send_all(int(reply.get("status", 200)), chat_body(reply, prompt_len))
        elif kind == "status":
            status = int(reply["status"])
            body = reply.get("body", json.dumps({"error": {"message": "fake status %d" % status}}))
            self.send_all(status, body.encode(), headers=reply.get("headers"))
        elif kind == "raw":
            self.send_all(int(reply.get("status", 200)), reply.get("body", "").encode(),
                          reply.get("content_type", "text/html"), reply.get("headers"))
        elif kind == "drop":
            self.drop()
        elif kind == "drop_mid_body":
            body = chat_body(reply, prompt_len)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.drop()
        elif kind == "big":
            self.send_big(int(reply.get("bytes", 10 * 1024 * 1024)))
        elif kind == "hang":
            while not self.client_gone(0.2):
                pass
            record["client_gone"] = True
            self.close_connection = True
        elif kind == "slow":
            self.send_slow(chat_body(reply, prompt_len), float(reply.get("interval", 0.05)))
        else:
            self.send_all(500, b'{"error":{"message":"fake_llm: unknown reply type"}}')

    def drop(self):
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def send_big(self, size):
        head = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"'
        tail = b'"},"finish_reason":"stop"}]}'
        pad = max(size - len(head) - len(tail), 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + pad + len(tail)))
        self.end_headers()
        self.wfile.write(head)
        piece = b"x" * 65536
        while pad > 0:
            k = min(pad, len(piece))
            self.wfile.write(piece[:k])
            pad -= k
        self.wfile.write(tail)

    def send_slow(self, body, interval):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()
            time.sleep(interval)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many parallel clients: a full backlog would look like a fault of the client


class Running:
    """For Python tests (import with sys.path += [AP_ROOT/tests/search]):
        with fake_llm.Running(replies, tmpdir) as srv:   # replies as in SCRIPT.json
            ... srv.base (http://127.0.0.1:PORT/v1) ... srv.requests(expect=N) -> logged request records
    """

    def __init__(self, replies, tmpdir, max_seconds=120):
        import subprocess
        self.script = os.path.join(tmpdir, "fake_llm_script.json")
        self.log = os.path.join(tmpdir, "fake_llm_requests.jsonl")
        with open(self.script, "w", encoding="utf-8") as f:
            json.dump(replies, f)
        open(self.log, "w").close()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), self.script, "--log", self.log,
                                      "--max-seconds", str(max_seconds)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.base = "http://127.0.0.1:%d/v1" % self.port

    def requests(self, expect=0, wait=3.0):
        """The logged requests; waits up to `wait` s for at least `expect` (aborted answers are logged late)."""
        end = time.monotonic() + wait
        while True:
            with open(self.log, encoding="utf-8") as f:
                recs = [json.loads(line) for line in f if line.strip()]
            if len(recs) >= expect or time.monotonic() > end:
                return recs
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="scripted chat-completions server on 127.0.0.1")
    ap.add_argument("script")
    ap.add_argument("--log", default=None)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    with open(args.script, encoding="utf-8") as f:
        script = Script(json.load(f))
    server = Server(("127.0.0.1", 0), Handler)
    server.script, server.log = script, Log(args.log)
    try:
        print(server.server_address[1], flush=True)
    except BrokenPipeError:  # the starter read the port and closed its end: keep serving
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing else goes to stdout; a closed pipe must not kill the server later

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    timer = threading.Timer(args.max_seconds, stop)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    os._exit(0)  # handler threads may still sleep in "hang": do not wait for them


if __name__ == "__main__":
    main(sys.argv[1:])
