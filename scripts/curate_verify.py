"""Rule curate_verify: correct R1 answers, decontaminated against the evaluation file -> m23K rows."""

from m1repro.curate.rules import curate_verify
from m1repro.smk import run

run(snakemake, curate_verify)  # noqa: F821
