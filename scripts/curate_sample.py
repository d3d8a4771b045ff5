"""Rule curate_sample: m1K and the ablation sets, Table 4 counts and counts.json (Table 3)."""

from m1repro.curate.rules import curate_sample
from m1repro.smk import run

run(snakemake, curate_sample)  # noqa: F821
