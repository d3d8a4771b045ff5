"""Rule curate_decontaminate: remove pool items that match the benchmarks (the original's list); report both modes."""

from m1repro.curate.stages import run_decontaminate
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
run_decontaminate(
    dict(smk.params.cfg, workers=smk.threads),
    smk.input.pool,
    smk.input.eval,
    smk.output.pool,
    smk.output.csv,
    smk.output.md,
    benchmarks_path=smk.input.benchmarks,
)
