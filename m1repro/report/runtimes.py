"""Per-job runtimes from Snakemake benchmark files, and the prediction part of the planner's bill."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from m1repro.io import atomic_open
from m1repro.log import log_event

log = logging.getLogger(__name__)


def runtimes_frame(bench_paths: list[str], gpus: dict[str, int]) -> pl.DataFrame:
    """One row per prediction job (``logs/benchmarks/eval_predict/{budget_mode}/{model}/{part}/{shard}.tsv``; part
    is a dataset or ``all``, shard its items ``start-stop``): wall seconds, peak RSS, GPUs of the job (``gpus`` keyed
    ``{budget_mode}/{model}/{part}/{shard}``, as :func:`job_gpus` gives) and GPU-hours (wall x GPUs)."""
    rows = []
    for p in bench_paths:
        mode, model, dataset, shard = Path(p).with_suffix("").parts[-4:]
        b = pl.read_csv(p, separator="\t")
        s = float(b["s"].mean()) if b.height else float("nan")
        g = int(gpus.get(f"{mode}/{model}/{dataset}/{shard}", 0))
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "shard": shard,
                "wall_s": s,
                "max_rss_mb": float(b["max_rss"].max()) if "max_rss" in b.columns and b.height else None,
                "gpus": g,
                "gpu_hours": s * g / 3600,
            }
        )
    schema = {
        "model": pl.String,
        "dataset": pl.String,
        "shard": pl.String,
        "wall_s": pl.Float64,
        "max_rss_mb": pl.Float64,
        "gpus": pl.Int64,
        "gpu_hours": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def plan_per_model(plan_csv: str | Path, models: list[str]) -> pl.DataFrame:
    """The prediction part of the planner's ``results/plan.csv`` (m1repro.plan) for ``models``: per model its jobs,
    GPUs per job, generated-token upper bound, GPU-hours estimated and reserved, and a total row."""
    jobs = pl.read_csv(plan_csv).filter(
        (pl.col("stage") == "prediction") & (pl.col("job") != "total") & pl.col("item").is_in(models)
    )
    per = (
        jobs.group_by("item", maintain_order=True)
        .agg(
            pl.len().alias("jobs"),
            pl.col("gpus").max().alias("gpus"),
            pl.col("tokens_out").sum().alias("tokens_upper_bound"),
            pl.col("gpu_hours_estimated").sum(),
            pl.col("gpu_hours_reserved").sum(),
        )
        .rename({"item": "model"})
        .with_columns(pl.col("jobs").cast(pl.Int64))
    )
    order = {m: i for i, m in enumerate(models)}
    per = per.sort(pl.col("model").replace_strict(order, default=len(order)))
    total = per.select(
        pl.lit("total").alias("model"),
        pl.col("jobs").sum(),
        pl.lit(None, dtype=pl.Int64).alias("gpus"),
        pl.col("tokens_upper_bound").sum(),
        pl.col("gpu_hours_estimated").sum(),
        pl.col("gpu_hours_reserved").sum(),
    )
    return pl.concat([per, total.cast(per.schema)]) if per.height else per


def job_gpus(plan_csv: str | Path) -> dict[str, int]:
    """GPUs of each prediction job as ``{budget_mode}/{model}/{part}/{shard}`` (the job's wildcards in the plan)."""
    jobs = pl.read_csv(plan_csv).filter((pl.col("stage") == "prediction") & (pl.col("job") != "total"))
    return {j.split(" ", 1)[1]: int(g) for j, g in jobs.select("job", "gpus").iter_rows()}


def write_csv(df: pl.DataFrame, path: str, precision: int = 2) -> None:
    with atomic_open(path) as fh:
        df.write_csv(fh, float_precision=precision)
    log_event(log, "written", path=path, rows=df.height)
