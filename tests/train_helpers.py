"""Data and specs of the training tests (the tiny model itself is conftest's session fixture ``tiny_model_dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from transformers import TrainerCallback

from m1repro.train.hparams import RunSpec, resolve_run

LETTERS = "ABCD"


def training_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"q{i}",
            "source": "MedQA",
            "prompt": f"A patient with finding {i} needs which drug?\nA. aspirin\nB. insulin\nC. statin\nD. heparin",
            "reasoning": f"  Finding {i} points to option {LETTERS[i % 4]}.\n",
            "distilled_answer_string": f"\\boxed{{{LETTERS[i % 4]}}}",
        }
        for i in range(n)
    ]


def write_set(path: Path, n: int = 8) -> Path:
    pl.DataFrame(training_rows(n)).write_parquet(path)
    return path


def tiny_spec(base: Path, deepspeed: str | None = None, device: str = "cpu", **hparams: Any) -> RunSpec:
    """A one-process run (CPU unless told) over the tiny model with small, fast hyperparameters (overridable)."""
    hp = {
        "learning_rate": 3e-3,
        "epochs": 1,
        "global_batch_size": 2,
        "bf16": False,
        "max_length": 96,
        "save_strategy": "no",
        "logging_steps": 1,
    }
    hp.update(hparams)
    run = {"base": str(base), "data": "m1k", "device": device, "deepspeed": deepspeed}
    if device == "cuda":
        run["gpus_per_node"] = 1  # one process on one GPU
    cfg = {"defaults": hp, "runs": {"t": run}}
    return resolve_run(cfg, "t")


class Interrupt(Exception):
    pass


class KillAfterSave(TrainerCallback):
    """Stands for a job killed after its trainer wrote checkpoint ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupt(f"killed after checkpoint {self.step}")
