"""Stage ``collect``: the four training sources mapped to one pool schema, as the original's source scripts do.

Each ``map_*`` function takes one row shaped exactly like the Hugging Face dataset's row and returns the
source-specific part (question, options in the row's order, the answer text, metadata). :func:`map_source` then
replays the original's generator use exactly (see docs/fidelity.md, Curation):

* one ``np.random.default_rng(seed)`` per source; the original first maps row 0 once for a printed sample, which
  shuffles a copy of its options, and only then maps every row in order, each with ``rng.shuffle(options)``;
* the answer letter is the position of the *first* option equal to the answer text after the shuffle
  (``options.index``), so a row with two identical option texts can move its letter;
* option values are rendered with ``f"{letter}. {text}"``: a null option (a struct field absent from that row)
  shows as ``None``, as in the original.

PubMedQA maps all ``pqa_labeled`` rows first and splits afterwards, like
``train_test_split(test_size=0.5, seed=0)``: the train half (in the split's order) joins the pool, the test half is
the original's ``pubmedqa_custom_test`` (a decontamination reference). The pool concatenates the sources in the
original's merge order :data:`POOL_ORDER`, which decides which copy dedup keeps.

Malformed rows (those the original fails on, or whose fields have the wrong type) raise
:class:`m1repro.io.InputError` naming the source file, the row and the field, or with ``on_invalid="exclude"`` are
dropped and counted before any shuffle.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from m1repro.curate.schema import LETTERS, SOURCES, pool_frame
from m1repro.io import InputError, read_jsonl
from m1repro.log import log_event

logger = logging.getLogger(__name__)

# The paper's Table 3, "Initial collection".
PAPER_COUNTS: dict[str, int] = {"MedMCQA": 182_822, "MedQA": 10_178, "HeadQA": 2_657, "PubMedQA": 500}

# merge_data.py loads and concatenates the sources in this order.
POOL_ORDER: tuple[str, ...] = ("MedQA", "PubMedQA", "HeadQA", "MedMCQA")

HF_IDS: dict[str, tuple[str, str | None]] = {
    "MedMCQA": ("openlifescienceai/medmcqa", None),
    "MedQA": ("GBaker/MedQA-USMLE-4-options", None),
    "HeadQA": ("openlifescienceai/headqa", None),
    "PubMedQA": ("qiaojin/PubMedQA", "pqa_labeled"),
}


@dataclass(frozen=True)
class Mapped:
    """A source row reduced to what the pool needs, before the option shuffle."""

    question: str
    options: list[str | None]
    answer_string: str
    metadata: dict[str, Any]


class RowError(Exception):
    """A malformed field in one source row (turned into an InputError with the file and row by the caller)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise RowError(key, f"expected a string, got {value!r:.80}")
    return value


def _option(value: Any, field: str) -> str | None:
    """An option text as the hub gives it: a string (possibly empty: the original accepts it) or null."""
    if value is not None and not isinstance(value, str):
        raise RowError(field, f"expected an option text or null, got {value!r:.80}")
    return value


def _letter_options(row: Mapping[str, Any], key: str) -> dict[str, str | None]:
    """A ``{letter: text}`` struct in the row's own key order (the original takes ``.values()`` as they come)."""
    opts = row.get(key)
    if not isinstance(opts, Mapping) or not opts:
        raise RowError(key, f"expected a mapping of letters to option texts, got {type(opts).__name__}")
    return {str(letter): _option(text, f"{key}.{letter}") for letter, text in opts.items()}


def map_medmcqa(row: Mapping[str, Any]) -> Mapped:
    """``openlifescienceai/medmcqa``: ``opa..opd`` and ``cop`` (0-based index of the correct option)."""
    options = [_option(row.get(k), k) for k in ("opa", "opb", "opc", "opd")]
    cop = row.get("cop")
    if not isinstance(cop, int) or isinstance(cop, bool) or not 0 <= cop < 4:
        raise RowError("cop", f"expected an integer 0..3, got {cop!r}")
    answer = options[cop]
    if answer is None:
        raise RowError(("opa", "opb", "opc", "opd")[cop], "the correct option is null")
    meta = {k: row.get(k) for k in ("id", "subject_name", "topic_name", "choice_type") if row.get(k) is not None}
    return Mapped(_text(row, "question"), options, answer, meta)


def map_medqa(row: Mapping[str, Any]) -> Mapped:
    """``GBaker/MedQA-USMLE-4-options``: ``options`` {A..D} and ``answer_idx`` (a letter); the answer text is
    ``options[answer_idx]`` (the row's ``answer`` field is not read, as in the original)."""
    opts = _letter_options(row, "options")
    letter = row.get("answer_idx")
    if letter not in opts or opts[letter] is None:
        raise RowError("answer_idx", f"{letter!r} is not one of the options {list(opts)}")
    meta = {k: row.get(k) for k in ("meta_info",) if row.get(k) is not None}
    return Mapped(_text(row, "question"), list(opts.values()), str(opts[letter]), meta)


def map_headqa(row: Mapping[str, Any]) -> Mapped:
    """``openlifescienceai/headqa``: ``data`` {Question, Options {A..}, Correct Option, Correct Answer}; the original
    stops when ``Correct Answer`` differs from ``Options[Correct Option]``."""
    data = row.get("data")
    if not isinstance(data, Mapping):
        raise RowError("data", f"expected an object, got {type(data).__name__}")
    opts = _letter_options(data, "Options")
    letter = data.get("Correct Option")
    if letter not in opts:
        raise RowError("Correct Option", f"{letter!r} is not one of the options {list(opts)}")
    answer = _text(data, "Correct Answer")
    if answer != opts[letter]:
        raise RowError("Correct Answer", f"{answer!r:.60} differs from option {letter} {opts[letter]!r:.60}")
    meta = {k: row.get(k) for k in ("id", "subject_name") if row.get(k) is not None}
    return Mapped(_text(data, "Question"), list(opts.values()), answer, meta)


PUBMEDQA_OPTIONS = ("yes", "no", "maybe")


def map_pubmedqa(row: Mapping[str, Any]) -> Mapped:
    """``qiaojin/PubMedQA`` ``pqa_labeled``: contexts, question and ``final_decision`` in yes/no/maybe. The question
    text is the contexts joined by ``\\n`` followed by the question, as the original's prompt."""
    ctx = row.get("context")
    contexts = ctx.get("contexts") if isinstance(ctx, Mapping) else None
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise RowError("context.contexts", "expected a list of strings")
    decision = row.get("final_decision")
    if decision not in PUBMEDQA_OPTIONS:
        raise RowError("final_decision", f"expected one of {PUBMEDQA_OPTIONS}, got {decision!r}")
    bare = _text(row, "question")
    question = "\n".join(contexts) + "\n" + bare
    meta = {"pubid": row.get("pubid"), "bare_question": bare}
    return Mapped(question, list(PUBMEDQA_OPTIONS), str(decision), meta)


MAPPERS: dict[str, Callable[[Mapping[str, Any]], Mapped]] = {
    "MedMCQA": map_medmcqa,
    "MedQA": map_medqa,
    "HeadQA": map_headqa,
    "PubMedQA": map_pubmedqa,
}


def split_halves(n: int, test_size: float = 0.5, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, test) indices exactly as ``datasets.Dataset.train_test_split(test_size, seed=seed)`` picks them: one
    ``default_rng(seed).permutation(n)``; its first ``ceil(test_size*n)`` entries are the test half, the rest the
    train half, each in permutation order. The defaults are pubmedqa.py's, applied after the map."""
    n_test = math.ceil(test_size * n)
    perm = np.random.default_rng(seed).permutation(n)
    return [int(i) for i in perm[n_test:]], [int(i) for i in perm[:n_test]]


def build_prompt(question: str, options: list[str]) -> str:
    """``"{question}\\n{A. ...}\\n{B. ...}"``: the training prompt of the original (no instruction)."""
    return question + "\n" + "\n".join(f"{LETTERS[i]}. {t}" for i, t in enumerate(options))


def shuffled_options(mapped: list[Mapped], seed: int, sample_row: bool) -> list[tuple[list[str | None], int]]:
    """Each row's options after the original's shuffles and the answer's position (first equal text).

    ``sample_row``: row 0 was mapped once before the loop (the original's printed sample), which consumes one
    shuffle of its options' length."""
    rng = np.random.default_rng(seed)
    if sample_row and mapped:
        rng.shuffle(list(mapped[0].options))
    out = []
    for m in mapped:
        options = list(m.options)
        rng.shuffle(options)
        out.append((options, options.index(m.answer_string)))
    return out


def map_source(
    source: str,
    rows: Iterable[Mapping[str, Any]],
    origin: str,
    seed: int = 42,
    on_invalid: str = "error",
    split: str = "train",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Map one source's rows to pool rows (file order); returns (rows, exclusions)."""
    mapper = MAPPERS[source]
    valid: list[tuple[int, Mapped]] = []
    excluded: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        try:
            if not isinstance(row, Mapping):
                raise RowError("<row>", f"expected an object, got {type(row).__name__}")
            valid.append((index, mapper(row)))
        except RowError as exc:
            if on_invalid == "error":
                raise InputError(origin, str(exc), record=index, field=exc.field) from None
            excluded.append({"source": source, "record": index, "field": exc.field, "reason": str(exc)})
    # an excluded row 0 is never mapped, so it draws no sample shuffle (the original stops on it instead)
    shuffled = shuffled_options([m for _, m in valid], seed, sample_row=bool(valid) and valid[0][0] == 0)
    out: list[dict[str, Any]] = []
    for (index, m), (options, pos) in zip(valid, shuffled, strict=True):
        texts = [str(o) for o in options]  # what the prompt shows
        meta = dict(m.metadata, row=index)
        out.append(
            {
                "id": f"{source}-{split}-{index}",
                "source": source,
                "question": m.question,
                "options": texts,
                "answer_letter": LETTERS[pos],
                "answer_string": m.answer_string,
                "prompt": build_prompt(m.question, texts),
                "metadata": json.dumps(meta, ensure_ascii=False, default=str),
            }
        )
    return out, excluded


def pubmedqa_halves(
    rows: Iterable[Mapping[str, Any]], origin: str, seed: int = 42, on_invalid: str = "error"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """PubMedQA as the original: map every ``pqa_labeled`` row, then split; returns (train, test, exclusions) with
    ids ``PubMedQA-{train|test}-{position in the half}``."""
    mapped, excluded = map_source("PubMedQA", rows, origin, seed, on_invalid, split="pqa_labeled")
    train_idx, test_idx = split_halves(len(mapped))
    halves = []
    for name, idx in (("train", train_idx), ("test", test_idx)):
        halves.append([dict(mapped[i], id=f"PubMedQA-{name}-{k}") for k, i in enumerate(idx)])
    return halves[0], halves[1], excluded


def load_hf_rows(source: str) -> list[dict[str, Any]]:
    """The source's ``train`` rows from the Hugging Face hub (run on a node with internet; a local rule). PubMedQA
    returns all ``pqa_labeled`` rows: :func:`collect` splits them after the map, as the original."""
    from datasets import load_dataset  # heavy import, only where it is used

    hf_id, name = HF_IDS[source]
    return [dict(r) for r in load_dataset(hf_id, name, split="train")]


def load_fixture_rows(source: str, path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file shaped like the hub dataset's rows (PubMedQA: all ``pqa_labeled`` rows)."""
    return read_jsonl(path)


def collect(
    origins: Mapping[str, str],
    loader: Callable[[str, str], list[dict[str, Any]]],
    seed: int = 42,
    on_invalid: str = "error",
    check_paper_counts: bool = False,
) -> tuple[pl.DataFrame, dict[str, Any], pl.DataFrame]:
    """Load and map every source in :data:`POOL_ORDER`; returns the pool, counts (per source, exclusions, paper
    check) and the PubMedQA test half (the original's ``pubmedqa_custom_test``)."""
    rows: list[dict[str, Any]] = []
    pubmedqa_test: list[dict[str, Any]] = []
    counts: dict[str, Any] = {"order": list(POOL_ORDER), "per_source": {}, "excluded": {}, "exclusions": []}
    for source in POOL_ORDER:
        if source not in origins:
            raise ValueError(f"no origin configured for source {source!r}")
        raw = loader(source, origins[source])
        if source == "PubMedQA":
            mapped, pubmedqa_test, excluded = pubmedqa_halves(raw, origins[source], seed, on_invalid)
        else:
            mapped, excluded = map_source(source, raw, origins[source], seed, on_invalid)
        rows.extend(mapped)
        counts["per_source"][source] = len(mapped)
        counts["excluded"][source] = len(excluded)
        counts["exclusions"].extend(excluded)
        log_event(logger, "collected source", source=source, rows=len(mapped), excluded=len(excluded))
    counts["per_source"] = {s: counts["per_source"][s] for s in SOURCES}
    counts["total"] = len(rows)
    if check_paper_counts:
        diff = {
            s: (counts["per_source"][s], PAPER_COUNTS[s]) for s in SOURCES if counts["per_source"][s] != PAPER_COUNTS[s]
        }
        counts["paper_check"] = "match" if not diff else {"mismatch": diff}
        if diff:
            logger.warning("collect counts differ from the paper's Table 3: %s", diff)
    return pool_frame(rows), counts, pool_frame(pubmedqa_test)
