"""Rule hub_fetch: one hub repo into the cache at its pinned revision (a local rule), and its manifest."""

from m1repro.hub import hub_fetch
from m1repro.smk import run

run(snakemake, hub_fetch)  # noqa: F821
