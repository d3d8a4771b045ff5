"""Rule report_figure1: accuracy vs thinking budget per dataset for the figure models, with linear fits and 95%
bands."""

from m1repro.report.entries import report_figure1
from m1repro.smk import run

run(snakemake, report_figure1)  # noqa: F821
