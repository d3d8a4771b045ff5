"""Rule report_runtimes: per-job runtimes of the prediction jobs (benchmark files) and the GPU-hour plan of the
configured evaluation."""

from m1repro.report.entries import report_runtimes
from m1repro.smk import run

run(snakemake, report_runtimes)  # noqa: F821
