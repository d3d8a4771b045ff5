"""The R1 traces and MeSH domains stages, driven as the workflow drives them (``run_traces``/``run_domains`` on
parquet files, a loopback API or a replay cache): the exact request bodies the original sends, its MeSH parse and
retry-once rule, and complete, honest stage summaries."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from api_standin import StandIn

from m1repro.api.chat import ReplayError, cache_key
from m1repro.curate.domains import DomainLabelError, parse_code
from m1repro.curate.schema import pool_frame, write_table
from m1repro.curate.stages import run_domains, run_traces

REPO = Path(__file__).resolve().parents[1]
QUALIFIERS = REPO / "resources/mesh/qualifier_scope_note.tsv"
KEY = "sk-test-not-a-secret"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("M1_TEST_KEY", KEY)


def rows(n: int, marks: dict[int, str] | None = None) -> pl.DataFrame:
    marks = marks or {}
    out = []
    for i in range(n):
        q = f"{marks.get(i, '')}Which nerve supplies muscle {i}?".strip()
        opts = ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"]
        out.append(
            {
                "id": f"MedMCQA-train-{i}",
                "source": "MedMCQA",
                "question": q,
                "options": opts,
                "answer_letter": "A",
                "answer_string": opts[0],
                "prompt": q + "\n" + "\n".join(f"{'ABCD'[k]}. {o}" for k, o in enumerate(opts)),
                "metadata": "{}",
            }
        )
    return pool_frame(out)


def trace_inputs(tmp_path: Path, df: pl.DataFrame) -> tuple[str, str]:
    write_table(df, tmp_path / "hard.parquet")
    write_table(pool_frame([]), tmp_path / "random.parquet")
    return str(tmp_path / "hard.parquet"), str(tmp_path / "random.parquet")


def live(api: StandIn, tmp_path: Path, **kw) -> dict:
    return {
        "base_url": api.base_url,
        "api_key_env": "M1_TEST_KEY",
        "cache": str(tmp_path / "cache.jsonl"),
        "concurrency": 2,
        "max_retries": 0,
        "timeout_s": 5,
        "pricing": {"input": 0.55, "output": 2.19},
        **kw,
    }


def traces(tmp_path: Path, df: pl.DataFrame, api: dict, request: str = "faithful") -> dict:
    hard, rnd = trace_inputs(tmp_path, df)
    return run_traces(
        {"api": api, "request": request}, hard, rnd, str(tmp_path / "traces.parquet"), str(tmp_path / "traces_api.json")
    )


# ---------------------------------------------------------------- what is sent: the original's requests
def test_r1_request_is_the_originals(tmp_path):
    """distill_data.py: R1Reasoner(model_name="openai/Pro/deepseek-ai/DeepSeek-R1", generation_params={"temp": 0.0,
    "max_tokens": 8_000}) through litellm (prefix stripped, the unknown "temp" forwarded in the body); prompt() is
    one user message "Return your final response within \\boxed{}. {prompt}" (the system prompt is commented out)."""
    df = rows(2)
    with StandIn(noise=False) as api:
        stats = traces(tmp_path, df, live(api, tmp_path))
    sent = sorted(api.bodies, key=lambda b: b["messages"][0]["content"])
    assert sent == [
        {
            "model": "Pro/deepseek-ai/DeepSeek-R1",
            "messages": [{"role": "user", "content": "Return your final response within \\boxed{}. " + p}],
            "temp": 0.0,
            "max_tokens": 8000,
        }
        for p in df["prompt"]
    ]
    assert "temperature" not in sent[0]  # the original sets no valid temperature: the provider's default applies
    assert api.auth == [f"Bearer {KEY}"] * 2
    written = (tmp_path / "cache.jsonl").read_text() + (tmp_path / "traces_api.json").read_text()
    assert KEY not in written and stats["params"] == {"temp": 0.0, "max_tokens": 8000}


def test_r1_greedy_switch_sends_a_valid_temperature(tmp_path):
    with StandIn(noise=False) as api:
        traces(tmp_path, rows(1), live(api, tmp_path), request="greedy")
    assert {k: v for k, v in api.bodies[0].items() if k != "messages"} == {
        "model": "Pro/deepseek-ai/DeepSeek-R1",
        "temperature": 0.0,
        "max_tokens": 8000,
    }


def mesh_code_reply(body: dict) -> str:
    return "The question is about anatomy of nerves.\n\n**02**"


def domains(tmp_path: Path, df: pl.DataFrame, api: dict, **cfg) -> dict:
    write_table(df, tmp_path / "m23k.parquet")
    return run_domains(
        {"api": api, **cfg},
        str(tmp_path / "m23k.parquet"),
        str(QUALIFIERS),
        str(tmp_path / "domains.parquet"),
        str(tmp_path / "domains_api.json"),
    )


def test_mesh_request_is_the_originals(tmp_path):
    """classify_sample.py: PlainLLM(model_name="azure/gpt-4o-1120-nofilter-global", backend="litellm") with its
    generation_params commented out (nothing but model and messages is sent); a system message, then
    "## Question\\n{prompt}\\n\\n## Classification rubrics\\n{rubric}", the rubric being mesh_qualifier.json's
    prompts ("### {title}\\n* Code: {NN}\\n* Description: {scope note}", build_prompt.py) joined by blank lines."""
    df = rows(2)
    with StandIn(noise=False, reply=mesh_code_reply) as api:
        stats = domains(tmp_path, df, live(api, tmp_path))
    assert len(api.bodies) == 2 and all(set(b) == {"model", "messages"} for b in api.bodies)
    body = next(b for b in api.bodies if df["prompt"][0] in b["messages"][1]["content"])
    assert body["model"] == "gpt-4o-1120-nofilter-global"
    system, user = body["messages"]
    assert system["role"] == "system" and system["content"].startswith(
        "You are a helpful assistant that classifies questions into different subjects based on the provided "
        "classification rubrics. You will be given a question and a list of subjects. "
    )
    assert system["content"].endswith(
        "end your response on a new line with two-digit code of the subject that the question belongs to."
    )
    assert user["role"] == "user" and user["content"].startswith(
        f"## Question\n{df['prompt'][0]}\n\n## Classification rubrics\n### Abnormalities\n* Code: 00\n* Description: "
        "Used with organs for congenital defects"
    )
    assert "\n\n### Administration & Dosage\n* Code: 01\n* Description: Used with drugs" in user["content"]
    assert user["content"].count("\n\n### ") == 75 and "* Code: 75\n" in user["content"]
    out = pl.read_parquet(tmp_path / "domains.parquet")
    assert out["domain_code"].to_list() == ["02", "02"] and out["domain"][0] == "Adverse Effects"
    assert (stats["answered"], stats["failed"], stats["retried"]) == (2, 0, 0)


def test_mesh_greedy_switch(tmp_path):
    with StandIn(noise=False, reply=mesh_code_reply) as api:
        domains(tmp_path, rows(1), live(api, tmp_path), request="greedy")
    assert api.bodies[0]["temperature"] == 0.0 and api.bodies[0]["max_tokens"] == 512


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("Reasoning...\n\n**03**", "03"),  # markdown bold, as extract_domain.py's comment says
        ("Category: `12`.", "12"),  # backticks and a trailing dot
        ("So the code is 07...", "07"),  # rstrip('.') drops every trailing dot
        ("The subject is 03\n", "03"),  # strip() first
        ("Answer: 03 .", None),  # no strip after rstrip('.'): the last two characters are "3 "
        ("Code: 7", None),  # " 7" is no code
        ("Code: 76", None),  # 76 qualifiers: codes 00..75
        ("Code: ٠٣", None),  # digits, but not a key of the code dict
        ("Code: ²³", None),  # str.isdigit() is true; still no key (and no crash)
        (None, None),
    ],
)
def test_mesh_parse_is_the_originals(reply, code):
    """extract_domain.py extract_code: replace '*' and '`', strip(), rstrip('.'), [-2:], must be a key of the
    code -> title dict."""
    assert parse_code(reply, 76) == code


def counted_reply(replies: dict[str, list[str]]):
    """A reply function: per question marker, the n-th ask gets the n-th reply (the last one repeats)."""
    seen: dict[str, int] = {}

    def reply(body: dict) -> str:
        text = body["messages"][1]["content"]
        for mark, seq in replies.items():
            if mark in text:
                seen[mark] = seen.get(mark, 0) + 1
                return seq[min(seen[mark], len(seq)) - 1]
        return "**05**"

    return reply


def test_mesh_retry_once_then_stop(tmp_path):
    """extract_domain.py: unparseable replies are classified once more with the same request; if any is still
    unparseable it raises. Ours: one more ask each (a separate cache entry), then DomainLabelError naming them."""
    df = rows(4, {1: "LATE ", 2: "NEVER "})
    reply = counted_reply({"LATE ": ["I am not sure.", "Final: 09"], "NEVER ": ["Hmm.", "Still unsure."]})
    with StandIn(noise=False, reply=reply) as api:
        with pytest.raises(DomainLabelError, match=r"1 of 4 items .*MedMCQA-train-2: 'Still unsure.'"):
            domains(tmp_path, df, live(api, tmp_path))
        assert sorted(api.calls.values()) == [1, 1, 2, 2]  # one second ask per unparseable reply, no more
    asked_twice = [b for b in api.bodies if "LATE" in b["messages"][1]["content"]]
    assert asked_twice[0] == asked_twice[1]  # the second ask is the same request
    assert not (tmp_path / "domains.parquet").exists()


def test_mesh_unlabelled_switch_counts_what_stays_unparseable(tmp_path):
    df = rows(4, {1: "LATE ", 2: "NEVER "})
    reply = counted_reply({"LATE ": ["I am not sure.", "Final: 09"], "NEVER ": ["Hmm.", "Still unsure."]})
    with StandIn(noise=False, reply=reply) as api:
        stats = domains(tmp_path, df, live(api, tmp_path), on_unparseable="unlabelled")
        # a rerun answers from the cache, the second asks included
        again = domains(tmp_path, df, live(api, tmp_path), on_unparseable="unlabelled")
        assert sum(api.calls.values()) == 6
    out = pl.read_parquet(tmp_path / "domains.parquet")
    assert out["domain_code"].to_list() == ["05", "09", None, "05"]
    for s in (stats, again):
        assert (s["answered"], s["failed"], s["parsed_first_try"], s["retried"]) == (3, 1, 2, 2)
        assert s["unparseable_ids"] == ["MedMCQA-train-2"] and s["api"]["requests"] == 6
    assert again["api"]["http_calls"] == 0 and again["cost_usd"] == stats["cost_usd"] > 0
    assert again["cost_usd_this_run"] == 0
    assert json.loads((tmp_path / "domains_api.json").read_text())["failed"] == 1


# ---------------------------------------------------------------- the stage summaries and replay completeness
def r1_replay(tmp_path: Path, df: pl.DataFrame, skip: int | None = None, null: int | None = None) -> str:
    from m1repro.curate.traces import R1_MODEL, r1_messages, r1_params

    lines = []
    for i, p in enumerate(df["prompt"]):
        if i == skip:
            continue
        resp = {"content": None if i == null else "\\boxed{A}", "reasoning_content": "think", "finish_reason": "stop"}
        lines.append(
            json.dumps(
                {
                    "key": cache_key(R1_MODEL, r1_messages(p), r1_params()),
                    "model": R1_MODEL,
                    "response": resp,
                    "usage": {"prompt_tokens": 100, "completion_tokens": 1000},
                }
            )
        )
    path = tmp_path / "r1_replay.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_traces_replay_is_complete_or_stops(tmp_path):
    df = rows(3)
    replay = {"mode": "replay", "pricing": {"input": 0.55, "output": 2.19}}
    stats = traces(tmp_path, df, {**replay, "replay_cache": r1_replay(tmp_path, df)})
    assert (stats["items"], stats["answered"], stats["failed"], stats["re_requested"]) == (3, 3, 0, 0)
    assert stats["cost_usd"] == pytest.approx(3 * (100 * 0.55 + 1000 * 2.19) / 1e6)  # what the replies cost
    assert stats["cost_usd_this_run"] == 0
    (tmp_path / "traces.parquet").unlink()
    with pytest.raises(ReplayError, match=r"item MedMCQA-train-1 \(key [0-9a-f]{16}\): missing"):
        traces(tmp_path, df, {**replay, "replay_cache": r1_replay(tmp_path, df, skip=1)})
    with pytest.raises(ReplayError, match=r"r1_replay.jsonl.*item MedMCQA-train-2 .*: line 3: content is null"):
        traces(tmp_path, df, {**replay, "replay_cache": r1_replay(tmp_path, df, null=2)})
    assert not (tmp_path / "traces.parquet").exists()  # no partial m23K input is written


def test_traces_live_summary_counts_answered_failed_re_requested(tmp_path):
    df = rows(4, {3: "NULLCONTENT "})
    r1_replay(tmp_path, df, skip=3, null=1)
    (tmp_path / "r1_replay.jsonl").rename(tmp_path / "cache.jsonl")  # a cache from an earlier run, one entry null
    with StandIn(noise=False) as api:
        stats = traces(tmp_path, df, live(api, tmp_path))
        assert sum(api.calls.values()) == 2  # the broken entry and the row the earlier run did not reach
    on_disk = json.loads((tmp_path / "traces_api.json").read_text())
    assert on_disk == json.loads(json.dumps(stats))
    assert (stats["items"], stats["answered"], stats["failed"], stats["re_requested"]) == (4, 3, 1, 1)
    assert stats["failed_list"] == [{"id": "MedMCQA-train-3", "trace_error": "content is null (after 1 attempts)"}]
    out = pl.read_parquet(tmp_path / "traces.parquet")
    assert out["trace_status"].to_list() == ["ok", "ok", "ok", "failed"] and out["distilled_answer_string"][3] is None
    earlier, now = (100 * 0.55 + 1000 * 2.19) / 1e6, (10 * 0.55 + 20 * 2.19) / 1e6
    assert stats["cost_usd"] == pytest.approx(2 * earlier + now)  # the 3 answers used, 2 paid before
    assert stats["cost_usd_this_run"] == pytest.approx(2 * now)  # the null reply was billed too
