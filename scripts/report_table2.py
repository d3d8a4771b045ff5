"""Rule report_table2: the data-filtering ablation (models fine-tuned on each set, at the Table 2 budget)."""

from m1repro.report.entries import report_table2
from m1repro.smk import run

run(snakemake, report_table2)  # noqa: F821
