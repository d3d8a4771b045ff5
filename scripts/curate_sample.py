"""Rule curate_sample: m1K and the ablation sets, Table 4 counts and counts.json (Table 3)."""

from m1repro.curate.stages import run_sample
from m1repro.log import setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
i = smk.input
stage_counts = {
    "collect": i.collect,
    "pool": i.pool,
    "dedup": i.dedup,
    "decontaminate": i.decontaminated,
    "difficulty": i.hard,
    "verify": i.verify,
    "traces_api": i.traces_api,
    "domains_api": i.domains_api,
}
run_sample(
    smk.params.cfg,
    i.domains,
    i.traces,
    i.random,
    dict(zip(smk.params.sets, smk.output.sets, strict=True)),
    smk.output.m23k,
    smk.output.domain_counts,
    smk.output.counts,
    stage_counts,
)
