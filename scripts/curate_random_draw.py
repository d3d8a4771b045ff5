"""Rule curate_random_draw: the rows of the random ablation sets, drawn from the raw pool (before traces)."""

from m1repro.curate.rules import curate_random_draw
from m1repro.smk import run

run(snakemake, curate_random_draw)  # noqa: F821
