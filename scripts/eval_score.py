"""Rule eval_score: verdicts from the stored responses (both scorers) and accuracy per dataset and variant."""

from m1repro.scores import eval_score
from m1repro.smk import run

run(snakemake, eval_score)  # noqa: F821
