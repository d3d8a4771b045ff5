"""Typed views of the validated configuration: the one place that knows its keys.

The Snakefile validates ``config`` against ``config/schemas/config.schema.yaml`` (which fills defaults); the rules
use these helpers to hand each job only its slice as ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from m1repro.variants import Variant, thinking_variants

SCHEMA = Path(__file__).resolve().parent.parent / "config" / "schemas" / "config.schema.yaml"


def load_config(path: str | Path, validate: bool = True) -> dict[str, Any]:
    """Read a YAML config and validate it (with defaults), as the Snakefile does; for tools and tests."""
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    if validate:
        validate_config(cfg)
    return cfg


def validate_config(cfg: dict[str, Any]) -> None:
    """Validate and fill defaults in place, with Snakemake's own validator (an unknown key is an error)."""
    from snakemake.utils import validate

    validate(cfg, str(SCHEMA), set_default=True)


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
        name=name, mode=m["mode"], path=m.get("path"), train=m.get("train"), label=m.get("label", name),
        group=m.get("group", ""), table1=m.get("table1", True), figures=m.get("figures", False),
        paper_row=m.get("paper_row"), engine=engine, tokenizer=m.get("tokenizer"),
    )


def model_variants(cfg: Mapping[str, Any], name: str) -> list[Variant]:
    """What a model x dataset job produces: the whole sweep for figure models, the Table 1 budget otherwise."""
    m = model(cfg, name)
    if m.mode != "thinking":
        return [Variant()]
    ev = cfg["eval"]
    if m.figures:
        forcing = ev.get("forcing", {})
        return thinking_variants(
            list(ev["budgets"]) + [ev["table1_budget"]], forcing.get("rounds", []), forcing.get("budgets", [])
        )
    return [Variant(ev["table1_budget"], 0)]


def table1_variant(cfg: Mapping[str, Any], name: str) -> Variant:
    return Variant() if model(cfg, name).mode != "thinking" else Variant(cfg["eval"]["table1_budget"], 0)


def eval_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation settings a prediction job depends on (a change reruns the predictions)."""
    ev = cfg["eval"]
    return {
        "budget_mode": ev["budget_mode"],
        "wait_separator": ev["wait_separator"],
        "answer_max_tokens": ev["answer_max_tokens"],
        "baseline_max_tokens": ev["baseline_max_tokens"],
        "batch_size": ev["batch_size"],
        "shared_sweep": ev["shared_sweep"],
    }
