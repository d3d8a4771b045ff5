"""What rules/train.smk asks of the config, as plain functions of it (tested without Snakemake; rules/common.smk
wraps them). A run's ``params`` is its resolved spec as canonical JSON: changing one run's value changes only that
run's params, so only that run (and the evaluations of its model) reruns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from m1repro.train import launch
from m1repro.train.estimate import estimate, nominal_token_count, params_of, runtime_minutes, set_token_count
from m1repro.train.hparams import RunSpec, resolve_run
from m1repro.workflow import TINY_MODEL_DIR

SET_PATH = "results/curate/sets/{set}.parquet"
M23K_PATH = "results/curate/m23k.parquet"  # the full hard set is written apart from the sampled sets


def runs(config: Mapping[str, Any]) -> list[str]:
    return list((config.get("train") or {}).get("runs") or {})


def spec(config: Mapping[str, Any], run: str) -> RunSpec:
    return resolve_run(config.get("train") or {}, run)


def data_path(set_name: str) -> str:
    return M23K_PATH if set_name == "m23k" else SET_PATH.format(set=set_name)


def local_base(base: str) -> bool:
    """A base model made by this workflow (a tiny model) rather than a hub id read at run time."""
    return base.startswith(TINY_MODEL_DIR + "/")


def inputs(config: Mapping[str, Any], run: str) -> dict[str, str]:
    """Files a run waits for: its training set, a base model built by this workflow, its DeepSpeed config."""
    s = spec(config, run)
    out = {"data": data_path(s.data)}
    if local_base(s.base):
        out["base"] = s.base
    if s.deepspeed:
        out["deepspeed"] = s.deepspeed
    return out


def spec_json(config: Mapping[str, Any], run: str) -> str:
    return launch.spec_json(spec(config, run))


def uses_srun(s: RunSpec, train_cfg: Mapping[str, Any]) -> bool:
    return s.nodes > 1 and s.device == "cuda" and bool(train_cfg.get("slurm", True))


def resources(config: Mapping[str, Any], run: str, data: str, attempt: int = 1) -> dict[str, Any]:
    """SLURM resources of a run: nodes, ``gres=gpu:G`` per node, ``mpi="srun"`` + one task per node for multi-node
    runs (``mpi=""`` otherwise: the job's shell runs the launcher itself), runtime from the set's token count."""
    train_cfg = config.get("train") or {}
    s = spec(config, run)
    srun = uses_srun(s, train_cfg)
    fixed = train_cfg.get("runs", {}).get(run, {}).get("runtime_min")
    if fixed:
        runtime = int(fixed) * attempt
    elif s.device == "cpu":
        runtime = 60 * attempt
    else:
        if Path(data).exists():
            examples, tokens = set_token_count(data)
        else:  # planning before curation ran: the paper's set sizes
            examples, tokens = nominal_token_count(s.data)
        est = estimate(examples, tokens, params_of(s.base), s.nodes, s.gpus_per_node, s.epochs, s.global_batch_size)
        runtime = runtime_minutes(est, attempt)
    cuda = s.device == "cuda"
    return {"nodes": s.nodes, "gres": f"gpu:{s.gpus_per_node}" if cuda else "", "mpi": "srun" if srun else "",
            "tasks": s.nodes if srun else 1, "runtime": runtime, "cpus_per_task": 8 * s.gpus_per_node if cuda else 2,
            "mem_mb": 480_000 if cuda else 8_000}


def checkpoint_dir(config: Mapping[str, Any], run: str) -> str:
    """Trainer checkpoints of a run, keyed by a hash of its resolved spec: a resumed job continues only a run with
    the same hyperparameters and data; a changed spec starts afresh instead of resuming the old one."""
    import hashlib

    root = (config.get("train") or {}).get("checkpoint_root", "cache/train")
    key = hashlib.sha256(spec_json(config, run).encode()).hexdigest()[:12]
    return f"{root}/{run}/{key}/checkpoints"
