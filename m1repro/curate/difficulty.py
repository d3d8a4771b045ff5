"""Stage ``difficulty``: the Qwen2.5 difficulty filter (reference §4).

Each question goes to each model as ``"Return your final response within \\boxed{}. " + prompt`` with no chat
template and no system prompt (the original's plain prefix), greedy, ``max_tokens`` 4000. Rows that every model got
wrong (lenient grader) are kept. Backend: an :class:`m1repro.engines.base.Engine` (transformers or SGLang) or an
OpenAI-compatible chat API (:mod:`m1repro.api.chat`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import polars as pl
from tqdm import tqdm

from m1repro.curate.grade import Extractor, is_correct
from m1repro.log import log_event

logger = logging.getLogger(__name__)

PREFIX = "Return your final response within \\boxed{}. "


def difficulty_prompt(prompt: str) -> str:
    return PREFIX + prompt


def run_engine(engine: Any, prompts: Sequence[str], max_tokens: int, batch_size: int = 64) -> list[str]:
    """Greedy completions of the prefixed prompts, in batches."""
    out: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="difficulty", mininterval=5):
        batch = [difficulty_prompt(p) for p in prompts[start : start + batch_size]]
        out.extend(c.text for c in engine.generate(batch, max_tokens, []))
    return out


def run_chat_api(client: Any, prompts: Sequence[str], max_tokens: int) -> list[str | None]:
    """The same through a chat API (one user message); a failed item has no output and counts as wrong."""
    results = client.complete_many(
        [[{"role": "user", "content": difficulty_prompt(p)}] for p in prompts],
        {"temperature": 0.0, "max_tokens": max_tokens},
    )
    return [r.content if r.ok else None for r in results]


def grade_outputs(
    pool: pl.DataFrame, model: str, outputs: Sequence[str | None], mode: str = "faithful", extract: Extractor | None = None
) -> pl.DataFrame:
    """Add ``{model}_output`` and ``{model}_correct`` columns."""
    correct = [
        is_correct(o, s, letter, mode, extract)
        for o, s, letter in zip(outputs, pool["answer_string"], pool["answer_letter"], strict=True)
    ]
    acc = sum(correct) / max(1, len(correct))
    log_event(logger, "difficulty model graded", model=model, items=len(correct), accuracy=round(acc, 4))
    return pool.with_columns(
        pl.Series(f"{model}_output", list(outputs), dtype=pl.String), pl.Series(f"{model}_correct", correct)
    )


def hard_rows(graded: pl.DataFrame, models: Sequence[str]) -> pl.DataFrame:
    """Rows that every model got wrong."""
    return graded.filter(~pl.any_horizontal([pl.col(f"{m}_correct") for m in models]))
