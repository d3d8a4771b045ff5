"""Table 1 from per-model score files."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import polars as pl

from m1repro.io import atomic_open, write_text_atomic
from m1repro.log import log_event
from m1repro.records import TABLE1_COLUMNS
from m1repro.report.escape import markdown_cell, markdown_text
from m1repro.scores import read_scores_checked

log = logging.getLogger(__name__)

TABLE1_HEADER = ["model", *TABLE1_COLUMNS.values(), "Avg"]


def table1_frame(score_paths: list[str], models: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per model at its Table 1 variant: accuracy (%) per column, Avg = mean of the ten (null if one is
    missing), then budget, group, scorer and the number of items."""
    by_name = read_scores(score_paths)
    rows = []
    for m in models:
        if m.get("not_run"):  # left out on this site (m1repro.plan.fit_to_site): a row without cells
            rows.append({"model": m["label"], "group": m.get("group", ""), "n": 0})
            continue
        df = by_name[m["name"]].filter(pl.col("variant") == m["variant"])
        acc = dict(zip(df["dataset"].to_list(), df["accuracy"].to_list()))
        row: dict[str, Any] = {"model": m["label"]}
        for source, column in TABLE1_COLUMNS.items():
            row[column] = round(acc[source], 2) if source in acc else None
        vals = [row[c] for c in TABLE1_COLUMNS.values()]
        row["Avg"] = round(sum(acc[s] for s in TABLE1_COLUMNS) / len(vals), 2) if None not in vals else None
        budgets = df["budget"].drop_nulls().unique().to_list()
        row["budget"] = budgets[0] if budgets else None
        row["group"] = m.get("group", "")
        row["scorer"] = df["scorer"][0] if len(df) else None
        row["n"] = int(df.filter(pl.col("dataset").is_in(list(TABLE1_COLUMNS)))["n"].sum())
        rows.append(row)
    schema: dict[str, Any] = {"model": pl.String}
    schema.update({c: pl.Float64 for c in TABLE1_HEADER[1:]})
    schema.update({"budget": pl.Int64, "group": pl.String, "scorer": pl.String, "n": pl.Int64})
    return pl.DataFrame(rows, schema=schema)


NOT_RUN = "not run on this site"


def to_markdown(df: pl.DataFrame, not_run: Collection[str] = ()) -> str:
    """A Markdown table; every cell escaped (:func:`m1repro.report.escape.markdown_cell`: a label with ``|`` or
    ``<script>`` stays one cell of text); the empty accuracy cells of rows whose ``model`` is in ``not_run`` say
    :data:`NOT_RUN`."""
    cols = df.columns
    lines = ["| " + " | ".join(markdown_cell(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.iter_rows(named=True):
        left_out = row.get("model") in not_run
        cells = [
            NOT_RUN if v is None and left_out and c in TABLE1_HEADER else markdown_cell(_cell(v))
            for c, v in row.items()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def empty_cell_notes(df: pl.DataFrame, label: str = "model") -> list[str]:
    """One flag per Table 1/2 column with empty cells: a dataset without scored items (an empty evaluation source,
    accepted with ``eval.allow_empty_datasets``) leaves its cells, and Avg, empty."""
    return [
        f"FLAGGED: {c} is empty for {', '.join(str(r) for r, v in zip(df[label], df[c]) if v is None)}: no scored "
        "items (an empty evaluation source, allowed by eval.allow_empty_datasets; see results/eval/validation.json), "
        "so Avg is not computed for these rows."
        for c in TABLE1_COLUMNS.values()
        if df[c].null_count()
    ]


def not_run_notes(models: list[dict[str, Any]]) -> list[str]:
    """One note per model left out on this site, with the reason and what would make it run (results/plan.md)."""
    return [f"{m['label']}: {NOT_RUN}. {m['not_run']}" for m in models]


def write_table1(
    score_paths: list[str], models: list[dict[str, Any]], csv_out: str, md_out: str, tex_out: str | None = None
) -> pl.DataFrame:
    df = table1_frame(score_paths, models)
    not_run = [m for m in models if m.get("not_run")]
    notes = not_run_notes(not_run) + empty_cell_notes(df.filter(~pl.col("model").is_in([m["label"] for m in not_run])))
    write_table(df, csv_out, md_out, notes=notes, not_run={m["label"] for m in not_run})
    if tex_out:  # captioned in LaTeX only: the Markdown table has no title
        write_text_atomic(
            tex_out, to_latex(df, caption="Table 1: accuracy (%) per model and dataset", label="tab:main")
        )
    for n in notes:
        log.warning(n)
    log_event(log, "table 1 written", rows=df.height, flagged=len(notes))
    return df


# --- shared writers -------------------------------------------------------------------------------------------------

_LATEX_ESCAPES = {
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def to_latex(df: pl.DataFrame, caption: str = "", label: str = "") -> str:
    """A booktabs ``table`` (numbers right-aligned, text left), every cell escaped."""
    align = "".join("r" if dt.is_numeric() else "l" for dt in df.dtypes)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    for row in df.iter_rows():
        lines.append(" & ".join(latex_escape(_cell(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(
    df: pl.DataFrame,
    csv_out: str,
    md_out: str,
    tex_out: str | None = None,
    title: str = "",
    notes: list[str] | None = None,
    label: str = "",
    not_run: Collection[str] = (),
) -> None:
    """CSV (2 decimals), Markdown (title, table, notes) and LaTeX, each written atomically."""
    write_csv(df, csv_out)
    md = (f"# {title}\n\n" if title else "") + to_markdown(df, not_run)
    if notes:
        md += "\n" + "\n".join(f"- {markdown_text(n)}" for n in notes) + "\n"
    write_text_atomic(md_out, md)
    if tex_out:
        write_text_atomic(tex_out, to_latex(df, caption=title, label=label))


def write_csv(df: pl.DataFrame, path: str, precision: int = 2) -> None:
    """A table as CSV, written atomically."""
    with atomic_open(path) as fh:
        df.write_csv(fh, float_precision=precision)


def read_scores(score_paths: list[str]) -> dict[str, pl.DataFrame]:
    """Score files keyed by model name (the file stem, as eval_score writes ``results/scores/{budget_mode}/{model}.csv``),
    each checked against the sidecar the scoring rule wrote (:func:`m1repro.scores.read_scores_checked`)."""
    return {Path(p).stem: read_scores_checked(p) for p in score_paths}


# --- Table 2: the data-filtering ablation ------------------------------------------------------------------------------

# The paper's rows in order: (training scale, data filtering); a training run names its row with `ablation_row`.
TABLE2_ROWS: tuple[tuple[str, str], ...] = (
    ("1K", "Random"),
    ("1K", "Hard Random"),
    ("1K", "Hard Domain"),
    ("1K", "Hard Domain Dataset"),
    ("23K", "Random"),
    ("23K", "Hard"),
)
TABLE2_ROW_NAMES: tuple[str, ...] = tuple(f"{s} {f}" for s, f in TABLE2_ROWS)


def table2_frame(score_paths: list[str], models: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per ablation model (``models``: name, row = its run's ``ablation_row``, variant), in the paper's order;
    the cells are computed as in Table 1. No models gives an empty table with the same columns."""
    for m in models:
        if m["row"] not in TABLE2_ROW_NAMES:
            raise ValueError(f"model {m['name']!r}: ablation_row {m['row']!r} is not a Table 2 row {TABLE2_ROW_NAMES}")
    order = {r: i for i, r in enumerate(TABLE2_ROW_NAMES)}
    models = sorted(models, key=lambda m: (order[m["row"]], m["name"]))
    t1 = table1_frame(score_paths, [{"name": m["name"], "label": m["row"], "variant": m["variant"]} for m in models])
    scale = [m["row"].split(" ", 1)[0] for m in models]
    filtering = [m["row"].split(" ", 1)[1] for m in models]
    df = t1.with_columns(
        pl.Series("scale", scale, dtype=pl.String),
        pl.Series("data_filtering", filtering, dtype=pl.String),
        pl.Series("model_name", [m["name"] for m in models], dtype=pl.String),
    )
    return df.select(
        "scale",
        "data_filtering",
        *TABLE1_COLUMNS.values(),
        "Avg",
        pl.col("model_name").alias("model"),
        "budget",
        "scorer",
        "n",
    )


def write_table2(
    score_paths: list[str],
    models: list[dict[str, Any]],
    csv_out: str,
    md_out: str,
    tex_out: str,
    budget: int | None = None,
) -> pl.DataFrame:
    df = table2_frame(score_paths, models)
    notes = [
        f"Each row is a model fine-tuned on that set (config `train.runs.<run>.ablation_row`), evaluated at the "
        f"Table 2 budget ({budget} thinking tokens, config `eval.table2_budget`; the original's ablation runs used 2048)."
        if budget
        else "Evaluated at the Table 2 budget (config `eval.table2_budget`)."
    ]
    missing = [r for r in TABLE2_ROW_NAMES if r not in {f"{s} {f}" for s, f in zip(df["scale"], df["data_filtering"])}]
    if df.height == 0:
        notes.append(
            "No ablation models in this configuration: no `models:` entry evaluates a training run with an "
            "`ablation_row`, so the table is empty (see config/config.yaml `train.runs`)."
        )
    elif missing:
        notes.append("Rows of the paper without a model in this configuration: " + ", ".join(missing) + ".")
    not_run = [m for m in models if m.get("not_run")]
    notes += not_run_notes([{**m, "label": m["row"]} for m in not_run])
    notes += empty_cell_notes(df.filter(~pl.col("model").is_in([m["name"] for m in not_run])))
    write_table(
        df,
        csv_out,
        md_out,
        tex_out,
        title="Table 2: data-filtering ablation (accuracy %)",
        notes=notes,
        label="tab:ablation",
        not_run={m["name"] for m in not_run},
    )
    log_event(log, "table 2 written", rows=df.height, missing=missing)
    return df


# --- Table 3: samples per source at each curation stage and in each set ------------------------------------------------

TABLE3_SOURCES: tuple[str, ...] = ("MedQA", "HeadQA", "MedMCQA", "PubMedQA")  # the paper's column order
# (our label, where in counts.json, in the paper): stage rows follow the paper, plus the two stages the paper folds
# into its "Decontamination & deduplication" row (this pipeline, like the original code, runs them first).
TABLE3_ROWS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("Initial collection", ("stages", "pool"), True),
    ("+After deduplication", ("stages", "dedup"), False),
    ("+After decontamination", ("stages", "decontaminate"), False),
    ("+After difficulty filtering", ("stages", "difficulty"), True),
    ("+Generating thinking data", ("stages", "verify", "correct"), True),
    ("+Decontamination & deduplication (m23K)", ("stages", "m23k"), True),
    ("Random 23K", ("sets", "random_23k"), True),
    ("Random 1K", ("sets", "random_1k"), True),
    ("Hard random 1K", ("sets", "hard_random_1k"), True),
    ("Hard Domain Balanced 1K", ("sets", "hard_domain_1k"), True),
    ("Hard Domain Dataset Balanced 1K (m1K)", ("sets", "m1k"), True),
)
TABLE3_SCHEMA = {
    "stage": pl.String,
    **{s: pl.Int64 for s in TABLE3_SOURCES},
    "Summation": pl.Int64,
    "in_paper": pl.Boolean,
}


def _dig(obj: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def table3_frame(counts: dict[str, Any]) -> pl.DataFrame:
    """Rows of Table 3 from ``results/curate/counts.json`` (``stages``/``sets`` of per-source counts); a stage the
    file lacks is left out rather than shown as zeros."""
    rows = []
    for label, keys, in_paper in TABLE3_ROWS:
        c = _dig(counts, keys)
        if not isinstance(c, dict):
            continue
        vals = {s: int(c.get(s, 0)) for s in TABLE3_SOURCES}
        rows.append(
            {"stage": label, **vals, "Summation": int(c.get("total", sum(vals.values()))), "in_paper": in_paper}
        )
    return pl.DataFrame(rows, schema=TABLE3_SCHEMA)


def table3_from_sets(set_paths: dict[str, str]) -> pl.DataFrame:
    """Set rows only (the released sets carry no stage counts): per-source counts of each set file."""
    counts: dict[str, Any] = {"sets": {}}
    for name, path in set_paths.items():
        if "source" not in pl.read_parquet_schema(path):
            continue
        df = pl.read_parquet(path, columns=["source"])
        per = dict(df.group_by("source").len().iter_rows())
        counts["sets"][name] = {s: int(per.get(s, 0)) for s in TABLE3_SOURCES} | {"total": df.height}
    return table3_frame(counts)


def short_set_notes(counts: dict[str, Any]) -> list[str]:
    """Flags for curated sets smaller than requested (accepted with ``curate.allow_short_sets``), from counts.json."""
    return [
        f"FLAGGED: set {name} has {v['rows']} rows, fewer than the {v['requested']} requested (too few rows to draw "
        "from: a small pool, or fewer correct R1 answers than curate.random_estimated_accuracy assumes; allowed by "
        "curate.allow_short_sets)."
        for name, v in (counts.get("short_sets") or {}).items()
    ]


def write_table3(
    df: pl.DataFrame, csv_out: str, md_out: str, tex_out: str, origin: str, flags: list[str] | None = None
) -> pl.DataFrame:
    notes = [
        f"Counts from {origin}.",
        "Rows with in_paper = false are stages this pipeline reports separately (the paper folds them into its "
        "'Decontamination & deduplication' row).",
        *(flags or []),
    ]
    if df.height == 0:
        notes.append("No curation counts in this configuration.")
    write_table(
        df,
        csv_out,
        md_out,
        tex_out,
        title="Table 3: samples per source at each curation stage and set",
        notes=notes,
        label="tab:data-stats",
    )
    for n in flags or []:
        log.warning(n)
    log_event(log, "table 3 written", rows=df.height, flagged=len(flags or []))
    return df


# --- Table 4: MeSH domains of m23K and m1K per source ------------------------------------------------------------------

TABLE4_SOURCES: tuple[str, ...] = ("MedQA", "PubMedQA", "HeadQA", "MedMCQA")  # the paper's column order
TABLE4_COLUMNS: tuple[str, ...] = tuple(
    f"{label} {s}" for label in ("m23K", "m1K") for s in (*TABLE4_SOURCES, "Summation")
)


def table4_frame(domain_counts: pl.DataFrame) -> pl.DataFrame:
    """Table 4 from ``results/curate/domain_counts.parquet`` (domain, ``m23k_{source}``, ``m23k_total``,
    ``m1k_{source}``, ``m1k_total``), domains in alphabetical order as in the paper."""
    out = {"Domain": domain_counts["domain"]}
    for prefix, label in (("m23k", "m23K"), ("m1k", "m1K")):
        for s in TABLE4_SOURCES:
            col = f"{prefix}_{s}"
            out[f"{label} {s}"] = (
                domain_counts[col]
                if col in domain_counts.columns
                else pl.zeros(domain_counts.height, dtype=pl.Int64, eager=True)
            )
        out[f"{label} Summation"] = (
            domain_counts[f"{prefix}_total"]
            if f"{prefix}_total" in domain_counts.columns
            else sum(out[f"{label} {s}"] for s in TABLE4_SOURCES)
        )
    df = pl.DataFrame(out).with_columns(pl.col(c).cast(pl.Int64) for c in TABLE4_COLUMNS)
    return df.sort("Domain")


def domain_counts_from_sets(m23k_path: str, m1k_path: str) -> pl.DataFrame:
    """The ``domain_counts`` layout from two set files (released sets); domains missing -> empty frame."""

    def wide(path: str, prefix: str) -> pl.DataFrame:
        schema = pl.read_parquet_schema(path)
        if "domain" not in schema or "source" not in schema:
            return pl.DataFrame(schema={"domain": pl.String})
        t = pl.read_parquet(path, columns=["domain", "source"]).drop_nulls("domain")
        w = t.group_by("domain", "source").len().pivot(on="source", index="domain", values="len").fill_null(0)
        w = w.rename({s: f"{prefix}_{s}" for s in w.columns if s != "domain"})
        cols = [c for c in w.columns if c != "domain"]
        return w.with_columns(pl.sum_horizontal(cols).alias(f"{prefix}_total"))

    a, b = wide(m23k_path, "m23k"), wide(m1k_path, "m1k")
    if a.width == 1 and b.width == 1:
        return pl.DataFrame(schema={"domain": pl.String})
    return a.join(b, on="domain", how="full", coalesce=True).fill_null(0)


def write_table4(df: pl.DataFrame, csv_out: str, md_out: str, tex_out: str, origin: str) -> pl.DataFrame:
    notes = [f"Counts from {origin}."]
    if df.height == 0:
        notes.append("No domain labels in this configuration.")
    write_table(
        df,
        csv_out,
        md_out,
        tex_out,
        title="Table 4: MeSH domains of m23K and m1K per source",
        notes=notes,
        label="tab:domains",
    )
    log_event(log, "table 4 written", rows=df.height)
    return df
