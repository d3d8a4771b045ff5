"""OpenAI-compatible chat client for the paid API stages (R1 traces, MeSH labels, the API difficulty filter).

* **One validity rule** (:func:`response_problem`) for live and cached replies: non-empty ``content`` (and
  ``reasoning_content`` with ``require_reasoning``), ``finish_reason`` not in ``invalid_finish_reasons`` (default
  ``length`` and ``content_filter``: what the original's client, curator 0.1.20, refuses and retries).
* **A response cache**: append-only JSONL, one fsync'd line per valid response, keyed by :func:`cache_key`. A rerun
  or a resume after ``kill -9`` sends only what has no valid entry; a broken entry (torn line, invalid response) is
  requested again in live mode (``re_requested``) and the appended line wins; of two valid entries that disagree,
  live mode uses the first. Keep the file outside Snakemake outputs (``cache/api/...``): Snakemake deletes those
  when a job fails.
* **Replay** (``mode="replay"``) answers from the cache alone and must be complete: a missing, broken or ambiguous
  entry is a :class:`ReplayError` naming the file, line or key and item, so no item silently drops out of a set.
* **Concurrency and retries**: a thread pool; exponential backoff with jitter on 429, 408, 5xx, timeouts,
  connection errors, invalid JSON and invalid replies, honouring ``Retry-After``; other 4xx fail at once.
* **Accounting** (:meth:`ChatClient.summary`): tokens and cost (USD per 1M tokens) of this run and of every
  response the requests use; every billed reply is first written to the **spend ledger** ``<cache>.billed.jsonl``,
  so ``cost_usd_billed`` is what the provider billed for this cache over every run, failed ones included.
* **Nothing paid is lost**: live mode checks that the cache and ledger are writable before the first request; the
  first failed write stops all sending with a :class:`CacheWriteError` counting the paid replies not stored.
* **Fail fast**: a 401/403 stops all sending (:class:`ApiAuthError`, naming the key's variable); a call whose every
  request fails is an :class:`ApiFailedError`.

The API key comes from the environment variable named in the config and is never written: every stored error
passes through :func:`m1repro.log.redact`. HTTP is the ``openai`` SDK's with ``max_retries=0`` (the body as the
original's litellm sends it, parameters such as ``temp`` in ``extra_body``); the retry policy is this module's
because a reply that arrived but is no answer must be retried, counted and billed like a 429.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from m1repro.io import InputError
from m1repro.log import looks_like_key, redact, register_secret

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]

#: curator 0.1.20 (the original's client) treats these finish reasons as failed requests and retries them.
DEFAULT_INVALID_FINISH_REASONS: tuple[str, ...] = ("length", "content_filter")

# A line torn by a kill still names its key when the write got that far (records start with the key).
_KEY_IN_TEXT = re.compile(r'"key"\s*:\s*"([0-9a-f]{64})"')
_SHOWN_PROBLEMS = 10
_REPLY = ("content", "reasoning_content", "finish_reason")  # a cached response's fields, in this order


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def cache_key(model: str, messages: Messages, params: Mapping[str, Any], salt: str = "") -> str:
    blob = json.dumps(
        {"model": model, "messages": messages, "params": dict(params), "salt": salt}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def response_problem(
    response: Any,
    require_reasoning: bool = False,
    invalid_finish_reasons: Collection[str] = DEFAULT_INVALID_FINISH_REASONS,
) -> str | None:
    """Why a reply ``{content, reasoning_content, finish_reason}`` is not an answer, or None when it is one."""
    if not isinstance(response, Mapping):
        return "response is not an object"
    content = response.get("content")
    if content is None:
        return "content is null"
    if not isinstance(content, str):
        return "content is not a string"
    if not content.strip():
        return "empty content"
    if require_reasoning:
        reasoning = response.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning.strip():
            return "missing reasoning_content"
    finish = response.get("finish_reason")
    if finish in invalid_finish_reasons:
        return f"finish_reason {finish}"
    return None


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        return {}
    return {k: int(v) for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}


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
    re_requested: bool = False


@dataclass(frozen=True)
class CacheLine:
    """One non-blank line of a cache file: ``record`` is None when the line does not parse as a record."""

    line: int
    key: str | None
    record: dict[str, Any] | None


class ReplayError(InputError):
    """A replay cache cannot answer every request (missing, broken or ambiguous entries)."""


class ApiStageError(RuntimeError):
    """An API call that must stop the stage (the message says why and what to do)."""


class CacheWriteError(ApiStageError):
    """The cache or the spend ledger cannot be written: sending stopped at the first failed write."""


class ApiAuthError(ApiStageError):
    """The provider refused the key (401/403)."""


class ApiFailedError(ApiStageError):
    """Every request of a call failed."""


def _append_line(path: Path, line: str, needs_newline: bool = False) -> None:
    """Append one line and fsync it: once this returns, the line survives a crash."""
    with open(path, "a", encoding="utf-8") as fh:
        if needs_newline:
            fh.write("\n")  # end a line torn by a kill so the new record starts on its own line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def ledger_path(cache_path: str | Path) -> Path:
    """The spend ledger of a cache: one line per billed reply, valid or not, stored or not."""
    p = Path(cache_path)
    return p.with_name(p.name.removesuffix(".jsonl") + ".billed.jsonl")


class ResponseCache:
    """Append-only JSONL of responses; every line is kept with its number so a problem can be named."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.entries: dict[str, list[CacheLine]] = {}
        self.unreadable: list[CacheLine] = []
        self._needs_newline = False
        self._n_lines = 0
        if not self.path.exists():
            if read_only:
                raise InputError(self.path, "replay cache does not exist")
            return
        data = self.path.read_bytes()
        self._needs_newline = bool(data) and not data.endswith(b"\n")
        chunks = data.split(b"\n")
        self._n_lines = len(chunks) - (0 if self._needs_newline else 1)
        for n, raw in enumerate(chunks, start=1):
            if raw.strip():
                self._add(self._read_line(n, raw.decode("utf-8", "replace")))

    @staticmethod
    def _read_line(n: int, text: str) -> CacheLine:
        try:
            rec = json.loads(text)
        except json.JSONDecodeError:
            rec = None
        if isinstance(rec, dict) and isinstance(rec.get("key"), str) and isinstance(rec.get("response"), dict):
            return CacheLine(n, rec["key"], rec)
        key = rec.get("key") if isinstance(rec, dict) and isinstance(rec.get("key"), str) else None
        if key is None and (m := _KEY_IN_TEXT.search(text)):
            key = m.group(1)
        return CacheLine(n, key, None)

    def _add(self, cl: CacheLine) -> None:
        if cl.record is None:
            self.unreadable.append(cl)
        if cl.key is not None:
            self.entries.setdefault(cl.key, []).append(cl)

    def check_writable(self) -> None:
        """Before the first paid request: the cache and its ledger can be created and appended to."""
        for path in (self.path, ledger_path(self.path)):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise CacheWriteError(
                    f"{path}: the API cache is not writable ({exc.strerror or exc}); no request was sent. Make its "
                    "directory writable (or set the stage's api.cache elsewhere) and run again"
                ) from None

    def put(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _append_line(self.path, line, self._needs_newline)
            self._needs_newline = False
            self._n_lines += 1
            self._add(CacheLine(self._n_lines, record["key"], record))

    def billed_so_far(self) -> dict[str, int]:
        """Replies and tokens in the spend ledger (every run of this cache, failed ones included)."""
        out = {"responses": 0, "prompt": 0, "completion": 0}
        path = ledger_path(self.path)
        if not path.exists():
            return out
        for raw in path.read_bytes().split(b"\n"):
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a line torn by a kill: its reply was billed, but its tokens are lost
            if isinstance(rec, dict):
                out["responses"] += 1
                out["prompt"] += int(rec.get("prompt_tokens") or 0)
                out["completion"] += int(rec.get("completion_tokens") or 0)
        return out

    def record_billed(self, record: dict[str, Any]) -> None:
        with self._lock:
            _append_line(ledger_path(self.path), json.dumps(record, ensure_ascii=False) + "\n")


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FatalError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


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
    invalid_finish_reasons: Collection[str] = DEFAULT_INVALID_FINISH_REASONS
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
                if looks_like_key(self.api_key_env):
                    raise ValueError(
                        "api_key_env holds what looks like an API key itself (not shown here), not the name of an "
                        "environment variable: put the key in a variable (export OPENAI_API_KEY=...) and give its name"
                    )
                self._api_key = os.environ.get(self.api_key_env)
                if not self._api_key:
                    raise ValueError(f"environment variable {self.api_key_env} (the API key) is not set")
                register_secret(self._api_key)
            self.cache.check_writable()
            from openai import OpenAI

            # one attempt per call (max_retries=0): the retries are _complete_one's (see the module docstring)
            self._sdk = OpenAI(
                base_url=str(self.base_url), api_key=self._api_key or "none", max_retries=0, timeout=self.timeout
            )
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.retry_reasons: Counter[str] = Counter()
        self.fail_reasons: Counter[str] = Counter()
        self._done: dict[str, ChatResult] = {}  # every unique request of this client, across calls
        self._billed_before = self.cache.billed_so_far() if self.mode == "live" else {}
        self._run = f"{_now()}/{os.getpid()}"
        # set by the first failed cache write or refused key: no request is sent after it
        self._stop = threading.Event()
        self._stop_error: ApiStageError | None = None
        self._unstored = 0
        if self.cache.unreadable:
            logger.warning(
                "API cache %s has %d unreadable line(s): %s",
                self.cache.path,
                len(self.cache.unreadable),
                [cl.line for cl in self.cache.unreadable][:_SHOWN_PROBLEMS],
            )

    # ------------------------------------------------------------------ public
    def complete_many(
        self,
        messages_list: Sequence[Messages],
        params: Mapping[str, Any],
        salts: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[ChatResult]:
        """One result per message list, in order; identical requests are sent once. ``ids`` name the items in
        errors (replay) and logs. Replay raises :class:`ReplayError` unless every request has a usable entry."""
        keys = [cache_key(self.model, m, params, salts[i] if salts else "") for i, m in enumerate(messages_list)]
        labels = [str(x) for x in ids] if ids is not None else [f"#{i}" for i in range(len(keys))]
        results: dict[str, ChatResult] = {}
        todo: dict[str, Messages] = {}
        again: set[str] = set()
        problems: dict[str, str] = {}
        for k, m, label in zip(keys, messages_list, labels, strict=True):
            if k in results or k in todo or k in problems:
                continue
            if k in self._done:
                results[k] = self._done[k]
                continue
            rec, broken, conflict = self._resolve(k)
            if self.mode == "replay" and (rec is None or conflict):
                problems[k] = f"item {label} (key {k[:16]}): " + (conflict or "; ".join(broken) or "missing")
                continue
            if rec is None:
                if broken:
                    again.add(k)
                    logger.warning(
                        "API cache %s, item %s: broken entry (%s); requesting it again",
                        self.cache.path,
                        label,
                        "; ".join(broken),
                    )
                todo[k] = m
                continue
            if conflict:
                self.stats["conflicting_duplicates"] += 1
                logger.warning("API cache %s, item %s: %s; the first is used", self.cache.path, label, conflict)
            results[k] = self._from_record(rec)
            self.stats["cache_hits"] += 1
        if problems:
            raise ReplayError(self.cache.path, self._replay_message(list(problems.values()), len(set(keys))))
        self.stats["re_requested"] += len(again)
        if todo:
            with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
                futs = [pool.submit(self._complete_one, k, m, params) for k, m in todo.items()]
                shown = {"desc": f"{self.model} API", "disable": not self.progress, "mininterval": 5}
                for fut in tqdm(as_completed(futs), total=len(futs), **shown):
                    res = fut.result()
                    res.re_requested = res.key in again
                    results[res.key] = res
        self._done.update(results)
        if self._stop_error is not None:
            raise self._stop_message(self._stop_error)
        if keys and not any(r.ok for r in results.values()):
            raise ApiFailedError(self._all_failed_message(list(results.values())))
        return [results[k] for k in keys]

    def summary(self) -> dict[str, Any]:
        """Counts over every unique request this client answered (all calls), and both costs."""
        done = self._done.values()
        used = [r.usage for r in done if r.ok]
        tokens = {
            "prompt": sum(u.get("prompt_tokens", 0) for u in used),
            "completion": sum(u.get("completion_tokens", 0) for u in used),
        }
        billed = {"prompt": self.stats["billed_prompt_tokens"], "completion": self.stats["billed_completion_tokens"]}
        return {
            "model": self.model,
            "mode": self.mode,
            "requests": len(self._done),
            "answered": sum(r.ok for r in done),
            "failed": sum(not r.ok for r in done),
            "fail_reasons": dict(self.fail_reasons),
            "cache_hits": self.stats["cache_hits"],
            "re_requested": self.stats["re_requested"],
            "conflicting_duplicates": self.stats["conflicting_duplicates"],
            "unreadable_cache_lines": len(self.cache.unreadable),
            "http_calls": self.stats["http_calls"],
            "retries": self.stats["retries"],
            "retry_reasons": dict(self.retry_reasons),
            "billed_responses": self.stats["billed_responses"],
            "tokens": tokens,
            "cost_usd": self._cost(tokens),
            "tokens_this_run": billed,
            "cost_usd_this_run": self._cost(billed),
            "billed_responses_all_runs": self._billed_before.get("responses", 0) + self.stats["billed_responses"],
            "cost_usd_billed": self._cost({k: self._billed_before.get(k, 0) + v for k, v in billed.items()}),
        }

    # ------------------------------------------------------------------ internals
    def _cost(self, tokens: Mapping[str, int]) -> float:
        p_in, p_out = float(self.pricing.get("input", 0.0)), float(self.pricing.get("output", 0.0))
        return round(tokens["prompt"] / 1e6 * p_in + tokens["completion"] / 1e6 * p_out, 9)

    def _problem(self, response: Any) -> str | None:
        return response_problem(response, self.require_reasoning, self.invalid_finish_reasons)

    def _resolve(self, key: str) -> tuple[dict[str, Any] | None, list[str], str | None]:
        """(the first valid record of ``key`` or None, its broken lines as ``'line N: why'``, a conflict or None)."""
        valid: list[CacheLine] = []
        broken: list[str] = []
        for cl in self.cache.entries.get(key, []):  # file order, readable or not
            why = "unreadable line" if cl.record is None else self._problem(cl.record["response"])
            if why:
                broken.append(f"line {cl.line}: {why}")
            else:
                valid.append(cl)
        if not valid:
            return None, broken, None
        answers = {json.dumps(cl.record["response"], sort_keys=True) for cl in valid if cl.record is not None}
        conflict = None
        if len(answers) > 1:
            conflict = f"lines {', '.join(str(cl.line) for cl in valid)} hold different responses"
        return valid[0].record, broken, conflict

    def _replay_message(self, problems: list[str], n_requests: int) -> str:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = f"; and {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
        lost = [cl.line for cl in self.cache.unreadable if cl.key is None]
        hint = f" (unreadable lines whose key is lost: {lost[:_SHOWN_PROBLEMS]})" if lost else ""
        return (
            f"replay cache cannot answer {len(problems)} of {n_requests} requests{hint}: {shown}{more}. "
            "Replay must be complete: rebuild the cache, or run the stage live."
        )

    @staticmethod
    def _from_record(rec: Mapping[str, Any]) -> ChatResult:
        reply = {f: rec["response"].get(f) for f in _REPLY}
        return ChatResult(rec["key"], True, **reply, usage=_usage(rec.get("usage")), cached=True)

    def _fail(self, key: str, reason: str, error: str, attempt: int) -> ChatResult:
        with self._lock:
            self.fail_reasons[redact(reason)] += 1
        return ChatResult(key, False, error=redact(error), attempts=attempt)

    def _all_failed_message(self, results: list[ChatResult]) -> str:
        reasons = ", ".join(f"{r}: {n}" for r, n in self.fail_reasons.most_common()) or "none recorded"
        first = next((r.error for r in results if r.error), "")
        return (
            f"all {len(results)} API request(s) to {self.base_url} (model {self.model}) failed ({reasons}); "
            f"e.g. {first}. Nothing usable came back: check api.base_url, api.model and the provider's status"
        )

    def _halt(self, error: ApiStageError) -> None:
        """Stop every request not yet sent; the first reason wins."""
        with self._lock:
            if self._stop_error is None:
                self._stop_error = error
        self._stop.set()

    def _not_stored(self, key: str, path: Path, exc: OSError, attempt: int) -> ChatResult:
        """A paid reply that could not be written: counted, and all sending stops."""
        with self._lock:
            self._unstored += 1
        self._halt(CacheWriteError(f"{path}: write failed ({exc.strerror or exc})"))
        return self._fail(key, "not stored", f"paid but not stored: {exc}", attempt)

    def _stop_message(self, error: ApiStageError) -> ApiStageError:
        if not isinstance(error, CacheWriteError):
            return error
        return CacheWriteError(
            f"{error}; sending stopped at the first failed write. {self._unstored} paid repl(ies) of this run could "
            f"not be stored (the requests in flight at the failure); {self.stats['billed_responses']} were billed "
            "in this run. Every reply stored before is kept and is not paid again: free space or fix permissions, "
            "then run again"
        )

    def _complete_one(self, key: str, messages: Messages, params: Mapping[str, Any]) -> ChatResult:
        attempt = 0
        while True:
            if self._stop.is_set():
                return self._fail(key, "not sent", "not sent: the stage stopped (see the error)", attempt)
            attempt += 1
            try:
                result = self._parse(key, self._post(messages, params))
            except RetryableError as exc:
                with self._lock:
                    self.retry_reasons[exc.reason] += 1
                if attempt > self.max_retries:
                    logger.warning("API request failed after %d attempts: %s", attempt, exc.reason)
                    return self._fail(key, exc.reason, f"{exc.reason} (after {attempt} attempts)", attempt)
                with self._lock:
                    self.stats["retries"] += 1
                    jitter = 0.5 + self._rng.random() / 2
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)) * jitter
                if exc.retry_after is not None:
                    delay = max(delay, min(self.backoff_max, exc.retry_after))
                self.sleep(delay)
                continue
            except FatalError as exc:
                if exc.status in (401, 403):
                    what = (
                        f"check the environment variable {self.api_key_env}"
                        if self.api_key_env
                        else "no key was sent (set api.api_key_env to the name of the key's variable)"
                    )
                    self._halt(
                        ApiAuthError(
                            f"the API at {self.base_url} refused the key (HTTP {exc.status}): {what}. Sending "
                            f"stopped; nothing was answered by this request ({redact(str(exc))[:200]})"
                        )
                    )
                return self._fail(key, str(exc).split(":")[0], str(exc), attempt)
            except OSError as exc:  # the spend ledger could not be written
                return self._not_stored(key, ledger_path(self.cache.path), exc, attempt)
            result.attempts = attempt
            try:
                self.cache.put(
                    {
                        "key": key,
                        "model": self.model,
                        "response": {f: getattr(result, f) for f in _REPLY},
                        "usage": result.usage,
                        "time": _now(),
                    }
                )
            except OSError as exc:
                return self._not_stored(key, self.cache.path, exc, attempt)
            return result

    def _post(self, messages: Messages, params: Mapping[str, Any]) -> Any:
        """One HTTP attempt through the SDK; the raw JSON body (``reasoning_content`` is no field of the SDK's
        types). Errors become RetryableError (429, 408, 5xx, timeouts, connection and truncated bodies, invalid
        JSON) or FatalError (other statuses, with the provider's message, redacted)."""
        import openai

        with self._lock:
            self.stats["http_calls"] += 1
        try:
            raw = self._sdk.chat.completions.with_raw_response.create(
                model=self.model, messages=messages, extra_body=dict(params)
            )
            text = raw.text
        except openai.APIStatusError as exc:
            code = exc.status_code
            if code in (408, 429) or code >= 500:
                retry_after = exc.response.headers.get("retry-after")
                try:
                    ra = float(retry_after) if retry_after is not None else None
                except ValueError:
                    ra = None
                raise RetryableError(f"HTTP {code}", ra) from None
            raise FatalError(f"HTTP {code}: {redact(exc.response.text[:200])}", code) from None
        except openai.APITimeoutError:
            raise RetryableError("timeout") from None
        except openai.APIConnectionError as exc:
            truncated = "Protocol" in type(exc.__cause__).__name__ or "Incomplete" in type(exc.__cause__).__name__
            raise RetryableError("truncated response" if truncated else "connection error") from None
        try:
            return json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RetryableError("invalid JSON") from None

    def _parse(self, key: str, data: Any) -> ChatResult:
        try:
            choice = data["choices"][0]
            message = choice["message"]
            response = {
                "content": message.get("content"),
                "reasoning_content": message.get("reasoning_content"),
                "finish_reason": choice.get("finish_reason"),
            }
        except (KeyError, IndexError, TypeError, AttributeError):
            raise RetryableError("malformed response") from None
        usage = _usage(data.get("usage"))
        with self._lock:  # the provider bills a completed generation whether or not it is usable
            self.stats["billed_responses"] += 1
            self.stats["billed_prompt_tokens"] += usage.get("prompt_tokens", 0)
            self.stats["billed_completion_tokens"] += usage.get("completion_tokens", 0)
        why = self._problem(response)
        # on record before anything else happens with it (an OSError here stops the stage: see _complete_one)
        self.cache.record_billed(
            {
                "run": self._run,
                "key": key,
                "model": self.model,
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "valid": why is None,
                "time": _now(),
            }
        )
        if why:
            raise RetryableError(why)
        return ChatResult(key, True, **response, usage=usage)


def client_from_config(cfg: Mapping[str, Any], cache_path: str | Path, **overrides: Any) -> ChatClient:
    """A client from a config slice: ``model, base_url, api_key_env, mode, concurrency, max_retries, timeout_s,
    pricing, require_reasoning, invalid_finish_reasons``."""
    keys = ("model", "base_url", "api_key_env", "mode", "concurrency", "max_retries", "pricing", "require_reasoning")
    kw: dict[str, Any] = {k: cfg[k] for k in keys if k in cfg}  # absent keys: ChatClient's defaults
    if "timeout_s" in cfg:
        kw["timeout"] = cfg["timeout_s"]
    if "invalid_finish_reasons" in cfg:
        kw["invalid_finish_reasons"] = tuple(cfg["invalid_finish_reasons"])
    return ChatClient(cache_path=cache_path, **{**kw, **overrides})
