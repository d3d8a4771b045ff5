"""Rule models_tiny: a tiny seeded Qwen2 with the real Qwen2.5 tokenizer, saved like a hub checkpoint."""

from m1repro.smk import run
from m1repro.tiny import models_tiny

run(snakemake, models_tiny)  # noqa: F821
