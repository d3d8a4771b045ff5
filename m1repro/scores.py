"""The scoring rule: verdicts from the stored raw responses, and accuracy per dataset and variant.

Predictions hold no verdicts (:mod:`m1repro.eval`): this step judges every response with both scorers
(:mod:`m1repro.scoring`) and writes the scored records and the accuracy table. The scoring code is an input of the
rule, so a scorer fix reruns scoring and the tables, never the predictions.

Nothing in a prediction file is trusted: each record must be a prepared item (``results/eval/items.jsonl``: same
question, options and answer), present exactly once per (dataset, variant), with typed fields, and produced by the job
scored (its model, prompt rendering, budget mode, variant with its budget and rounds): another model's predictions, or
the exact controller's copied into ``faithful/``, are an error naming the file, the line and the field, never a changed
accuracy. The accuracy table gets a sidecar (``{model}.meta.json``: writer, identity, the CSV's sha256); the tables
read score files only through :func:`read_scores_checked`, so a hand-edited or foreign CSV is an error, never a row.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import polars as pl

from m1repro.budget import BudgetMode
from m1repro.io import InputError, atomic_open, read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from m1repro.log import log_event
from m1repro.records import EvalItem, read_items
from m1repro.scoring import SCORERS, score_item
from m1repro.smk import RuleJob
from m1repro.variants import Variant

log = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "model",
    "budget_mode",
    "dataset",
    "variant",
    "budget",
    "rounds",
    "scorer",
    "n",
    "n_correct",
    "accuracy",
    "accuracy_m1",
    "accuracy_improved",
    "mean_thinking_tokens",
    "mean_gen_tokens",
    "mean_wait",
    "thinking_length_rate",
]

# field -> (accepted type, may be None), in the order checked; ints exclude bools (JSON true is no token count)
_TYPES: dict[str, tuple[type, bool]] = {
    **dict.fromkeys(("model", "prompt_mode", "id", "source", "variant", "answer_idx", "answer"), (str, False)),
    "options": (dict, False),
    **dict.fromkeys(("question", "response_text", "finish_reason", "thinking_text"), (str, False)),
    "thinking_finish_reason": (str, True),
    **dict.fromkeys(("num_thinking_tokens", "num_gen_tokens", "num_wait"), (int, False)),
}
_FINISH = ("stop", "length")


def check_record(path: str | Path, line: int, rec: Any) -> None:
    """Types and values of one prediction record; an InputError names the file, the line and the field."""
    where = f"line {line}"
    if not isinstance(rec, dict):
        raise InputError(path, f"expected an object, got {type(rec).__name__}", record=where)
    for key, (typ, nullable) in _TYPES.items():
        if key not in rec:
            raise InputError(path, "missing field", record=where, field=key)
        v = rec[key]
        if v is None and nullable:
            continue
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            names = typ.__name__ + (" or null" if nullable else "")
            raise InputError(path, f"expected {names}, got {v!r:.60}", record=where, field=key)
        if typ is int and v < 0:
            raise InputError(path, f"a token or round count cannot be negative ({v})", record=where, field=key)
    for key, nullable in (("finish_reason", False), ("thinking_finish_reason", True)):
        if rec[key] not in ((None, *_FINISH) if nullable else _FINISH):
            expected = f"{'null or ' if nullable else ''}one of {_FINISH}"
            raise InputError(path, f"expected {expected}, got {rec[key]!r}", record=where, field=key)
    try:
        Variant.parse(rec["variant"])
    except ValueError as exc:
        raise InputError(path, str(exc), record=where, field="variant") from None


@dataclass(frozen=True)
class ScoredJob:
    """What the scoring job scores: every record must have been produced by exactly this."""

    model: str
    prompt_mode: str
    budget_mode: str


def check_provenance(path: str | Path, line: int, rec: Mapping[str, Any], job: ScoredJob) -> None:
    """The record was produced by ``job``: its model, its prompt rendering, its budget mode (budget variants only:
    a baseline has none) and a variant whose budget and rounds are the record's."""
    where = f"line {line}"
    v = Variant.parse(rec["variant"])
    expected: dict[str, Any] = {
        "model": job.model,
        "prompt_mode": job.prompt_mode,
        "budget_mode": job.budget_mode if v.budget is not None else None,
        "budget": v.budget,
        "rounds": v.rounds,
    }
    for key, want in expected.items():
        if key not in rec:
            raise InputError(
                path,
                "missing field (written before records named their producer? rerun eval_predict)",
                record=where,
                field=key,
            )
        if rec[key] != want:
            raise InputError(
                path,
                f"this record was produced with {key} {rec[key]!r}, the job scored here is {key} {want!r} "
                f"(model {job.model}, budget mode {job.budget_mode}): predictions of another job are not scored",
                record=where,
                field=key,
            )


def load_predictions(
    paths: Sequence[str | Path], items: Sequence[EvalItem], variants: Sequence[str], job: ScoredJob
) -> list[dict[str, Any]]:
    """Every record of the model's prediction files, checked against the items, the expected variants and the job
    that must have produced it: each (variant, item) exactly once, nothing else."""
    by_id = {it.id: it for it in items}
    wanted = set(variants)
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    out: list[dict[str, Any]] = []
    for path in paths:
        for line, rec in enumerate(read_jsonl(path), start=1):
            check_record(path, line, rec)
            where = f"line {line}"
            item = by_id.get(rec["id"])
            if item is None:
                raise InputError(
                    path,
                    f"id {rec['id']!r} is not an item of this evaluation (results/eval/items.jsonl)",
                    record=where,
                    field="id",
                )
            for key in ("source", "question", "options", "answer_idx", "answer"):
                if rec[key] != getattr(item, key):
                    raise InputError(path, f"differs from the prepared item {item.id!r}", record=where, field=key)
            if rec["variant"] not in wanted:
                raise InputError(
                    path,
                    f"variant {rec['variant']!r} is not one this model predicts ({sorted(wanted)})",
                    record=where,
                    field="variant",
                )
            check_provenance(path, line, rec, job)
            key = (rec["variant"], rec["id"])
            if key in seen:
                first = seen[key]
                raise InputError(
                    path,
                    f"{rec['id']!r} of {rec['variant']} appears twice (first in {first[0]} line {first[1]})",
                    record=where,
                    field="id",
                )
            seen[key] = (str(path), line)
            out.append(rec)
    missing = [(v, it.id) for v in sorted(wanted) for it in items if (v, it.id) not in seen]
    if missing:
        shown = ", ".join(f"{v}/{i}" for v, i in missing[:5])
        raise InputError(
            paths[0] if len(paths) == 1 else f"{len(paths)} prediction files",
            f"{len(missing)} (variant, item) predictions are missing, e.g. {shown}: rerun the prediction "
            "job (delete its output or use --forcerun eval_predict)",
        )
    return out


def scored_record(rec: Mapping[str, Any], scorer: str) -> dict[str, Any]:
    """The slim scored record: identity, both verdicts, the chosen one, and the counts the tables read."""
    verdict = score_item(rec["response_text"], rec["options"], rec["answer_idx"], rec["answer"])
    counts = ("num_thinking_tokens", "num_gen_tokens", "num_wait", "thinking_finish_reason", "finish_reason")
    return {
        **{k: rec[k] for k in ("id", "source", "variant")},
        **verdict,  # extracted, correct_m1, correct_improved
        "correct": verdict["correct_m1" if scorer == "m1" else "correct_improved"],
        **{k: rec[k] for k in counts},
    }


def score_frame(scored: Sequence[Mapping[str, Any]], model: str, budget_mode: str, scorer: str) -> pl.DataFrame:
    """Accuracy (%) per dataset and variant, with both scorers and the mean token counts."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in scored:
        groups[(r["source"], r["variant"])].append(r)
    rows = []
    for (dataset, variant), rs in groups.items():
        v = Variant.parse(variant)
        n = len(rs)
        n_m1 = sum(r["correct_m1"] for r in rs)
        n_imp = sum(r["correct_improved"] for r in rs)
        rows.append(
            {
                "model": model,
                "budget_mode": budget_mode,
                "dataset": dataset,
                "variant": variant,
                "budget": v.budget,
                "rounds": v.rounds,
                "scorer": scorer,
                "n": n,
                "n_correct": n_m1 if scorer == "m1" else n_imp,
                "accuracy": 100.0 * (n_m1 if scorer == "m1" else n_imp) / n,
                "accuracy_m1": 100.0 * n_m1 / n,
                "accuracy_improved": 100.0 * n_imp / n,
                "mean_thinking_tokens": sum(r["num_thinking_tokens"] for r in rs) / n,
                "mean_gen_tokens": sum(r["num_gen_tokens"] for r in rs) / n,
                "mean_wait": sum(r["num_wait"] for r in rs) / n,
                "thinking_length_rate": sum(r["thinking_finish_reason"] == "length" for r in rs) / n,
            }
        )
    df = pl.DataFrame(rows, schema_overrides={"budget": pl.Int64}, infer_schema_length=None).select(SCORE_COLUMNS)
    return df.sort(["dataset", "budget", "rounds"], nulls_last=False)


SCORES_WRITER = "m1repro.scores.score_model"


def scores_meta_path(scores_csv: str | Path) -> Path:
    """The sidecar of an accuracy table: ``results/scores/{budget_mode}/{model}.meta.json``."""
    p = Path(scores_csv)
    return p.with_name(p.stem + ".meta.json")


def write_scores(df: pl.DataFrame, scores_out: str | Path, **identity: Any) -> None:
    """The accuracy table and its sidecar: the CSV's sha256 and ``identity`` (model, budget_mode, scorer, ...)."""
    data = df.write_csv().encode("utf-8")
    with atomic_open(scores_out, "wb") as fh:
        fh.write(data)
    meta = {"written_by": SCORES_WRITER, "sha256": hashlib.sha256(data).hexdigest(), **identity}
    write_json_atomic(scores_meta_path(scores_out), meta)


def read_scores_checked(path: str | Path, expect: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """An accuracy table as the scoring rule wrote it for this configuration, or an error naming the file and what
    does not match: no sidecar, a content changed since (a hand edit), another model's or budget mode's file, or
    (``expect``) another scorer."""
    path = Path(path)
    meta_p = scores_meta_path(path)
    rerun = "rerun the scoring rule (snakemake --forcerun eval_score ...)"
    if not meta_p.exists():
        raise InputError(path, f"no sidecar {meta_p.name}: not written by the scoring rule; {rerun}")
    meta = read_json(meta_p)
    data = path.read_bytes()
    if not isinstance(meta, dict) or meta.get("written_by") != SCORES_WRITER:
        raise InputError(meta_p, f"not a sidecar of the scoring rule; {rerun}")
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise InputError(path, f"changed since the scoring rule wrote it (sha256 differs from {meta_p.name}); {rerun}")
    want: dict[str, Any] = {"model": path.stem}
    if path.parent.name in get_args(BudgetMode):
        want["budget_mode"] = path.parent.name
    want.update(expect or {})
    for key, value in want.items():
        if meta.get(key) != value:
            raise InputError(
                path, f"scored for {key} {meta.get(key)!r}, read here as {key} {value!r}: {rerun}", field=key
            )
    return pl.read_csv(io.BytesIO(data), schema_overrides={"budget": pl.Int64})


def score_model(
    predictions: Sequence[str],
    items_path: str,
    datasets: Sequence[str],
    variants: Sequence[str],
    model: str,
    budget_mode: str,
    scorer: str,
    scores_out: str,
    scored_out: str,
    prompt_mode: str,
) -> pl.DataFrame:
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r} (expected one of {SCORERS})")
    items = read_items(items_path, list(datasets))
    records = load_predictions(predictions, items, variants, ScoredJob(model, prompt_mode, budget_mode))
    scored = [scored_record(r, scorer) for r in records]
    df = score_frame(scored, model, budget_mode, scorer)
    write_jsonl_atomic(scored_out, scored)
    write_scores(
        df,
        scores_out,
        model=model,
        budget_mode=budget_mode,
        scorer=scorer,
        prompt_mode=prompt_mode,
        variants=sorted(variants),
        datasets=list(datasets),
    )
    log_event(
        log, "scored", model=model, budget_mode=budget_mode, files=len(predictions), records=len(scored), scorer=scorer
    )
    return df


def eval_score(job: RuleJob) -> None:
    """Rule eval_score."""
    score_model(
        list(job.input.predictions),
        job.input.eval_items,
        list(job.params.datasets),
        list(job.params.variants),
        job.wildcards.model,
        job.wildcards.budget_mode,
        job.params.scorer,
        job.output.scores,
        job.output.scored,
        job.params.prompt_mode,
    )
