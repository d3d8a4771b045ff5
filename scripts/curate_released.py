"""Rule curate_released: a published set from the Hugging Face hub in the set schema (local rule: internet)."""

from m1repro.curate.rules import curate_released
from m1repro.smk import run

run(snakemake, curate_released)  # noqa: F821
