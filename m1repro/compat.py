"""The one seam between m1repro and the two software stacks it runs on (``software: paper | current``,
docs/software.md): every API that differs between the paper's libraries (transformers 4.48.3, trl 0.15.2,
datasets 3.4.0, sglang 0.4.3.post2) and today's (transformers 5.x, trl 1.x, datasets 5.x, sglang 0.5.x) is bridged
here, and nowhere else in the package.

Each helper asks the installed library what it offers (a field of a config class, the major version of a
distribution), so the same code runs unchanged under both stacks; nothing is imported at module level, because the
data and report envs have neither torch nor transformers.

datasets 3 and 5 need no bridge: m1repro uses ``Dataset.from_dict``, ``load_dataset`` and column access only, whose
API is the same in both (tests/test_curate_*.py run under each stack, ``make test-paper``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from importlib import metadata
from typing import Any

Release = tuple[int, ...]

# The sglang line whose /generate reply carries the generated token ids (``output_ids``). 0.4.3.post2 returns text and
# meta_info only (sglang/srt/managers/tokenizer_manager.py, _handle_batch_output); the ids are then read from the
# output logprobs, which it returns as (logprob, token id, text) per generated token when asked. Read in the source of
# the two pinned versions (0.4.3.post2: absent; 0.5.23: present); the release in between that added it was not looked
# up, so the boundary is the 0.5 line. Asking for the logprobs where output_ids exist too costs little and changes
# nothing (output_ids are preferred).
SGLANG_OUTPUT_IDS_SINCE: Release = (0, 5)


def release(version: str) -> Release:
    """The numeric release of a version string: ``"0.4.3.post2"`` -> (0, 4, 3), ``"2.13.0+cpu"`` -> (2, 13, 0)."""
    m = re.match(r"\d+(?:\.\d+)*", version)  # 3rc1, 3post2: the number ends the release
    if not m:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(p) for p in m.group().split("."))


@functools.cache
def version_of(dist: str) -> Release | None:
    """The installed release of a distribution, or None when it is not installed in this environment."""
    try:
        return release(metadata.version(dist))
    except metadata.PackageNotFoundError:
        return None


def stack() -> str:
    """The stack of the installed training/inference libraries: ``paper`` for transformers 4.x, else ``current``
    (also without transformers: the data and report envs are the same code under both)."""
    v = version_of("transformers")
    return "paper" if v is not None and v[0] < 5 else "current"


# ---- transformers -------------------------------------------------------------------------------------------------
def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """``from_pretrained``'s dtype argument: ``dtype`` in transformers 5 (``torch_dtype`` is deprecated there),
    ``torch_dtype`` in 4.48 (which passes an unknown ``dtype`` on to the model's constructor, a TypeError)."""
    return {"torch_dtype" if stack() == "paper" else "dtype": dtype}


def rope_kwargs(theta: float) -> dict[str, Any]:
    """A model config's RoPE base: ``rope_parameters`` in transformers 5, ``rope_theta`` in 4.48, which ignores
    ``rope_parameters`` and would build the model with its default base 10,000 (a different model: the tiny run's
    tables changed with it before this seam)."""
    if stack() == "paper":
        return {"rope_theta": theta}
    return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}


def load_causal_lm(path: str, dtype: Any = None, **kwargs: Any) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with the dtype under the name this transformers takes."""
    from transformers import AutoModelForCausalLM

    if dtype is not None:
        kwargs.update(dtype_kwargs(dtype))
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def optimizer_steps(batches_per_rank: int, gradient_accumulation: int, epochs: float) -> int:
    """The optimiser steps an epoch-based run plans (``state.max_steps``), by this stack's rule for an epoch's
    updates: transformers 4.48.3 floors the batches per rank over the accumulation (trainer.py, _inner_training_loop:
    ``len_dataloader // gradient_accumulation_steps``; the original's 310 steps for m1-7B-1K), transformers 5 rounds
    up (315). Checked against the real trainer by tests/test_compat.py."""
    per_epoch = batches_per_rank // gradient_accumulation
    if stack() == "current":
        per_epoch += int(batches_per_rank % gradient_accumulation > 0)
    return math.ceil(epochs * max(per_epoch, 1))


# ---- trl / TrainingArguments --------------------------------------------------------------------------------------
def sft_config_kwargs(
    *, max_length: int | None, warmup_ratio: float, gradient_checkpointing: bool, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The SFTConfig arguments whose names or meaning differ, for the SFTConfig whose dataclass ``fields`` are given.

    - length: ``max_length`` with ``truncation_mode="keep_start"`` in trl 1.x; trl 0.15.2 has ``max_seq_length`` but
      truncates a pre-tokenised set's ``input_ids``/``attention_mask`` only (not ``labels``), so there m1repro
      truncates the set itself (:func:`truncate_examples`) and gives trl no length;
    - warmup: a float ``warmup_steps`` < 1 is the ratio in transformers 5; 4.48 has ``warmup_ratio`` (and an int
      ``warmup_steps``);
    - checkpointing: ``activation_checkpointing`` after transformers 5.17 (the old name a deprecated alias), else
      ``gradient_checkpointing``.
    """
    out: dict[str, Any] = {}
    if "max_length" in fields and "truncation_mode" in fields:
        out.update(max_length=max_length, truncation_mode="keep_start")
    else:
        out["max_seq_length"] = None
    if stack() == "paper":
        out["warmup_ratio"] = warmup_ratio
    else:
        out["warmup_steps"] = warmup_ratio
    ckpt = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    out[ckpt] = gradient_checkpointing
    return out


def trl_truncates_labels(fields: Mapping[str, Any]) -> bool:
    """Whether this trl's SFTConfig truncates a pre-tokenised set with its labels (trl 1.x: ``truncation_mode``)."""
    return "truncation_mode" in fields


def truncate_examples(dataset: Any, max_length: int | None) -> Any:
    """Keep the first ``max_length`` tokens of each example's ``input_ids`` and ``labels`` (the original's
    truncation side), for a trl that does not truncate labels itself."""
    if max_length is None:
        return dataset

    def cut(example: dict[str, list[int]]) -> dict[str, list[int]]:
        return {k: example[k][:max_length] for k in ("input_ids", "labels")}

    return dataset.map(cut)


def sft_collator(tokenizer: Any) -> Any:
    """The data collator for a set of ``input_ids``/``labels``: trl 1.x's default keeps the labels; trl 0.15.2's
    default (transformers' language-modelling collator) would replace them by the input ids, losing the prompt
    mask, so there the labels are padded with -100 next to ``input_ids`` padded with the pad token (what the
    original's completion-only collator produced for the same examples)."""
    if stack() != "paper":
        return None
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)


# ---- sglang -------------------------------------------------------------------------------------------------------
def sglang_server_version(given: str | None = None) -> Release | None:
    """The SGLang version of the server the engine starts: the one given, else the one installed here (the engine
    runs in the env or container that holds the server), else None (unknown: the current contract is assumed)."""
    return release(given) if given else version_of("sglang")


def sglang_request_extras(server: Release | None) -> dict[str, Any]:
    """What a native /generate request adds so that the reply carries the generated token ids: nothing where the
    reply has ``output_ids``; the output logprobs (ids only, no text) before 0.5."""
    if server is not None and server < SGLANG_OUTPUT_IDS_SINCE:
        return {"return_logprob": True, "return_text_in_logprobs": False}
    return {}


def sglang_output_ids(result: Mapping[str, Any]) -> list[int] | None:
    """The generated token ids of one /generate result: ``output_ids`` (0.5) or the ids of
    ``meta_info.output_token_logprobs`` (0.4.3: ``[logprob, id, text]`` per token), else None."""
    if result.get("output_ids") is not None:
        return list(result["output_ids"])
    logprobs = result.get("meta_info", {}).get("output_token_logprobs")
    if logprobs is not None:
        return [int(entry[1]) for entry in logprobs]
    return None
