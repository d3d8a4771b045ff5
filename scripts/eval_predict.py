"""Rule eval_predict: every budget and forcing count of one model on one part of the items, from one model load."""

from m1repro.eval import eval_predict
from m1repro.smk import run

run(snakemake, eval_predict)  # noqa: F821
