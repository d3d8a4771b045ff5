"""The training text of the original m1 SFT (docs/fidelity.md, Training) and its loss mask.

One example is a two-turn conversation rendered with the base model's chat template (Qwen2.5's inserts its default
system prompt): the user turn is the bare prompt (question and options, no instruction), the assistant turn is
``"<|im_start|>think\\n" + reasoning + "\\n<|im_start|>answer\\n" + "Answer: ..."``. As the original's completion-only
collator (response template ``"<|im_start|>assistant\\n"``), every token after the assistant header carries a label:
the think part, the answer part, ``<|im_end|>`` and the template's trailing newline. Everything before is -100.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from m1repro.io import InputError
from m1repro.prompts import THINK_START

ANSWER_START = "<|im_start|>answer\n"
ASSISTANT_HEADER = "<|im_start|>assistant\n"
PAD_TOKEN = "<|fim_pad|>"  # the original's pad token: never used in text, so padding never collides with a label
IGNORE_INDEX = -100
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "prompt", "reasoning", "distilled_answer_string")


def attempt_text(distilled_answer: str) -> str:
    """The answer part: R1's final message, prefixed with "Answer: " unless it already says "Answer:"."""
    return distilled_answer if "Answer:" in distilled_answer else "Answer: " + distilled_answer


def assistant_text(reasoning: str, distilled_answer: str) -> str:
    """The assistant turn of the original: think marker, stripped reasoning, answer marker, stripped attempt."""
    return THINK_START + reasoning.strip() + "\n" + ANSWER_START + attempt_text(distilled_answer).strip()


def tokenize_example(tokenizer: Any, prompt: str, reasoning: str, distilled_answer: str) -> dict[str, list[int]]:
    """``input_ids`` of the rendered conversation and ``labels`` that are -100 up to the end of the assistant header.

    The prompt part is rendered with ``add_generation_prompt=True`` (what the model sees at inference) and must be a
    token prefix of the full conversation; the boundary is a special token, so it always is with Qwen2.5's template.
    No truncation here: the trainer truncates to ``max_length`` (keep the start, as the original).
    """
    messages = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": assistant_text(reasoning, distilled_answer)},
    ]
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_text = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    if not full_text.startswith(prompt_text) or not prompt_text.endswith(ASSISTANT_HEADER):
        raise ValueError(
            "the chat template does not render the prompt with the generation prompt as a prefix ending in "
            f"{ASSISTANT_HEADER!r}; is this a Qwen2.5 (ChatML) tokenizer?"
        )
    full_ids: list[int] = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    prompt_ids: list[int] = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    if full_ids[:n] != prompt_ids:
        raise ValueError("the tokenised prompt is not a prefix of the tokenised conversation")
    labels = [IGNORE_INDEX] * n + full_ids[n:]
    return {"input_ids": full_ids, "labels": labels}


def load_training_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a curated training set (parquet), checked: required columns present, text fields non-empty strings."""
    import polars as pl

    path = Path(path)
    if not path.exists():
        raise InputError(path, "training set not found")
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for a broken file
        raise InputError(path, f"cannot read parquet ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; have {df.columns}", field=missing[0])
    if df.height == 0:
        raise InputError(path, "training set is empty")
    rows = df.select(REQUIRED_COLUMNS).to_dicts()
    for i, row in enumerate(rows):
        for field in REQUIRED_COLUMNS[1:]:
            value = row[field]
            if not isinstance(value, str) or not value.strip():
                raise InputError(
                    path, f"expected a non-empty string, got {value!r:.60}", record=row.get("id", i), field=field
                )
    return rows


def build_dataset(tokenizer: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` with ``input_ids``/``labels`` (trl then skips its own formatting and masking)."""
    from datasets import Dataset

    examples = [tokenize_example(tokenizer, r["prompt"], r["reasoning"], r["distilled_answer_string"]) for r in rows]
    return Dataset.from_dict({k: [ex[k] for ex in examples] for k in ("input_ids", "labels")})
