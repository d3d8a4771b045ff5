"""Hyperparameters: code defaults, per-run overrides, gradient accumulation, and their arrival in trl's trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from train_helpers import tiny_spec, write_set

from m1repro.config import load_config
from m1repro.train import workflow as trainwf
from m1repro.train.hparams import RunSpec, code_defaults, gradient_accumulation, resolve_run

REPO = Path(__file__).resolve().parent.parent


def paper_config() -> dict:
    return load_config(REPO / "config/config.yaml")


def test_paper_runs_resolve_to_the_original_code():
    cfg = paper_config()
    s7 = trainwf.spec(cfg, "m1-7B-1K")
    assert (s7.learning_rate, s7.epochs, s7.global_batch_size, s7.weight_decay, s7.warmup_ratio) == (
        1e-5,
        5,
        16,
        1e-4,
        0.05,
    )
    assert (s7.adam_beta1, s7.adam_beta2, s7.lr_scheduler, s7.bf16, s7.max_length) == (0.9, 0.95, "cosine", True, 32768)
    assert s7.gradient_accumulation_steps == 2 and not s7.gradient_checkpointing  # 16 / (8 GPUs x 1 node)
    s32 = trainwf.spec(cfg, "m1-32B-1K")
    assert s32.gradient_accumulation_steps == 1 and s32.gradient_checkpointing and s32.nodes == 2
    assert s7.deepspeed == "config/deepspeed/zero3.json"
    assert trainwf.data_path(trainwf.spec(cfg, "m1-7B-23K").data) == "results/curate/m23k.parquet"
    rows = {r["ablation_row"] for r in cfg["train"]["runs"].values() if "ablation_row" in r}
    assert len(rows) == 6  # every Table 2 row has its run
    for name, m in cfg["models"].items():  # every trained model names an existing run
        if "train" in m:
            assert m["train"] in cfg["train"]["runs"], name


def test_one_runs_override_changes_only_that_runs_params():
    cfg = paper_config()
    before = {r: trainwf.spec_json(cfg, r) for r in trainwf.runs(cfg)}
    cfg["train"]["runs"]["abl-7B-random_1k"]["hparams"] = {"learning_rate": 1e-4}
    after = {r: trainwf.spec_json(cfg, r) for r in trainwf.runs(cfg)}
    changed = [r for r in before if before[r] != after[r]]
    assert changed == ["abl-7B-random_1k"]
    assert json.loads(after["abl-7B-random_1k"])["learning_rate"] == 1e-4


def test_gradient_accumulation_must_divide():
    assert gradient_accumulation(16, 1, 8) == 2
    assert gradient_accumulation(16, 1, 16) == 1
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation(16, 1, 24)
    with pytest.raises(KeyError, match="unknown hyperparameter"):
        resolve_run({"runs": {"r": {"base": "b", "data": "m1k", "hparams": {"lr": 1}}}}, "r")
    assert set(RunSpec.__dataclass_fields__) >= set(code_defaults())


def test_hyperparameters_reach_the_trl_trainer(tiny_model_dir, tmp_path):
    from m1repro.train.sft import build_trainer

    spec = tiny_spec(
        tiny_model_dir,
        learning_rate=2e-3,
        epochs=3,
        global_batch_size=4,
        weight_decay=0.01,
        warmup_ratio=0.1,
        adam_beta1=0.8,
        adam_beta2=0.9,
        max_length=77,
        seed=7,
        lr_scheduler="cosine",
    )
    trainer = build_trainer(spec, write_set(tmp_path / "set.parquet", n=4), tmp_path / "ck")
    a = trainer.args
    assert (a.learning_rate, a.num_train_epochs, a.weight_decay, a.adam_beta1, a.adam_beta2) == (
        2e-3,
        3,
        0.01,
        0.8,
        0.9,
    )
    assert (a.per_device_train_batch_size, a.gradient_accumulation_steps) == (1, 4)
    assert (a.packing, a.seed, str(a.lr_scheduler_type.value)) == (False, 7, "cosine")
    # the warmup ratio, under either stack's argument name (m1repro.compat): 10 % of 10 steps
    assert a.get_warmup_steps(10) == 1 and a.bf16 is False
    # the original's transformers 4.48.3 default, not transformers 5's
    assert a.average_tokens_across_devices is False
    assert trainer.processing_class.pad_token == "<|fim_pad|>"
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    group = trainer.optimizer.param_groups[0]
    assert group["lr"] == 0.0 and group["betas"] == (0.8, 0.9)  # warmup starts at 0
    assert {g["weight_decay"] for g in trainer.optimizer.param_groups} == {
        0.01,
        0.0,
    }  # no decay on biases (tests/test_compat.py: norms)
    trainer.lr_scheduler.step()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)  # warmup of 1 step (10 % of 10), then peak
    # the data the trainer holds is truncated to max_length, labels included
    assert max(len(x) for x in trainer.train_dataset["input_ids"]) <= 77


def test_checkpoints_are_keyed_by_the_spec():
    """A changed hyperparameter must not resume from the checkpoints of the old one."""
    from m1repro.train.workflow import checkpoint_dir

    def cfg(lr):
        return {
            "train": {
                "device": "cpu",
                "deepspeed": None,
                "defaults": {"learning_rate": lr},
                "runs": {"r": {"base": "resources/tiny/models/tiny-qwen", "data": "m1k"}},
            }
        }

    a, b = checkpoint_dir(cfg(1e-3), "r"), checkpoint_dir(cfg(2e-3), "r")
    assert a != b and a.startswith("cache/train/r/") and a.endswith("/checkpoints")
    assert checkpoint_dir(cfg(1e-3), "r") == a


def test_the_original_hyperparameters_are_written_once_in_the_schema():
    """train.defaults' default in the schema is the one source: the paper config relies on it, and a run resolves
    to the original code's values (m1 src/train/sft.py)."""
    cfg = paper_config()
    spec = trainwf.spec(cfg, "m1-7B-1K")
    assert (spec.learning_rate, spec.epochs, spec.global_batch_size, spec.per_device_batch_size) == (1e-5, 5, 16, 1)
    assert (spec.weight_decay, spec.warmup_ratio, spec.adam_beta2, spec.max_length) == (1e-4, 0.05, 0.95, 32768)
    assert spec.average_tokens_across_devices is False
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as fh:
        assert "learning_rate" not in yaml.safe_load(fh)["train"].get("defaults", {})
