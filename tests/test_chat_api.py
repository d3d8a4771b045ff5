"""The chat client against a misbehaving loopback API: retries, failures with reasons, cache, replay, kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_standin import StandIn

from m1repro.api.chat import ChatClient, ReplayError, ResponseCache, cache_key, response_problem

MODEL = "Pro/deepseek-ai/DeepSeek-R1"
PARAMS = {"temp": 0.0, "max_tokens": 8000}
TEXT = "Question {i}: which nerve supplies the deltoid?"


def msgs(n: int, extra: tuple[str, ...] = ()) -> list[list[dict[str, str]]]:
    texts = [TEXT.format(i=i) for i in range(n)] + list(extra)
    return [[{"role": "user", "content": t}] for t in texts]


def client(tmp_path: Path, base_url: str, **kw) -> ChatClient:
    kw.setdefault("concurrency", 4)
    kw.setdefault("max_retries", 6)
    return ChatClient(
        model=MODEL,
        cache_path=tmp_path / "cache.jsonl",
        base_url=base_url,
        api_key_env="M1_TEST_KEY",
        timeout=0.3,
        backoff_base=0.005,
        backoff_max=0.02,
        require_reasoning=True,
        pricing={"input": 0.55, "output": 2.19},
        progress=False,
        **kw,
    )


def replayer(path: Path, **kw) -> ChatClient:
    return ChatClient(model=MODEL, cache_path=path, mode="replay", require_reasoning=True, progress=False, **kw)


def record(i: int, **response) -> dict:
    """A cache line as the client writes it, for request ``msgs(...)[i]``."""
    resp = {"content": f"answer {i} \\boxed{{A}}", "reasoning_content": f"thinking {i}", "finish_reason": "stop"}
    resp.update(response)
    return {
        "key": cache_key(MODEL, msgs(i + 1)[i], PARAMS),
        "model": MODEL,
        "response": resp,
        "usage": {"prompt_tokens": 100, "completion_tokens": 1000},
        "time": "2025-04-01T00:00:00Z",
    }


def write_cache(path: Path, lines: list[dict | str]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


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
    assert (s["requests"], s["answered"], s["failed"]) == (32, 30, 2)
    assert s["tokens"] == {"prompt": 30 * 10, "completion": 30 * 20}
    assert s["cost_usd"] == pytest.approx(30 * 10 / 1e6 * 0.55 + 30 * 20 / 1e6 * 2.19)
    # replies without reasoning were billed too: this run spent more than the answers it keeps
    assert s["billed_responses"] == 30 + s["retry_reasons"]["missing reasoning_content"]
    assert s["cost_usd_this_run"] > s["cost_usd"]
    assert "sk-test" not in (tmp_path / "cache.jsonl").read_text() + json.dumps(s)


def test_rerun_pays_nothing_twice(tmp_path):
    with StandIn(seed=5) as api:
        first = client(tmp_path, api.base_url).complete_many(msgs(12), PARAMS)
        calls = sum(api.calls.values())
        c2 = client(tmp_path, api.base_url)
        second = c2.complete_many(msgs(12), PARAMS)
        assert sum(api.calls.values()) == calls  # nothing sent again
    assert [r.content for r in first] == [r.content for r in second]
    s = c2.summary()
    assert s["cache_hits"] == 12 and s["http_calls"] == 0 and s["cost_usd_this_run"] == 0
    assert s["cost_usd"] == pytest.approx(12 * (10 / 1e6 * 0.55 + 20 / 1e6 * 2.19))


@pytest.mark.parametrize(
    ("marker", "reason"),
    [("NULLCONTENT", "content is null"), ("EMPTYCONTENT", "empty content"), ("LENGTHSTOP", "finish_reason length")],
)
def test_invalid_live_reply_is_retried_and_never_answered(tmp_path, marker, reason):
    """content null, empty content, or a reply cut at max_tokens (curator's invalid finish reason): retried, then
    failed with the reason; nothing is cached, so a later run asks again."""
    with StandIn(seed=2, noise=False) as api:
        c = client(tmp_path, api.base_url, max_retries=2)
        res = c.complete_many(msgs(3, (f"{marker} what now?",)), PARAMS)
        assert [r.ok for r in res] == [True, True, True, False]
        assert res[3].error == f"{reason} (after 3 attempts)" and res[3].content is None
        assert max(api.calls.values()) == 3  # the invalid one was asked three times, the others once
    s = c.summary()
    assert (s["answered"], s["failed"], s["fail_reasons"]) == (3, 1, {reason: 1})
    assert s["billed_responses"] == 6 and s["tokens_this_run"]["completion"] == 6 * 20
    assert s["tokens"]["completion"] == 3 * 20  # cost_usd counts only the answers used
    assert len(ResponseCache(tmp_path / "cache.jsonl").entries) == 3


def test_validity_rule():
    good = {"content": "B", "reasoning_content": "r", "finish_reason": "stop"}
    assert response_problem(good, True) is None
    assert response_problem({**good, "reasoning_content": None}, True) == "missing reasoning_content"
    assert response_problem({**good, "reasoning_content": None}, False) is None
    assert response_problem({**good, "content": "\n "}, False) == "empty content"
    assert response_problem({**good, "content": None}, False) == "content is null"
    assert response_problem({**good, "finish_reason": "content_filter"}) == "finish_reason content_filter"
    assert response_problem({**good, "finish_reason": "length"}, invalid_finish_reasons=()) is None
    assert response_problem("B") == "response is not an object"


def test_replay_missing_entry_is_an_error_naming_item_and_key(tmp_path):
    cache = write_cache(tmp_path / "r.jsonl", [record(i) for i in range(4)])
    res = replayer(cache).complete_many(msgs(4), PARAMS, ids=["a", "b", "c", "d"])
    assert all(r.ok and r.cached for r in res)
    with pytest.raises(ReplayError) as err:
        replayer(cache).complete_many(msgs(6), PARAMS, ids=["a", "b", "c", "d", "e", "f"])
    key4 = cache_key(MODEL, msgs(5)[4], PARAMS)
    msg = str(err.value)
    assert str(cache) in msg and "cannot answer 2 of 6" in msg and f"item e (key {key4[:16]}): missing" in msg
    assert "item f" in msg and "item d" not in msg


def test_replay_torn_line_is_an_error_naming_file_line_and_item(tmp_path):
    torn = json.dumps(record(1))[:90]  # a kill -9 in the middle of a write: the key made it, the rest did not
    cache = write_cache(tmp_path / "r.jsonl", [record(0), torn, record(2)])
    with pytest.raises(ReplayError, match=r"item q1 \(key [0-9a-f]{16}\): line 2: unreadable line"):
        replayer(cache).complete_many(msgs(3), PARAMS, ids=["q0", "q1", "q2"])
    # a torn line that lost even its key is named in the message of the item it starves
    cache = write_cache(tmp_path / "r2.jsonl", [record(0), '{"key": "ab', record(2)])
    with pytest.raises(ReplayError, match=r"unreadable lines whose key is lost: \[2\].*item q1 .*: missing"):
        replayer(cache).complete_many(msgs(3), PARAMS, ids=["q0", "q1", "q2"])


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"content": None}, "content is null"),
        ({"content": ""}, "empty content"),
        ({"reasoning_content": None}, "missing reasoning_content"),
        ({"finish_reason": "length"}, "finish_reason length"),
    ],
)
def test_invalid_cached_response_is_never_answered(tmp_path, response, reason):
    """Replay: an error naming file, line, item. Live: requested again, counted, and the new line wins."""
    lines = [record(0), record(1, **response), record(2)]
    with pytest.raises(ReplayError, match=rf"item q1 \(key [0-9a-f]{{16}}\): line 2: {reason}"):
        replayer(write_cache(tmp_path / "replay.jsonl", lines)).complete_many(msgs(3), PARAMS, ids=["q0", "q1", "q2"])
    write_cache(tmp_path / "cache.jsonl", lines)
    with StandIn(noise=False) as api:
        c = client(tmp_path, api.base_url)
        res = c.complete_many(msgs(3), PARAMS)
        assert sum(api.calls.values()) == 1
        again = client(tmp_path, api.base_url).complete_many(msgs(3), PARAMS)  # repaired: nothing is sent
        assert sum(api.calls.values()) == 1
    assert all(r.ok for r in res) and [r.re_requested for r in res] == [False, True, False]
    assert res[1].content.startswith("Answer for") and again[1].content == res[1].content
    s = c.summary()
    assert (s["answered"], s["re_requested"], s["cache_hits"], s["http_calls"]) == (3, 1, 2, 1)


def test_live_re_requests_a_torn_entry(tmp_path):
    write_cache(tmp_path / "cache.jsonl", [record(0), record(1)])
    with open(tmp_path / "cache.jsonl", "a") as fh:
        fh.write(json.dumps(record(2))[:100])  # the last write, torn by a kill: no newline at the end
    with StandIn(noise=False) as api:
        c = client(tmp_path, api.base_url)
        res = c.complete_many(msgs(4), PARAMS)
        assert sum(api.calls.values()) == 2  # the torn item and the new one
    assert all(r.ok for r in res) and [r.re_requested for r in res] == [False, False, True, False]
    assert c.summary()["re_requested"] == 1 and c.summary()["unreadable_cache_lines"] == 1
    cache = ResponseCache(tmp_path / "cache.jsonl")  # the torn line stays, ended; both new records are readable
    assert [cl.line for cl in cache.unreadable] == [3] and len(cache.entries) == 4
    assert replayer(tmp_path / "cache.jsonl").complete_many(msgs(4), PARAMS)[2].content == res[2].content


def test_duplicate_entries(tmp_path):
    same = write_cache(tmp_path / "same.jsonl", [record(0), record(1), record(1)])
    assert [r.content for r in replayer(same).complete_many(msgs(2), PARAMS)] == [
        "answer 0 \\boxed{A}",
        "answer 1 \\boxed{A}",
    ]
    lines = [record(0), record(1), record(1, content="answer 1 \\boxed{C}")]
    with pytest.raises(ReplayError, match=r"item q1 .*lines 2, 3 hold different responses"):
        replayer(write_cache(tmp_path / "differ.jsonl", lines)).complete_many(msgs(2), PARAMS, ids=["q0", "q1"])
    write_cache(tmp_path / "cache.jsonl", lines)
    c = client(tmp_path, "http://127.0.0.1:9")  # nothing may be sent
    res = c.complete_many(msgs(2), PARAMS)
    assert res[1].content == "answer 1 \\boxed{A}" and c.summary()["conflicting_duplicates"] == 1
    assert c.summary()["http_calls"] == 0


def test_resumed_run_costs_the_whole_cache(tmp_path):
    """A run stopped after 5 of 8 requests, then resumed: cost_usd counts all 8 answers, this run's only 3."""
    one = 10 / 1e6 * 0.55 + 20 / 1e6 * 2.19
    with StandIn(noise=False) as api:
        first = client(tmp_path, api.base_url)
        first.complete_many(msgs(5), PARAMS)
        resumed = client(tmp_path, api.base_url)
        resumed.complete_many(msgs(8), PARAMS)
    a, b = first.summary(), resumed.summary()
    assert a["cost_usd"] == a["cost_usd_this_run"] == pytest.approx(5 * one)
    assert b["cost_usd"] == pytest.approx(8 * one) and b["cost_usd_this_run"] == pytest.approx(3 * one)
    assert (b["cache_hits"], b["http_calls"], b["tokens"]["completion"]) == (5, 3, 8 * 20)


def test_missing_key_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("M1_TEST_KEY")
    with pytest.raises(ValueError, match="M1_TEST_KEY"):
        client(tmp_path, "http://127.0.0.1:9")


RUNNER = """
import json, sys
from m1repro.api.chat import ChatClient
n, base, cache, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = ChatClient(model="Pro/deepseek-ai/DeepSeek-R1", cache_path=cache, base_url=base, api_key_env="M1_TEST_KEY",
               timeout=0.3, backoff_base=0.005, backoff_max=0.02, require_reasoning=True, concurrency=4,
               pricing={"input": 0.55, "output": 2.19}, progress=False)
ms = [[{"role": "user", "content": f"Question {i}: which nerve supplies the deltoid?"}] for i in range(n)]
res = c.complete_many(ms, {"temp": 0.0, "max_tokens": 8000})
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
    key_of = {cache_key(MODEL, [{"role": "user", "content": TEXT.format(i=i)}], PARAMS): i for i in range(n)}
    assert len(key_of) == n
    pid = {i: hashlib.sha256(TEXT.format(i=i).encode()).hexdigest()[:12] for i in range(n)}
    cached_pids = {pid[key_of[k]] for k in cached_before}
    paid_after = [p_ for t, p_ in api.paid_log if t > killed_at]
    assert not cached_pids & set(paid_after)
    s = out["summary"]
    assert s["cache_hits"] == len(cached_before) and s["answered"] == n
    # the resumed run's cost_usd covers all n answers, the ones paid before the kill included
    assert s["tokens"]["completion"] == n * 20 and s["cost_usd"] > s["cost_usd_this_run"]
    repeated = sum(v - 1 for v in api.paid.values() if v > 1)
    # billed-but-unusable replies (truncated, no reasoning) and the at most 4 calls in flight at the kill
    # are the only repeats; report the figure
    print(
        f"kill-9 resume: cached before kill {len(cached_before)}, calls after {s['http_calls']}, "
        f"repeated paid generations {repeated}"
    )
