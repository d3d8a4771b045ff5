"""Per-job runtimes from Snakemake benchmark files, and the GPU-hour plan of an evaluation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from m1repro.io import atomic_open
from m1repro.log import log_event

log = logging.getLogger(__name__)


def runtimes_frame(bench_paths: list[str], gpus: dict[str, int]) -> pl.DataFrame:
    """One row per prediction job (``logs/benchmarks/eval_predict/{budget_mode}/{model}/{part}.tsv``; part is a
    dataset or ``all``): wall seconds, peak RSS, GPUs of the job and GPU-hours (wall x GPUs)."""
    rows = []
    for p in bench_paths:
        path = Path(p)
        model, dataset = path.parent.name, path.stem
        b = pl.read_csv(p, separator="\t")
        s = float(b["s"].mean()) if b.height else float("nan")
        g = int(gpus.get(model, 0))
        rows.append({"model": model, "dataset": dataset, "wall_s": s,
                     "max_rss_mb": float(b["max_rss"].max()) if "max_rss" in b.columns and b.height else None,
                     "gpus": g, "gpu_hours": s * g / 3600})
    schema = {"model": pl.String, "dataset": pl.String, "wall_s": pl.Float64, "max_rss_mb": pl.Float64,
              "gpus": pl.Int64, "gpu_hours": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def plan_frame(plan: list[dict[str, Any]]) -> pl.DataFrame:
    """The GPU-hour plan of the reported models (rows from m1repro.plan: tokens upper bound, GPUs, GPU-hours), with
    the wall hours on the model's GPUs and a total row."""
    schema = {"model": pl.String, "mode": pl.String, "variants": pl.Int64, "tokens_upper_bound": pl.Int64,
              "gpus": pl.Int64, "gpu_hours": pl.Float64, "wall_hours": pl.Float64}
    rows = [{"model": m["name"], "mode": m["mode"], "variants": m["variants"], "tokens_upper_bound": m["tokens"],
             "gpus": m["gpus"], "gpu_hours": m["gpu_hours"],
             "wall_hours": m["gpu_hours"] / m["gpus"] if m["gpus"] else None} for m in plan]
    if rows:
        rows.append({"model": "total", "mode": "", "variants": None, "tokens_upper_bound": sum(r["tokens_upper_bound"]
                     for r in rows), "gpus": None, "gpu_hours": sum(r["gpu_hours"] for r in rows), "wall_hours": None})
    return pl.DataFrame(rows, schema=schema)


def write_csv(df: pl.DataFrame, path: str, precision: int = 2) -> None:
    with atomic_open(path) as fh:
        df.write_csv(fh, float_precision=precision)
    log_event(log, "written", path=path, rows=df.height)
