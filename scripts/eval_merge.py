"""Rule eval_merge: a part's shards into its predictions, byte for byte what one unsplit job writes."""

from m1repro.shards import eval_merge
from m1repro.smk import run

run(snakemake, eval_merge)  # noqa: F821
