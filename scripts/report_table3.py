"""Rule report_table3: samples per source at each curation stage (counts.json) or, for released sets, in each set."""

from m1repro.report.entries import report_table3
from m1repro.smk import run

run(snakemake, report_table3)  # noqa: F821
