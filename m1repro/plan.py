"""The bill before submitting (``results/plan.csv`` and ``results/plan.md``): every GPU job and paid API stage of a
config on a site, with the GPU-hours it is estimated to use, the GPU-hours it reserves (GPUs x time limit: what
fair-share and quotas see), API tokens and dollars. The same functions (m1repro.resources) size the SLURM requests,
so the plan and the jobs cannot disagree.

Stages: ``difficulty`` (one job per difficulty model), ``traces_api`` (DeepSeek-R1 traces), ``domains_api`` (MeSH
labels), ``training`` (one job per run), ``prediction`` (one job per model x budget mode x part x shard: a part is a dataset, or
``all`` when datasets are grouped or faithful forcing needs the whole file; a shard is the part's items that fit the
site's time limit, m1repro.shards). Curation stages appear only when ``curate.sets_source: curated``.

CSV columns (one row per job, then one ``total`` row per stage and a ``total`` row of all stages, ``job`` = "total"):

==================== ===========================================================================================
stage                difficulty | traces_api | domains_api | training | prediction
job                  the rule and its wildcards ("eval_predict faithful/m1-7B-1K/NEJM/0-end"), or "total"
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
gpu_hours_full_node  what the job would reserve on a whole node's worth of replicas (the paper's layout); differs
                     from gpu_hours_reserved for small prediction jobs given fewer GPUs (site shrink_small_jobs)
usd                  API dollars from the config's pricing (upper bound: at max_tokens)
basis                the assumptions of the row
==================== ===========================================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from m1repro import REPO, shards, software
from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.curate import domains, traces
from m1repro.io import atomic_open
from m1repro.site import Site
from m1repro.train import estimate as est

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
    "gpu_hours_full_node": pl.Float64,
    "usd": pl.Float64,
    "basis": pl.String,
}
STAGES = ["difficulty", "traces_api", "domains_api", "training", "prediction"]


# --------------------------------------------------------------------------------------------- fitting the site


@dataclass(frozen=True)
class Problem:
    """One planning problem: the config key it concerns, the message (the job, why, what to change) and whether it
    is a model or run this site cannot run, which ``plan.on_unfit: leave_out`` leaves out instead of failing."""

    key: str
    message: str
    left_out: bool

    @property
    def section(self) -> str:
        """``models`` or ``train.runs`` (or ``curate.difficulty.models``)."""
        return self.key[: len(self.key) - len(self.name) - 1]

    @property
    def name(self) -> str:
        """The model or run (a name may hold dots: ``Qwen2.5-72B-Instruct``)."""
        for section in ("train.runs.", "curate.difficulty.models.", "models."):
            if self.key.startswith(section):
                return self.key[len(section) :]
        return self.key


class PlanningError(ValueError):
    """Every planning problem of a configuration on a site, listed at once."""

    def __init__(self, problems: list[Problem], site: Site):
        self.problems = problems
        lines = [f"  - {p.message}" + (" [cannot run on this site]" if p.left_out else "") for p in problems]
        hint = (
            "\nModels and runs marked [cannot run on this site] are left out (and listed in results/plan.md) with "
            "plan.on_unfit: leave_out, the default."
            if any(p.left_out for p in problems)
            else ""
        )
        super().__init__(f"{len(problems)} planning problem(s) on the site {site.source}:\n" + "\n".join(lines) + hint)


def _try(key: str, fn: Any, *args: Any) -> Problem | None:
    try:
        fn(*args)
    except rsc.Unfit as e:
        return Problem(key, str(e), True)
    except rsc.PlanError as e:
        return Problem(key, str(e), False)
    return None


def site_problems(cfg: Mapping[str, Any], site: Site) -> list[Problem]:
    """Every problem of planning ``cfg`` on ``site``, all at once: training runs, prediction jobs (a model the node
    cannot hold, and in the faithful mode the original's batch that a long part cannot be cut below: a longer part is
    cut into shards), difficulty models (likewise split). A model whose
    training run cannot run is left out with it; a run whose every model is left out is left out too (its training
    would be spent on nothing that is evaluated)."""
    problems: list[Problem] = []
    runs = list((cfg.get("train") or {}).get("runs") or {})
    for run in runs:
        if p := _try(f"train.runs.{run}", rsc.train_job, cfg, site, run):
            problems.append(p)
    unfit_runs = {p.name for p in problems if p.left_out}
    unfit_models = set()
    for name in cfg["models"]:
        run = cfg["models"][name].get("train")
        if run in unfit_runs:
            problems.append(
                Problem(f"models.{name}", f"models.{name}: its training run train.runs.{run} cannot run here", True)
            )
            unfit_models.add(name)
            continue
        for mode in wf.budget_modes(cfg, name):
            found = None
            for part in wf.prediction_parts(cfg, name, mode):
                if part == wf.ALL_PARTS and mode == "faithful" and wf.forces_wait(cfg, name):
                    found = _try(f"models.{name}", rsc.faithful_batch_job, cfg, site, name)
                # a part longer than the limit is cut into shards; only what no shard can fix is a problem
                found = found or _try(
                    f"models.{name}", shards.max_items, cfg, site, name, mode, wf.part_datasets(cfg, part)
                )
                if found:
                    problems.append(found)
                    break
            if found and found.left_out:
                unfit_models.add(name)
                break
    for run in runs:
        users = [n for n, m in cfg["models"].items() if m.get("train") == run]
        if run not in unfit_runs and users and set(users) <= unfit_models:
            problems.append(
                Problem(
                    f"train.runs.{run}",
                    f"train.runs.{run}: trains only {', '.join(users)}, which cannot be evaluated here, so it is left "
                    "out too",
                    True,
                )
            )
    cur = cfg.get("curate") or {}
    if curation_billed(without(cfg, [p for p in problems if p.left_out])):  # a run that trains reads a curated set
        for dmodel in (cur.get("difficulty") or {}).get("models") or {}:
            if p := _try(f"curate.difficulty.models.{dmodel}", shards.difficulty_count, cfg, site, dmodel):
                # the curated sets need every difficulty model: never left out alone
                problems.append(
                    Problem(
                        p.key,
                        p.message + " (or curate.sets_source: released, or curate.difficulty.backend: api)",
                        False,
                    )
                )
    return problems


def only_models(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """``cfg`` narrowed to ``models_only`` (when given): the other models, and the training runs none of the kept
    models needs, are removed; a name that is no model is a problem."""
    keep = cfg.get("models_only")
    if not keep:
        return dict(cfg), []
    unknown = [m for m in keep if m not in cfg["models"]]
    if unknown:
        have = ", ".join(cfg["models"])
        return dict(cfg), [
            Problem("models_only", f"models_only: {unknown} are not models of the config (have {have})", False)
        ]
    out = copy.deepcopy(dict(cfg))
    out["models"] = {n: m for n, m in out["models"].items() if n in keep}
    used = {m.get("train") for m in out["models"].values()}
    train = out.get("train") or {}
    if train.get("runs"):
        train["runs"] = {r: v for r, v in train["runs"].items() if r in used}
    return out, []


def fit_to_site(cfg: Mapping[str, Any], site: Site) -> tuple[dict[str, Any], list[Problem]]:
    """The configuration this site runs: ``cfg`` without the models and training runs it cannot run, and those
    left out. Any other problem, or any at all with ``plan.on_unfit: error``, is a :class:`PlanningError` that lists
    every problem."""
    cfg, narrowing = only_models(cfg)
    problems = narrowing + site_problems(cfg, site)
    strict = (cfg.get("plan") or {}).get("on_unfit", "leave_out") == "error"
    if problems and (strict or not all(p.left_out for p in problems)):
        raise PlanningError(problems, site)
    return without(cfg, problems), problems


def without(cfg: Mapping[str, Any], left_out: list[Problem]) -> dict[str, Any]:
    """``cfg`` without the models and training runs of ``left_out``."""
    out = copy.deepcopy(dict(cfg))
    for p in left_out:
        if p.section == "models":
            out["models"].pop(p.name, None)
        elif p.section == "train.runs":
            out["train"]["runs"].pop(p.name, None)
    return out


def left_out_markdown(left_out: list[Problem]) -> list[str]:
    """The bill's and the report's list of what this site does not run, each with the reason and the fix."""
    if not left_out:
        return []
    return [
        "## Not run on this site",
        "",
        "Left out of the DAG (`plan.on_unfit: leave_out`; `error` makes each a planning error). The reason and what "
        "would make it run:",
        "",
        *(f"- `{p.key}`: {p.message}" for p in left_out),
        "",
    ]


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
            "gpu_hours_full_node": 0.0,
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
        gpu_hours_full_node=job.full_node_reserved_gpu_min / 60,
        basis=basis,
    )


def reported_models(cfg: Mapping[str, Any]) -> list[str]:
    """The models whose predictions the tables and figures need (Table 1, the figures, Table 2's ablation models):
    the prediction jobs of the DAG."""
    ablation = wf.ablation_rows(cfg)
    return [n for n in cfg["models"] if n in ablation or wf.cfg_model(cfg, n).table1 or wf.cfg_model(cfg, n).figures]


def trained_runs(cfg: Mapping[str, Any]) -> list[str]:
    """The training runs of the DAG: those a reported model evaluates."""
    used = {cfg["models"][n].get("train") for n in reported_models(cfg)}
    return [r for r in (cfg.get("train") or {}).get("runs") or {} if r in used]


def prediction_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    """One row per prediction job: model x budget mode x part x shard, as the workflow runs them (m1repro.workflow)."""
    basis = (
        "upper bound: every item x every variant at its full budget + answer_max_tokens "
        "(baseline_max_tokens for baselines); decode rate of the site's GPU scaled by model size; "
        "one server start per job"
    )
    rows = []
    for name in reported_models(cfg):
        for mode in wf.budget_modes(cfg, name):
            for part in wf.prediction_parts(cfg, name, mode):
                for shard in shards.prediction_shards(cfg, site, name, mode, part):
                    items = shards.shard_planned_items(cfg, part, shard)
                    job = rsc.predict_job(cfg, site, name, wf.part_datasets(cfg, part), items)
                    rows.append(
                        {
                            **_gpu_row("prediction", job, name, part, site, basis),
                            "job": f"eval_predict {mode}/{name}/{part}/{shard}",
                        }
                    )
    return rows


def training_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    rows = []
    for run in trained_runs(cfg):
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
                gpu_hours_full_node=job.gpus * job.limit_min * job.attempts / 60,
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
        + basis
        + (
            ""
            if any((api.get("pricing") or {}).values())
            else "; no pricing in the config (api.pricing): dollars unknown"
        ),
    )


def domains_prompt_tokens(cfg: Mapping[str, Any]) -> int:
    """Prompt tokens of one MeSH request: the system prompt and the 76-qualifier rubric, measured on the shipped
    qualifier file, plus a nominal question."""
    path = Path(cfg["curate"]["domains"].get("qualifiers", "resources/mesh/qualifier_scope_note.tsv"))
    chars = len(domains.SYSTEM_PROMPT) + len(
        domains.user_prompt("", domains.rubric(domains.load_qualifiers(path if path.is_absolute() else REPO / path)))
    )
    return int(chars / est.CHARS_PER_TOKEN) + NOMINAL_PROMPT_TOKENS


def curation_rows_note(cfg: Mapping[str, Any]) -> str | None:
    """Why curation is not in the bill although Tables 3-4 (report_all) would need it, if so."""
    cur = cfg.get("curate") or {}
    if cur.get("sets_source", "curated") == "curated" and not curation_billed(cfg):
        return (
            "No training run needs the curated sets, so the curation (difficulty filter, R1 traces, MeSH domains) is "
            "not billed; Tables 3-4 (report_all, the paper comparison with report.compare_counts) would run it."
        )
    return None


def curation_billed(cfg: Mapping[str, Any]) -> bool:
    """The curation stages are in the DAG when the sets are curated (not the released files) and a training run of
    the DAG reads one."""
    cur = cfg.get("curate") or {}
    return cur.get("sets_source", "curated") == "curated" and bool(trained_runs(cfg))


def curation_rows(cfg: Mapping[str, Any], site: Site) -> list[dict[str, Any]]:
    cur = cfg.get("curate") or {}
    if not curation_billed(cfg):
        return []
    counts = rsc.curation_counts(cfg)
    rows = []
    diff = cur["difficulty"]
    for dmodel in diff.get("models") or {}:
        if diff.get("backend", "engine") == "api":
            # the request the API backend sends (api_params, the original's max_tokens 4000) to the model's api_model
            api = {**diff["api"], "model": diff["models"][dmodel].get("api_model") or diff["api"].get("model", "")}
            max_tokens = int((diff.get("api_params") or {}).get("max_tokens") or diff["max_tokens"])
            rows.append(
                _api_row(
                    "difficulty",
                    f"curate_difficulty_model {dmodel}",
                    api,
                    counts["pool"],
                    NOMINAL_PROMPT_TOKENS,
                    max_tokens,
                    "every question of the paper's initial collection (Table 3)",
                )
            )
            continue
        basis = (
            f"upper bound: {counts['pool']:,} questions (Table 3, initial collection) x max_tokens "
            f"{diff['max_tokens']:,}; decode rate of the site's GPU scaled by model size"
        )
        for shard in shards.difficulty_shards(cfg, site, dmodel):
            job = shards.difficulty_job(cfg, site, dmodel, shard)
            rows.append(_gpu_row("difficulty", job, dmodel, "", site, basis))
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
    sums = ["tokens_in", "tokens_out", "gpu_hours_estimated", "gpu_hours_reserved", "gpu_hours_full_node", "usd"]
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


def plan_markdown(
    df: pl.DataFrame, site: Site, left_out: list[Problem] | None = None, cfg: Mapping[str, Any] | None = None
) -> str:
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
    total = df.filter((pl.col("job") == "total") & (pl.col("stage") == "all")).row(0, named=True)
    note = curation_rows_note(cfg) if cfg is not None else None
    shrunk = total["gpu_hours_full_node"] - total["gpu_hours_reserved"]
    lines += [
        "",
        "- Reserved = GPUs x time limit (what fair-share and quotas count); estimated = what the jobs should use.",
        f"- Small prediction jobs take fewer GPUs than a whole node (shrink_small_jobs: {site.shrink_small_jobs}): "
        f"{total['gpu_hours_reserved']:,.0f} GPU-hours reserved, {total['gpu_hours_full_node']:,.0f} with whole "
        f"nodes ({shrunk:,.0f} fewer).",
        "- Upper bounds: generated tokens are counted at their full budgets and max_tokens; API output likewise, so",
        "  the dollars are a ceiling. Throughput, prompt sizes and set sizes are the assumptions in docs/site.md.",
        *([f"- {note}"] if note else []),
        "",
        *left_out_markdown(left_out or []),
    ]
    return "\n".join(lines)


def write_plan(
    cfg: Mapping[str, Any], site: Site, csv_out: str | Path, md_out: str | Path | None = None
) -> pl.DataFrame:
    """The bill of the DAG this site runs: ``cfg`` fitted to the site (:func:`fit_to_site`), what is left out
    listed in the markdown."""
    fitted, left_out = fit_to_site(cfg, site)
    df = plan_frame(fitted, site)
    with atomic_open(csv_out) as fh:
        df.write_csv(fh, float_precision=3)
    if md_out:
        title, rest = plan_markdown(df, site, left_out, fitted).split("\n", 1)
        # the software stack and what it needs of the site, right under the title (m1repro.software)
        header = software.plan_header(cfg.get("software", "paper"), site.gpu_type)
        with atomic_open(md_out) as fh:
            fh.write("\n".join([title, "", *header]) + rest)
    return df
