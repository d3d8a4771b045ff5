"""The chat client against a misbehaving loopback API: retries, failures with reasons, cache, replay, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_standin import StandIn

from m1repro.api.chat import ChatClient, ResponseCache, cache_key

PARAMS = {"max_tokens": 8000, "temperature": 0.0}


def msgs(n: int, extra: tuple[str, ...] = ()) -> list[list[dict[str, str]]]:
    texts = [f"Question {i}: which nerve supplies the deltoid?" for i in range(n)] + list(extra)
    return [[{"role": "user", "content": t}] for t in texts]


def client(tmp_path: Path, base_url: str, **kw) -> ChatClient:
    kw.setdefault("concurrency", 4)
    kw.setdefault("max_retries", 6)
    return ChatClient(model="deepseek-ai/DeepSeek-R1", cache_path=tmp_path / "cache.jsonl", base_url=base_url,
                      api_key_env="M1_TEST_KEY", timeout=0.3, backoff_base=0.005, backoff_max=0.02,
                      require_reasoning=True, pricing={"input": 0.55, "output": 2.19}, progress=False, **kw)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("M1_TEST_KEY", "sk-test-not-a-secret")


def test_every_item_answered_or_failed_with_reason(tmp_path):
    with StandIn(seed=3) as api:
        c = client(tmp_path, api.base_url)
        res = c.complete_many(msgs(30, ("ALWAYS400 bad request", "ALWAYS500 broken")), PARAMS)
    ok = [r for r in res if r.ok]
    failed = [r for r in res if not r.ok]
    assert len(ok) == 30 and all(r.reasoning_content and r.content for r in ok)
    assert len(failed) == 2 and failed[0].error.startswith("HTTP 400") and "HTTP 500" in failed[1].error
    s = c.summary()
    # the seeded pattern did produce each kind of fault, and each was retried
    assert {"HTTP 429", "HTTP 500", "timeout", "missing reasoning_content"} <= set(s["retry_reasons"])
    assert {"invalid JSON", "truncated response"} & set(s["retry_reasons"])
    assert s["http_calls"] == sum(api.calls.values()) and s["retries"] > 0
    assert s["failed"] == 2 and s["completion_tokens"] == 30 * 20
    assert s["cost_usd"] == pytest.approx(30 * 10 / 1e6 * 0.55 + 30 * 20 / 1e6 * 2.19)
    assert "sk-test" not in (tmp_path / "cache.jsonl").read_text()


def test_rerun_pays_nothing_twice(tmp_path):
    with StandIn(seed=5) as api:
        first = client(tmp_path, api.base_url).complete_many(msgs(12), PARAMS)
        calls = sum(api.calls.values())
        c2 = client(tmp_path, api.base_url)
        second = c2.complete_many(msgs(12), PARAMS)
        assert sum(api.calls.values()) == calls  # nothing sent again
    assert [r.content for r in first] == [r.content for r in second]
    assert c2.summary()["cache_hits"] == 12 and c2.summary()["http_calls"] == 0


def test_replay_needs_no_network_and_reports_misses(tmp_path):
    with StandIn(seed=1) as api:
        client(tmp_path, api.base_url).complete_many(msgs(5), PARAMS)
    replay = ChatClient(model="deepseek-ai/DeepSeek-R1", cache_path=tmp_path / "cache.jsonl", mode="replay", progress=False)
    res = replay.complete_many(msgs(6), PARAMS)
    assert [r.ok for r in res] == [True] * 5 + [False]
    assert res[5].error == "not in replay cache" and replay.summary()["http_calls"] == 0


def test_torn_cache_line_is_skipped_and_repaired(tmp_path):
    cache = ResponseCache(tmp_path / "c.jsonl")
    cache.put({"key": "a", "response": {"content": "x"}})
    with open(tmp_path / "c.jsonl", "a") as fh:
        fh.write('{"key": "b", "respo')  # a kill -9 in the middle of a write
    again = ResponseCache(tmp_path / "c.jsonl")
    assert "a" in again and "b" not in again and again.torn_lines == 1
    again.put({"key": "c", "response": {"content": "z"}})
    assert set(ResponseCache(tmp_path / "c.jsonl")._data) == {"a", "c"}


def test_missing_key_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("M1_TEST_KEY")
    with pytest.raises(ValueError, match="M1_TEST_KEY"):
        client(tmp_path, "http://127.0.0.1:9")


RUNNER = """
import json, sys
from m1repro.api.chat import ChatClient
n, base, cache, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = ChatClient(model="deepseek-ai/DeepSeek-R1", cache_path=cache, base_url=base, api_key_env="M1_TEST_KEY",
               timeout=0.3, backoff_base=0.005, backoff_max=0.02, require_reasoning=True, concurrency=4, progress=False)
ms = [[{"role": "user", "content": f"Question {i}: which nerve supplies the deltoid?"}] for i in range(n)]
res = c.complete_many(ms, {"max_tokens": 8000, "temperature": 0.0})
json.dump({"results": [[r.ok, r.content, r.reasoning_content] for r in res], "summary": c.summary()}, open(out, "w"))
"""


def _run(n, base, cache, out, env):
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(n), base, str(cache), str(out)], env=env)


def test_kill_9_then_resume_repays_nothing_that_was_cached(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    n = 40
    with StandIn(seed=11, latency=0.05) as ref_api:  # an uninterrupted run for the expected output
        p = _run(n, ref_api.base_url, tmp_path / "ref.jsonl", tmp_path / "ref.json", env)
        assert p.wait(60) == 0
    with StandIn(seed=11, latency=0.05) as api:
        cache = tmp_path / "cache.jsonl"
        p = _run(n, api.base_url, cache, tmp_path / "out1.json", env)
        deadline = time.time() + 60
        while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 12):
            time.sleep(0.01)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        killed_at = time.time()
        cached_before = {json.loads(x)["key"] for x in cache.read_text().splitlines() if x.endswith("}")}
        assert 12 <= len(cached_before) < n and not (tmp_path / "out1.json").exists()
        p = _run(n, api.base_url, cache, tmp_path / "out2.json", env)
        assert p.wait(60) == 0
    out = json.loads((tmp_path / "out2.json").read_text())
    ref = json.loads((tmp_path / "ref.json").read_text())
    assert out["results"] == ref["results"] and all(ok for ok, _, _ in out["results"])
    # nothing cached before the kill was requested again: only keys absent from the cache got calls after the kill
    key_of = {cache_key("deepseek-ai/DeepSeek-R1", [{"role": "user", "content": f"Question {i}: which nerve supplies the deltoid?"}],
                        PARAMS): i for i in range(n)}
    assert len(key_of) == n
    import hashlib

    pid = {i: hashlib.sha256(f"Question {i}: which nerve supplies the deltoid?".encode()).hexdigest()[:12] for i in range(n)}
    cached_pids = {pid[key_of[k]] for k in cached_before}
    paid_after = [p_ for t, p_ in api.paid_log if t > killed_at]
    assert not cached_pids & set(paid_after)
    repeated = sum(v - 1 for v in api.paid.values() if v > 1)
    assert out["summary"]["cache_hits"] == len(cached_before)
    # billed-but-unusable replies (truncated, no reasoning) and the at most 4 calls in flight at the kill
    # are the only repeats; report the figure
    print(f"kill-9 resume: cached before kill {len(cached_before)}, calls after {out['summary']['http_calls']}, "
          f"repeated paid generations {repeated}")
