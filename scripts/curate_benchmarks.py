"""Rule curate_benchmarks: the reference sets of the first decontamination -> results/curate/benchmarks.parquet."""

from m1repro.curate.rules import curate_benchmarks
from m1repro.smk import run

run(snakemake, curate_benchmarks)  # noqa: F821
