"""Rule curate_verify: correct R1 answers, decontaminated against the evaluation file -> m23K rows."""

from m1repro.curate.stages import run_verify
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
run_verify(
    smk.params.cfg, smk.input.traces, smk.input.eval, smk.output.m23k, smk.output.csv, smk.output.md, smk.output.counts
)
