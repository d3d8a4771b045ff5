"""Rule report_table4: meSH domains of m23K and m1K per source."""

from m1repro.report.entries import report_table4
from m1repro.smk import run

run(snakemake, report_table4)  # noqa: F821
