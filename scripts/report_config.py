"""Rule report_config: the validated configuration of this run (defaults filled in), for the HTML report."""

from m1repro.report.entries import report_config
from m1repro.smk import run

run(snakemake, report_config)  # noqa: F821
