"""Stages ``dedup`` and ``decontaminate`` (the original follows OpenThoughts' code; docs/fidelity.md, Curation).

faithful
    ``rapidfuzz.process.extract(s, choices, scorer=fuzz.ratio, score_cutoff=95)`` with its default ``limit=5`` and
    no preprocessing. Dedup compares training prompts with each other (unique strings; for each match the lowest row
    index of the pair is kept). Decontamination compares each training *prompt* (question + options) with reference
    strings (:class:`Reference`): the benchmark columns of the original's ``decontaminate.py`` for the first pass
    (:mod:`m1repro.curate.benchmarks`), the evaluation file's bare questions at ``verify`` (``decontaminate_eval.py``).
    A copy whose options add more than ~5% to its length scores below 95 and survives (quirk, kept).
improved
    Question (plus its options, sorted) to the evaluation file's questions after normalisation (lower case,
    punctuation dropped, the PubMedQA instruction of the evaluation file removed, whitespace collapsed), fuzzy ratio
    >= threshold, OR word n-gram overlap: the share of the shorter text's n-grams found in the other >=
    ``ngram_overlap`` (questions shorter than n words count as one n-gram, so only an exact normalised match hits).
    The improved decontamination removes what the faithful test removes plus these matches.

Speed: ``fuzz.ratio >= c`` implies ``|len(a)-len(b)| <= (1-c/100)(len(a)+len(b))``, so choices are sorted by length
and each block of queries is scored (``process.cdist``, ``workers`` threads outside the GIL) only against the length
window it can match. The result is identical to scoring every pair.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from tqdm import tqdm

from m1repro.io import InputError
from m1repro.log import log_event

logger = logging.getLogger(__name__)

PUBMEDQA_INSTRUCTION = (
    "Using the above document as a reference, please review the following question and choose the option you find "
    "most appropriate."
)


def fuzzy_matches(
    queries: Sequence[str],
    choices: Sequence[str],
    cutoff: float = 95.0,
    workers: int = 1,
    block: int = 256,
    max_cols: int = 16384,
    desc: str | None = None,
) -> list[list[tuple[int, float]]]:
    """For each query, every ``(choice index, fuzz.ratio)`` with ratio >= cutoff (unsorted).

    Exact: a pair outside the length window cannot reach the cutoff, so it is not scored.
    """
    out: list[list[tuple[int, float]]] = [[] for _ in queries]
    if not queries or not choices:
        return out
    f = 1.0 - cutoff / 100.0
    lo_factor, hi_factor = (1 - f) / (1 + f), (1 + f) / (1 - f) if f < 1 else float("inf")
    c_len = np.array([len(c) for c in choices])
    c_order = np.argsort(c_len, kind="stable")
    c_sorted_len = c_len[c_order]
    c_sorted = [choices[i] for i in c_order]
    q_len = np.array([len(q) for q in queries])
    q_order = np.argsort(q_len, kind="stable")
    for start in tqdm(range(0, len(queries), block), desc=desc, disable=desc is None, mininterval=5):
        qi = q_order[start : start + block]
        lo = np.searchsorted(c_sorted_len, q_len[qi[0]] * lo_factor - 1e-9, side="left")
        hi = np.searchsorted(c_sorted_len, q_len[qi[-1]] * hi_factor + 1e-9, side="right")
        qs = [queries[i] for i in qi]
        for cs in range(lo, hi, max_cols):
            ce = min(hi, cs + max_cols)
            scores = process.cdist(
                qs, c_sorted[cs:ce], scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.float64, workers=workers
            )
            rows, cols = np.nonzero(scores >= cutoff)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                out[int(qi[r])].append((int(c_order[cs + c]), float(scores[r, c])))
    return out


def top_matches(matches: list[tuple[int, float]], limit: int | None) -> list[tuple[int, float]]:
    """Matches in ``process.extract``'s order (score descending, then choice index), cut to ``limit``."""
    ordered = sorted(matches, key=lambda m: (-m[1], m[0]))
    return ordered if limit is None else ordered[:limit]


_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, the evaluation file's PubMedQA instruction removed, non-alphanumerics to single spaces."""
    text = text.replace(PUBMEDQA_INSTRUCTION, " ").lower()
    return _NON_WORD.sub(" ", text).strip()


def improved_text(question: str, options: Sequence[str] | None) -> str:
    """What the improved mode compares: the normalised question, then the normalised options in sorted order
    (so a reshuffle of the options does not hide a copy, and a shared stem with other options is no copy)."""
    opts = sorted(normalise(o) for o in (list(options) if options is not None else []))
    return " ".join([normalise(question), *opts]).strip()


def word_ngrams(text: str, n: int) -> set[str]:
    words = text.split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


# ---------------------------------------------------------------------------------------------------------- dedup


@dataclass(frozen=True)
class DedupResult:
    keep: list[int]
    removed: list[dict[str, Any]]  # {index, kept_index, score}


def dedup_faithful(texts: Sequence[str], cutoff: float = 95.0, limit: int | None = 5, workers: int = 1) -> DedupResult:
    """OpenThoughts' ``deduplicate``: for each unique string, its top ``limit`` matches (itself included) with
    ratio >= cutoff; every row of a matched pair except the lowest index is removed. Unique strings are taken in
    first-occurrence order (the original used ``set()``, whose order only matters for ties beyond the 5th match)."""
    str_to_indices: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        str_to_indices[t].append(i)
    unique = list(str_to_indices)
    matches = fuzzy_matches(unique, unique, cutoff, workers, desc="dedup")
    removed: dict[int, tuple[int, float]] = {}
    for u, ms in enumerate(matches):
        for v, score in top_matches(ms, limit):
            idx = sorted(set(str_to_indices[unique[u]] + str_to_indices[unique[v]]))
            for r in idx[1:]:
                removed.setdefault(r, (idx[0], score))
    keep = [i for i in range(len(texts)) if i not in removed]
    rows = [{"index": r, "kept_index": k, "score": s} for r, (k, s) in sorted(removed.items())]
    return DedupResult(keep, rows)


def dedup_improved(
    questions: Sequence[str], options: Sequence[Sequence[str]], cutoff: float = 95.0, workers: int = 1
) -> DedupResult:
    """:func:`improved_text` of each row, every match (no limit of 5), the lowest index of each pair kept."""
    return dedup_faithful([improved_text(q, o) for q, o in zip(questions, options, strict=True)], cutoff, None, workers)


# ---------------------------------------------------------------------------------------------------- decontaminate


@dataclass(frozen=True)
class Reference:
    """One string the faithful test compares prompts with: ``source`` names its set (a benchmark or an evaluation
    file source), ``index`` its item there."""

    source: str
    index: int
    text: str


@dataclass(frozen=True)
class EvalQuestion:
    source: str
    index: int
    question: str
    options: tuple[str, ...] = ()


def eval_questions(eval_data: Mapping[str, list[Mapping[str, Any]]], path: str = "<eval data>") -> list[EvalQuestion]:
    """The questions of an m1 evaluation file (``{source: [{question, ...}]}``)."""
    out: list[EvalQuestion] = []
    for source, items in eval_data.items():
        if source.startswith("_"):
            continue
        if not isinstance(items, list):
            raise InputError(path, "expected a list of items", record=source)
        for i, item in enumerate(items):
            q = item.get("question") if isinstance(item, Mapping) else None
            if not isinstance(q, str) or not q.strip():
                raise InputError(path, "expected a non-empty string", record=f"{source}[{i}]", field="question")
            opts = item.get("options")
            opt_texts = tuple(str(v) for v in opts.values()) if isinstance(opts, Mapping) else ()
            out.append(EvalQuestion(source, i, q, opt_texts))
    return out


def eval_references(evals: Sequence[EvalQuestion]) -> list[Reference]:
    """The evaluation file's bare questions as references (``decontaminate_eval.py``)."""
    return [Reference(e.source, e.index, e.question) for e in evals]


def faithful_contamination(
    prompts: Sequence[str], refs: Sequence[Reference], cutoff: float = 95.0, workers: int = 1
) -> list[tuple[int, float] | None]:
    """Per training prompt: the best reference with ratio >= cutoff (the original removes a prompt with any match),
    as ``(reference index, score)``, or None."""
    matches = fuzzy_matches(prompts, [r.text for r in refs], cutoff, workers, desc="decontaminate faithful")
    return [top_matches(m, 1)[0] if m else None for m in matches]


def improved_contamination(
    questions: Sequence[str],
    options: Sequence[Sequence[str]],
    evals: Sequence[EvalQuestion],
    cutoff: float = 95.0,
    n: int = 8,
    overlap: float = 0.5,
    workers: int = 1,
) -> list[dict[str, Any] | None]:
    """Per training question: the evaluation item it matches after normalisation (fuzzy or n-gram), or None."""
    nq = [improved_text(q, o) for q, o in zip(questions, options, strict=True)]
    ne = [improved_text(e.question, e.options) for e in evals]
    fz = fuzzy_matches(nq, ne, cutoff, workers, desc="decontaminate improved (fuzzy)")
    index: dict[str, list[int]] = defaultdict(list)
    e_grams = [word_ngrams(t, n) for t in ne]
    for j, grams in enumerate(e_grams):
        for g in grams:
            index[g].append(j)
    out: list[dict[str, Any] | None] = []
    for i, q in enumerate(tqdm(nq, desc="decontaminate improved (n-grams)", mininterval=5)):
        best: dict[str, Any] | None = None
        if fz[i]:
            j, s = top_matches(fz[i], 1)[0]
            best = {"eval": j, "fuzzy": s, "ngram": None, "by": "fuzzy"}
        grams = word_ngrams(q, n)
        hits = Counter(j for g in grams for j in index.get(g, ()))
        shares = {j: h / max(1, min(len(grams), len(e_grams[j]))) for j, h in hits.items()}
        top_j = min(shares, key=lambda j: (-shares[j], j), default=-1)  # the highest share, then the first item
        top_share = shares.get(top_j, 0.0)
        if top_share >= overlap:
            if best is None:
                best = {"eval": top_j, "fuzzy": None, "ngram": top_share, "by": "ngram"}
            else:
                best["ngram"] = top_share if top_j == best["eval"] else best["ngram"]
                best["by"] = "fuzzy+ngram"
        out.append(best)
    return out


def contamination_table(
    pool: pl.DataFrame,
    evals: Sequence[EvalQuestion],
    cutoff: float = 95.0,
    n: int = 8,
    overlap: float = 0.5,
    workers: int = 1,
    refs: Sequence[Reference] | None = None,
) -> pl.DataFrame:
    """One row per training item flagged by either mode. ``refs``: the faithful test's strings (default: the
    evaluation questions, as at ``verify``). For an item only the improved mode flags, the faithful score of that
    pair is computed too, to show why the original missed it."""
    refs = eval_references(evals) if refs is None else refs
    t0 = time.perf_counter()
    prompts = pool["prompt"].to_list()
    faithful = faithful_contamination(prompts, refs, cutoff, workers)
    t1 = time.perf_counter()
    improved = improved_contamination(
        pool["question"].to_list(), pool["options"].to_list(), evals, cutoff, n, overlap, workers
    )
    t2 = time.perf_counter()
    log_event(
        logger,
        "contamination scan",
        items=len(prompts),
        references=len(refs),
        eval_items=len(evals),
        faithful_s=round(t1 - t0, 2),
        improved_s=round(t2 - t1, 2),
    )
    ids, sources = pool["id"].to_list(), pool["source"].to_list()
    rows = []
    for i, (f, im) in enumerate(zip(faithful, improved, strict=True)):
        if f is None and im is None:
            continue
        ref = refs[f[0]] if f is not None else None
        e = evals[im["eval"]] if im is not None else None
        rows.append(
            {
                "id": ids[i],
                "source": sources[i],
                "faithful": f is not None,
                "faithful_ref": ref.source if ref is not None else None,
                "faithful_ref_index": ref.index if ref is not None else None,
                "faithful_score": f[1] if f is not None else float(fuzz.ratio(prompts[i], e.question)),  # type: ignore[union-attr]
                "improved": im is not None,
                "improved_by": im["by"] if im is not None else None,
                "eval_source": e.source if e is not None else None,
                "eval_index": e.index if e is not None else None,
                "question_score": None
                if e is None
                else float(
                    fuzz.ratio(
                        improved_text(pool["question"][i], pool["options"][i]), improved_text(e.question, e.options)
                    )
                ),
                "ngram_overlap": im["ngram"] if im is not None else None,
                "matched_text": (e.question if e is not None else ref.text)[:200],  # type: ignore[union-attr]
            }
        )
    return pl.DataFrame(rows, schema=CONTAMINATION_SCHEMA, orient="row")


CONTAMINATION_SCHEMA = {
    "id": pl.String,
    "source": pl.String,
    "faithful": pl.Boolean,
    "faithful_ref": pl.String,
    "faithful_ref_index": pl.Int64,
    "faithful_score": pl.Float64,
    "improved": pl.Boolean,
    "improved_by": pl.String,
    "eval_source": pl.String,
    "eval_index": pl.Int64,
    "question_score": pl.Float64,
    "ngram_overlap": pl.Float64,
    "matched_text": pl.String,
}


def removed_ids(table: pl.DataFrame, mode: str) -> pl.Series:
    """Ids the mode removes: faithful its own flags; improved the faithful flags plus its own."""
    if mode == "faithful":
        return table.filter(pl.col("faithful"))["id"]
    if mode == "improved":
        return table.filter(pl.col("faithful") | pl.col("improved"))["id"]
    raise ValueError(f"unknown decontamination mode {mode!r} (expected 'faithful' or 'improved')")


def report_summary(table: pl.DataFrame, references: Sequence[str]) -> pl.DataFrame:
    """Per reference set (a benchmark or an evaluation source): training items each mode removes because of it,
    and what the faithful mode misses (improved matches it does not remove)."""
    rows = []
    for ref in references:
        f = table.filter(pl.col("faithful_ref") == ref)
        t = table.filter(pl.col("eval_source") == ref)
        rows.append(
            {
                "reference": ref,
                "faithful_removed": f.height,
                "faithful_only": int((~f["improved"]).sum()),
                "improved_matches": t.height,
                "improved_by_fuzzy": int(t["improved_by"].is_in(["fuzzy", "fuzzy+ngram"]).sum()),
                "improved_by_ngram_only": int((t["improved_by"] == "ngram").sum()),
                "missed_by_faithful": int((~t["faithful"]).sum()),
            }
        )
    counts = (
        "faithful_removed faithful_only improved_matches improved_by_fuzzy improved_by_ngram_only missed_by_faithful"
    )
    return pl.DataFrame(rows, schema={"reference": pl.String, **dict.fromkeys(counts.split(), pl.Int64)}, orient="row")


def report_markdown(summary: pl.DataFrame, table: pl.DataFrame, mode: str, title: str, examples: int = 5) -> str:
    lines = [
        f"# {title}",
        "",
        f"Mode applied to the data: **{mode}**. Both modes are always computed for this report.",
        "faithful: the original's fuzzy test of each prompt against the reference strings; improved: normalised "
        "question-to-question and n-gram matches against the evaluation file (it also removes the faithful hits).",
        "",
    ]
    cols = summary.columns
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for r in summary.iter_rows():
        lines.append("| " + " | ".join(str(v) for v in r) + " |")
    total = summary.select(pl.exclude("reference").sum()).row(0, named=True)
    lines.append("| **total** | " + " | ".join(str(total[c]) for c in cols[1:]) + " |")
    missed = table.filter(pl.col("improved") & ~pl.col("faithful"))
    if missed.height:
        lines += [
            "",
            f"## Items the faithful mode keeps although they copy an evaluation question ({missed.height})",
            "",
            "| id | training source | eval source | faithful score (prompt vs question) | question score | n-gram overlap |",
            "|---|---|---|---|---|---|",
        ]
        for r in missed.head(examples).iter_rows(named=True):
            ng = "" if r["ngram_overlap"] is None else f"{r['ngram_overlap']:.2f}"
            lines.append(
                f"| {r['id']} | {r['source']} | {r['eval_source']} | {r['faithful_score']:.1f} | {r['question_score']:.1f} | {ng} |"
            )
        by_src = missed.group_by("source").len().sort("source")
        lines += ["", "Missed per training source: " + ", ".join(f"{s}: {c}" for s, c in by_src.iter_rows())]
    return "\n".join(lines) + "\n"
