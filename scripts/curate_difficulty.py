"""Rule curate_difficulty: keep the rows every difficulty model got wrong."""

from m1repro.curate.rules import curate_difficulty
from m1repro.smk import run

run(snakemake, curate_difficulty)  # noqa: F821
