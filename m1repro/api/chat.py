"""OpenAI-compatible chat client for paid API work (R1 traces, MeSH labels, API difficulty).

What it guarantees:

* **A response cache** (append-only JSONL, one fsync'd line per successful response, keyed by sha256 of model,
  messages, parameters and an optional salt). A rerun, or a resume after ``kill -9``, sends only what is not cached;
  a torn last line from a kill is ignored. Keep the file outside Snakemake outputs (``cache/api/...``), which
  Snakemake deletes when a job fails.
* **Replay**: ``mode="replay"`` answers from a cache file alone and never opens a connection; a miss is a failed
  item with its reason.
* **Bounded concurrency** (a thread pool) and **retries** with exponential backoff and jitter on 429, 408, 5xx,
  timeouts, connection errors, truncated/invalid JSON, and (``require_reasoning``) a missing ``reasoning_content``;
  ``Retry-After`` is honoured. Other 4xx fail at once. Every item ends answered or failed with its reason.
* **Accounting**: calls, retries by reason, cache hits, tokens and cost from ``usage`` and per-1M-token prices.

The API key is read from the environment variable named in the config; it is never written to files or logs.
Only the standard library speaks HTTP here, so the retry and timeout behaviour is entirely this module's.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]


def cache_key(model: str, messages: Messages, params: Mapping[str, Any], salt: str = "") -> str:
    blob = json.dumps({"model": model, "messages": messages, "params": dict(params), "salt": salt},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class ChatResult:
    key: str
    ok: bool
    content: str | None = None
    reasoning_content: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    cached: bool = False


class ResponseCache:
    """Append-only JSONL of successful responses; safe against a kill at any point (torn lines are skipped)."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                        self._data[rec["key"]] = rec
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.torn_lines += 1
        elif read_only:
            raise FileNotFoundError(f"replay cache {self.path} does not exist")

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> dict[str, Any] | None:
        return self._data.get(key)

    def put(self, record: dict[str, Any]) -> None:
        if self.read_only:
            raise RuntimeError(f"cache {self.path} is read-only (replay mode)")
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                if fh.tell() > 0 and self.torn_lines:
                    fh.write("\n")  # end a torn line left by a kill so the new record starts on its own line
                    self.torn_lines = 0
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            self._data[record["key"]] = record


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FatalError(Exception):
    pass


@dataclass
class ChatClient:
    """See the module docstring. ``pricing`` is USD per 1M tokens: ``{"input": x, "output": y}``."""

    model: str
    cache_path: str | Path
    base_url: str | None = None
    api_key_env: str | None = None
    mode: str = "live"
    concurrency: int = 8
    max_retries: int = 6
    timeout: float = 600.0
    backoff_base: float = 2.0
    backoff_max: float = 120.0
    require_reasoning: bool = False
    pricing: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    sleep: Callable[[float], None] = time.sleep
    progress: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("live", "replay"):
            raise ValueError(f"chat API mode must be 'live' or 'replay', got {self.mode!r}")
        self.cache = ResponseCache(self.cache_path, read_only=self.mode == "replay")
        self._api_key: str | None = None
        if self.mode == "live":
            if not self.base_url:
                raise ValueError("chat API base_url is required in live mode")
            if self.api_key_env:
                self._api_key = os.environ.get(self.api_key_env)
                if not self._api_key:
                    raise ValueError(f"environment variable {self.api_key_env} (the API key) is not set")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.retry_reasons: Counter[str] = Counter()
        self.fail_reasons: Counter[str] = Counter()

    # ------------------------------------------------------------------ public
    def complete_many(
        self, messages_list: Sequence[Messages], params: Mapping[str, Any], salts: Sequence[str] | None = None
    ) -> list[ChatResult]:
        """One result per message list, in order; identical requests are sent once."""
        keys = [cache_key(self.model, m, params, salts[i] if salts else "") for i, m in enumerate(messages_list)]
        results: dict[str, ChatResult] = {}
        todo: dict[str, Messages] = {}
        for k, m in zip(keys, messages_list, strict=True):
            if k in results or k in todo:
                continue
            rec = self.cache.get(k)
            if rec is not None:
                results[k] = self._from_record(rec)
                self.stats["cache_hits"] += 1
            elif self.mode == "replay":
                results[k] = ChatResult(k, False, error="not in replay cache")
                self.fail_reasons["not in replay cache"] += 1
            else:
                todo[k] = m
        if todo:
            with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
                futs = {pool.submit(self._complete_one, k, m, params): k for k, m in todo.items()}
                bar = tqdm(total=len(futs), desc=f"{self.model} API", disable=not self.progress, mininterval=5)
                for fut in as_completed(futs):
                    results[futs[fut]] = fut.result()
                    bar.update(1)
                bar.close()
        return [results[k] for k in keys]

    def summary(self) -> dict[str, Any]:
        p_in, p_out = float(self.pricing.get("input", 0.0)), float(self.pricing.get("output", 0.0))
        cost = self.stats["prompt_tokens"] / 1e6 * p_in + self.stats["completion_tokens"] / 1e6 * p_out
        return {
            "model": self.model,
            "mode": self.mode,
            "http_calls": self.stats["http_calls"],
            "paid_responses": self.stats["paid_responses"],
            "retries": self.stats["retries"],
            "retry_reasons": dict(self.retry_reasons),
            "cache_hits": self.stats["cache_hits"],
            "failed": sum(self.fail_reasons.values()),
            "fail_reasons": dict(self.fail_reasons),
            "prompt_tokens": self.stats["prompt_tokens"],
            "completion_tokens": self.stats["completion_tokens"],
            "cost_usd": round(cost, 6),
        }

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _from_record(rec: Mapping[str, Any]) -> ChatResult:
        r = rec["response"]
        return ChatResult(rec["key"], True, r.get("content"), r.get("reasoning_content"), r.get("finish_reason"),
                          dict(rec.get("usage") or {}), attempts=0, cached=True)

    def _complete_one(self, key: str, messages: Messages, params: Mapping[str, Any]) -> ChatResult:
        attempt = 0
        while True:
            attempt += 1
            try:
                parsed = self._post(messages, params)
                result = self._parse(key, parsed)
            except RetryableError as exc:
                with self._lock:
                    self.retry_reasons[exc.reason] += 1
                if attempt > self.max_retries:
                    with self._lock:
                        self.fail_reasons[exc.reason] += 1
                    logger.warning("API item failed after %d attempts: %s", attempt, exc.reason)
                    return ChatResult(key, False, error=f"{exc.reason} (after {attempt} attempts)", attempts=attempt)
                with self._lock:
                    self.stats["retries"] += 1
                    jitter = 0.5 + self._rng.random() / 2
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)) * jitter
                if exc.retry_after is not None:
                    delay = max(delay, min(self.backoff_max, exc.retry_after))
                self.sleep(delay)
                continue
            except FatalError as exc:
                with self._lock:
                    self.fail_reasons[str(exc).split(":")[0]] += 1
                return ChatResult(key, False, error=str(exc), attempts=attempt)
            result.attempts = attempt
            usage = result.usage
            self.cache.put({
                "key": key, "model": self.model,
                "response": {"content": result.content, "reasoning_content": result.reasoning_content,
                             "finish_reason": result.finish_reason},
                "usage": usage, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            })
            with self._lock:
                self.stats["prompt_tokens"] += int(usage.get("prompt_tokens", 0) or 0)
                self.stats["completion_tokens"] += int(usage.get("completion_tokens", 0) or 0)
            return result

    def _post(self, messages: Messages, params: Mapping[str, Any]) -> Any:
        body = json.dumps({"model": self.model, "messages": messages, **params}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = str(self.base_url).rstrip("/") + "/chat/completions"
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with self._lock:
            self.stats["http_calls"] += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            code = exc.code
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            try:
                ra = float(retry_after) if retry_after is not None else None
            except ValueError:
                ra = None
            if code == 429 or code == 408 or code >= 500:
                raise RetryableError(f"HTTP {code}", ra) from None
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise FatalError(f"HTTP {code}: {detail}") from None
        except TimeoutError:
            raise RetryableError("timeout") from None
        except http.client.HTTPException:
            raise RetryableError("truncated response") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise RetryableError("timeout") from None
            raise RetryableError("connection error") from None
        except (ConnectionError, OSError):
            raise RetryableError("connection error") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RetryableError("invalid JSON") from None

    def _parse(self, key: str, data: Any) -> ChatResult:
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError):
            raise RetryableError("malformed response") from None
        reasoning = message.get("reasoning_content")
        if self.require_reasoning and not reasoning:
            raise RetryableError("missing reasoning_content")
        if content is None:
            raise RetryableError("missing content")
        usage = data.get("usage") or {}
        with self._lock:
            self.stats["paid_responses"] += 1
        return ChatResult(key, True, content, reasoning, choice.get("finish_reason"),
                          {k: int(v) for k, v in usage.items() if isinstance(v, int)})


def client_from_config(cfg: Mapping[str, Any], cache_path: str | Path, **overrides: Any) -> ChatClient:
    """A client from a config slice: ``model, base_url, api_key_env, mode, concurrency, max_retries, timeout_s,
    pricing, require_reasoning``."""
    kw: dict[str, Any] = {
        "model": cfg["model"], "base_url": cfg.get("base_url"), "api_key_env": cfg.get("api_key_env"),
        "mode": cfg.get("mode", "live"), "concurrency": cfg.get("concurrency", 8),
        "max_retries": cfg.get("max_retries", 6), "timeout": cfg.get("timeout_s", 600.0),
        "pricing": cfg.get("pricing", {}), "require_reasoning": cfg.get("require_reasoning", False),
    }
    kw.update(overrides)
    return ChatClient(cache_path=cache_path, **kw)
