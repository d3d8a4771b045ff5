"""The reference sets of the first decontamination: what the original's ``decontaminate.py`` compares the
deduplicated pool with (the evaluation file is used later, at ``verify``).

Each benchmark is one column of one hub dataset (:data:`BENCHMARKS`, in the original's order), plus the
``pubmedqa_custom_test`` prompts, which the original built from the PubMedQA test half (here: ``collect`` writes
them). Faithful quirks kept by :func:`faithful_references`:

* MMLU: the five medical subsets are concatenated into one dataset and the original then iterates its *rows*,
  taking ``row["question"]`` as an iterable, so its reference strings are the single characters of the questions;
  no training prompt can reach the 95 cutoff against one character, so MMLU removes nothing;
* GPQA is the whole diamond set and MMLU-Pro the whole test split (not only the medical parts).

Texts come from the hub (:func:`load_hf_texts`, a local rule) or from JSONL fixtures shaped like the hub rows
(:func:`load_fixture_texts`, the tiny run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from m1repro.curate.fuzzy import Reference
from m1repro.io import InputError, read_jsonl


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str
    subsets: tuple[str | None, ...]
    split: str
    column: str
    per_character: bool = False  # the MMLU quirk


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("gpqa_diamond", "Idavidrein/gpqa", ("gpqa_diamond",), "train", "Question"),
    Benchmark("medmcqa_validation", "openlifescienceai/medmcqa", (None,), "validation", "question"),
    Benchmark("medqa_test", "GBaker/MedQA-USMLE-4-options", (None,), "test", "question"),
    Benchmark(
        "mmlu_medical",
        "cais/mmlu",
        ("clinical_knowledge", "college_biology", "college_medicine", "medical_genetics", "professional_medicine"),
        "test",
        "question",
        per_character=True,
    ),
    Benchmark("mmlu_pro", "TIGER-Lab/MMLU-Pro", (None,), "test", "question"),
)
# the original's "mmqm/pubmedqa_custom_test" (column "prompt"), fourth in its list
PUBMEDQA_TEST = "pubmedqa_custom_test"
ORDER: tuple[str, ...] = ("gpqa_diamond", "medmcqa_validation", "medqa_test", PUBMEDQA_TEST, "mmlu_medical", "mmlu_pro")
BY_NAME: dict[str, Benchmark] = {b.name: b for b in BENCHMARKS}

TABLE_SCHEMA = {"benchmark": pl.String(), "index": pl.Int64(), "text": pl.String()}


def _texts(rows: Sequence[Mapping[str, object]], column: str, origin: str) -> list[str | None]:
    out: list[str | None] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or column not in row:
            raise InputError(origin, "missing column", record=i, field=column)
        value = row[column]
        if value is not None and not isinstance(value, str):
            raise InputError(origin, f"expected a string or null, got {type(value).__name__}", record=i, field=column)
        out.append(value)
    return out


def load_hf_texts(bench: Benchmark) -> list[str | None]:
    """The benchmark's column from the hub, subsets concatenated in order (GPQA is gated: needs a hub token)."""
    from datasets import load_dataset  # heavy import, only where it is used

    out: list[str | None] = []
    for subset in bench.subsets:
        ds = load_dataset(bench.hub_id, subset, split=bench.split)
        out.extend(_texts(ds.select_columns([bench.column]).to_list(), bench.column, f"{bench.hub_id}:{subset}"))
    return out


def load_fixture_texts(bench: Benchmark, path: str | Path) -> list[str | None]:
    """The benchmark's column from a JSONL file of rows shaped like the hub rows (subsets already concatenated)."""
    return _texts(read_jsonl(path), bench.column, str(path))


def benchmark_table(texts: Mapping[str, Sequence[str | None]]) -> pl.DataFrame:
    """``benchmark, index, text`` in the original's order; null texts are skipped (``if x is not None``)."""
    missing = [n for n in ORDER if n not in texts]
    if missing:
        raise ValueError(f"benchmark texts missing for {missing}")
    rows = [{"benchmark": n, "index": i, "text": t} for n in ORDER for i, t in enumerate(texts[n]) if t is not None]
    return pl.DataFrame(rows, schema=TABLE_SCHEMA, orient="row")


def faithful_references(table: pl.DataFrame) -> list[Reference]:
    """The strings the original's fuzzy test runs against. For a per-character benchmark each distinct character
    is one reference (repeats cannot change whether a prompt matches), tagged with the first question holding it."""
    refs: list[Reference] = []
    seen: set[tuple[str, str]] = set()
    for name, index, text in table.select("benchmark", "index", "text").iter_rows():
        bench = BY_NAME.get(name)
        if bench is not None and bench.per_character:
            for ch in text:
                if (name, ch) not in seen:
                    seen.add((name, ch))
                    refs.append(Reference(name, index, ch))
        else:
            refs.append(Reference(name, index, text))
    return refs
