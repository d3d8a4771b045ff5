"""Every job's SLURM request from the site (:mod:`m1repro.site`) and the job's work: pure functions, no Snakemake.

* **Model sizes**: one function for inference and training (:func:`params_b`): ``params_b`` when given, else the
  exact count of a known base, else the number in the id.
* **Layout of a prediction or difficulty model** (SGLang, one node): tp is the smallest power of two whose GPUs hold
  the bf16 weights with room for the KV cache inside ``mem_fraction_static``; dp = ``gpus_per_node // tp``, fewer
  for a small job when that reserves fewer GPU-hours (``site.shrink_small_jobs``). An explicit ``engine: {tp, dp}``
  is honoured when it fits one node, otherwise it is an error.
* **CPUs and memory** of a GPU job are the node's share for the GPUs it takes.
* **Training** keeps the run's total GPUs (``nodes x gpus_per_node`` of the config, so the gradient accumulation and
  the global batch of 16 stay the paper's) and spreads them over as few of the site's nodes as hold them.
* **Typed requests**: one-node GPU jobs ask ``gpu`` (+ ``gpu_model``) and ``nodes: 1``, which the SLURM plugin
  renders as ``--gpus=a100:4 --nodes=1``; multi-node training asks ``gres=gpu:a100:4`` per node and never
  ``gpu``/``gpu_model`` (the plugin would add ``--gpus=a100:1`` for the whole job).
* **Placement**: GPU jobs go to the GPU partition with the shortest limit that holds them, others to
  ``cpu_partition``; each gets the site's account, QOS, reservation and extra sbatch flags.
* **Time limits** (:func:`limit_needed`, every GPU job): ``safety x estimate + startup_min``, at least
  ``min_runtime_min``, scaled by the attempt and capped at ``max_runtime_min``. A job whose first attempt cannot fit
  is a :class:`TooLong`; a model or run the site cannot run at all an :class:`Unfit` (m1repro.plan leaves those out).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m1repro import REPO, cfgview
from m1repro.io import read_yaml
from m1repro.site import Site
from m1repro.train import estimate as est
from m1repro.train.hparams import gradient_accumulation, resolve_run

# Items per evaluation source in m1_eval_data.json (the first five are the HuatuoGPT-o1 file's sizes).
DATASET_SIZES = {
    "MedMCQA_validation": 4183,
    "MedQA_USLME_test": 1273,
    "PubMedQA_test": 1000,
    "MMLU-Pro_Medical_test": 1535,
    "GPQA_Medical_test": 390,
    "Lancet": 412,
    "HumanityLastExam": 102,
    "MedBullets_op4": 308,
    "MedBullets_op5": 308,
    "MedXpertQA": 2450,
    "NEJM": 603,
}
BF16_BYTES = 2
# Of SGLang's static pool (mem_fraction_static x GPU memory) at least this share stays for the KV cache: the original
# sends batches of 1,024 prompts with up to ~9K tokens each; less than this starves the batch.
KV_CACHE_MIN_FRACTION = 0.3
# DeepSpeed ZeRO-3 with bf16 and Adam keeps ~16 bytes per parameter (bf16 weights and gradients, fp32 master weights,
# two fp32 Adam moments), sharded over all GPUs; activations need the rest, so the shard may use this share of a GPU.
ZERO3_BYTES_PER_PARAM = 16
ZERO3_MAX_GPU_FRACTION = 0.7
# A prediction job with less work than this on a full node is "small" (site.shrink_small_jobs).
SMALL_JOB_MIN = 60.0
# Attempts of one job: 1 + the SLURM profile's `retries` (profiles/slurm/config.yaml). A training run resumes from
# its last checkpoint, so it may need several attempts at max_runtime_min.
MAX_ATTEMPTS = 3
# Non-SGLang prediction and difficulty jobs (the transformers backend: CPU runs, small GPU runs): a fixed limit.
FIXED_RUNTIME_MIN = 60


class PlanError(ValueError):
    """A job that cannot run on the site as configured; the message names the job and what to change."""


class TooLong(PlanError):
    """A job whose first attempt needs more than the site's longest time limit."""


class Unfit(PlanError):
    """A model or training run that this site cannot run at all (weights that fit no tp of one node, bf16 on a GPU
    without bf16, a faithful batch longer than any time limit): left out of the DAG by default (m1repro.plan)."""


# --------------------------------------------------------------------------------------------- throughput


@dataclass(frozen=True)
class Throughput:
    """One row of the config's ``throughput.gpus`` table with the table's shared assumptions."""

    gpu_type: str
    decode_tokens_per_s: float  # output tokens/s per GPU, ~7.6B model, SGLang, large batches
    peak_tflops: float  # dense bf16
    mfu: float  # model FLOPs utilisation of ZeRO-3 SFT
    intra_node_gb_s: float  # effective all-gather/reduce-scatter bandwidth per GPU inside a node
    reference_params_b: float
    server_start_s: float
    startup_min: float
    safety: float
    bf16: bool = True  # the GPU computes in bfloat16 (compute capability >= 8.0)
    compute_capability: float | None = None
    mem_gb: float | None = None  # memory of one GPU of this type


def throughput(cfg: Mapping[str, Any], site: Site) -> Throughput:
    """The site's row of ``throughput.gpus`` (named by ``site.gpu_type``)."""
    table = cfg.get("throughput")
    if not table:
        raise PlanError("the config has no throughput table: GPU jobs need one (config/config.yaml, docs/site.md)")
    gpus = table["gpus"]
    if site.gpu_type not in gpus:
        raise PlanError(
            f"{site.source}: gpu_type {site.gpu_type!r} is not in the config's throughput.gpus table "
            f"(have {sorted(gpus)}); name one of them or add a row for your GPU (docs/site.md)"
        )
    row = gpus[site.gpu_type]
    if row.get("mem_gb") and site.gpu_mem_gb > float(row["mem_gb"]):
        raise PlanError(
            f"{site.source}: gpu_mem_gb {site.gpu_mem_gb:g} but a {site.gpu_type} has {row['mem_gb']:g} GB "
            "(throughput.gpus in the config): name the row of your GPU in gpu_type"
        )
    return Throughput(
        gpu_type=site.gpu_type,
        decode_tokens_per_s=float(row["decode_tokens_per_s"]),
        peak_tflops=float(row["peak_tflops"]),
        mfu=float(row["mfu"]),
        intra_node_gb_s=float(row["intra_node_gb_s"]),
        reference_params_b=float(table["reference_params_b"]),
        server_start_s=float(table["server_start_s"]),
        startup_min=float(table["startup_min"]),
        safety=float(table["safety"]),
        bf16=bool(row.get("bf16", True)),
        compute_capability=row.get("compute_capability"),
        mem_gb=row.get("mem_gb"),
    )


def limit_needed(est_min: float, site: Site, tp: Throughput) -> int:
    """THE time-limit formula of every GPU job (prediction, difficulty, training): ``safety x estimate +
    startup_min`` minutes, at least ``min_runtime_min``; uncapped (callers compare it with the site's limits)."""
    return int(max(float(site.min_runtime_min), tp.safety * est_min + tp.startup_min))


def time_limit(est_min: float, site: Site, tp: Throughput, job: str, what: str = "") -> int:
    """SLURM minutes of a job's first attempt, estimated at ``est_min`` (:func:`limit_needed`); more than
    ``max_runtime_min`` is a :class:`PlanError` naming the job and ``what`` to change. (Retries ask attempt x this,
    capped: :func:`gpu_job_resources`.)"""
    need = limit_needed(est_min, site, tp)
    if need > site.max_runtime_min:
        raise TooLong(
            f"{job}: needs a time limit of {need} min ({tp.safety} x estimate {est_min:.0f} min + "
            f"{tp.startup_min:.0f} min on {tp.gpu_type}) but the site allows {site.max_runtime_min} min "
            f"(max_runtime_min in {site.source}); {what or 'use a partition with a longer limit'}"
        )
    return need


# --------------------------------------------------------------------------------------------- model sizes

# Exact parameter counts of the paper's training bases (the number in their names is rounded): the ids they are
# known by, so that a model trained from one of them, and the base itself, are sized alike for inference and training.
KNOWN_PARAMS_B = {"qwen2.5-7b-instruct": 7.62, "qwen2.5-32b-instruct": 32.8}


def params_b_from_name(name: str) -> float | None:
    """Billions of parameters written in a model id ("...-72B-...", "...8B..."), or None."""
    m = re.findall(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", name)
    return float(m[-1]) if m else None


def params_b(idents: list[str], explicit: float | None, where: str) -> float:
    """THE parameter count (billions) of a model, for inference and training alike: ``explicit`` (a config's
    ``params_b``) when given, else the exact count of a known base, else the number in the first id that has one;
    none of these is a :class:`PlanError` naming ``where`` to add ``params_b``."""
    if explicit:
        return float(explicit)
    for ident in idents:
        short = ident.rstrip("/").rsplit("/", 1)[-1].lower()
        if short in KNOWN_PARAMS_B:
            return KNOWN_PARAMS_B[short]
        got = params_b_from_name(short)
        if got:
            return got
    raise PlanError(f"{where}: cannot tell its size from {[i for i in idents if i]}; add params_b: <billions>")


def run_params_b(cfg: Mapping[str, Any], run: str) -> float:
    """Parameters (billions) of a training run's base: the run's ``params_b``, else its base's id."""
    entry = ((cfg.get("train") or {}).get("runs") or {})[run]
    return params_b([str(entry.get("base", ""))], entry.get("params_b"), f"train.runs.{run}")


def model_params_b(cfg: Mapping[str, Any], name: str) -> float:
    """Parameters (billions) of a prediction model: its ``params_b``, else its training run's size, else its id."""
    entry = cfg["models"][name]
    if not entry.get("params_b") and entry.get("train"):
        return run_params_b(cfg, entry["train"])
    return params_b([entry.get("path") or ""], entry.get("params_b"), f"models.{name}")


def difficulty_params_b(cfg: Mapping[str, Any], dmodel: str) -> float:
    entry = cfg["curate"]["difficulty"]["models"][dmodel]
    return params_b([entry["path"]], entry.get("params_b"), f"curate.difficulty.models.{dmodel}")


# --------------------------------------------------------------------------------------------- SGLang layout


@dataclass(frozen=True)
class Layout:
    tp: int
    dp: int

    @property
    def gpus(self) -> int:
        return self.tp * self.dp


def min_tp(params_b: float, site: Site, mem_fraction_static: float) -> int:
    """Smallest power of two of GPUs whose memory holds the bf16 weights with room for the KV cache."""
    weights_gb = params_b * BF16_BYTES
    usable = site.gpu_mem_gb * mem_fraction_static * (1 - KV_CACHE_MIN_FRACTION)
    tp = 1
    while weights_gb / tp > usable:
        tp *= 2
    return tp


def engine_layout(site: Site, params_b: float, engine: Mapping[str, Any], job: str) -> Layout:
    """tp x dp of one SGLang model on one node of the site (an explicit ``tp``/``dp`` is honoured if it fits)."""
    mfs = float(engine.get("mem_fraction_static", 0.8))
    need = min_tp(params_b, site, mfs)
    tp = int(engine.get("tp") or need)
    if tp > site.gpus_per_node:
        raise (PlanError if engine.get("tp") else Unfit)(
            f"{job}: a {params_b:g}B model needs tp {tp} ({params_b * BF16_BYTES:.0f} GB of bf16 weights; "
            f"{site.gpu_mem_gb:g} GB GPUs x mem_fraction_static {mfs}, {KV_CACHE_MIN_FRACTION:.0%} kept for the KV "
            f"cache) but a node has {site.gpus_per_node} GPUs and SGLang runs within one node here: use a site "
            "with more or larger GPUs per node, raise engine.mem_fraction_static, or drop the model"
        )
    dp = int(engine.get("dp") or site.gpus_per_node // tp)
    if tp * dp > site.gpus_per_node:
        raise PlanError(
            f"{job}: engine tp {tp} x dp {dp} = {tp * dp} GPUs but a node of the site has "
            f"{site.gpus_per_node}: remove engine.tp/dp to derive them, or lower dp"
        )
    return Layout(tp, dp)


def shrink_dp(layout: Layout, gpu_seconds: float, explicit_dp: bool) -> Layout:
    """Fewest replicas (powers of two up to the full layout) that finish the work within SMALL_JOB_MIN."""
    if explicit_dp:
        return layout
    dp = 1
    while dp < layout.dp and gpu_seconds / (layout.tp * dp) / 60 > SMALL_JOB_MIN:
        dp *= 2
    return Layout(layout.tp, min(dp, layout.dp))


# --------------------------------------------------------------------------------------------- GPU jobs


@dataclass(frozen=True)
class GpuJob:
    """A one-node SGLang job (prediction or difficulty): its layout, work and time."""

    name: str
    layout: Layout
    tokens: int
    params_b: float
    gpu_seconds: float  # decoding work, GPU-seconds at the site's throughput
    est_min: float  # wall-time estimate on the layout's GPUs, server start included
    limit_min: int  # SLURM time limit of the first attempt
    full_node_gpus: int = 0  # the whole-node layout's GPUs and limit when the job was shrunk (site.shrink_small_jobs)
    full_node_limit_min: int = 0

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    @property
    def reserved_gpu_min(self) -> int:
        return self.gpus * self.limit_min

    @property
    def full_node_reserved_gpu_min(self) -> int:
        """GPU-minutes this job would reserve on the whole-node layout (its own when it was not shrunk)."""
        return self.full_node_gpus * self.full_node_limit_min or self.reserved_gpu_min


def decode_gpu_seconds(tokens: int, params_b: float, tp: Throughput) -> float:
    """Decoding is memory-bound: GPU-seconds per token grow with the parameter count."""
    return tokens * params_b / (tp.decode_tokens_per_s * tp.reference_params_b)


def _sglang_job(
    cfg: Mapping[str, Any], site: Site, name: str, params_b: float, engine: Mapping[str, Any], tokens: int, what: str
) -> GpuJob:
    tput = throughput(cfg, site)
    full = engine_layout(site, params_b, engine, name)
    work = decode_gpu_seconds(tokens, params_b, tput)

    def on(layout: Layout) -> GpuJob:
        est = work / layout.gpus / 60 + tput.server_start_s / 60
        return GpuJob(name, layout, tokens, params_b, work, est, time_limit(est, site, tput, name, what))

    job = on(full)
    if site.shrink_small_jobs:
        small = on(shrink_dp(full, work, explicit_dp=bool(engine.get("dp"))))
        if small.reserved_gpu_min < job.reserved_gpu_min:  # only where fewer GPUs reserve less
            return dataclasses.replace(small, full_node_gpus=job.gpus, full_node_limit_min=job.limit_min)
    return job


def predict_tokens(cfg: Mapping[str, Any], model: str, dataset: str) -> int:
    """Upper bound of tokens one model x dataset generates over all its variants (every thinking phase at its full
    budget, every answer and baseline at its full ``max_tokens``)."""
    return _items(cfg, [dataset]) * item_tokens(cfg, model)


def item_tokens(cfg: Mapping[str, Any], model: str) -> int:
    """Upper bound of tokens one item generates over all the model's variants."""
    ev = cfg["eval"]
    per_item = 0
    for v in cfgview.model_variants(cfg, model):
        per_item += ev["baseline_max_tokens"] if v.budget is None else v.budget + ev["answer_max_tokens"]
    return per_item


def uses_sglang(engine: Mapping[str, Any]) -> bool:
    return engine.get("backend", "sglang") == "sglang"


def engine_gpus(site: Site, engine: Mapping[str, Any], job: str) -> int:
    """GPUs a non-SGLang (transformers) job requests: the engine's ``gpus``, else 1 with ``device: cuda`` and 0
    otherwise (``cpu``, or ``auto``, which uses a GPU only when the job has one). SGLang's GPUs are tp x dp."""
    gpus = engine.get("gpus")
    if gpus is None:
        return 1 if str(engine.get("device", "cpu")).startswith("cuda") else 0
    if int(gpus) > site.gpus_per_node:
        raise PlanError(
            f"{job}: engine.gpus {gpus} but a node of the site has {site.gpus_per_node} GPUs ({site.source})"
        )
    return int(gpus)


def _fixed_job(site: Site, name: str, engine: Mapping[str, Any], tokens: int) -> GpuJob:
    """A job of the transformers backend: one process on its ``engine_gpus`` (none on a CPU), a fixed time limit."""
    gpus = engine_gpus(site, engine, name)
    return GpuJob(name, Layout(gpus, 1 if gpus else 0), tokens, 0.0, 0.0, FIXED_RUNTIME_MIN, FIXED_RUNTIME_MIN)


def _check_sglang_engine(engine: Mapping[str, Any], job: str) -> None:
    if engine.get("gpus") is not None:
        raise PlanError(
            f"{job}: engine.gpus is for the transformers backend; an SGLang job takes tp x dp GPUs (engine.tp/dp, "
            "derived from the site when not given)"
        )


def predict_job(
    cfg: Mapping[str, Any], site: Site, model: str, datasets: list[str], items: int | None = None
) -> GpuJob:
    """The prediction job of one model over ``datasets`` (one dataset, or all when datasets are grouped), or over
    ``items`` of them (a shard, :mod:`m1repro.shards`)."""
    view = cfgview.model(cfg, model)
    if items is None:
        tokens = sum(predict_tokens(cfg, model, d) for d in datasets)
    else:
        tokens = items * item_tokens(cfg, model)
    name = f"eval_predict {model}/{datasets[0] if len(datasets) == 1 else 'all'}"
    if items is not None:
        name += f" ({items} items)"
    if not uses_sglang(view.engine):
        return _fixed_job(site, name, view.engine, tokens)
    _check_sglang_engine(view.engine, name)
    what = (
        "fewer budgets or forcing rounds (eval.budgets, eval.forcing), eval.max_items_per_dataset, "
        "eval.group_datasets: false, or a partition with a longer limit"
    )
    return _sglang_job(cfg, site, name, model_params_b(cfg, model), view.engine, tokens, what)


def faithful_batch_job(cfg: Mapping[str, Any], site: Site, model: str) -> GpuJob:
    """The smallest piece a faithful prediction job over the whole file can be cut into: one of the original's
    batches (``eval.batch_size`` consecutive items, every variant). When even that needs more than the site's time
    limit the model cannot be evaluated faithfully here: an :class:`Unfit` naming the fix (the exact mode, which
    may split anywhere, or a longer limit)."""
    view = cfgview.model(cfg, model)
    ev = cfg["eval"]
    if not uses_sglang(view.engine):  # the transformers backend: a fixed limit, no batch to check
        return predict_job(cfg, site, model, list(ev["datasets"]))
    per_item = sum(predict_tokens(cfg, model, d) for d in ev["datasets"]) // max(1, _items(cfg, ev["datasets"]))
    tokens = per_item * min(int(ev["batch_size"]), _items(cfg, ev["datasets"]))
    name = f"eval_predict faithful/{model}/all (one batch of {ev['batch_size']} items)"
    what = (
        "the faithful mode cannot cut the original's batch of consecutive items: use eval.budget_mode: exact "
        "(split anywhere), fewer forcing rounds (eval.forcing), or a partition with a longer limit"
    )
    try:
        return _sglang_job(cfg, site, name, model_params_b(cfg, model), view.engine, tokens, what)
    except TooLong as e:
        raise Unfit(str(e)) from None


def _items(cfg: Mapping[str, Any], datasets: list[str]) -> int:
    cap = cfg["eval"].get("max_items_per_dataset")
    return sum(cap or DATASET_SIZES.get(d, 1000) for d in datasets)


def engine_options(
    cfg: Mapping[str, Any], site: Site, model: str, datasets: list[str], items: int | None = None
) -> dict[str, Any]:
    """The model's engine settings with the derived tp/dp filled in (what the prediction job's params carry)."""
    view = cfgview.model(cfg, model)
    if not uses_sglang(view.engine):
        return dict(view.engine)
    layout = predict_job(cfg, site, model, datasets, items).layout
    return {**view.engine, "tp": layout.tp, "dp": layout.dp}


def curation_counts(cfg: Mapping[str, Any]) -> dict[str, int]:
    """The paper's Table 3 totals (``report.paper_numbers``): the sizes planned before curation has run."""
    path = Path((cfg.get("report") or {}).get("paper_numbers", "config/paper_numbers.yaml"))
    return dict(_table3_totals(path if path.is_absolute() else REPO / path))


@functools.lru_cache(maxsize=4)
def _table3_totals(path: Path) -> tuple[tuple[str, int], ...]:
    # read once per file: every difficulty job's resources ask for it while the workflow plans
    rows = {r["row"]: r["values"][-1] for r in read_yaml(path)["table3"]["rows"]}
    return (
        ("pool", int(rows["Initial collection"])),
        ("hard", int(rows["+After difficulty filtering"])),
        ("m23k", int(rows["+Decontamination & deduplication (m23K)"])),
    )


def difficulty_job(cfg: Mapping[str, Any], site: Site, dmodel: str, items: int | None = None) -> GpuJob:
    """The difficulty job of one model: every pool question at ``max_tokens`` (``items``: the pool's size when
    known, else the paper's initial collection, an upper bound)."""
    diff = cfg["curate"]["difficulty"]
    engine = diff["models"][dmodel].get("engine") or {}
    n = items if items is not None else curation_counts(cfg)["pool"]
    tokens = n * int(diff["max_tokens"])
    name = f"curate_difficulty_model {dmodel}"
    if diff.get("backend", "engine") != "engine":  # an API does the work; the job only waits for it
        return GpuJob(name, Layout(0, 0), tokens, 0.0, 0.0, FIXED_RUNTIME_MIN, FIXED_RUNTIME_MIN)
    if not uses_sglang(engine):
        return _fixed_job(site, name, engine, tokens)
    _check_sglang_engine(engine, name)
    what = (
        "a shard is at least one batch of questions: lower curate.difficulty.batch_size or max_tokens, use "
        "curate.difficulty.backend: api, or a partition with a longer limit"
    )
    return _sglang_job(cfg, site, name, difficulty_params_b(cfg, dmodel), engine, tokens, what)


def difficulty_engine_options(cfg: Mapping[str, Any], dmodel: str, job: GpuJob) -> dict[str, Any]:
    """The difficulty model's engine settings with the tp/dp of its planned ``job`` (m1repro.shards.difficulty_job)."""
    engine = dict(cfg["curate"]["difficulty"]["models"][dmodel].get("engine") or {})
    if not uses_sglang(engine) or cfg["curate"]["difficulty"].get("backend", "engine") != "engine":
        return engine
    return {**engine, "tp": job.layout.tp, "dp": job.layout.dp}


# --------------------------------------------------------------------------------------------- SLURM requests


def node_share(site: Site, gpus_on_node: int) -> tuple[int, int]:
    """(CPUs, memory MB) of one node in proportion to the GPUs a job takes on it."""
    cpus = site.cpus_per_node * gpus_on_node // site.gpus_per_node
    mem = site.mem_mb_per_node * gpus_on_node // site.gpus_per_node
    return max(1, cpus), mem


def wants_gpu(resources: Mapping[str, Any]) -> bool:
    return int(resources.get("gpu") or 0) > 0 or "gpu" in str(resources.get("gres") or "")


def partition(site: Site, resources: Mapping[str, Any]) -> str:
    """For a job that requests GPUs (``gpu`` or a ``gres`` naming gpu) the GPU partition with the shortest limit that
    holds its ``runtime``, else the CPU partition."""
    if not wants_gpu(resources):
        return site.cpu_partition
    return site.gpu_partition_for(int(resources.get("runtime") or 0))


def _placement(site: Site, res: dict[str, Any]) -> dict[str, Any]:
    """Partition, account, constraint, QOS and the site's extra sbatch flags of a job (all from the site file)."""
    gpu = wants_gpu(res)
    res["slurm_partition"] = partition(site, res)
    if site.account:
        res["slurm_account"] = site.account
    if site.gpu_constraint and gpu:
        res["constraint"] = site.gpu_constraint
    qos = (site.gpu_qos or site.qos) if gpu else site.qos
    if qos:
        res["qos"] = qos
    if site.extra_sbatch:
        res["slurm_extra"] = site.extra_sbatch
    return res


def gpu_job_resources(site: Site, job: GpuJob, attempt: int = 1) -> dict[str, Any]:
    """Snakemake resources of a one-node GPU job: ``gpu`` (+ ``gpu_model``: ``--gpus=a100:4``), CPUs and memory for
    its share of the node, the time limit by attempt, partition and account. A job with no GPU gets only placement
    and time (its CPUs and memory come from the profile's defaults)."""
    if job.gpus == 0:
        return _placement(site, {"runtime": job.limit_min * attempt})
    cpus, mem = node_share(site, job.gpus)
    # --nodes=1: without it SLURM may spread --gpus over several nodes where GPUs are fragmented
    res: dict[str, Any] = {"gpu": job.gpus, "nodes": 1, "cpus_per_task": cpus, "mem_mb": mem, "tasks_per_gpu": 0}
    if site.gpu_model:
        res["gpu_model"] = site.gpu_model
    res["runtime"] = min(site.max_runtime_min, job.limit_min * attempt)
    return _placement(site, res)


def cpu_job_resources(site: Site, runtime_min: int | None = None) -> dict[str, Any]:
    """Placement of a CPU job (its CPUs and memory stay the rule's/profile's)."""
    res: dict[str, Any] = {} if runtime_min is None else {"runtime": min(site.max_runtime_min, runtime_min)}
    return _placement(site, res)


# --------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainJob:
    """A training run placed on the site."""

    name: str
    nodes: int
    gpus_per_node: int
    gradient_accumulation_steps: int
    est_min: float  # wall-time estimate of the whole run
    limit_min: int  # SLURM time limit of one attempt
    attempts: int  # attempts at limit_min the run needs (it resumes from checkpoints)
    device: str
    tokens: int = 0  # tokens processed over all epochs

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node if self.device == "cuda" else 0


def train_layout(site: Site, world: int, job: str) -> tuple[int, int]:
    """(nodes, GPUs per node) for ``world`` GPUs: as few nodes as hold them, the same GPUs on each node."""
    for nodes in range(1, world + 1):
        if world % nodes == 0 and world // nodes <= site.gpus_per_node:
            return nodes, world // nodes
    raise PlanError(f"{job}: cannot place {world} GPUs")  # unreachable: nodes == world always fits


def check_zero3_memory(site: Site, params: float, world: int, job: str) -> None:
    per_gpu_gb = ZERO3_BYTES_PER_PARAM * params / world / 1e9
    if per_gpu_gb > ZERO3_MAX_GPU_FRACTION * site.gpu_mem_gb:
        raise Unfit(
            f"{job}: ZeRO-3 keeps ~{ZERO3_BYTES_PER_PARAM} bytes per parameter, {per_gpu_gb:.0f} GB per GPU over "
            f"{world} GPUs, more than {ZERO3_MAX_GPU_FRACTION:.0%} of the site's {site.gpu_mem_gb:g} GB GPUs: train "
            "on more GPUs (train.runs.<run>.nodes x gpus_per_node, keeping global_batch_size a multiple of them)"
        )


def train_job(cfg: Mapping[str, Any], site: Site, run: str, counts: tuple[int, int] | None = None) -> TrainJob:
    """Place one run: the config's GPUs (``nodes x gpus_per_node``) over the site's nodes, and its time.
    ``counts`` = (examples, tokens) of the set when it exists, else the paper's nominal sizes."""
    train = cfg.get("train") or {}
    spec = resolve_run(train, run)
    name = f"train_sft {run}"
    fixed = (train.get("runs") or {}).get(run, {}).get("runtime_min")
    if spec.device != "cuda":
        limit = int(fixed or FIXED_RUNTIME_MIN)
        return TrainJob(name, 1, 0, spec.gradient_accumulation_steps, limit, limit, 1, spec.device)
    tput = throughput(cfg, site)
    if spec.bf16 and not tput.bf16:
        cc = f" (compute capability {tput.compute_capability:.1f})" if tput.compute_capability else ""
        raise Unfit(
            f"{name}: trains in bf16 (train hparams bf16: true, the paper's) but a {tput.gpu_type}{cc} has no bf16: "
            "use a partition with Ampere or newer GPUs (A100, L40S, H100)"
        )
    world = spec.nodes * spec.gpus_per_node
    nodes, gpn = train_layout(site, world, name)
    params = run_params_b(cfg, run) * 1e9
    if spec.deepspeed:
        check_zero3_memory(site, params, world, name)
    accum = gradient_accumulation(spec.global_batch_size, spec.per_device_batch_size, world)
    examples, tokens = counts or est.nominal_token_count(spec.data)
    e = est.estimate(examples, tokens, params, nodes, gpn, spec.epochs, est.Hardware.of(tput, site))
    if fixed:
        limit = int(fixed)
        if limit > site.max_runtime_min:
            raise PlanError(
                f"{name}: train.runs.{run}.runtime_min {limit} exceeds the site's max_runtime_min "
                f"{site.max_runtime_min} ({site.source})"
            )
        return TrainJob(name, nodes, gpn, accum, e.wall_s / 60, limit, 1, spec.device, int(tokens * spec.epochs))
    need = limit_needed(e.wall_s / 60, site, tput)
    attempts = math.ceil(need / site.max_runtime_min)
    epoch_min = need / max(1.0, float(spec.epochs))
    resumes = spec.save_strategy in ("epoch", "steps")
    if attempts > 1 and (
        not resumes or attempts > MAX_ATTEMPTS or (spec.save_strategy == "epoch" and epoch_min > site.max_runtime_min)
    ):
        raise PlanError(
            f"{name}: needs ~{need} min (estimate {e.wall_s / 60:.0f} min x safety on {nodes} x {gpn} "
            f"{tput.gpu_type}) but the site allows {site.max_runtime_min} min per attempt and a run resumes only "
            f"from its checkpoints over at most {MAX_ATTEMPTS} attempts: use a partition with a longer limit, "
            f"more GPUs (train.runs.{run}.nodes), or save_strategy: steps"
        )
    return TrainJob(
        name,
        nodes,
        gpn,
        accum,
        e.wall_s / 60,
        min(need, site.max_runtime_min),
        attempts,
        spec.device,
        int(tokens * spec.epochs),
    )


def train_resources(site: Site, job: TrainJob, attempt: int = 1) -> dict[str, Any]:
    """Snakemake resources of a training run: ``nodes``, ``gres=gpu[:model]:G`` per node (never ``gpu``/
    ``gpu_model``), CPUs and memory per node for its GPUs, the time limit by attempt, partition and account.
    (``mpi``/``tasks`` for the per-node launcher stay m1repro.train.workflow's.)"""
    if job.device != "cuda":
        return _placement(site, {"nodes": 1, "runtime": job.limit_min * attempt})
    cpus, mem = node_share(site, job.gpus_per_node)
    gres = f"gpu:{site.gpu_model}:{job.gpus_per_node}" if site.gpu_model else f"gpu:{job.gpus_per_node}"
    res: dict[str, Any] = {
        "nodes": job.nodes,
        "gres": gres,
        "cpus_per_task": cpus,
        "mem_mb": mem,
        "tasks_per_gpu": 0,
        "runtime": min(site.max_runtime_min, job.limit_min * attempt),
    }
    return _placement(site, res)


def gpu_rule_resources(site: Site, job_of: Callable[[Any], GpuJob]) -> dict[str, Any]:
    """A GPU rule's ``resources:`` as Snakemake wants them, one callable per key, for the job ``job_of(wildcards)``
    gives (e.g. ``lambda w: predict_job(config, site, w.model, datasets)``). The keys are fixed when the rules are
    parsed, so a job without GPUs (the transformers backend on a CPU) gets ``gpu`` 0 and an empty ``gpu_model``,
    which the SLURM plugin leaves out, and the CPU partition."""

    def pick(key: str, default: Any) -> Callable[..., Any]:
        def get(wildcards: Any, attempt: int = 1) -> Any:
            return gpu_job_resources(site, job_of(wildcards), attempt).get(key, default)

        return get

    def runtime(wildcards: Any, attempt: int) -> int:
        return int(gpu_job_resources(site, job_of(wildcards), attempt)["runtime"])

    out: dict[str, Any] = {
        "gpu": pick("gpu", 0),
        "nodes": 1,
        "cpus_per_task": pick("cpus_per_task", 1),
        "mem_mb": pick("mem_mb", 8_000),
        "runtime": runtime,
        "slurm_partition": pick("slurm_partition", site.cpu_partition),
        "tasks_per_gpu": 0,
    }
    if site.gpu_model:
        out["gpu_model"] = pick("gpu_model", "")
    if site.account:
        out["slurm_account"] = site.account
    if site.gpu_constraint:
        out["constraint"] = site.gpu_constraint  # every job of a GPU rule: keys cannot vary per job
    if site.qos or site.gpu_qos:
        out["qos"] = pick("qos", site.qos or site.gpu_qos)  # a CPU job of a GPU rule (keys are fixed per rule)
    if site.extra_sbatch:
        out["slurm_extra"] = site.extra_sbatch
    return out
