"""Rule curate_benchmarks: the reference sets of the first decontamination -> results/curate/benchmarks.parquet."""

from m1repro.curate.stages import run_benchmarks
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
run_benchmarks(smk.params.cfg, smk.input.pubmedqa_test, smk.output[0])
