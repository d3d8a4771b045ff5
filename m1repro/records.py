"""Record types that travel between stages, and their validation.

Evaluation file (docs/fidelity.md, Evaluation): ``{source: [{question, options: {letter: text}, answer, answer_idx, ...}, ...]}``.
Every problem is reported with the file, the record (source and position) and the field.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from m1repro.io import InputError, read_json, read_jsonl

log = logging.getLogger(__name__)

EVAL_SOURCES: tuple[str, ...] = (
    "MedMCQA_validation",
    "MedQA_USLME_test",
    "PubMedQA_test",
    "MMLU-Pro_Medical_test",
    "GPQA_Medical_test",
    "Lancet",
    "HumanityLastExam",
    "MedBullets_op4",
    "MedBullets_op5",
    "MedXpertQA",
    "NEJM",
)
# Table 1's column for each source, in the paper's order (HumanityLastExam is not in Table 1).
TABLE1_COLUMNS: dict[str, str] = {
    "MedMCQA_validation": "MedMCQA",
    "MedQA_USLME_test": "MedQA",
    "PubMedQA_test": "PubMedQA",
    "MMLU-Pro_Medical_test": "MMLU-Pro",
    "GPQA_Medical_test": "GPQA",
    "Lancet": "Lancet",
    "MedBullets_op4": "MedBullets-op4",
    "MedBullets_op5": "MedBullets-op5",
    "MedXpertQA": "MedXpertQA",
    "NEJM": "NEJM",
}


@dataclass(frozen=True)
class EvalItem:
    id: str
    source: str
    question: str
    options: dict[str, str]
    answer_idx: str
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Exclusion:
    id: str
    source: str
    field: str
    reason: str


@dataclass
class EvalSet:
    """Valid items per source plus what was excluded and why (shown in the report)."""

    items: dict[str, list[EvalItem]]
    excluded: list[Exclusion] = field(default_factory=list)


def md5sum(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


#: The option letters the original's matcher reads (HuatuoGPT-o1's match_choice: "answer is X" for X in A-N, a
#: standalone letter among the first len(options) of A-N); a key outside them can never be matched.
OPTION_LETTERS = "ABCDEFGHIJKLMN"


class _Object(dict):
    """A JSON object that remembers the keys given more than once (JSON keeps the last one silently)."""

    duplicates: list[str]


def _object_of_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    obj.duplicates = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
    return obj


def read_json_unique(path: str | Path) -> Any:
    """A JSON file in which no object gives a key twice; a duplicate is an InputError naming the file, the record
    (the source, or ``source[index]``) and the key."""
    data = read_json(path, object_pairs_hook=_object_of_pairs)
    _no_duplicates(path, data, None)
    return data


def _no_duplicates(path: str | Path, value: Any, record: str | None, field: str | None = None) -> None:
    if isinstance(value, _Object):
        if value.duplicates:
            key = value.duplicates[0]
            raise InputError(
                path,
                f"key {key!r} is given twice in one object (JSON keeps only the last; the file must mean one thing)",
                record=record if record is not None else "(top level)",
                field=f"{field}.{key}" if field else key,
            )
        for k, v in value.items():
            if record is None:
                _no_duplicates(path, v, k)  # a source
            else:
                _no_duplicates(path, v, record, f"{field}.{k}" if field else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_duplicates(path, v, f"{record}[{i}]" if field is None and record is not None else record, field)


def _item_id(source: str, pos: int, raw: dict[str, Any]) -> str:
    for key in ("id", "idx"):
        if key in raw and raw[key] not in (None, ""):
            return f"{source}/{raw[key]}"
    return f"{source}/{pos:05d}"


AnswerCheck = Literal["faithful", "strict"]


def validate_item(path: str | Path, source: str, pos: int, raw: Any, answers: AnswerCheck = "faithful") -> EvalItem:
    """One raw item -> EvalItem, or InputError naming the file, the record and the field. ``answers``: faithful
    accepts any string ``answer`` (the original scores through it); strict also requires it to name the option
    (``options[answer_idx]``, or HumanityLastExam's ``"X. text"``)."""
    rec = f"{source}[{pos}]"
    if not isinstance(raw, dict):
        raise InputError(path, f"expected an object, got {type(raw).__name__}", record=rec)
    for key in ("question", "options", "answer_idx", "answer"):
        if key not in raw:
            raise InputError(path, "missing field", record=rec, field=key)
    question, options, idx, answer = raw["question"], raw["options"], raw["answer_idx"], raw["answer"]
    if not isinstance(question, str) or not question.strip():
        raise InputError(path, "must be a non-empty string", record=rec, field="question")
    if not isinstance(options, dict) or not options:
        raise InputError(path, "must be a non-empty object of letter -> text", record=rec, field="options")
    for letter, text in options.items():
        if not isinstance(text, str):
            raise InputError(path, f"option {letter!r} is not a string", record=rec, field="options")
    odd = [k for k in options if len(k) != 1 or k not in OPTION_LETTERS]
    if odd:
        raise InputError(
            path,
            f"option keys {odd} are not capital letters A-N (the letters the original's scorer reads; with keys like "
            "'1' or 'a' it marks wrong answers correct): key the options A, B, C, ... in order",
            record=rec,
            field="options",
        )
    if not isinstance(idx, str) or idx not in options:
        raise InputError(path, f"{idx!r} is not among the options {sorted(options)}", record=rec, field="answer_idx")
    if idx not in OPTION_LETTERS[: len(options)]:
        raise InputError(
            path,
            f"{idx!r} is not among the first {len(options)} letters, the only ones the original's scorer can match "
            f"with {len(options)} options: key the options A, B, C, ... in order",
            record=rec,
            field="answer_idx",
        )
    # The original scores through the item's own `answer` string (score.py: `answer_string.lower()`), whatever the
    # option text says, so only a non-string answer stops it. HumanityLastExam stores "C. text\n", and one real item
    # (idx 137) an answer longer than its option: both are kept and scored through that field, as the original does.
    if not isinstance(answer, str):
        raise InputError(path, f"must be a string, got {type(answer).__name__}", record=rec, field="answer")
    if answer != options[idx] and answer.strip() != f"{idx}. {options[idx]}".strip():
        if answers == "strict":
            raise InputError(
                path, f"{answer!r} differs from options[{idx!r}] = {options[idx]!r}", record=rec, field="answer"
            )
        log.info("%s: %s[%d]: answer differs from options[%r]; scored through the answer field", path, source, pos, idx)
    return EvalItem(
        id=_item_id(source, pos, raw),
        source=source,
        question=question,
        options=dict(options),
        answer_idx=idx,
        answer=answer,
    )


def load_eval_file(
    path: str | Path,
    sources: list[str] | None = None,
    on_invalid: Literal["error", "exclude"] = "error",
    max_items: int | None = None,
    answers: AnswerCheck = "faithful",
) -> EvalSet:
    """Load and validate the m1 evaluation file. ``on_invalid='exclude'`` drops bad items but counts them;
    ``answers``: see :func:`validate_item`."""
    data = read_json_unique(path)
    if not isinstance(data, dict):
        raise InputError(path, "top level must be an object mapping source -> list of items")
    wanted = list(sources) if sources is not None else list(data)
    for s in wanted:
        if s not in data:
            raise InputError(path, f"source {s!r} not in file (has {sorted(data)})", record=s)
    out = EvalSet(items={})
    for source in [s for s in data if s in wanted]:  # the file's order, which the original's batches follow
        items: list[EvalItem] = []
        seen: set[str] = set()
        raw_items = data[source]
        if not isinstance(raw_items, list):
            raise InputError(path, "must be a list of items", record=source)
        for pos, raw in enumerate(raw_items):
            try:
                item = validate_item(path, source, pos, raw, answers)
                if item.id in seen:
                    raise InputError(path, f"duplicate id {item.id!r}", record=f"{source}[{pos}]", field="id")
                seen.add(item.id)
            except InputError as exc:
                if on_invalid == "error":
                    raise
                ident = _item_id(source, pos, raw) if isinstance(raw, dict) else f"{source}/{pos:05d}"
                out.excluded.append(Exclusion(id=ident, source=source, field=exc.field or "", reason=str(exc)))
                log.warning("excluded %s", exc)
                continue
            items.append(item)
            if max_items is not None and len(items) >= max_items:
                break
        out.items[source] = items
    return out


def read_items(path: str | Path, sources: list[str] | None = None) -> list[EvalItem]:
    """Items of the prepared items file (``results/eval/items.jsonl``, the evaluation file's order), optionally only
    those of ``sources``; a record that is not an item is an error naming the line and the field."""
    wanted = None if sources is None else set(sources)
    out: list[EvalItem] = []
    for n, raw in enumerate(read_jsonl(path), start=1):
        try:
            item = EvalItem(**raw)
        except TypeError as exc:
            raise InputError(path, f"not an evaluation item ({exc})", record=f"line {n}") from None
        if wanted is None or item.source in wanted:
            out.append(item)
    if wanted is not None:
        missing = sorted(wanted - {it.source for it in out} - allowed_empty(path))
        if missing:
            raise InputError(path, f"no items of {missing}: rebuild it with the rule eval_prepare")
    return out


def allowed_empty(items_path: str | Path) -> set[str]:
    """Datasets that eval_prepare found empty and accepted (``eval.allow_empty_datasets``), from the summary it
    writes beside the items file (``validation.json``)."""
    summary = Path(items_path).with_name("validation.json")
    if not summary.exists():
        return set()
    data = read_json(summary)
    return set(data.get("empty_datasets") or []) if data.get("allow_empty_datasets") else set()
