"""Rule report_plan: the bill before submitting, every GPU job and paid API stage on the site (results/plan.csv)."""

from m1repro.report.entries import report_plan
from m1repro.smk import run

run(snakemake, report_plan)  # noqa: F821
