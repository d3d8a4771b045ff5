"""SGLang backend: one server per job (as the original), greedy text completions in batches, always shut down.

The job starts ``python -m sglang.launch_server`` with the model's tp/dp/seed and the original's memory fraction,
waits for ``/health``, sends requests, and stops the server's whole process group on exit, also on error.
Requests go to the native ``/generate`` endpoint by default, which takes token ids and returns them (the exact
mode and shared sweeps need ids); ``api="openai"`` uses ``/v1/completions`` as the original did (text only).
Both endpoints run the same sampler, so greedy text results are the same.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from m1repro import compat
from m1repro.engines.base import Completion, TokenizerMixin

log = logging.getLogger(__name__)

Prompt = str | Sequence[int]
_GREEDY = {"temperature": 0.0, "frequency_penalty": 0.0}  # the original's sampling: greedy, no frequency penalty


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(
    model_path: str,
    tp: int = 1,
    dp: int = 1,
    seed: int = 42,
    mem_fraction_static: float = 0.8,
    port: int = 30000,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The server command line of the original (docs/fidelity.md, Server), plus host/port and any extra flags. The
    server keeps the model's own tokenizer, as the original started it (``--model-path`` only)."""
    cmd = [python, "-m", "sglang.launch_server", "--model-path", model_path]
    cmd += ["--mem-fraction-static", str(mem_fraction_static), "--dp", str(dp), "--tp", str(tp)]
    return cmd + ["--random-seed", str(seed), "--host", "127.0.0.1", "--port", str(port), *extra_args]


def build_native_request(
    prompts: Sequence[Prompt], limits: Sequence[int], stop: Sequence[str], extras: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A batched /generate request: text or token ids, one sampling-params dict per prompt (per-item limits), plus
    what this server version needs to return the generated ids (``extras``, m1repro.compat)."""
    params = [{"max_new_tokens": int(m), **_GREEDY, "stop": list(stop)} for m in limits]
    if all(isinstance(p, str) for p in prompts):
        return {"text": list(prompts), "sampling_params": params, **(extras or {})}
    if any(isinstance(p, str) for p in prompts):
        raise TypeError("a batch must be all text or all token ids")
    return {"input_ids": [list(p) for p in prompts], "sampling_params": params, **(extras or {})}


def parse_native_response(body: Any, n: int) -> list[Completion]:
    """Completions from a /generate response (a list, one object per prompt, in order)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or len(body) != n:
        raise ValueError(
            f"SGLang /generate returned {type(body).__name__} of {len(body) if isinstance(body, list) else '?'} results, expected {n}"
        )
    out = []
    for k, r in enumerate(body):
        meta = r.get("meta_info", {})
        reason = meta.get("finish_reason")
        kind = reason.get("type") if isinstance(reason, dict) else reason
        if kind not in ("stop", "length"):
            raise ValueError(f"SGLang result {k}: finish_reason {reason!r} (expected stop or length)")
        ids = compat.sglang_output_ids(r)  # a new list, or None
        stop_ids: tuple[int, ...] = ()
        matched = reason.get("matched") if isinstance(reason, dict) else None
        # a matched stop token ends output_ids (FINISH_MATCHED_TOKEN) and is trimmed from the text: keep it apart
        if kind == "stop" and ids and isinstance(matched, int) and not isinstance(matched, bool) and ids[-1] == matched:
            stop_ids = (ids.pop(),)
        out.append(
            Completion(
                text=r["text"],
                finish_reason=kind,
                num_tokens=int(meta.get("completion_tokens", len(ids or ()) + len(stop_ids))),
                token_ids=tuple(ids) if ids is not None else None,
                stop_ids=stop_ids,
            )
        )
    return out


def build_openai_request(model: str, prompts: Sequence[str], max_tokens: int, stop: Sequence[str]) -> dict[str, Any]:
    """The original's request: text completions, greedy, no frequency penalty."""
    return {"model": model, "prompt": list(prompts), "max_tokens": int(max_tokens), **_GREEDY, "stop": list(stop)}


def parse_openai_response(body: dict[str, Any], n: int, count_tokens: Any) -> list[Completion]:
    choices = sorted(body.get("choices", []), key=lambda c: c["index"])
    if len(choices) != n:
        raise ValueError(f"SGLang /v1/completions returned {len(choices)} choices, expected {n}")
    out = []
    for c in choices:
        if c.get("finish_reason") not in ("stop", "length"):
            raise ValueError(f"choice {c['index']}: finish_reason {c.get('finish_reason')!r} (expected stop or length)")
        out.append(Completion(c["text"], c["finish_reason"], count_tokens(c["text"]), None))
    return out


class SGLangEngine(TokenizerMixin):
    name = "sglang"

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str | None = None,
        tp: int = 1,
        dp: int = 1,
        seed: int = 42,
        mem_fraction_static: float = 0.8,
        server_timeout_s: float = 1800.0,
        extra_args: Sequence[str] = (),
        api: str = "native",
        request_timeout_s: float = 6 * 3600.0,
        server_command: Sequence[str] | None = None,
        log_path: str | None = None,
        server_version: str | None = None,
        **_ignored: Any,
    ) -> None:
        from transformers import AutoTokenizer

        self.model_path = model_path
        self.api = api
        # the /generate contract differs between sglang 0.4.3 and 0.5 (how the generated ids come back): the
        # server's version, given or installed with this engine, picks it (m1repro.compat)
        self.request_extras = compat.sglang_request_extras(compat.sglang_server_version(server_version))
        self.request_timeout_s = request_timeout_s
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model_path)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # An override tokenizer (config `tokenizer:`) renders the chat template and counts tokens on this side only.
        if server_command:
            cmd = [*server_command, "--port", str(self.port)]
        else:
            cmd = launch_command(model_path, tp, dp, seed, mem_fraction_static, self.port, extra_args)
        self.server_log = Path(log_path or f"sglang-{os.getpid()}.log")
        self.generated_tokens = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._start(cmd, server_timeout_s)

    @property
    def returns_token_ids(self) -> bool:
        return self.api == "native"

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def _start(self, cmd: list[str], timeout: float) -> None:
        log.info("starting SGLang server: %s", " ".join(cmd))
        self._logfh = open(self.server_log, "ab")
        self._proc = subprocess.Popen(cmd, stdout=self._logfh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.close()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"SGLang server exited with code {self._proc.returncode} before it was healthy; "
                    f"see {self.server_log}:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        log.info("SGLang server healthy at %s", self.base_url)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1.0)
        raise TimeoutError(
            f"SGLang server not healthy after {timeout:.0f} s; see {self.server_log}:\n{self._log_tail()}"
        )

    def _log_tail(self, n: int = 2000) -> str:
        try:
            return self.server_log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after 30 s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        self._logfh.close()
        log.info("SGLang server stopped (exit code %s)", proc.returncode)

    def __enter__(self) -> SGLangEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Engine protocol -----------------------------------------------------------------------------------------

    def _drop_stop_token(self, c: Completion, stop: Sequence[str]) -> Completion:
        """A stop string matched as one special token (FINISH_MATCHED_STR) also ends output_ids: the thinking's ids
        must not contain it, so it moves to ``stop_ids`` (a matched token id was set apart by the parser)."""
        if c.finish_reason == "stop" and not c.stop_ids and c.token_ids:
            last = self.tokenizer.decode(list(c.token_ids[-1:]), skip_special_tokens=False)
            if last in stop:
                return Completion(c.text, c.finish_reason, c.num_tokens, c.token_ids[:-1], c.token_ids[-1:])
        return c

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.base_url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"SGLang {path} failed: HTTP {exc.code}: {exc.read()[:500]!r}") from exc

    def generate(
        self, prompts: Sequence[Prompt], max_tokens: int | Sequence[int], stop: Sequence[str]
    ) -> list[Completion]:
        limits = [max_tokens] * len(prompts) if isinstance(max_tokens, int) else list(max_tokens)
        if not prompts:
            return []
        if self.api == "openai":
            if len(set(limits)) != 1 or not all(isinstance(p, str) for p in prompts):
                raise ValueError("api='openai' takes text prompts with one max_tokens per call (use api='native')")
            body = self._post(
                "/v1/completions", build_openai_request(self.model_path, [str(p) for p in prompts], limits[0], stop)
            )
            out = parse_openai_response(body, len(prompts), self.count_tokens)
        else:
            out = parse_native_response(
                self._post("/generate", build_native_request(prompts, limits, stop, self.request_extras)), len(prompts)
            )
            out = [self._drop_stop_token(c, stop) for c in out]
        self.generated_tokens += sum(c.num_tokens for c in out)
        return out
