"""Rule eval_prepare: validate the evaluation file; one JSONL of the configured datasets' items, in its order."""

from m1repro.evaldata import eval_prepare
from m1repro.smk import run

run(snakemake, eval_prepare)  # noqa: F821
