"""Rule report_compare: Every cell of Tables 1-4 next to the paper's number, flagged beyond the tolerance; scorer
and budget semantics."""

from m1repro.report.entries import report_compare
from m1repro.smk import run

run(snakemake, report_compare)  # noqa: F821
