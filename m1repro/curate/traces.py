"""Stages ``traces`` and ``verify``.

traces: DeepSeek-R1 answers each hard question (and each question drawn for the random ablation sets) through a
chat API, with the request the original sends (:data:`R1_MODEL`, :func:`r1_messages`, :func:`r1_params`; see
``docs/fidelity.md``, "API stages"). ``reasoning`` is the message's ``reasoning_content``,
``distilled_answer_string`` its ``content``; a reply without either is no answer (the original's parse reads
both). Every item ends ``ok`` or ``failed`` with a reason.

verify: keep the hard rows whose R1 answer is correct (the lenient grader), then decontaminate them against the
evaluation file -> m23K.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from m1repro.curate.difficulty import chat_messages
from m1repro.curate.grade import Extractor, is_correct
from m1repro.log import log_event

logger = logging.getLogger(__name__)

#: The model name the original's R1 request carries: its client (curator's litellm backend) is given
#: ``"openai/Pro/deepseek-ai/DeepSeek-R1"`` and litellm strips the provider prefix ``openai/``.
R1_MODEL = "Pro/deepseek-ai/DeepSeek-R1"

#: Request parameters by ``curate.traces.request``. faithful: the original's ``generation_params`` as sent.
#: ``temp`` is not a chat-completions parameter: litellm forwards it in the body, the provider ignores it, and R1
#: samples at the provider's default temperature. greedy: the evident intent, a valid ``temperature`` of 0.
R1_PARAMS: dict[str, dict[str, Any]] = {
    "faithful": {"temp": 0.0, "max_tokens": 8000},
    "greedy": {"temperature": 0.0, "max_tokens": 8000},
}

#: A reply without ``reasoning_content`` is no trace (the original's parse reads it; curator then skips the item).
R1_REQUIRE_REASONING = True


def r1_params(request: str = "faithful") -> dict[str, Any]:
    """The parameters sent with every R1 request (part of the cache key)."""
    if request not in R1_PARAMS:
        raise ValueError(f"curate.traces.request must be one of {sorted(R1_PARAMS)}, got {request!r}")
    return dict(R1_PARAMS[request])


#: The original's R1 message list is the difficulty filter's: one user turn, the boxed-answer prefix, no system prompt.
r1_messages = chat_messages


def trace_requests(hard: pl.DataFrame, random_draws: pl.DataFrame) -> pl.DataFrame:
    """The rows R1 must answer: every hard row plus the random draws not already among them (``hard`` flag)."""
    cols = list(hard.columns[:8])
    h = hard.select(cols).with_columns(pl.lit(True).alias("hard"))
    r = (
        random_draws.select(cols)
        .filter(~pl.col("id").is_in(h["id"].implode()))
        .with_columns(pl.lit(False).alias("hard"))
    )
    return pl.concat([h, r])


def generate_traces(requests: pl.DataFrame, client: Any, params: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Ask the client for each row; add reasoning, distilled_answer_string, trace_status, trace_error.

    The summary counts rows: ``answered`` (a valid reply), ``failed`` (with ``failed_list``), ``re_requested``
    (broken cache entries sent again), ``cost_usd`` (every reply the rows use, earlier runs' included) and
    ``cost_usd_this_run``, ``cost_usd_billed`` (the spend ledger: every billed reply of every run of this cache,
    failed runs included); ``api`` holds the client's own counts."""
    messages = [r1_messages(p) for p in requests["prompt"]]
    results = client.complete_many(messages, params, ids=requests["id"].to_list())
    out = requests.with_columns(
        pl.Series("reasoning", [r.reasoning_content if r.ok else None for r in results], dtype=pl.String),
        pl.Series("distilled_answer_string", [r.content if r.ok else None for r in results], dtype=pl.String),
        pl.Series("trace_finish_reason", [r.finish_reason for r in results], dtype=pl.String),
        pl.Series("trace_status", ["ok" if r.ok else "failed" for r in results], dtype=pl.String),
        pl.Series("trace_error", [r.error for r in results], dtype=pl.String),
    )
    api = client.summary()
    stats: dict[str, Any] = {
        "items": requests.height,
        "answered": int((out["trace_status"] == "ok").sum()),
        "failed": int((out["trace_status"] == "failed").sum()),
        "re_requested": int(sum(r.re_requested for r in results)),
        **{k: api[k] for k in ("cost_usd", "cost_usd_this_run", "cost_usd_billed")},
        "params": dict(params),
        "failed_list": out.filter(pl.col("trace_status") == "failed").select("id", "trace_error").to_dicts(),
        "api": api,
    }
    log_event(logger, "traces done", **{k: v for k, v in stats.items() if not isinstance(v, dict | list)})
    return out, stats


def verify(traces: pl.DataFrame, mode: str = "faithful", extract: Extractor | None = None) -> pl.DataFrame:
    """Add ``trace_correct`` (False for failed traces)."""
    correct = [
        st == "ok" and is_correct(o, s, letter, mode, extract)
        for st, o, s, letter in zip(
            traces["trace_status"],
            traces["distilled_answer_string"],
            traces["answer_string"],
            traces["answer_letter"],
            strict=True,
        )
    ]
    return traces.with_columns(pl.Series("trace_correct", correct))
