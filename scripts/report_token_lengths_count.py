"""Rule report_token_lengths_count: the reasoning of m1K, m23K (and s1K) in tokens."""

from m1repro.report.token_lengths import report_token_lengths_count
from m1repro.smk import run

run(snakemake, report_token_lengths_count)  # noqa: F821
