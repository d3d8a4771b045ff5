"""Rule curate_random_draw: the rows of the random ablation sets, drawn from the raw pool (before traces)."""

from m1repro.curate.stages import run_random_draw
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
cfg = dict(smk.params.cfg, decontaminate=dict(smk.params.cfg["decontaminate"], workers=smk.threads))
run_random_draw(cfg, smk.input.pool, smk.input.eval, smk.output[0])
