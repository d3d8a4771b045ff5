"""Hyperparameters of one training run: the config's defaults, the run's overrides, and what derives from them.

The defaults are the original code's (docs/fidelity.md), not the paper's text (which says lr 1e-4). The resolved dict of a
run is what its Snakemake job gets as ``params``, so changing one run's value reruns that run (and its evaluations)
and nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from m1repro.cfgview import SCHEMA
from m1repro.io import read_yaml


def code_defaults() -> dict[str, Any]:
    """The original code's hyperparameters (m1 src/train/sft.py, transformers 4.48.3), written once: the schema's
    default of ``train.defaults`` (config/schemas/config.schema.yaml)."""
    return dict(_schema_train_defaults())


@functools.lru_cache(maxsize=1)
def _schema_train_defaults() -> tuple[tuple[str, Any], ...]:
    # read once per process: the workflow resolves every run's spec many times while it plans
    return tuple(read_yaml(SCHEMA)["properties"]["train"]["properties"]["defaults"]["default"].items())


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's weights (plus where and how it runs)."""

    run: str
    base: str
    data: str
    nodes: int
    gpus_per_node: int
    device: str  # cuda | cpu
    deepspeed: str | None  # path of a DeepSpeed config, or None for plain DDP / single process
    learning_rate: float
    epochs: float
    global_batch_size: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    weight_decay: float
    warmup_ratio: float
    lr_scheduler: str
    adam_beta1: float
    adam_beta2: float
    bf16: bool
    max_length: int
    gradient_checkpointing: bool
    average_tokens_across_devices: bool
    seed: int
    attn_implementation: str
    save_strategy: str
    save_steps: int
    save_total_limit: int
    logging_steps: int

    @property
    def world_size(self) -> int:
        return max(1, self.nodes * self.gpus_per_node) if self.device == "cuda" else self.nodes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSpec:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d))
        if unknown or missing:
            raise ValueError(f"run spec: unknown keys {unknown}, missing keys {missing}")
        return cls(**{k: d[k] for k in names})


def gradient_accumulation(global_batch: int, per_device: int, world_size: int) -> int:
    """global batch / (per-device batch x processes), as the original (16 / (GPUs x nodes)); must divide exactly."""
    denom = per_device * world_size
    if denom <= 0 or global_batch % denom:
        raise ValueError(
            f"global_batch_size {global_batch} is not a multiple of per_device_batch_size {per_device} x "
            f"{world_size} processes"
        )
    return global_batch // denom


def resolve_run(train_cfg: Mapping[str, Any], run: str, layout: tuple[int, int] | None = None) -> RunSpec:
    """The run's spec: ``train.defaults`` overridden by ``train.runs.<run>.hparams``, with derived values.
    ``layout`` = (nodes, GPUs per node) on the site (m1repro.resources.train_layout): the same total GPUs spread
    over the site's nodes; without it, the config's ``nodes`` x ``gpus_per_node``."""
    runs = train_cfg.get("runs") or {}
    if run not in runs:
        raise KeyError(f"train.runs has no run {run!r} (have: {sorted(runs)})")
    r = runs[run]
    defaults = code_defaults()
    hp = {**defaults, **(train_cfg.get("defaults") or {}), **(r.get("hparams") or {})}
    unknown = sorted(set(hp) - set(defaults))
    if unknown:
        raise KeyError(f"train.runs.{run}: unknown hyperparameter(s) {unknown}")
    device = r.get("device", train_cfg.get("device", "cuda"))
    nodes = int(r.get("nodes", 1))
    gpus = int(r.get("gpus_per_node", 8)) if device == "cuda" else 0
    if layout is not None and device == "cuda":
        if layout[0] * layout[1] != nodes * gpus:
            raise ValueError(f"train.runs.{run}: layout {layout} does not keep its {nodes * gpus} GPUs")
        nodes, gpus = layout
    deepspeed = r.get("deepspeed", train_cfg.get("deepspeed"))
    world = max(1, nodes * gpus) if device == "cuda" else nodes
    if device == "cpu" and nodes != 1:
        raise ValueError(f"train.runs.{run}: a CPU run must use one node")
    return RunSpec(
        run=run,
        base=str(r["base"]),
        data=str(r["data"]),
        nodes=nodes,
        gpus_per_node=gpus,
        device=device,
        deepspeed=deepspeed or None,
        gradient_accumulation_steps=gradient_accumulation(
            int(hp["global_batch_size"]), int(hp["per_device_batch_size"]), world
        ),
        **hp,
    )
