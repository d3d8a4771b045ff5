"""Rule report_token_lengths: the appendix's token-length figure."""

from m1repro.report.token_lengths import report_token_lengths
from m1repro.smk import run

run(snakemake, report_token_lengths)  # noqa: F821
