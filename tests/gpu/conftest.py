"""Fixtures of the GPU tests (marked ``gpu``): the paths that only a GPU runs, on tiny models built here from the real
Qwen2.5 tokenizer (no downloads). ``make gpu-check`` runs them on a GPU node (docs/gpu_check.md).

Without a CUDA device every test here is skipped, and the skip says why. ``M1REPRO_GPU_TESTS_ON_CPU=1`` runs them on
this CPU instead: that exercises the test code without a GPU, but compares the CPU with itself, so it proves nothing
about a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from m1repro.cfgview import model_variants
from m1repro.config import load_config
from m1repro.records import EvalItem, load_eval_file
from m1repro.variants import Variant

REPO = Path(__file__).resolve().parents[2]
ON_CPU = "M1REPRO_GPU_TESTS_ON_CPU"
TINY_CONFIG = REPO / "config" / "tiny.yaml"
THINK_MODEL = "tiny-think"  # the tiny config's thinking model: its budgets and forcing rounds are the sweep here
STOP_TOKEN = "<|im_end|>"


@pytest.fixture(scope="session")
def device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get(ON_CPU) == "1":
        return "cpu"
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    pytest.skip(
        f"no CUDA device: torch {torch.__version__} ({build}) sees no GPU. Run these on a GPU node "
        f"(make gpu-check, docs/gpu_check.md), or set {ON_CPU}=1 to exercise them on this CPU"
    )


@pytest.fixture(scope="session")
def dtypes(device) -> tuple[str, ...]:
    """float32 everywhere; bfloat16 as well on CUDA, the precision real GPU runs use."""
    return ("float32", "bfloat16") if device == "cuda" else ("float32",)


@pytest.fixture(scope="session")
def stopping_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with its ``<|im_end|>`` embedding (tied to its output row) scaled by 2: the untrained model then
    ends some of its thinking on its own, so both endings of thinking and forcing get exercised."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("stopping") / "model"
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight[tok.convert_tokens_to_ids(STOP_TOKEN)] *= 2.0
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    """The tiny config as written (complete: `base: null`); not validated, as the validator is Snakemake's, which a
    GPU node's environment may lack."""
    return load_config(TINY_CONFIG, validate=False)


@pytest.fixture(scope="session")
def variants(tiny_config) -> list[Variant]:
    return model_variants(tiny_config, THINK_MODEL)


@pytest.fixture(scope="session")
def items(tiny_config, device) -> list[EvalItem]:
    """The fixture's valid items, round-robin over its sources (so a few items still span the datasets): all of them
    on a GPU, six on a CPU."""
    ev = load_eval_file(
        REPO / tiny_config["eval"]["data"]["path"], tiny_config["eval"]["datasets"], on_invalid="exclude"
    )
    queues = [list(v) for v in ev.items.values()]
    limit = None if device == "cuda" else 6
    out: list[EvalItem] = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out[:limit]
