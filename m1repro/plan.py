"""The bill before submitting (``results/plan.csv`` and ``results/plan.md``): every GPU job and paid API stage of a
config on a site, with the GPU-hours it is estimated to use, the GPU-hours it reserves (GPUs x time limit: what
fair-share and quotas see), API tokens and dollars. The same functions (m1repro.resources) size the SLURM requests,
so the plan and the jobs cannot disagree.

Stages: ``difficulty`` (one job per difficulty model), ``traces_api`` (DeepSeek-R1 traces), ``domains_api`` (MeSH
labels), ``training`` (one job per run), ``prediction`` (one job per model x budget mode x part: a dataset, or ``all`` when
datasets are grouped or faithful forcing needs the whole file). Curation stages appear only when ``curate.sets_source: curated``.

CSV columns (one row per job, then one ``total`` row per stage and a ``total`` row of all stages, ``job`` = "total"):

==================== ===========================================================================================
stage                difficulty | traces_api | domains_api | training | prediction
job                  the rule and its wildcards ("eval_predict faithful/m1-7B-1K/NEJM"), or "total"
item                 model, training run, or API model
dataset              the part of a prediction job: a dataset, or "all" (empty for other stages)
gpu_type             the site's throughput row (GPU jobs)
nodes, gpus          nodes and GPUs in total of one job
tokens_in            API prompt tokens (estimate: request count x nominal prompt size; 0 for GPU jobs)
tokens_out           generated tokens, upper bound (every request at its full max_tokens / budget)
est_hours            wall-clock estimate of one job, hours
time_limit_min       SLURM time limit of the first attempt (training: per attempt)
gpu_hours_estimated  gpus x est_hours
gpu_hours_reserved   gpus x time limit (x attempts a resuming training run needs)
usd                  API dollars from the config's pricing (upper bound: at max_tokens)
basis                the assumptions of the row
==================== ===========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from m1repro import resources as rsc
from m1repro import software
from m1repro.io import atomic_open
from m1repro.site import REPO, Site

# Assumption: a pool question with its options and the difficulty prefix is ~150 tokens (MedMCQA items, 93% of the
# pool, are short; MedQA vignettes run to ~250).
NOMINAL_PROMPT_TOKENS = 150
# Assumption: a MeSH reply (a sentence or two and the two-digit code) is ~100 tokens; the faithful request sets no cap.
MESH_REPLY_TOKENS = 100

SCHEMA: dict[str, Any] = {
    "stage": pl.String,
    "job": pl.String,
    "item": pl.String,
    "dataset": pl.String,
    "gpu_type": pl.String,
    "nodes": pl.Int64,
    "gpus": pl.Int64,
    "tokens_in": pl.Int64,
    "tokens_out": pl.Int64,
    "est_hours": pl.Float64,
    "time_limit_min": pl.Int64,
    "gpu_hours_estimated": pl.Float64,
    "gpu_hours_reserved": pl.Float64,
    "usd": pl.Float64,
    "basis": pl.String,
}
STAGES = ["difficulty", "traces_api", "domains_api", "training", "prediction"]


def _row(**kw: Any) -> dict[str, Any]:
    base = {k: None for k in SCHEMA}
    base.update(
        {
            "nodes": 0,
            "gpus": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "est_hours": 0.0,
            "time_limit_min": 0,
            "gpu_hours_estimated": 0.0,
            "gpu_hours_reserved": 0.0,
            "usd": 0.0,
            "dataset": "",
        }
    )
    base.update(kw)
    return base


def _gpu_row(stage: str, job: rsc.GpuJob, item: str, dataset: str, site: Site, basis: str) -> dict[str, Any]:
    gpus = job.gpus
    return _row(
        stage=stage,
        job=job.name,
        item=item,
        dataset=dataset,
        gpu_type=site.gpu_type if gpus else "",
        nodes=1,
        gpus=gpus,
        tokens_out=job.tokens,
        est_hours=job.est_min / 60,
        time_limit_min=job.limit_min,
        gpu_hours_estimated=gpus * job.est_min / 60,
        gpu_hours_reserved=gpus * job.limit_min / 60,
        basis=basis,
    )


def prediction_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    """One row per prediction job: model x budget mode x part, as the workflow runs them (m1repro.workflow)."""
    from m1repro import workflow as wf

    basis = (
        "upper bound: every item x every variant at its full budget + answer_max_tokens "
        "(baseline_max_tokens for baselines); decode rate of the site's GPU scaled by model size; "
        "one server start per job"
    )
    rows = []
    for name in cfg["models"]:
        for mode in wf.budget_modes(cfg, name):
            for part in wf.prediction_parts(cfg, name, mode):
                job = rsc.predict_job(cfg, site, name, wf.part_datasets(cfg, part))
                rows.append(
                    {
                        **_gpu_row("prediction", job, name, part, site, basis),
                        "job": f"eval_predict {mode}/{name}/{part}",
                    }
                )
    return rows


def training_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    from m1repro.train import estimate as est

    rows = []
    for run in (cfg.get("train") or {}).get("runs") or {}:
        job = rsc.train_job(cfg, site, run)
        if job.device != "cuda":
            continue
        rows.append(
            _row(
                stage="training",
                job=job.name,
                item=run,
                gpu_type=site.gpu_type,
                nodes=job.nodes,
                gpus=job.gpus,
                tokens_out=0,
                est_hours=job.est_min / 60,
                time_limit_min=job.limit_min,
                gpu_hours_estimated=job.gpus * job.est_min / 60,
                gpu_hours_reserved=job.gpus * job.limit_min * job.attempts / 60,
                basis=(
                    f"{job.tokens:,} tokens over all epochs ({est.NOMINAL_TOKENS_PER_EXAMPLE} per example of the "
                    f"paper's set size), ZeRO-3 at the site's peak x MFU; {job.nodes} x {job.gpus_per_node} GPUs, "
                    f"gradient accumulation {job.gradient_accumulation_steps}"
                    + (f"; resumes over {job.attempts} attempts" if job.attempts > 1 else "")
                ),
            )
        )
    return rows


def _usd(api: Mapping[str, Any], tokens_in: int, tokens_out: int) -> float:
    price = api.get("pricing") or {}
    return (tokens_in * float(price.get("input", 0)) + tokens_out * float(price.get("output", 0))) / 1e6


def _api_row(
    stage: str, job: str, api: Mapping[str, Any], requests: int, prompt_tokens: int, max_tokens: int, basis: str
) -> dict[str, Any]:
    if api.get("mode", "live") == "replay":
        return _row(stage=stage, job=job, item=str(api.get("model", "")), basis="replay: answered from the cache")
    tin, tout = requests * prompt_tokens, requests * max_tokens
    return _row(
        stage=stage,
        job=job,
        item=str(api.get("model", "")),
        tokens_in=tin,
        tokens_out=tout,
        usd=_usd(api, tin, tout),
        basis=f"{requests:,} requests x ~{prompt_tokens:,} prompt tokens, output at max_tokens {max_tokens:,}; "
        + basis,
    )


def domains_prompt_tokens(cfg: Mapping[str, Any]) -> int:
    """Prompt tokens of one MeSH request: the system prompt and the 76-qualifier rubric, measured on the shipped
    qualifier file, plus a nominal question."""
    from m1repro.curate import domains
    from m1repro.train.estimate import CHARS_PER_TOKEN

    path = Path(cfg["curate"]["domains"].get("qualifiers", "resources/mesh/qualifier_scope_note.tsv"))
    chars = len(domains.SYSTEM_PROMPT) + len(
        domains.user_prompt("", domains.rubric(domains.load_qualifiers(path if path.is_absolute() else REPO / path)))
    )
    return int(chars / CHARS_PER_TOKEN) + NOMINAL_PROMPT_TOKENS


def curation_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    from m1repro.curate import domains, traces

    cur = cfg.get("curate") or {}
    if cur.get("sets_source", "curated") != "curated":
        return []
    counts = rsc.curation_counts(cfg)
    rows = []
    diff = cur["difficulty"]
    for dmodel in diff.get("models") or {}:
        if diff.get("backend", "engine") == "api":
            rows.append(
                _api_row(
                    "difficulty",
                    f"curate_difficulty_model {dmodel}",
                    diff["api"],
                    counts["pool"],
                    NOMINAL_PROMPT_TOKENS,
                    int(diff["max_tokens"]),
                    "every question of the paper's initial collection (Table 3)",
                )
            )
            continue
        job = rsc.difficulty_job(cfg, site, dmodel)
        rows.append(
            _gpu_row(
                "difficulty",
                job,
                dmodel,
                "",
                site,
                f"upper bound: {counts['pool']:,} questions (Table 3, initial collection) x max_tokens "
                f"{diff['max_tokens']:,}; decode rate of the site's GPU scaled by model size",
            )
        )
    sets = cur.get("sets") or {}
    # the random sets are drawn large enough for the estimated accuracy to leave the set size (random_select.ipynb)
    draws = [int(int(sets.get(s, 0)) / cur.get("random_estimated_accuracy", 0.8)) for s in ("random_1k", "random_23k")]
    requests = counts["hard"] + sum(draws)
    rows.append(
        _api_row(
            "traces_api",
            "curate_traces",
            cur["traces"]["api"],
            requests,
            NOMINAL_PROMPT_TOKENS,
            int(traces.r1_params(cur["traces"].get("request", "faithful"))["max_tokens"]),
            "hard questions (Table 3) + the random_1k and random_23k draws, overlap not removed",
        )
    )
    rows.append(
        _api_row(
            "domains_api",
            "curate_domains",
            cur["domains"]["api"],
            counts["m23k"],
            domains_prompt_tokens(cfg),
            int(domains.mesh_params(cur["domains"].get("request", "faithful")).get("max_tokens", MESH_REPLY_TOKENS)),
            "m23K questions (Table 3) with the rubric; unparseable replies asked once more (not counted); the "
            f"faithful request sets no max_tokens, so a reply is taken as {MESH_REPLY_TOKENS} tokens",
        )
    )
    return rows


def plan_frame(cfg: Mapping[str, Any], site: Site) -> pl.DataFrame:
    """One row per job, then a total per stage and a grand total."""
    jobs = pl.DataFrame(curation_rows(cfg, site) + training_rows(cfg, site) + prediction_rows(cfg, site), schema=SCHEMA)
    sums = ["tokens_in", "tokens_out", "gpu_hours_estimated", "gpu_hours_reserved", "usd"]
    blank = {k: None for k in ("nodes", "gpus", "est_hours", "time_limit_min")}
    totals = []
    for stage in STAGES:
        part = jobs.filter(pl.col("stage") == stage)
        if part.height:
            totals.append(
                _row(stage=stage, job="total", basis=f"{part.height} jobs", **blank, **{k: part[k].sum() for k in sums})
            )
    totals.append(
        _row(stage="all", job="total", basis=f"{jobs.height} jobs", **blank, **{k: jobs[k].sum() for k in sums})
    )
    return pl.concat([jobs, pl.DataFrame(totals, schema=SCHEMA)])


def plan_markdown(df: pl.DataFrame, site: Site) -> str:
    """A short summary per stage (jobs, GPU-hours estimated and reserved, API tokens and dollars)."""
    source = Path(site.source)
    where = source.relative_to(REPO) if source.is_relative_to(REPO) else source
    jobs = df.filter(pl.col("job") != "total")
    lines = [
        "# The bill before submitting",
        "",
        f"Site: {where} ({site.gpus_per_node} x {site.gpu_type} per node, time limit at most "
        f"{site.max_runtime_min} min). Every job: results/plan.csv.",
        "",
        "| stage | jobs | GPU-hours estimated | GPU-hours reserved | API tokens in | tokens generated (upper bound) "
        "| USD (upper bound) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in df.filter(pl.col("job") == "total").iter_rows(named=True):
        n = jobs.height if r["stage"] == "all" else jobs.filter(pl.col("stage") == r["stage"]).height
        lines.append(
            f"| {r['stage']} | {n} | {r['gpu_hours_estimated']:,.0f} | {r['gpu_hours_reserved']:,.0f} | "
            f"{r['tokens_in']:,} | {r['tokens_out']:,} | {r['usd']:,.0f} |"
        )
    lines += [
        "",
        "- Reserved = GPUs x time limit (what fair-share and quotas count); estimated = what the jobs should use.",
        "- Upper bounds: generated tokens are counted at their full budgets and max_tokens; API output likewise, so",
        "  the dollars are a ceiling. Throughput, prompt sizes and set sizes are the assumptions in docs/site.md.",
        "",
    ]
    return "\n".join(lines)


def write_plan(
    cfg: Mapping[str, Any], site: Site, csv_out: str | Path, md_out: str | Path | None = None
) -> pl.DataFrame:
    df = plan_frame(cfg, site)
    with atomic_open(csv_out) as fh:
        df.write_csv(fh, float_precision=3)
    if md_out:
        title, rest = plan_markdown(df, site).split("\n", 1)
        # the software stack and what it needs of the site, right under the title (m1repro.software)
        header = software.plan_header(cfg.get("software", "paper"), site.gpu_type)
        with atomic_open(md_out) as fh:
            fh.write("\n".join([title, "", *header]) + rest)
    return df
