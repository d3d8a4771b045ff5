"""Rule curate_set: the training set a run reads (curated or released)."""

from m1repro.curate.rules import curate_set
from m1repro.smk import run

run(snakemake, curate_set)  # noqa: F821
