"""Rule curate_decontaminate: remove pool items that match the benchmarks (the original's list); report both modes."""

from m1repro.curate.rules import curate_decontaminate
from m1repro.smk import run

run(snakemake, curate_decontaminate)  # noqa: F821
