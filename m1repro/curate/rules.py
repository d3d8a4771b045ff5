"""The curation rules' entry points (``scripts/curate_*.py`` call these through :func:`m1repro.smk.run`): each
unpacks the rule's named inputs, outputs and params for one function of :mod:`m1repro.curate.stages`."""

from __future__ import annotations

import logging
import shutil

import polars as pl

from m1repro.curate import stages
from m1repro.curate.schema import read_table, write_table
from m1repro.hub import resolve_local
from m1repro.io import atomic_open
from m1repro.log import log_event
from m1repro.progress import BatchStore, code_digest, files_digest, job_key
from m1repro.shards import difficulty_rows
from m1repro.smk import RuleJob
from m1repro.workflow import with_prices


def _one(files: object) -> str | None:
    """The single file of an optional input (a list that is empty when the input does not apply)."""
    return list(files)[0] if files else None  # type: ignore[call-overload]


def curate_collect(job: RuleJob) -> None:
    stages.run_collect(job.params.cfg, job.output.pool, job.output.counts, job.output.pubmedqa_test)


def curate_benchmarks(job: RuleJob) -> None:
    stages.run_benchmarks(job.params.cfg, job.input.pubmedqa_test, job.output[0])


def curate_dedup(job: RuleJob) -> None:
    stages.run_dedup(dict(job.params.cfg, workers=job.threads), job.input[0], job.output.pool, job.output.removed)


def curate_decontaminate(job: RuleJob) -> None:
    i, o = job.input, job.output
    stages.run_decontaminate(
        dict(job.params.cfg, workers=job.threads), i.pool, i.eval, o.pool, o.csv, o.md, benchmarks_path=i.benchmarks
    )


def curate_difficulty_model(job: RuleJob) -> None:
    model_dir = _one(job.input.model)
    if job.input.hub:  # a pre-fetched hub model: its local snapshot
        model_dir = resolve_local(job.params.cfg["models"][job.wildcards.dmodel]["path"], list(job.input.hub))
    store = difficulty_store(job)
    cfg = job.params.cfg
    if cfg.get("backend") == "api":
        cfg = _priced(job, "difficulty")
    n = pl.scan_parquet(job.input.pool).select(pl.len()).collect().item()
    rows = difficulty_rows(n, job.wildcards.dshard, int(cfg["batch_size"]))
    stages.run_difficulty_model(
        cfg, job.wildcards.dmodel, job.input.pool, model_dir, job.output[0], store=store, rows=rows
    )
    store.clear()


def curate_difficulty_merge(job: RuleJob) -> None:
    """A difficulty model's shard files (in pool order) into its verdicts."""
    write_table(pl.concat([read_table(p, required=("id",)) for p in job.input]).rechunk(), job.output[0])


# The package code that computes a difficulty batch: a change to it starts a killed job's batches afresh.
DIFFICULTY_CODE = ("curate/difficulty.py", "engines")


def difficulty_store(job: RuleJob) -> BatchStore:
    """Where the difficulty job keeps its finished batches, keyed by its params, pool, weights and code."""
    key = job_key(
        params=job.params.cfg,
        dmodel=job.wildcards.dmodel,
        inputs=files_digest([job.input.pool, *job.input.model, *job.input.hub]),
        code=code_digest(DIFFICULTY_CODE),
    )
    return BatchStore(f"curate_difficulty_model/{job.wildcards.dmodel}/{job.wildcards.dshard}", key, suffix="json")


def curate_difficulty(job: RuleJob) -> None:
    stages.run_difficulty_filter(
        job.input.pool, dict(zip(job.params.models, job.input.models, strict=True)), job.output[0]
    )


def curate_random_draw(job: RuleJob) -> None:
    cfg = dict(job.params.cfg, decontaminate=dict(job.params.cfg["decontaminate"], workers=job.threads))
    stages.run_random_draw(cfg, job.input.pool, job.input.eval, job.output[0])


def _priced(job: RuleJob, section: str) -> dict:
    """The stage's params with the API price in force now (prices are no rerun trigger: m1repro.workflow)."""
    return with_prices(job.params.cfg, ((job.config or {}).get("curate") or {}).get(section, {}).get("api"))


def curate_traces(job: RuleJob) -> None:
    i, o = job.input, job.output
    stages.run_traces(_priced(job, "traces"), i.hard, i.random, o.traces, o.stats, _one(i.replay))


def curate_verify(job: RuleJob) -> None:
    i, o = job.input, job.output
    stages.run_verify(job.params.cfg, i.traces, i.eval, o.m23k, o.csv, o.md, o.counts)


def curate_domains(job: RuleJob) -> None:
    i, o = job.input, job.output
    stages.run_domains(_priced(job, "domains"), i.m23k, i.qualifiers, o.labelled, o.stats, _one(i.replay))


def curate_sample(job: RuleJob) -> None:
    i, o = job.input, job.output
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
    stages.run_sample(
        job.params.cfg,
        i.domains,
        i.traces,
        i.random,
        dict(zip(job.params.sets, o.sets, strict=True)),
        o.m23k,
        o.domain_counts,
        o.counts,
        stage_counts,
    )


def curate_released(job: RuleJob) -> None:
    n = stages.run_released(job.params.hub_id, job.output[0])
    log_event(logging.getLogger(__name__), "released set", hub_id=job.params.hub_id, rows=n)


def curate_set(job: RuleJob) -> None:
    """The set a training run reads: the curated one or the released one (``curate.sets_source``)."""
    with open(job.input[0], "rb") as src, atomic_open(job.output[0], "wb") as dst:
        shutil.copyfileobj(src, dst)
