"""Runtimes from benchmark files and the GPU-hour plan of the released evaluation."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from m1repro.report.runtimes import job_gpus, plan_per_model, runtimes_frame

REPO = Path(__file__).resolve().parent.parent
BENCH = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_runtimes_per_dataset_grouped_and_sharded(tmp_path):
    """Benchmark files as eval_predict writes them:
    logs/benchmarks/eval_predict/{budget_mode}/{model}/{part}/{shard}.tsv."""
    files = {
        ("faithful", "m1-7B", "NEJM", "0-end"): "1800.0\t0:30:00\t2048.5",
        ("faithful", "tiny", "all", "0-end"): "36.0\t0:00:36\t900",
        ("faithful", "m1-32B", "all", "1024-end"): "60.0\t0:01:00\t100",
    }
    paths = []
    for parts, row in files.items():
        path = tmp_path / "eval_predict" / "/".join(parts[:-1]) / f"{parts[-1]}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BENCH + row + "\t0\t0\t0\t0\t0\t0\t10\n")
        paths.append(str(path))
    df = runtimes_frame(paths, {"faithful/m1-7B/NEJM/0-end": 8, "faithful/m1-32B/all/1024-end": 4})
    assert df.rows() == [
        ("m1-7B", "NEJM", "0-end", 1800.0, 2048.5, 8, 4.0),
        ("tiny", "all", "0-end", 36.0, 900.0, 0, 0.0),
        ("m1-32B", "all", "1024-end", 60.0, 100.0, 4, 60.0 * 4 / 3600),
    ]


def planned(tmp_path, **eval_overrides):
    """The planner's CSV of the paper config on the shipped (8 x H100) site."""
    from m1repro.config import load_config
    from m1repro.plan import write_plan
    from m1repro.site import load_site

    cfg = load_config(REPO / "config" / "config.yaml")
    cfg["eval"].update(eval_overrides)
    out = tmp_path / "plan.csv"
    write_plan(cfg, load_site(), out)
    return cfg, out


def released_models(cfg):
    from m1repro import cfgview

    return [n for n in cfg["models"] if cfgview.model(cfg, n).table1 and cfgview.model(cfg, n).train is None]


def test_plan_per_model_reads_the_planners_csv(tmp_path):
    cfg, csv = planned(tmp_path)
    models = released_models(cfg)
    df = plan_per_model(csv, models)
    assert df["model"].to_list() == [*models, "total"]
    jobs = pl.read_csv(csv).filter((pl.col("stage") == "prediction") & pl.col("item").is_in(models))
    total = df.row(-1, named=True)
    # one job per model x dataset, or one over all datasets where faithful forcing needs the file's batches
    from m1repro import shards
    from m1repro import workflow as wf
    from m1repro.site import load_site

    site = load_site()
    shards = sum(
        len(shards.prediction_shards(cfg, site, m, "faithful", p))
        for m in models
        for p in wf.prediction_parts(cfg, m, "faithful")
    )
    assert total["jobs"] == jobs.height == shards
    assert total["gpu_hours_reserved"] == pytest.approx(jobs["gpu_hours_reserved"].sum())
    assert total["gpu_hours_reserved"] > total["gpu_hours_estimated"]
    gpus = job_gpus(csv)
    assert (
        gpus["faithful/Med42-70B/NEJM/0-end"] == 4  # tp 4 x dp 1: a small job on fewer GPUs (site shrink_small_jobs)
        and len(gpus) == pl.read_csv(csv).filter((pl.col("stage") == "prediction") & (pl.col("job") != "total")).height
    )


def test_released_estimate_in_docs_matches_the_plan(tmp_path):
    """docs/released.md quotes the released evaluation's GPU-hours of the paper config with one server start per
    model (grouped datasets); recompute them with the planner."""
    import re

    cfg, csv = planned(tmp_path, group_datasets=True)
    total = plan_per_model(csv, released_models(cfg)).row(-1, named=True)["gpu_hours_estimated"]
    doc = (REPO / "docs" / "released.md").read_text()
    quoted = float(re.search(r"\*\*~?([\d,.]+) GPU-hours\*\*", doc).group(1).replace(",", ""))
    assert quoted == pytest.approx(total, rel=0.02)
