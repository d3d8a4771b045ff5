"""Rule eval_download: the m1 evaluation file, checked by md5 (a local rule: compute nodes are often offline)."""

from m1repro.evaldata import eval_download
from m1repro.smk import run

run(snakemake, eval_download)  # noqa: F821
