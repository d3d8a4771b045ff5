"""The workflow's interface to the configuration: every path template, name list and config -> input/params
function that ``rules/common.smk`` exposes to the rules, as plain functions of the validated config (tested without
Snakemake). Rules and scripts name paths through here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from m1repro import config as cfgview
from m1repro.curate import schema as curate_schema
from m1repro.records import EVAL_SOURCES
from m1repro.site import Site

Config = Mapping[str, Any]

# ---- paths -------------------------------------------------------------------------------------------------------
TINY_MODEL_DIR = "resources/tiny/models"
EVAL_DOWNLOAD = "resources/downloads/m1_eval_data.json"
ITEMS = "results/eval/items.jsonl"
VALIDATION = "results/eval/validation.json"
PREDICTIONS = "results/predictions/{budget_mode}/{model}/{part}.jsonl"
SCORES = "results/scores/{budget_mode}/{model}.csv"
SCORED = "results/scored/{budget_mode}/{model}.jsonl"
TRAINED_MODEL = "results/train/{run}/model"

ALL_PARTS = "all"  # a prediction job over every dataset, in the evaluation file's order
BUDGET_MODES = ("faithful", "exact")
DATASET_NAMES = EVAL_SOURCES  # the schema's enum is checked against this list by the tests
SET_NAMES = curate_schema.SET_NAMES  # owned by the curation schema; the rules take it from here


# ---- names -------------------------------------------------------------------------------------------------------
def models(cfg: Config) -> list[str]:
    return list(cfg["models"])


def datasets(cfg: Config) -> list[str]:
    return list(cfg["eval"]["datasets"])


def models_where(cfg: Config, **want: Any) -> list[str]:
    """Model names whose config view matches every keyword (e.g. mode="thinking", figures=True)."""
    return [n for n in models(cfg) if all(getattr(cfg_model(cfg, n), k) == v for k, v in want.items())]


def cfg_model(cfg: Config, name: str) -> cfgview.ModelView:
    return cfgview.model(cfg, name)


# ---- evaluation --------------------------------------------------------------------------------------------------
def eval_file(cfg: Config) -> str:
    data = cfg["eval"]["data"]
    return data["path"] if data.get("path") else EVAL_DOWNLOAD


def model_weights(cfg: Config, name: str) -> str:
    """Where a model's weights are: a hub id, a local directory, or the final model of a training run."""
    view = cfg_model(cfg, name)
    return TRAINED_MODEL.format(run=view.train) if view.train else str(view.path)


def model_inputs(cfg: Config, name: str) -> list[str]:
    """Files a prediction job waits for: a trained or tiny model's directory (hub ids and other paths need none)."""
    path = model_weights(cfg, name)
    return [path] if path.startswith(("results/train/", TINY_MODEL_DIR + "/")) else []


def forces_wait(cfg: Config, name: str) -> bool:
    return any(v.rounds for v in cfgview.model_variants(cfg, name))


def budget_modes(cfg: Config, name: str) -> list[str]:
    """The budget semantics a model is evaluated with: the configured one, plus the exact one for the figure models
    when ``report.compare_budget_modes`` asks for the comparison."""
    mode = cfg["eval"]["budget_mode"]
    view = cfg_model(cfg, name)
    extra = cfg["report"]["compare_budget_modes"] and mode == "faithful" and view.mode == "thinking" and view.figures
    return [mode, "exact"] if extra else [mode]


def prediction_parts(cfg: Config, name: str, budget_mode: str) -> list[str]:
    """The prediction jobs of a model: one per dataset, or one over all datasets (``all``) when datasets are grouped
    (``eval.group_datasets``) or when faithful "Wait" forcing needs the original's batches, which run across the
    whole evaluation file in its order."""
    grouped = cfg["eval"]["group_datasets"] or (budget_mode == "faithful" and forces_wait(cfg, name))
    return [ALL_PARTS] if grouped else datasets(cfg)


def part_datasets(cfg: Config, part: str) -> list[str]:
    return datasets(cfg) if part == ALL_PARTS else [part]


def prediction_files(cfg: Config, name: str, budget_mode: str) -> list[str]:
    return [PREDICTIONS.format(budget_mode=budget_mode, model=name, part=p)
            for p in prediction_parts(cfg, name, budget_mode)]


def variant_names(cfg: Config, name: str) -> list[str]:
    return [v.name for v in cfgview.model_variants(cfg, name)]


def predict_job(cfg: Config, site: Site, name: str, budget_mode: str, part: str) -> dict[str, Any]:
    """What one prediction job needs (its ``params``: a change reruns exactly the jobs it touches); the engine's
    tp/dp are derived from the site (:mod:`m1repro.resources`)."""
    from m1repro.resources import engine_options

    view = cfg_model(cfg, name)
    return {
        "model": view.name,
        "mode": view.mode,
        "weights": model_weights(cfg, name),
        "tokenizer": view.tokenizer,
        "engine": engine_options(cfg, site, name, part_datasets(cfg, part)),
        "variants": variant_names(cfg, name),
        "settings": {**cfgview.eval_settings(cfg), "budget_mode": budget_mode},
        "datasets": part_datasets(cfg, part),
    }


def score_file(name: str, budget_mode: str) -> str:
    return SCORES.format(budget_mode=budget_mode, model=name)


def score_files(cfg: Config, names: list[str], budget_mode: str | None = None) -> list[str]:
    """Score files of ``names`` under ``budget_mode`` (default: the configured one), each model once."""
    mode = budget_mode or cfg["eval"]["budget_mode"]
    return [score_file(n, mode) for n in dict.fromkeys(names)]


def all_predictions(cfg: Config) -> list[str]:
    return [f for n in models(cfg) for m in budget_modes(cfg, n) for f in prediction_files(cfg, n, m)]


def table1_variant(cfg: Config, name: str) -> str:
    return cfgview.table1_variant(cfg, name).name


def ablation_rows(cfg: Config) -> dict[str, str]:
    """Table 2: {model evaluating a training run with an ``ablation_row``: that row}."""
    runs = (cfg.get("train") or {}).get("runs") or {}
    out = {}
    for name in models(cfg):
        view = cfg_model(cfg, name)
        row = (runs.get(view.train) or {}).get("ablation_row") if view.train else None
        if row:
            out[name] = row
    return out


# ---- software deployment ---------------------------------------------------------------------------------------
# The one job that may run without the rules' conda envs: the plan needs only polars, PyYAML and jsonschema, which a
# Snakemake installation of this package has (pyproject.toml). Every other job needs its env.
PLAN_RULES = frozenset({"report_plan"})


def plan_without_conda(wants_conda: bool, submitting: bool, conda: str | None) -> bool:
    """Whether Snakemake should drop conda deployment in this process: the profile asks for conda, ``conda`` is not
    on the PATH (``conda``: its path or None; Snakemake runs ``conda info`` even for a dry run), and this is the
    submitting process (a job on a node runs in the env the submitting process gave it)."""
    return wants_conda and submitting and conda is None


def rules_needing_conda(rules: Iterable[str]) -> list[str]:
    """The rules among ``rules`` that cannot run without their conda env (all but the plan)."""
    return sorted(set(rules) - PLAN_RULES)
