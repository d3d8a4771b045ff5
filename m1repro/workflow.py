"""The workflow's interface to the configuration: every path template, name list and config -> input/params
function that ``rules/common.smk`` exposes to the rules, as plain functions of the validated config (tested without
Snakemake). Rules and scripts name paths through here and nowhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from m1repro import cfgview
from m1repro.curate import schema as curate_schema
from m1repro.records import EVAL_SOURCES, md5sum

Config = Mapping[str, Any]

# ---- paths -------------------------------------------------------------------------------------------------------
TINY_MODEL_DIR = "resources/tiny/models"
EVAL_DOWNLOAD = "resources/downloads/m1_eval_data.json"
ITEMS = "results/eval/items.jsonl"
VALIDATION = "results/eval/validation.json"
PREDICTIONS = "results/predictions/{budget_mode}/{model}/{part}.jsonl"  # a part's predictions, merged from its shards
SHARD_PREDICTIONS = "results/predictions/{budget_mode}/{model}/{part}/{shard}.jsonl"  # one prediction job's
SHARD_PARAMS = "results/predictions/{budget_mode}/{model}/{part}/{shard}.params.json"  # what that job was asked
SCORES = "results/scores/{budget_mode}/{model}.csv"
SCORES_META = "results/scores/{budget_mode}/{model}.meta.json"  # m1repro.scores.scores_meta_path
SCORED = "results/scored/{budget_mode}/{model}.jsonl"
TRAINED_MODEL = "results/train/{run}/model"
DIFFICULTY_SHARD = "results/curate/difficulty/{dmodel}/{dshard}.parquet"  # one difficulty job's verdicts
CURATED_SET = "results/curate/sets/{set}.parquet"  # the set a training run reads (curated or released)
M23K = "results/curate/m23k.parquet"  # the full hard set, written apart from the sampled sets

ALL_PARTS = "all"  # a prediction job over every dataset, in the evaluation file's order
BUDGET_MODES = ("faithful", "exact")
DATASET_NAMES = EVAL_SOURCES  # the schema's enum is checked against this list by the tests
SET_NAMES = curate_schema.SET_NAMES  # owned by the curation schema; the rules take it from here


def prepend_pythonpath(path: str) -> None:
    """Put ``path`` first on ``PYTHONPATH`` (keeping what the user set), for the jobs and the processes they start."""
    parts = [path, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != path)]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)


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


# A hub id: "name" or "org/name" (what huggingface_hub accepts as a repo id).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_LOCAL_PREFIXES = ("/", "./", "../", "~", "resources/", "results/", "cache/")


def local_path_reason(path: str, workdir: Path) -> str | None:
    """Why a model path names a local directory rather than a hub id (None: a hub id): absolute, relative (``./``,
    ``../``), under the checkout's data folders, not shaped like a hub id ``org/name``, or ``dir/name`` where ``dir``
    is a folder here (a loader would look there first)."""
    if path.startswith(_LOCAL_PREFIXES):
        return "a local path"
    if not _HUB_ID.match(path):
        return "a local path (a hub id is 'org/name')"
    first = path.split("/")[0]
    if "/" in path and (workdir / first).is_dir():
        return f"a local path ('{first}/' is a folder here)"
    return None


def model_paths(cfg: Config) -> list[tuple[str, str]]:
    """Every configured path of weights or a tokenizer, as (config key, path)."""
    out = []
    for name, m in cfg["models"].items():
        out += [(f"models.{name}.{k}", m[k]) for k in ("path", "tokenizer") if m.get(k) is not None]
    for run, r in ((cfg.get("train") or {}).get("runs") or {}).items():
        out.append((f"train.runs.{run}.base", r["base"]))
    difficulty = (cfg.get("curate") or {}).get("difficulty") or {}
    if difficulty.get("backend", "engine") == "engine":
        out += [(f"curate.difficulty.models.{n}.path", m["path"]) for n, m in (difficulty.get("models") or {}).items()]
    return out


def path_problems(cfg: Config, workdir: Path) -> list[str]:
    """What is wrong with the configured local paths, all at once: a model path that looks local and does not
    exist (and is not made by this workflow), a tiny model that ``tiny_models`` does not define, a model trained by
    a run that ``train.runs`` lacks, a local evaluation file that is missing or has another md5 than configured."""
    tiny = sorted(cfg.get("tiny_models") or {})
    runs = sorted((cfg.get("train") or {}).get("runs") or {})
    problems = []
    for key, path in model_paths(cfg):
        if path.startswith(TINY_MODEL_DIR + "/"):
            name = path[len(TINY_MODEL_DIR) + 1 :]
            if name not in tiny:
                problems.append(f"{key}: {path!r} is no tiny model of this configuration (tiny_models: {tiny})")
        elif any(path == TRAINED_MODEL.format(run=r) for r in runs):
            continue  # made by train_sft
        elif not path.strip():
            problems.append(f"{key}: empty path")
        elif (why := local_path_reason(path, workdir)) and not (workdir / Path(path).expanduser()).exists():
            problems.append(f"{key}: {path!r} is {why} and does not exist")
    for name, m in cfg["models"].items():
        if m.get("train") is not None and m["train"] not in runs:
            problems.append(f"models.{name}.train: {m['train']!r} is not a run under train.runs (have {runs})")
    data = cfg["eval"].get("data") or {}
    if data.get("path"):
        local = workdir / data["path"]
        if not local.is_file():
            problems.append(f"eval.data.path: {data['path']!r} does not exist")
        elif data.get("md5") and (got := md5sum(local)) != data["md5"]:
            problems.append(f"eval.data.md5: {data['path']!r} has md5 {got}, not the configured {data['md5']}")
    return problems


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
    return [
        PREDICTIONS.format(budget_mode=budget_mode, model=name, part=p)
        for p in prediction_parts(cfg, name, budget_mode)
    ]


def variant_names(cfg: Config, name: str) -> list[str]:
    return [v.name for v in cfgview.model_variants(cfg, name)]


def covering_params(wanted: Mapping[str, Any], recorded: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The params a prediction job keeps: those it ran with (``recorded``, its params file) when they differ from
    ``wanted`` only by more variants. Its output then already holds every wanted record, byte for byte what a job
    asked for fewer variants writes (a variant's records do not depend on the others: m1repro.budget's sharing), and
    rule eval_merge keeps the wanted ones; so removing a budget or a forcing count reruns no prediction."""
    if recorded is None or set(recorded) != set(wanted):
        return wanted
    rest = [k for k in wanted if k != "variants"]
    same = all(recorded[k] == wanted[k] for k in rest)
    covers = isinstance(recorded.get("variants"), list) and set(wanted["variants"]) <= set(recorded["variants"])
    return recorded if same and covers else wanted


def recorded_params(path: str | Path) -> dict[str, Any] | None:
    """A prediction job's params file, or None when it is missing or unreadable (then nothing is reused)."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            got = json.load(fh)
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


# ---- API prices: not a rerun trigger ----------------------------------------------------------------------------
# A reply costs what it cost when it was bought; a new price applies to the replies bought from then on and to the
# plan (report_plan's params), so a paid stage's params leave the price out (a price change would otherwise rewrite
# the stage's outputs and rerun curation, training and evaluation after it) and its job reads the price in force from
# the config when it runs (:func:`with_prices`).
def tracked_api(api: Mapping[str, Any]) -> dict[str, Any]:
    """An API stage's settings as its params carry them: all but ``pricing``."""
    return {k: v for k, v in api.items() if k != "pricing"}


def with_prices(params_cfg: Mapping[str, Any], api: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stage's params with the configured ``pricing`` of its API put back (``api``: the config's section)."""
    return {**params_cfg, "api": {**params_cfg["api"], "pricing": dict((api or {}).get("pricing") or {})}}


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


def table2_variant(cfg: Config, name: str) -> str:
    return cfgview.table2_variant(cfg, name).name


def ablation_rows(cfg: Config) -> dict[str, str]:
    """Table 2: {model evaluating a training run with an ``ablation_row``: that row}."""
    rows = {name: cfgview.ablation_row(cfg, name) for name in models(cfg)}
    return {name: row for name, row in rows.items() if row}


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
