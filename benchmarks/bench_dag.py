"""The paper DAG: dry-run wall time and peak memory, job counts per rule, and model loads per model.

    .venv/bin/python benchmarks/bench_dag.py [--configfile config/config.yaml]

A model load is one prediction job (each job starts one engine): the goal is one per model x dataset job (or one
per model with eval.group_datasets), never one per budget or forcing count.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--target", default="results/table1.csv")
    args = ap.parse_args()
    # a fresh copy of the checkout, so that outputs of earlier runs here do not shrink the DAG
    work = Path(tempfile.mkdtemp(prefix="m1repro-dag-"))
    sys.path.insert(0, str(REPO / "tests"))
    from workflow_helpers import copy_checkout

    copy_checkout(work)
    cmd = [sys.executable, "-m", "snakemake", args.target, "-n", "--configfile", args.configfile, "--quiet", "rules"]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if res.returncode:
        sys.exit(res.stderr[-3000:])
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}
    # model loads: prediction jobs per model, from a full dry run's wildcards
    full = subprocess.run(cmd[:-2], capture_output=True, text=True, cwd=work)
    loads: Counter[str] = Counter()
    rule = None
    for line in full.stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
        m = re.match(r"^\s+wildcards: .*model=([^,\s]+)", line)
        if m and rule and rule.startswith("eval_predict"):
            loads[m.group(1)] += 1
    print(
        json.dumps(
            {
                "config": args.configfile,
                "dry_run_s": round(wall, 2),
                "peak_rss_mb": round(peak_mb, 1),
                "jobs": counts.get("total"),
                "jobs_per_rule": {k: v for k, v in counts.items() if k != "total"},
                "model_loads_per_model": {"min": min(loads.values()), "max": max(loads.values()), "models": len(loads)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
