"""Typed views of the resolved configuration: the one place that knows the keys of a model and of the evaluation
settings. Below every other module of the package (m1repro.config resolves the configuration and sits above)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from m1repro import REPO
from m1repro.variants import Variant, thinking_variants

SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"


@dataclass(frozen=True)
class ModelView:
    name: str
    mode: str
    path: str | None
    train: str | None
    label: str
    group: str
    table1: bool
    figures: bool
    paper_row: str | None
    engine: dict[str, Any]
    tokenizer: str | None


def model(cfg: Mapping[str, Any], name: str) -> ModelView:
    try:
        m = cfg["models"][name]
    except KeyError:
        raise KeyError(f"model {name!r} is not in config 'models' (have {sorted(cfg['models'])})") from None
    engine = {**cfg.get("engine_defaults", {}), **m.get("engine", {})}
    return ModelView(
        name=name,
        mode=m["mode"],
        path=m.get("path"),
        train=m.get("train"),
        label=m.get("label", name),
        group=m.get("group", ""),
        table1=m.get("table1", True),
        figures=m.get("figures", False),
        paper_row=m.get("paper_row"),
        engine=engine,
        tokenizer=m.get("tokenizer"),
    )


def ablation_row(cfg: Mapping[str, Any], name: str) -> str | None:
    """The Table 2 row of a model: its training run's ``ablation_row`` (None: not an ablation model)."""
    train = model(cfg, name).train
    runs = (cfg.get("train") or {}).get("runs") or {}
    row = (runs.get(train) or {}).get("ablation_row") if train else None
    return str(row) if row else None


def model_variants(cfg: Mapping[str, Any], name: str) -> list[Variant]:
    """What a model x dataset job produces: the whole sweep for figure models; otherwise the Table 1 budget for
    Table 1 models and the Table 2 budget for ablation models (an ablation model outside Table 1 runs only that)."""
    m = model(cfg, name)
    if m.mode != "thinking":
        return [Variant()]
    ev = cfg["eval"]
    table2 = [ev["table2_budget"]] if ablation_row(cfg, name) else []
    if m.figures:
        forcing = ev.get("forcing", {})
        return thinking_variants(
            list(ev["budgets"]) + [ev["table1_budget"], *table2], forcing.get("rounds", []), forcing.get("budgets", [])
        )
    table1 = [ev["table1_budget"]] if m.table1 or not table2 else []
    return [Variant(b, 0) for b in sorted({*table1, *table2})]


def table1_variant(cfg: Mapping[str, Any], name: str) -> Variant:
    return Variant() if model(cfg, name).mode != "thinking" else Variant(cfg["eval"]["table1_budget"], 0)


def table2_variant(cfg: Mapping[str, Any], name: str) -> Variant:
    """Table 2's cell variant: the original evaluated its ablation models at 2048 thinking tokens
    (``exp/250319-ablation/h100.data_curation.makefile``: ``start_server 2048``), config ``eval.table2_budget``."""
    return Variant() if model(cfg, name).mode != "thinking" else Variant(cfg["eval"]["table2_budget"], 0)


def eval_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation settings a prediction job depends on (a change reruns the predictions)."""
    ev = cfg["eval"]
    return {
        "budget_mode": ev["budget_mode"],
        "wait_separator": ev["wait_separator"],
        "answer_max_tokens": ev["answer_max_tokens"],
        "baseline_max_tokens": ev["baseline_max_tokens"],
        "batch_size": ev["batch_size"],
        "chat_template": ev["chat_template"],
        "shared_sweep": ev["shared_sweep"],
    }
