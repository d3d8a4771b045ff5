"""Our numbers next to the paper's: every cell of Tables 1-4, flagged beyond a tolerance; and what the original's
quirks cost (the m1-faithful vs the improved scorer, the faithful vs the token-exact budget semantics)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from m1repro.io import atomic_open, write_text_atomic
from m1repro.log import log_event
from m1repro.records import TABLE1_COLUMNS
from m1repro.report.escape import markdown_cell
from m1repro.report.tables import read_scores, table1_frame, table2_frame, to_markdown

log = logging.getLogger(__name__)

ACC_COLUMNS = [*TABLE1_COLUMNS.values(), "Avg"]
COMPARISON_SCHEMA = {
    "table": pl.String,
    "row": pl.String,
    "column": pl.String,
    "model": pl.String,
    "ours": pl.Float64,
    "paper": pl.Float64,
    "diff": pl.Float64,
    "tolerance": pl.Float64,
    "flagged": pl.Boolean,
    "status": pl.String,
    "source": pl.String,
}


def load_paper_numbers(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{table: {source, columns, rows: {row: {column: value}}, order: [row...], meta: {row: {...}}}}``."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    out: dict[str, dict[str, Any]] = {}
    for table, spec in raw.items():
        cols = list(spec["columns"])
        rows, meta = {}, {}
        for r in spec["rows"]:
            if len(r["values"]) != len(cols):
                raise ValueError(
                    f"{path}: {table} row {r['row']!r} has {len(r['values'])} values for {len(cols)} columns"
                )
            if r["row"] in rows:
                raise ValueError(f"{path}: {table} row {r['row']!r} appears twice")
            rows[r["row"]] = dict(zip(cols, (float(v) for v in r["values"])))
            meta[r["row"]] = {k: v for k, v in r.items() if k not in ("row", "values")}
        out[table] = {
            "source": spec.get("source", table),
            "columns": cols,
            "rows": rows,
            "order": list(rows),
            "meta": meta,
        }
    return out


def _cells(
    table: str,
    paper: dict[str, Any],
    ours: dict[str, tuple[str, dict[str, float | None]]],
    tolerance: float,
    relative: bool = False,
) -> list[dict[str, Any]]:
    """Long rows for one table: each paper cell with our value (``ours``: row key -> (model, {column: value}))."""
    rows = []
    keys = list(paper["order"]) + [k for k in ours if k not in paper["rows"]]
    for key in keys:
        model, vals = ours.get(key, (None, {}))
        for col in paper["columns"]:
            p = paper["rows"].get(key, {}).get(col)
            o = vals.get(col)
            diff = o - p if (o is not None and p is not None) else None
            tol = tolerance * max(abs(p), 1.0) if (relative and p is not None) else tolerance
            if p is None:
                status = "no paper row"
            elif key not in ours:
                status = "not run"
            elif o is None:
                status = "missing cell"
            else:
                status = "compared"
            rows.append(
                {
                    "table": table,
                    "row": key,
                    "column": col,
                    "model": model,
                    "ours": o,
                    "paper": p,
                    "diff": diff,
                    "tolerance": tol,
                    "flagged": diff is not None and abs(diff) > tol + 1e-9,
                    "status": status,
                    "source": paper["source"],
                }
            )
    return rows


def _acc_rows(df: pl.DataFrame, keys: list[str], names: list[str]) -> dict[str, tuple[str, dict[str, float | None]]]:
    out: dict[str, tuple[str, dict[str, float | None]]] = {}
    for key, name, row in zip(keys, names, df.iter_rows(named=True)):
        if key in out:  # two models reproduce one paper row: keep both, the second under a suffixed key
            key = f"{key} ({name})"
        out[key] = (name, {c: row[c] for c in ACC_COLUMNS})
    return out


def comparison_frame(
    paper: dict[str, dict[str, Any]],
    score_paths: list[str],
    table1_models: list[dict[str, Any]],
    table2_models: list[dict[str, Any]],
    tolerance: float,
    count_tolerance: float,
    table3: pl.DataFrame | None = None,
    table4: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Long table of cells: Table 1 (models via ``paper_row``), Table 2 (via ``row`` = ablation_row), and, when given,
    Tables 3 and 4 (counts; tolerance relative to the paper's count)."""
    rows: list[dict[str, Any]] = []
    t1 = table1_frame(score_paths, table1_models)
    rows += _cells(
        "table1",
        paper["table1"],
        _acc_rows(t1, [m["paper_row"] for m in table1_models], [m["name"] for m in table1_models]),
        tolerance,
    )
    t2 = table2_frame(score_paths, table2_models)
    t2_keys = [f"{s} {f}" for s, f in zip(t2["scale"], t2["data_filtering"])]
    rows += _cells("table2", paper["table2"], _acc_rows(t2, t2_keys, t2["model"].to_list()), tolerance)
    for table, counts, key in (("table3", table3, "stage"), ("table4", table4, "Domain")):
        if counts is not None and table in paper:
            ours = {
                r[key]: ("", {k: (float(v) if isinstance(v, int) else None) for k, v in r.items()})
                for r in counts.iter_rows(named=True)
                if r.get("in_paper", True)  # Table 3's stages the paper folds into another row
            }
            rows += _cells(table, paper[table], ours, count_tolerance, relative=True)
    return pl.DataFrame(rows, schema=COMPARISON_SCHEMA)


SCORER_SCHEMA = {
    "model": pl.String,
    "dataset": pl.String,
    "variant": pl.String,
    "budget": pl.Int64,
    "rounds": pl.Int64,
    "n": pl.Int64,
    "accuracy_m1": pl.Float64,
    "accuracy_improved": pl.Float64,
    "delta": pl.Float64,
}


def scorer_frame(score_paths: list[str], variants: dict[str, list[str]] | None = None) -> pl.DataFrame:
    """Per model x dataset x variant: accuracy under the m1-faithful scorer and the improved one, and the change.
    ``variants``: model -> variants to keep (default all)."""
    frames = []
    for name, df in read_scores(score_paths).items():
        if variants is not None:
            df = df.filter(pl.col("variant").is_in(variants.get(name, [])))
        frames.append(
            df.select(
                pl.lit(name).alias("model"),
                "dataset",
                "variant",
                "budget",
                "rounds",
                "n",
                "accuracy_m1",
                "accuracy_improved",
                (pl.col("accuracy_improved") - pl.col("accuracy_m1")).alias("delta"),
            ).cast(SCORER_SCHEMA)
        )
    return pl.concat(frames) if frames else pl.DataFrame(schema=SCORER_SCHEMA)


BUDGET_MODE_SCHEMA = {
    "model": pl.String,
    "dataset": pl.String,
    "variant": pl.String,
    "budget": pl.Int64,
    "rounds": pl.Int64,
    "accuracy_faithful": pl.Float64,
    "accuracy_exact": pl.Float64,
    "delta": pl.Float64,
    "thinking_tokens_faithful": pl.Float64,
    "thinking_tokens_exact": pl.Float64,
    "length_rate_faithful": pl.Float64,
    "length_rate_exact": pl.Float64,
}


def budget_mode_frame(faithful_paths: list[str], exact_paths: list[str]) -> pl.DataFrame:
    """Faithful vs token-exact budget semantics per model x dataset x variant (score files of the same schema, the
    exact ones under ``results/scores/exact/{model}.csv``); delta = exact - faithful accuracy."""
    faithful, exact = read_scores(faithful_paths), read_scores(exact_paths)
    keep = ["dataset", "variant", "budget", "rounds", "accuracy", "mean_thinking_tokens", "thinking_length_rate"]
    frames = []
    for name in [n for n in faithful if n in exact]:
        f = faithful[name].select(keep)
        e = exact[name].select("dataset", "variant", "accuracy", "mean_thinking_tokens", "thinking_length_rate")
        j = f.join(e, on=["dataset", "variant"], how="inner", suffix="_exact")
        frames.append(
            j.select(
                pl.lit(name).alias("model"),
                "dataset",
                "variant",
                pl.col("budget").cast(pl.Int64),
                pl.col("rounds").cast(pl.Int64),
                pl.col("accuracy").alias("accuracy_faithful"),
                "accuracy_exact",
                (pl.col("accuracy_exact") - pl.col("accuracy")).alias("delta"),
                pl.col("mean_thinking_tokens").alias("thinking_tokens_faithful"),
                pl.col("mean_thinking_tokens_exact").alias("thinking_tokens_exact"),
                pl.col("thinking_length_rate").alias("length_rate_faithful"),
                pl.col("thinking_length_rate_exact").alias("length_rate_exact"),
            ).cast(BUDGET_MODE_SCHEMA)
        )  # type: ignore[arg-type]
    return pl.concat(frames) if frames else pl.DataFrame(schema=BUDGET_MODE_SCHEMA)


# --- Markdown --------------------------------------------------------------------------------------------------------


def _fmt(v: float | None, counts: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if counts else f"{v:.2f}"


def _wide_md(cells: pl.DataFrame, columns: list[str], counts: bool = False) -> str:
    """One line per row: 'ours / paper (diff)', flagged cells in bold."""
    lines = ["| row | model | " + " | ".join(map(markdown_cell, columns)) + " |", "|---|---|" + "---|" * len(columns)]
    for (row, model), g in cells.group_by(["row", "model"], maintain_order=True):
        by_col = {r["column"]: r for r in g.iter_rows(named=True)}
        out = []
        for c in columns:
            r = by_col.get(c)
            if r is None:
                out.append("")
                continue
            if r["ours"] is None or r["paper"] is None:
                out.append(f"{_fmt(r['ours'], counts)} / {_fmt(r['paper'], counts)}")
                continue
            txt = f"{_fmt(r['ours'], counts)} / {_fmt(r['paper'], counts)} ({r['diff']:+.{0 if counts else 2}f})"
            out.append(f"**{txt}**" if r["flagged"] else txt)
        lines.append(f"| {markdown_cell(str(row))} | {markdown_cell(model or '')} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def _summary(cmp: pl.DataFrame) -> pl.DataFrame:
    return cmp.group_by("table", maintain_order=True).agg(
        pl.len().alias("cells"),
        (pl.col("status") == "compared").sum().alias("compared"),
        pl.col("flagged").sum().alias("flagged"),
        (pl.col("status") == "not run").sum().alias("not_run"),
        (pl.col("status") == "no paper row").sum().alias("no_paper_row"),
        pl.col("diff").abs().mean().alias("mean_abs_diff"),
        pl.col("diff").abs().max().alias("max_abs_diff"),
    )


def comparison_markdown(
    cmp: pl.DataFrame,
    scorer: pl.DataFrame,
    budget_modes: pl.DataFrame | None,
    tolerance: float,
    count_tolerance: float,
    table1_variants: dict[str, str],
    budget_note: str = "",
) -> str:
    md = [
        "# Comparison with the paper",
        "",
        f"Each cell is `ours / paper (ours - paper)`; **bold** cells differ by more than the tolerance "
        f"({tolerance:g} accuracy points for Tables 1-2, {100 * count_tolerance:g}% of the paper's count for "
        f"Tables 3-4; config `report.tolerance`, `report.count_tolerance`). Paper numbers: config/paper_numbers.yaml.",
        "",
        "## Summary",
        "",
        to_markdown(_summary(cmp)),
        "",
    ]
    titles = {
        "table1": "Table 1 (models mapped by `paper_row`)",
        "table2": "Table 2 (runs mapped by `ablation_row`)",
        "table3": "Table 3 (samples per source)",
        "table4": "Table 4 (MeSH domains)",
    }
    for table, title in titles.items():
        sub = cmp.filter(pl.col("table") == table)
        if sub.height == 0:
            continue
        counts = table in ("table3", "table4")
        cols = list(dict.fromkeys(sub["column"].to_list()))
        ran = sub.filter(pl.col("status") != "not run")
        md += [f"## {title}", "", f"Source: {sub['source'][0]}.", ""]
        not_run = sub.filter(pl.col("status") == "not run")["row"].unique(maintain_order=True).to_list()
        if ran.height:
            md += [_wide_md(ran, cols, counts), ""]
        else:
            md += ["No row of this table was produced in this configuration.", ""]
        if not_run:
            md += ["Paper rows not run here: " + ", ".join(map(markdown_cell, not_run)) + ".", ""]
    md += [
        "## Scorer: m1-faithful vs improved",
        "",
        "Accuracy (%) at each model's Table 1 variant under the original's answer extraction (`m1`) and the "
        "improved one; delta = improved - m1 (what the original's extraction quirks cost). Every variant is in "
        "results/scorer_comparison.csv.",
        "",
    ]
    sub = scorer.filter(
        pl.col("variant") == pl.col("model").replace_strict(table1_variants, default=None, return_dtype=pl.String)
    )
    if sub.height:
        sub = sub.filter(pl.col("dataset").is_in(list(TABLE1_COLUMNS)))
        wide = sub.with_columns(pl.col("dataset").replace_strict(TABLE1_COLUMNS, default=None)).pivot(
            on="dataset", index="model", values="delta"
        )
        means = sub.group_by("model", maintain_order=True).agg(
            pl.col("accuracy_m1").mean().alias("Avg m1"),
            pl.col("accuracy_improved").mean().alias("Avg improved"),
            pl.col("delta").mean().alias("Avg delta"),
        )
        present = [c for c in TABLE1_COLUMNS.values() if c in wide.columns]
        wide = wide.select("model", *present).join(means, on="model", how="left")
        md += [to_markdown(wide), ""]
    else:
        md += ["No score files.", ""]
    md += ["## Budget semantics: faithful vs token-exact", ""]
    if budget_modes is not None and budget_modes.height:
        md += [
            "Accuracy (%) of the figure models with the original's budget semantics (re-encoded token counts, "
            "batch-dependent) and the token-exact controller; delta = exact - faithful. All rows: "
            "results/budget_mode_comparison.csv.",
            "",
        ]
        agg = (
            budget_modes.filter(pl.col("dataset").is_in(list(TABLE1_COLUMNS)))
            .group_by("model", "variant", maintain_order=True)
            .agg(
                pl.col("accuracy_faithful").mean().alias("avg faithful"),
                pl.col("accuracy_exact").mean().alias("avg exact"),
                pl.col("delta").mean().alias("avg delta"),
                pl.col("thinking_tokens_faithful").mean().alias("think tokens faithful"),
                pl.col("thinking_tokens_exact").mean().alias("think tokens exact"),
            )
        )
        md += [to_markdown(agg), ""]
    else:
        md += [budget_note or "Not run in this configuration.", ""]
    return "\n".join(md) + "\n"


def write_comparison(
    paper_path: str,
    score_paths: list[str],
    table1_models: list[dict[str, Any]],
    table2_models: list[dict[str, Any]],
    tolerance: float,
    count_tolerance: float,
    out: dict[str, str],
    table3_csv: str | None = None,
    table4_csv: str | None = None,
    exact_paths: list[str] | None = None,
    faithful_paths: list[str] | None = None,
    budget_note: str = "",
) -> pl.DataFrame:
    """out: csv, md, scorer_csv, budget_csv."""
    paper = load_paper_numbers(paper_path)
    t3 = pl.read_csv(table3_csv) if table3_csv else None
    t4 = pl.read_csv(table4_csv) if table4_csv else None
    cmp = comparison_frame(paper, score_paths, table1_models, table2_models, tolerance, count_tolerance, t3, t4)
    scorer = scorer_frame(score_paths)
    modes = budget_mode_frame(faithful_paths or [], exact_paths) if exact_paths else None
    for df, path in (
        (cmp, out["csv"]),
        (scorer, out["scorer_csv"]),
        (modes if modes is not None else pl.DataFrame(schema=BUDGET_MODE_SCHEMA), out["budget_csv"]),
    ):
        with atomic_open(path) as fh:
            df.write_csv(fh, float_precision=2)
    # the scorer section reads each model's Table 1 variant: Table 1 wins for a model in both tables
    variants = {m["name"]: m["variant"] for m in [*table2_models, *table1_models]}
    write_text_atomic(
        out["md"], comparison_markdown(cmp, scorer, modes, tolerance, count_tolerance, variants, budget_note)
    )
    log_event(log, "paper comparison written", cells=cmp.height, flagged=int(cmp["flagged"].sum()))
    return cmp
