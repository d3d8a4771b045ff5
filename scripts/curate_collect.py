"""Rule curate_collect: the four training sources -> results/curate/pool.parquet (and the PubMedQA test half)."""

from m1repro.curate.rules import curate_collect
from m1repro.smk import run

run(snakemake, curate_collect)  # noqa: F821
