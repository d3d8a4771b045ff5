"""The bill of the paper run on each site shape of tests/site_shapes.yaml: jobs, GPU-hours estimated and reserved
(with small prediction jobs on fewer GPUs, and on whole nodes), API dollars, what the site cannot run and why.

    .venv/bin/python benchmarks/site_shapes.py [--markdown]

Planning only (m1repro.plan, the functions that size the SLURM requests): the jobs as the DAG has them, a long
prediction part or difficulty filter cut into shards that fit the shape's limit (m1repro.shards).
"""

from __future__ import annotations

import argparse
import re
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
    fitted, left = plan.fit_to_site(resolve_config(overlay, workdir=REPO), site)
    df = plan.plan_frame(fitted, site)
    total = df.filter((pl.col("job") == "total") & (pl.col("stage") == "all")).row(0, named=True)
    jobs = df.filter(pl.col("job") != "total")["job"].to_list()
    shards = [
        j for j in jobs if (j.startswith("eval_predict") and not j.endswith("/0-end")) or re.search(r" \d+of\d+$", j)
    ]
    reasons = Counter(_why(p.message) for p in left)
    notes = [f"{k}: {v}" for k, v in overlay.get("curate", {}).items()]
    return {
        "shape": name + (f" ({'; '.join(notes)})" if notes else ""),
        "jobs": len(jobs),
        "est": total["gpu_hours_estimated"],
        "reserved": total["gpu_hours_reserved"],
        "full": total["gpu_hours_full_node"],
        "usd": total["usd"],
        "left_out": "; ".join(f"{n} x {r}" for r, n in reasons.items()) or "-",
        "split": len(shards),
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    shapes = read_yaml(REPO / "tests" / "site_shapes.yaml")
    print(
        "| site shape | jobs | GPU-h estimated | GPU-h reserved | GPU-h reserved, whole nodes | API USD | left out "
        "(models/runs x why) | jobs that are shards of a longer part or filter |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name, shape in shapes.items():
        r = shape_row(name, shape)
        print(
            f"| {r['shape']} | {r['jobs']} | {r['est']:,.0f} | {r['reserved']:,.0f} | {r['full']:,.0f} | "
            f"{r['usd']:,.0f} | {r['left_out']} | {r['split']} |"
        )


if __name__ == "__main__":
    main()
