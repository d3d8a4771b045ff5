"""Column names and types of the curation tables: the one place that knows them.

Pool rows (``collect`` output and every later stage, which only adds columns):

=================  =========  ==============================================================================
column             type       meaning
=================  =========  ==============================================================================
id                 str        ``{source}-{split}-{index in the source split}`` (PubMedQA: position in its train
                              half); stable across reruns
source             str        MedMCQA | MedQA | HeadQA | PubMedQA (the names of Table 3)
question           str        the question text; PubMedQA: the contexts joined by ``\\n``, then the question
options            list[str]  option texts in letter order (A, B, ...), after the original's shuffle, as shown
answer_letter      str        letter of the correct option after the shuffle
answer_string      str        text of the correct option
prompt             str        ``"{question}\\n{A. ...}\\n{B. ...}"`` as the original builds it
metadata           str        JSON object of source-specific fields (row in the source file, subject, original id,
                              bare PubMedQA question)
=================  =========  ==============================================================================

Later stages add: ``difficulty``: ``{model}_output``, ``{model}_correct`` per difficulty model;
``traces``: ``reasoning``, ``distilled_answer_string``, ``trace_status``, ``trace_error``;
``verify``: ``trace_correct``; ``domains``: ``domain_code``, ``domain``.

Set files (``results/curate/sets/{set}.parquet``, read by the trainer) have :data:`SET_COLUMNS`; ``reasoning`` is
R1's ``reasoning_content`` and ``distilled_answer_string`` its ``content``, as in the released m1K/m23K.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from m1repro.io import InputError, atomic_open

SOURCES: tuple[str, ...] = ("MedMCQA", "MedQA", "HeadQA", "PubMedQA")

POOL_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "source": pl.String(),
    "question": pl.String(),
    "options": pl.List(pl.String()),
    "answer_letter": pl.String(),
    "answer_string": pl.String(),
    "prompt": pl.String(),
    "metadata": pl.String(),
}
POOL_COLUMNS: tuple[str, ...] = tuple(POOL_SCHEMA)

SET_SCHEMA: dict[str, pl.DataType] = {
    **POOL_SCHEMA,
    "reasoning": pl.String(),
    "distilled_answer_string": pl.String(),
    "domain_code": pl.String(),
    "domain": pl.String(),
}
SET_COLUMNS: tuple[str, ...] = tuple(SET_SCHEMA)

SET_NAMES: tuple[str, ...] = ("m1k", "random_1k", "hard_random_1k", "hard_domain_1k", "random_23k")

LETTERS = "ABCDEFGHIJKLMN"


def pool_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows as a pool table with the documented column order and types."""
    return pl.DataFrame(rows, schema=POOL_SCHEMA, orient="row")


def read_table(path: str | Path, required: tuple[str, ...] = POOL_COLUMNS) -> pl.DataFrame:
    """Read a curation table; a missing column is an error naming the file and the column."""
    df = pl.read_parquet(path)
    for col in required:
        if col not in df.columns:
            raise InputError(path, f"missing column (has {df.columns})", field=col)
    return df


def write_table(df: pl.DataFrame, path: str | Path) -> None:
    """Write a parquet file atomically (temporary name, then rename)."""
    with atomic_open(path, "wb") as fh:
        df.write_parquet(fh)
