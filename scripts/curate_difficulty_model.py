"""Rule curate_difficulty_model: one Qwen2.5 model answers every question (engine or chat API)."""

from m1repro.curate.rules import curate_difficulty_model
from m1repro.smk import run

run(snakemake, curate_difficulty_model)  # noqa: F821
