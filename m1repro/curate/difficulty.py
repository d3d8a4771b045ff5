"""Stage ``difficulty``: the Qwen2.5 difficulty filter (docs/fidelity.md, Curation).

The original (``distill_data.py``, models ``qwen-7b`` / ``qwen-32b``) sends each question as a chat request whose
only message is the user turn ``"Return your final response within \\boxed{}. " + prompt``; the server renders it
with the model's chat template (Qwen2.5's default system prompt included) and stops at the model's end-of-turn
tokens. Its ``generation_params`` are ``{"temp": 0.0, "max_tokens": 4000}``: ``temp`` is not an OpenAI parameter,
so no temperature reached the model and the provider's default sampling applied.

Backends: an :class:`m1repro.engines.base.Engine` (transformers or SGLang), given the same chat prompt through the
tokenizer's template with the generation prompt, greedy, stopping at the generation config's end tokens; or an
OpenAI-compatible chat API (:mod:`m1repro.api.chat`) sent the original's message and params. Rows that every
model got wrong (the curation grader, :mod:`.grade`) are kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import polars as pl

from m1repro.curate.grade import Extractor, is_correct
from m1repro.log import log_event
from m1repro.progress import BatchStore, Meter

logger = logging.getLogger(__name__)

PREFIX = "Return your final response within \\boxed{}. "

# distill_data.py's generation_params for the Qwen models, sent as they are (the API backend's default)
ORIGINAL_API_PARAMS: dict[str, Any] = {"temp": 0.0, "max_tokens": 4000}
# The original's client (curator 0.1.20, distill_data.py: 85-104 sets no max_retries or require_all_responses)
# refuses a reply that ended on `length` (its invalid finish reasons), asks again up to max_retries = 10 times, and,
# with require_all_responses = True, fails the run if any request is still without a valid reply.
LENGTH_RETRIES = 10
OnLength = Literal["retry", "keep"]


class LengthLimitError(RuntimeError):
    """Replies that still ended at ``max_tokens`` after every re-ask (the original's run fails here)."""


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The original's request: one user turn (the boxed-answer prefix, then the prompt), no system message."""
    return [{"role": "user", "content": PREFIX + prompt}]


def render_chat(tokenizer: Any, prompt: str) -> str:
    """What a chat server feeds the model for :func:`chat_messages`: the tokenizer's chat template with the
    generation prompt."""
    return tokenizer.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)


def end_tokens(tokenizer: Any, model_path: str | None = None) -> list[str]:
    """The tokens a chat server stops at: the generation config's ``eos_token_id`` (Qwen2.5: ``<|im_end|>``,
    ``<|endoftext|>``) and the tokenizer's eos token."""
    ids: list[int] = []
    if model_path is not None:
        from transformers import GenerationConfig

        try:
            eos = GenerationConfig.from_pretrained(model_path).eos_token_id
        except OSError:  # no generation_config.json: the tokenizer's eos alone
            eos = None
        ids = [eos] if isinstance(eos, int) else list(eos or [])
    names = [tokenizer.convert_ids_to_tokens(int(i)) for i in ids]
    if tokenizer.eos_token:
        names.append(tokenizer.eos_token)
    return list(dict.fromkeys(n for n in names if n))


def ask(
    engine: Any,
    chats: Sequence[str],
    max_tokens: int,
    stops: Sequence[str],
    on_length: OnLength = "retry",
    retries: int = LENGTH_RETRIES,
) -> tuple[list[str], list[int]]:
    """One batch of requests, as the original's client treats them: a reply that ended on ``length`` is asked for
    again, up to ``retries`` times (``on_length: retry``; ``keep`` grades it as it is). Returns the texts and the
    positions whose last reply still ended on ``length`` (empty with ``keep``)."""
    comps = engine.generate(list(chats), max_tokens, list(stops))
    texts = [c.text for c in comps]
    if on_length == "keep":
        return texts, []
    if on_length != "retry":
        raise ValueError(f"curate.difficulty.on_length must be 'retry' or 'keep', got {on_length!r}")
    pending = [i for i, c in enumerate(comps) if c.finish_reason == "length"]
    for _ in range(retries):
        if not pending:
            break
        again = engine.generate([chats[i] for i in pending], max_tokens, list(stops))
        for i, c in zip(pending, again, strict=True):
            texts[i] = c.text
        pending = [i for i, c in zip(pending, again) if c.finish_reason == "length"]
    return texts, pending


def run_engine(
    engine: Any,
    prompts: Sequence[str],
    max_tokens: int,
    batch_size: int = 64,
    model_path: str | None = None,
    store: BatchStore | None = None,
    on_length: OnLength = "retry",
    retries: int = LENGTH_RETRIES,
) -> list[str]:
    """Greedy completions of the chat-rendered prompts, in batches. With ``on_length: retry`` (the original's client)
    a reply cut at ``max_tokens`` is asked again and the run fails, naming the rows, if some are still cut. With a
    ``store`` (:mod:`m1repro.progress`) each finished batch is kept (texts and cut rows), and batches an earlier
    attempt of the same job finished are taken from it."""
    stops = end_tokens(engine.tokenizer, model_path)
    out: list[str] = []
    failed: list[int] = []
    meter = Meter(logger, -(-len(prompts) // batch_size), len(prompts), stage="difficulty")
    for i, start in enumerate(range(0, len(prompts), batch_size)):
        chunk = prompts[start : start + batch_size]
        saved = store.get(i) if store else None
        if saved is not None:
            texts, cut = json.loads(saved)
            meter.update(len(chunk), resumed=True)
        else:
            meter.begin_batch()
            before = getattr(engine, "generated_tokens", 0)
            batch = [render_chat(engine.tokenizer, p) for p in chunk]
            texts, cut = ask(engine, batch, max_tokens, stops, on_length, retries)
            if store:
                store.put(i, json.dumps([texts, list(cut)], ensure_ascii=False))
            meter.update(len(chunk), getattr(engine, "generated_tokens", 0) - before)
        out.extend(texts)
        failed.extend(start + j for j in cut)
    if failed:
        raise LengthLimitError(
            f"{len(failed)} difficulty replies still ended at max_tokens={max_tokens} after {retries} re-asks "
            f"(pool rows {failed[:20]}{' ...' if len(failed) > 20 else ''}): the original's client fails the run "
            "here; set curate.difficulty.on_length: keep to grade cut replies as they are"
        )
    return out


def run_chat_api(client: Any, prompts: Sequence[str], params: Mapping[str, Any]) -> list[str | None]:
    """The same through a chat API (the original's path); a failed item has no output and counts as wrong."""
    results = client.complete_many([chat_messages(p) for p in prompts], dict(params))
    return [r.content if r.ok else None for r in results]


def grade_outputs(
    pool: pl.DataFrame,
    model: str,
    outputs: Sequence[str | None],
    mode: str = "faithful",
    extract: Extractor | None = None,
) -> pl.DataFrame:
    """Add ``{model}_output`` and ``{model}_correct`` columns."""
    correct = [
        is_correct(o, s, letter, mode, extract)
        for o, s, letter in zip(outputs, pool["answer_string"], pool["answer_letter"], strict=True)
    ]
    acc = sum(correct) / max(1, len(correct))
    log_event(logger, "difficulty model graded", model=model, items=len(correct), accuracy=round(acc, 4))
    return pool.with_columns(
        pl.Series(f"{model}_output", list(outputs), dtype=pl.String),
        pl.Series(f"{model}_correct", correct, dtype=pl.Boolean),  # typed when empty too (a shard past the pool's end)
    )


def hard_rows(graded: pl.DataFrame, models: Sequence[str]) -> pl.DataFrame:
    """Rows that every model got wrong."""
    return graded.filter(~pl.any_horizontal([pl.col(f"{m}_correct") for m in models]))
