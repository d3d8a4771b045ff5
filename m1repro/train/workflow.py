"""What rules/train.smk asks of the config, as plain functions of it and of the site (tested without Snakemake;
rules/common.smk wraps them). A run's ``params`` is its resolved spec as canonical JSON: changing one run's value
changes only that run's params, so only that run (and the evaluations of its model) reruns. With a site, the run's
GPUs are spread over the site's nodes (:mod:`m1repro.resources`), so the spec and the resources always agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from m1repro import resources as rsc
from m1repro.site import Site
from m1repro.train import launch
from m1repro.train.estimate import set_token_count
from m1repro.train.hparams import RunSpec, resolve_run
from m1repro.workflow import CURATED_SET, M23K, TINY_MODEL_DIR


def runs(config: Mapping[str, Any]) -> list[str]:
    return list((config.get("train") or {}).get("runs") or {})


def spec(config: Mapping[str, Any], run: str, site: Site | None = None) -> RunSpec:
    """The run's resolved spec; with a site, its GPUs spread over the site's nodes."""
    train = config.get("train") or {}
    if site is None:
        return resolve_run(train, run)
    job = rsc.train_job(config, site, run)
    return resolve_run(train, run, (job.nodes, job.gpus_per_node) if job.device == "cuda" else None)


RELEASED_M23K = "results/curate/released/m23k.parquet"


def data_path(set_name: str, config: Mapping[str, Any] | None = None) -> str:
    """The training set a run reads. m23k is curation's full hard set, or with ``curate.sets_source: released`` the
    published one (never the curation's: that would put the paid API stages in a released run's DAG)."""
    if set_name != "m23k":
        return CURATED_SET.format(set=set_name)
    released = ((config or {}).get("curate") or {}).get("sets_source") == "released"
    return RELEASED_M23K if released else M23K


def inputs(config: Mapping[str, Any], run: str) -> dict[str, str]:
    """Files a run waits for: its training set, a base model built by this workflow, its DeepSpeed config."""
    s = spec(config, run)
    out = {"data": data_path(s.data, config)}
    if s.base.startswith(TINY_MODEL_DIR + "/"):  # a base model made by this workflow, not a hub id
        out["base"] = s.base
    if s.deepspeed:
        out["deepspeed"] = s.deepspeed
    return out


def spec_json(config: Mapping[str, Any], run: str, site: Site | None = None) -> str:
    return launch.spec_json(spec(config, run, site))


def resources(
    config: Mapping[str, Any], site: Site, run: str, data: str | None = None, attempt: int = 1
) -> dict[str, Any]:
    """SLURM resources of a run on the site (:func:`m1repro.resources.train_resources`: nodes, ``gres`` per node,
    CPUs and memory per node, time limit by attempt, partition, account) plus the per-node launcher's ``mpi="srun"``
    and one task per node for multi-node runs (``mpi=""`` otherwise: the job's shell runs the launcher itself).
    The time limit comes from the set's token count once it exists, from the paper's set sizes before."""
    s = spec(config, run, site)
    # a GPU run's time limit follows its set's size (a CPU run's is fixed): read it once curation wrote it
    counts = set_token_count(data) if s.device == "cuda" and data and Path(data).exists() else None
    job = rsc.train_job(config, site, run, counts)
    srun = s.nodes > 1 and s.device == "cuda" and bool((config.get("train") or {}).get("slurm", True))
    cpu_run = {"gres": "", "cpus_per_task": 2, "mem_mb": 8_000}  # one process on two cores (the tiny run)
    return {
        **cpu_run,
        **rsc.train_resources(site, job, attempt),
        "mpi": "srun" if srun else "",
        "tasks": s.nodes if srun else 1,
    }


def checkpoint_dir(config: Mapping[str, Any], run: str, site: Site | None = None) -> str:
    """Trainer checkpoints of a run, keyed by a hash of its resolved spec: a resumed job continues only a run with
    the same hyperparameters and data; a changed spec starts afresh instead of resuming the old one."""
    key = hashlib.sha256(spec_json(config, run, site).encode()).hexdigest()[:12]
    root = (config.get("train") or {}).get("checkpoint_root", "cache/train")
    return f"{root}/{run}/{key}/checkpoints"
