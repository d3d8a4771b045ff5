"""What rules/train.smk asks of the config, as plain functions of it (tested without Snakemake).

Each ``*_fn(config)`` returns the function a rule field takes (``input:``, ``params:``, ``resources:``), so the rule
file holds no logic. A run's ``params`` is its resolved spec as canonical JSON: changing one run's value changes
only that run's params, so only that run (and the evaluations of its model) reruns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from m1repro import resources as rsc
from m1repro.site import Site, load_site
from m1repro.train import launch
from m1repro.train.estimate import set_token_count
from m1repro.train.hparams import RunSpec, resolve_run

TINY_MODEL_DIR = "resources/tiny/models"
SET_PATH = "results/curate/sets/{set}.parquet"
M23K_PATH = "results/curate/m23k.parquet"  # the full hard set is written apart from the sampled sets


def runs(config: Mapping[str, Any]) -> list[str]:
    return list((config.get("train") or {}).get("runs") or {})


def spec(config: Mapping[str, Any], run: str, site: Site | None = None) -> RunSpec:
    """The run's resolved spec; with a site, its GPUs spread over the site's nodes (m1repro.resources)."""
    train = config.get("train") or {}
    if site is None:
        return resolve_run(train, run)
    job = rsc.train_job(config, site, run)
    return resolve_run(train, run, (job.nodes, job.gpus_per_node) if job.device == "cuda" else None)


def data_path(set_name: str) -> str:
    return M23K_PATH if set_name == "m23k" else SET_PATH.format(set=set_name)


def local_base(base: str) -> bool:
    """A base model made by this workflow (a tiny model) rather than a hub id read at run time."""
    return base.startswith(TINY_MODEL_DIR + "/")


def inputs_fn(config: Mapping[str, Any]) -> Callable[[Any], dict[str, str]]:
    def inputs(wildcards: Any) -> dict[str, str]:
        s = spec(config, wildcards.run)
        out = {"data": data_path(s.data)}
        if local_base(s.base):
            out["base"] = s.base
        if s.deepspeed:
            out["deepspeed"] = s.deepspeed
        return out

    return inputs


def spec_json(config: Mapping[str, Any], run: str, site: Site | None = None) -> str:
    return launch.spec_json(spec(config, run, site))


def params_fn(config: Mapping[str, Any], site: Site | None = None) -> Callable[[Any], str]:
    def params(wildcards: Any) -> str:
        return spec_json(config, wildcards.run, site)

    return params


def uses_srun(s: RunSpec, train_cfg: Mapping[str, Any]) -> bool:
    return s.nodes > 1 and s.device == "cuda" and bool(train_cfg.get("slurm", True))


def resources_fns(config: Mapping[str, Any], site: Site | None = None) -> dict[str, Callable[..., Any]]:
    """SLURM resources per run, from the site (default ``profiles/slurm/site.yaml``) by m1repro.resources: nodes,
    ``gres=gpu[:model]:G`` per node, CPUs and memory per node, partition, account; ``mpi="srun"`` + one task per
    node for multi-node runs (``mpi=""`` otherwise: the job's shell runs the launcher itself); runtime from the
    set's token count (the paper's sizes before curation ran), scaled by the attempt."""
    train_cfg = config.get("train") or {}
    the_site = site or load_site()

    def job(run: str, data: str | None = None) -> rsc.TrainJob:
        counts = set_token_count(data) if data and Path(data).exists() else None
        return rsc.train_job(config, the_site, run, counts)

    def placed(wildcards: Any, attempt: int = 1, data: str | None = None) -> dict[str, Any]:
        return rsc.train_resources(the_site, job(wildcards.run, data), attempt)

    def spec_on_site(wildcards: Any) -> RunSpec:
        return spec(config, wildcards.run, the_site)

    def nodes(wildcards: Any) -> int:
        return int(placed(wildcards)["nodes"])

    def gres(wildcards: Any) -> str:
        return str(placed(wildcards).get("gres", ""))

    def mpi(wildcards: Any) -> str:
        return "srun" if uses_srun(spec_on_site(wildcards), train_cfg) else ""

    def tasks(wildcards: Any) -> int:
        s = spec_on_site(wildcards)
        return s.nodes if uses_srun(s, train_cfg) else 1

    def runtime(wildcards: Any, input: Any, attempt: int) -> int:
        return int(placed(wildcards, attempt, input.data)["runtime"])

    def cpus_per_task(wildcards: Any) -> int:
        return int(placed(wildcards).get("cpus_per_task", 2))

    def mem_mb(wildcards: Any) -> int:
        return int(placed(wildcards).get("mem_mb", 8_000))

    def slurm_partition(wildcards: Any) -> str:
        return str(placed(wildcards)["slurm_partition"])

    fns: dict[str, Callable[..., Any]] = {
        "nodes": nodes, "gres": gres, "mpi": mpi, "tasks": tasks, "runtime": runtime,
        "cpus_per_task": cpus_per_task, "mem_mb": mem_mb, "slurm_partition": slurm_partition,
    }
    if the_site.account:
        fns["slurm_account"] = lambda wildcards: the_site.account
    return fns


def checkpoint_dir(config: Mapping[str, Any], run: str, site: Site | None = None) -> str:
    """Trainer checkpoints of a run, keyed by a hash of its resolved spec: a resumed job continues only a run with
    the same hyperparameters and data; a changed spec starts afresh instead of resuming the old one."""
    import hashlib

    root = (config.get("train") or {}).get("checkpoint_root", "cache/train")
    key = hashlib.sha256(spec_json(config, run, site).encode()).hexdigest()[:12]
    return f"{root}/{run}/{key}/checkpoints"


def checkpoints_fn(config: Mapping[str, Any], site: Site | None = None) -> Callable[[Any], str]:
    def checkpoints(wildcards: Any) -> str:
        return checkpoint_dir(config, wildcards.run, site)

    return checkpoints
