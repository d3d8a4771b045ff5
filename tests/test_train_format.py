"""The training text and its loss mask, with the real Qwen2.5 tokenizer: decode what carries labels."""

from __future__ import annotations

import polars as pl
import pytest
from train_helpers import write_set

from m1repro.io import InputError
from m1repro.train.format import (
    IGNORE_INDEX,
    assistant_text,
    attempt_text,
    build_dataset,
    load_training_rows,
    tokenize_example,
)

SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"


def test_assistant_text_is_the_original_format():
    assert assistant_text("  thinking here \n", "\\boxed{B} ") == (
        "<|im_start|>think\nthinking here\n<|im_start|>answer\nAnswer: \\boxed{B}"
    )
    # as the original, "Answer: " is prefixed before the strip, so leading spaces of the answer stay inside
    assert assistant_text("t", " B").endswith("Answer:  B")
    # an answer that already says "Answer:" is kept as is
    assert attempt_text("Final Answer: B") == "Final Answer: B"
    assert attempt_text("B") == "Answer: B"


def test_labels_cover_exactly_the_assistant_turn(qwen_tokenizer):
    ex = tokenize_example(qwen_tokenizer, "Q?\nA. x\nB. y", " because y. ", "\\boxed{B}")
    ids, labels = ex["input_ids"], ex["labels"]
    assert len(ids) == len(labels)
    assert qwen_tokenizer.decode(ids) == (
        SYSTEM + "<|im_start|>user\nQ?\nA. x\nB. y<|im_end|>\n<|im_start|>assistant\n"
        "<|im_start|>think\nbecause y.\n<|im_start|>answer\nAnswer: \\boxed{B}<|im_end|>\n"
    )
    labelled = [t for t in labels if t != IGNORE_INDEX]
    assert qwen_tokenizer.decode(labelled) == (
        "<|im_start|>think\nbecause y.\n<|im_start|>answer\nAnswer: \\boxed{B}<|im_end|>\n"
    )
    # the labelled tokens are one contiguous tail equal to the input ids there (teacher forcing on the turn)
    first = next(i for i, t in enumerate(labels) if t != IGNORE_INDEX)
    assert all(t == IGNORE_INDEX for t in labels[:first])
    assert labels[first:] == ids[first:]
    # markers are single special tokens, as at inference
    im_start = qwen_tokenizer.convert_tokens_to_ids("<|im_start|>")
    im_end = qwen_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert labels[first] == im_start and im_end in labelled


def test_dataset_has_trainer_ready_columns(qwen_tokenizer, tmp_path):
    rows = load_training_rows(write_set(tmp_path / "set.parquet", n=3))
    ds = build_dataset(qwen_tokenizer, rows)
    assert set(ds.column_names) == {"input_ids", "labels"} and len(ds) == 3


def test_bad_sets_name_file_record_and_field(tmp_path):
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"id": ["a"], "prompt": ["p"], "reasoning": ["r"]}).write_parquet(bad)
    with pytest.raises(InputError, match="distilled_answer_string"):
        load_training_rows(bad)
    empty = tmp_path / "empty.parquet"
    pl.DataFrame(
        {"id": ["a", "b"], "prompt": ["p", "p"], "reasoning": ["r", "  "], "distilled_answer_string": ["x", "y"]}
    ).write_parquet(empty)
    with pytest.raises(InputError, match=r"empty.parquet, record b, field 'reasoning'"):
        load_training_rows(empty)
