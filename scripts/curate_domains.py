"""Rule curate_domains: MeSH qualifier labels from a chat LLM (cached, or replayed)."""

from m1repro.curate.rules import curate_domains
from m1repro.smk import run

run(snakemake, curate_domains)  # noqa: F821
