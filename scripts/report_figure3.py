"""Rule report_figure3: accuracy vs the number of "Wait" rounds (budget forcing) per dataset for the figure models."""

from m1repro.report.entries import report_figure3
from m1repro.smk import run

run(snakemake, report_figure3)  # noqa: F821
