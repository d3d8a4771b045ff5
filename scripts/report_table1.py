"""Rule report_table1: accuracy (%) per model and dataset at the Table 1 budget, with the mean of the ten columns."""

from m1repro.report.entries import report_table1
from m1repro.smk import run

run(snakemake, report_table1)  # noqa: F821
