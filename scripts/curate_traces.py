"""Rule curate_traces: DeepSeek-R1 traces through the cached chat API (or the replay cache)."""

from m1repro.curate.rules import curate_traces
from m1repro.smk import run

run(snakemake, curate_traces)  # noqa: F821
