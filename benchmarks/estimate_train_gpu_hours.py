"""GPU-hours of the paper's training runs, from the token counts of their sets.

    python benchmarks/estimate_train_gpu_hours.py [--config config/config.yaml] [--site profiles/slurm/site.yaml]

Token counts: from ``results/curate/...parquet`` when the curation has run at full size (characters / 4.0, the Qwen2.5 ratio measured
on MedQA/MedBullets items), else the paper's nominal sizes (1,000 / 23,493 examples, ~1,200 tokens each: Fig. 8a says
most m1K/m23K samples are around 1,000 tokens). The throughput model is m1repro/train/estimate.py, with the site's GPU
row of the config's throughput table (peak bf16 FLOP/s, MFU, in-node bandwidth) and the site file's network: the
estimate that sizes every training job's SLURM request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from m1repro import resources as rsc
from m1repro.config import load_config
from m1repro.site import load_site
from m1repro.train import estimate as est
from m1repro.train import workflow as trainwf


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--site", default="profiles/slurm/site.yaml")
    p.add_argument("--nominal", action="store_true", help="ignore curated sets; use the paper's nominal sizes")
    a = p.parse_args()
    cfg = load_config(a.config)
    site = load_site(a.site)
    hardware = est.Hardware.of(rsc.throughput(cfg, site), site)
    print(
        f"{'run':24} {'set':15} {'source':8} {'examples':>8} {'tokens':>11} {'GPUs':>4} {'compute':>8} "
        f"{'comm':>8} {'wall':>8} {'GPU-h':>7}"
    )
    total = 0.0
    for run in trainwf.runs(cfg):
        s = trainwf.spec(cfg, run)
        path = Path(trainwf.data_path(s.data))
        (n, tokens), source = est.nominal_token_count(s.data), "nominal"
        if path.exists() and not a.nominal:
            counted = est.set_token_count(path)
            if counted[0] >= 0.5 * n:  # a tiny run's sets in results/ are not the paper's
                (n, tokens), source = counted, "set"
        nodes, gpus_per_node = rsc.train_layout(site, s.nodes * s.gpus_per_node, run)
        e = est.estimate(n, tokens, rsc.run_params_b(cfg, run) * 1e9, nodes, gpus_per_node, s.epochs, hardware)
        total += e.gpu_hours
        print(
            f"{run:24} {s.data:15} {source:8} {n:8d} {tokens:11,d} {e.gpus:4d} {e.compute_s / 60:7.1f}m "
            f"{e.comm_s / 60:7.1f}m {e.wall_s / 60:7.1f}m {e.gpu_hours:7.1f}"
        )
    print(f"{'total':24} {'':15} {'':8} {'':8} {'':11} {'':4} {'':8} {'':8} {'':8} {total:7.1f}")


if __name__ == "__main__":
    main()
