"""Rule curate_dedup: fuzzy dedup of the pool (faithful or improved; both listed in dedup_removed)."""

from m1repro.curate.rules import curate_dedup
from m1repro.smk import run

run(snakemake, curate_dedup)  # noqa: F821
