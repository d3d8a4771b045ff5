"""Rule curate_difficulty_merge: a difficulty model's shards joined in pool order."""

from m1repro.curate.rules import curate_difficulty_merge
from m1repro.smk import run

run(snakemake, curate_difficulty_merge)  # noqa: F821
