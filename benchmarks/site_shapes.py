"""The bill of the paper run on each site shape of tests/site_shapes.yaml: jobs, GPU-hours estimated and reserved
(with small prediction jobs on fewer GPUs, and on whole nodes), API dollars, what the site cannot run and why.

    .venv/bin/python benchmarks/site_shapes.py [--markdown]

Planning only (m1repro.plan, the functions that size the SLURM requests). Where a shape's time limit is shorter
than a job (long_jobs: true), the job is counted as one job at its full estimate and listed: sharding splits it
(issue 18 item 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from m1repro import plan  # noqa: E402
from m1repro.config import resolve_config  # noqa: E402
from m1repro.io import read_yaml  # noqa: E402
from m1repro.site import load_site, site_from_dict  # noqa: E402


def _why(message: str) -> str:
    for needle, short in (
        ("needs tp", "weights fit no tp of a node"),
        ("ZeRO-3", "ZeRO-3 shard too big for the GPUs"),
        ("no bf16", "bf16 training, GPU without bf16"),
        ("one batch of", "a faithful batch is longer than the limit"),
        ("its training run", "its training run cannot run"),
        ("trains only", "its models cannot be evaluated"),
    ):
        if needle in message:
            return short
    return message[:60]


def shape_row(name: str, shape: dict) -> dict:
    spec = shape["site"]
    site = load_site(REPO / spec) if isinstance(spec, str) else site_from_dict(spec, name)
    overlay = shape.get("overlay") or {}
    cfg = resolve_config(overlay, workdir=REPO)
    problems = plan.site_problems(plan.only_models(cfg)[0], site)
    blockers = [p for p in problems if not p.left_out and "needs a time limit" not in p.message]
    if blockers:  # the curated sets cannot be made here: bill the released sets instead, and say so
        overlay = {**overlay, "curate": {"sets_source": "released"}}
        cfg = resolve_config(overlay, workdir=REPO)
        problems = plan.site_problems(cfg, site)
    left = [p for p in problems if p.left_out]
    long = [p for p in problems if not p.left_out]
    # long jobs counted once at their full estimate (as their shards will run them, less one start per shard)
    df = plan.plan_frame(plan.without(cfg, left), dataclasses.replace(site, max_runtime_min=10**7))
    total = df.filter((pl.col("job") == "total") & (pl.col("stage") == "all")).row(0, named=True)
    reasons = Counter(_why(p.message) for p in left)
    notes = [f"{k}: {v}" for k, v in overlay.get("curate", {}).items()]
    if blockers:
        notes.append("curated sets impossible here: " + "; ".join(p.message.split(":")[0] for p in blockers))
    return {
        "shape": name + (f" ({'; '.join(notes)})" if notes else ""),
        "jobs": df.filter(pl.col("job") != "total").height,
        "est": total["gpu_hours_estimated"],
        "reserved": total["gpu_hours_reserved"],
        "full": total["gpu_hours_full_node"],
        "usd": total["usd"],
        "left_out": "; ".join(f"{n} x {r}" for r, n in reasons.items()) or "-",
        "long": "; ".join(sorted({p.message.split(":")[0] for p in long})) or "-",
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    shapes = read_yaml(REPO / "tests" / "site_shapes.yaml")
    print(
        "| site shape | jobs | GPU-h estimated | GPU-h reserved | GPU-h reserved, whole nodes | API USD | left out "
        "(models/runs x why) | longer than one limit (split by sharding) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name, shape in shapes.items():
        r = shape_row(name, shape)
        print(
            f"| {r['shape']} | {r['jobs']} | {r['est']:,.0f} | {r['reserved']:,.0f} | {r['full']:,.0f} | "
            f"{r['usd']:,.0f} | {r['left_out']} | {r['long']} |"
        )


if __name__ == "__main__":
    main()
