"""A loopback stand-in for an OpenAI-compatible chat API that misbehaves in a seeded pattern.

Per (prompt, attempt) it answers 429, 500, a timeout (sleeps past the client's limit), truncated JSON, a reply
without ``reasoning_content``, or a good reply; from the 4th attempt on it always answers well, except for prompts
containing ``ALWAYS400`` (a 400 each time), ``ALWAYS500`` (a 500 each time), ``NULLCONTENT`` (``content: null``),
``EMPTYCONTENT`` (``content: ""``) or ``LENGTHSTOP`` (``finish_reason: "length"``), each time. ``reply`` (a function
of the request body) replaces the good reply's content. It records every request body, every call and every paid
(complete 200) response per prompt.

Errors come as an OpenAI-compatible provider sends them: a JSON body ``{"error": {"message", "type", "param",
"code"}}``, ``Retry-After`` on 429. ``status`` answers every request with that status instead (401 and 403 as a
provider that refuses a key, whose message echoes the key it was given, as some providers do).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ["ok", "429", "500", "timeout", "truncated", "noreasoning"]
WEIGHTS = [40, 15, 15, 10, 10, 10]


class StandIn:
    def __init__(
        self,
        seed: int = 0,
        latency: float = 0.0,
        timeout_sleep: float = 0.6,
        reply: Callable[[dict], str] | None = None,
        noise: bool = True,
        status: int | None = None,
    ):
        self.seed, self.latency, self.timeout_sleep, self.reply, self.noise = seed, latency, timeout_sleep, reply, noise
        self.status = status
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self.calls: Counter[str] = Counter()
        self.paid: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.paid_log: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with standin.lock:
                    standin.bodies.append(body)
                    standin.auth.append(self.headers.get("Authorization"))
                standin.handle(self, body, self.headers.get("Authorization") or "")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def kind_for(self, prompt: str, attempt: int) -> str:
        if self.status is not None:
            return str(self.status)
        if "ALWAYS400" in prompt:
            return "400"
        if "ALWAYS500" in prompt:
            return "500"
        for marker in ("NULLCONTENT", "EMPTYCONTENT", "LENGTHSTOP"):
            if marker in prompt:
                return marker
        if attempt >= 4 or not self.noise:
            return "ok"
        rng = random.Random(f"{self.seed}:{prompt}:{attempt}")
        return rng.choices(KINDS, WEIGHTS)[0]

    @staticmethod
    def error_body(status: int, auth: str) -> dict:
        """The body an OpenAI-compatible provider sends with an error status."""
        key = auth.removeprefix("Bearer ")
        messages = {
            400: ("bad request", "invalid_request_error", None),
            401: (f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"),
            403: (f"Key {key} is not allowed to use this model.", "permission_error", "forbidden"),
            404: ("The model does not exist", "invalid_request_error", "model_not_found"),
            429: ("Rate limit reached; try again later", "rate_limit_error", "rate_limit_exceeded"),
        }
        message, kind, code = messages.get(status, ("The server had an error", "server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def handle(self, h: BaseHTTPRequestHandler, body: dict, auth: str = "") -> None:
        prompt = body["messages"][-1]["content"]
        pid = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        with self.lock:
            self.calls[pid] += 1
            attempt = self.calls[pid]
        kind = self.kind_for(prompt, attempt)
        with self.lock:
            self.kinds[kind] += 1
        if self.latency:
            time.sleep(self.latency)
        if kind.isdigit():
            payload = json.dumps(self.error_body(int(kind), auth)).encode()
            h.send_response(int(kind))
            if kind == "429":
                h.send_header("Retry-After", "0")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if kind == "timeout":
            time.sleep(self.timeout_sleep)
        content = self.reply(body) if self.reply else f"Answer for {pid}: \\boxed{{A}}"
        message = {"role": "assistant", "content": {"NULLCONTENT": None, "EMPTYCONTENT": ""}.get(kind, content)}
        if kind != "noreasoning":
            message["reasoning_content"] = f"thinking about {pid}"
        finish = "length" if kind == "LENGTHSTOP" else "stop"
        data = json.dumps(
            {
                "id": pid,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
            }
        ).encode()
        if kind == "truncated":
            data = data[: len(data) // 2]
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return
        if kind in ("ok", "noreasoning", "truncated", "NULLCONTENT", "EMPTYCONTENT", "LENGTHSTOP"):
            with self.lock:  # the provider bills every completed generation, usable or not
                self.paid[pid] += 1
                self.paid_log.append((time.time(), pid))
