"""Rule curate_collect: the four training sources -> results/curate/pool.parquet (and the PubMedQA test half)."""

from m1repro.curate.stages import run_collect
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
run_collect(smk.params.cfg, smk.output.pool, smk.output.counts, smk.output.pubmedqa_test)
