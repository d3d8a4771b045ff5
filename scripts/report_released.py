"""Rule report_released: released evaluation: Table 1 of the published checkpoints and baselines next to the paper,
and its GPU plan."""

from m1repro.report.entries import report_released
from m1repro.smk import run

run(snakemake, report_released)  # noqa: F821
