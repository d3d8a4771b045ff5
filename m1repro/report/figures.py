"""Figures 1 and 3 of the paper from per-model score files, with the data behind them as CSV.

Figure 1: accuracy vs thinking budget (log2 x-axis) per dataset, one line per m1 model, a dotted least-squares line of
accuracy on log2(budget) with its 95% confidence band. Figure 3: accuracy vs the number of "Wait" rounds at a fixed
budget (``budget{B}`` is 0 rounds, ``budget{B}_wait{k}`` is k). The points and fits are returned as tables so tests
can check them without looking at pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from typing import Any

import polars as pl

from m1repro.io import atomic_open
from m1repro.log import log_event
from m1repro.records import TABLE1_COLUMNS
from m1repro.report.escape import mathtext_safe
from m1repro.report.stats import LinearFit, linear_fit
from m1repro.report.tables import read_scores, write_csv

log = logging.getLogger(__name__)

AVG = "Avg"  # the mean over Table 1's ten columns, an extra panel
DATASET_TITLES = {**TABLE1_COLUMNS, "HumanityLastExam": "HLE", AVG: "Average (Table 1 columns)"}

POINT_SCHEMA = {
    "model": pl.String,
    "label": pl.String,
    "dataset": pl.String,
    "budget": pl.Int64,
    "rounds": pl.Int64,
    "x": pl.Float64,
    "accuracy": pl.Float64,
    "n": pl.Int64,
    "mean_thinking_tokens": pl.Float64,
    "mean_wait": pl.Float64,
}
FIT_SCHEMA = {
    "model": pl.String,
    "label": pl.String,
    "dataset": pl.String,
    "n_points": pl.Int64,
    "slope": pl.Float64,
    "intercept": pl.Float64,
    "r2": pl.Float64,
    "slope_ci_low": pl.Float64,
    "slope_ci_high": pl.Float64,
    "residual_se": pl.Float64,
    "t_crit": pl.Float64,
    "x_mean": pl.Float64,
    "sxx": pl.Float64,
}


def _with_average(points: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Append the mean over Table 1's ten datasets per (model, keys), only where all ten are present."""
    t1 = points.filter(pl.col("dataset").is_in(list(TABLE1_COLUMNS)))
    avg = (
        t1.group_by(["model", "label", *keys])
        .agg(
            pl.col("accuracy").mean(),
            pl.col("n").sum(),
            pl.col("mean_thinking_tokens").mean(),
            pl.col("mean_wait").mean(),
            pl.len().alias("_k"),
        )
        .filter(pl.col("_k") == len(TABLE1_COLUMNS))
        .drop("_k")
        .with_columns(pl.lit(AVG).alias("dataset"))
    )
    return pl.concat([points, avg.select(points.columns)], how="vertical_relaxed")


def _points(
    score_paths: list[str],
    models: list[dict[str, Any]],
    datasets: list[str],
    keep: pl.Expr,
    x: pl.Expr,
    sort_keys: list[str],
) -> pl.DataFrame:
    """The rows of each model's scores that ``keep`` selects, at ``x``, plus the Avg panel, in figure order."""
    scores = read_scores(score_paths)
    frames = []
    for m in models:
        df = scores[m["name"]].filter(pl.col("dataset").is_in(datasets) & pl.col("budget").is_not_null() & keep)
        frames.append(
            df.select(
                pl.lit(m["name"]).alias("model"),
                pl.lit(m.get("label", m["name"])).alias("label"),
                "dataset",
                pl.col("budget").cast(pl.Int64),
                pl.col("rounds").cast(pl.Int64),
                x.alias("x"),
                pl.col("accuracy").cast(pl.Float64),
                pl.col("n").cast(pl.Int64),
                pl.col("mean_thinking_tokens").cast(pl.Float64),
                pl.col("mean_wait").cast(pl.Float64),
            )
        )
    pts = pl.concat(frames).cast(POINT_SCHEMA) if frames else pl.DataFrame(schema=POINT_SCHEMA)  # type: ignore[arg-type]
    return _sorted(_with_average(pts, ["budget", "rounds", "x"]), datasets, sort_keys)


def figure1_points(
    score_paths: list[str], models: list[dict[str, Any]], datasets: list[str], budgets: list[int]
) -> pl.DataFrame:
    """Accuracy at each budget of the sweep (0 "Wait" rounds), x = log2(budget); plus the Avg panel."""
    return _points(
        score_paths,
        models,
        datasets,
        (pl.col("rounds") == 0) & pl.col("budget").is_in(budgets),
        pl.col("budget").cast(pl.Float64).log(2),
        ["budget"],
    )


def figure3_points(
    score_paths: list[str],
    models: list[dict[str, Any]],
    datasets: list[str],
    forcing_budgets: list[int],
    rounds: list[int],
) -> pl.DataFrame:
    """Accuracy at each forcing count (x = rounds) for each forcing budget; plus the Avg panel."""
    return _points(
        score_paths,
        models,
        datasets,
        pl.col("budget").is_in(forcing_budgets) & pl.col("rounds").is_in(rounds),
        pl.col("rounds").cast(pl.Float64),
        ["budget", "rounds"],
    )


def _sorted(pts: pl.DataFrame, datasets: list[str], keys: list[str]) -> pl.DataFrame:
    order = {d: i for i, d in enumerate([*datasets, AVG])}
    models = {m: i for i, m in enumerate(dict.fromkeys(pts["model"].to_list()))}
    return (
        pts.with_columns(
            pl.col("dataset").replace_strict(order, return_dtype=pl.Int64).alias("_d"),
            pl.col("model").replace_strict(models, return_dtype=pl.Int64).alias("_m"),
        )
        .sort(["_m", "_d", *keys])
        .drop("_d", "_m")
    )


def fits(points: pl.DataFrame, group: tuple[str, ...] = ("model", "label", "dataset")) -> pl.DataFrame:
    """Least-squares line of accuracy on x per group (needs two distinct x values; fewer gives no row)."""
    rows = []
    for key, df in points.group_by(list(group), maintain_order=True):
        xs, ys = df["x"].to_list(), df["accuracy"].to_list()
        if len(set(xs)) < 2:
            continue
        f = linear_fit(xs, ys)
        lo, hi = f.slope_ci
        rows.append({**dict(zip(group, key)), **asdict(f), "n_points": f.n, "slope_ci_low": lo, "slope_ci_high": hi})
    return pl.DataFrame(rows, schema=FIT_SCHEMA)  # the schema's columns only (not n, slope_ci)


def band_frame(fit_row: dict[str, Any], xs: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Fitted line and 95% band of a fit row at xs (nan band when the fit has < 3 points)."""
    fields = ("slope", "intercept", "r2", "residual_se", "x_mean", "sxx", "t_crit")
    f = LinearFit(
        n=fit_row["n_points"],
        slope_ci=(fit_row["slope_ci_low"], fit_row["slope_ci_high"]),
        **{k: fit_row[k] for k in fields},
    )
    bands = [f.band(x) for x in xs]
    return [f.predict(x) for x in xs], [b[0] for b in bands], [b[1] for b in bands]


# --- drawing -----------------------------------------------------------------------------------------------------------


def _panels(points: pl.DataFrame, ncols: int = 4) -> tuple[Any, list[Any], list[str], list[str], dict[str, Any]]:
    """A grid of one panel per dataset (in order; spare cells hidden), the datasets, the labels and their colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(points["dataset"].to_list())) or ["(no data)"]
    labels = list(dict.fromkeys(points["label"].to_list()))
    n = len(datasets)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    cmap = matplotlib.colormaps["tab10"]
    return fig, flat[:n], datasets, labels, {m: cmap(i % 10) for i, m in enumerate(labels)}


def _accuracy_ylim(ax: Any, ys: list[float]) -> None:
    """The y-range of the points (padded, within 0-100): a wide band (few budgets) is clipped, not the data."""
    ys = [y for y in ys if y is not None and math.isfinite(y)]
    if not ys:
        return
    lo, hi = min(ys), max(ys)
    pad = max(2.0, 0.15 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, min(100.0, hi + pad) if hi <= 100 else hi + pad)


def plot_figure1(
    points: pl.DataFrame, fit_table: pl.DataFrame, png: str, pdf: str, title: str = "", dpi: int = 150
) -> None:
    fig, axes, datasets, labels, colors = _panels(points)
    budgets = sorted(set(points["budget"].to_list()))
    for ax, ds in zip(axes, datasets):
        sub = points.filter(pl.col("dataset") == ds)
        for label in labels:
            p = sub.filter(pl.col("label") == label).sort("budget")
            if p.height == 0:
                continue
            c = colors[label]
            ax.plot(p["budget"].to_list(), p["accuracy"].to_list(), "o-", color=c, lw=1.2, ms=4, label=label)
            f = fit_table.filter((pl.col("dataset") == ds) & (pl.col("label") == label))
            if f.height:
                xs = [min(p["x"]) + i * (max(p["x"]) - min(p["x"])) / 40 for i in range(41)]
                line, lo, hi = band_frame(f.row(0, named=True), xs)
                bx = [2**x for x in xs]
                ax.plot(bx, line, ":", color=c, lw=1.2)
                if all(math.isfinite(v) for v in lo):
                    ax.fill_between(bx, lo, hi, color=c, alpha=0.15, lw=0)
        _accuracy_ylim(ax, sub["accuracy"].to_list())
        ax.set_xscale("log", base=2)
        if budgets:
            ax.set_xticks(budgets)
            ax.set_xticklabels(
                [f"{b // 1024}K" if b >= 1024 and b % 1024 == 0 else str(b) for b in budgets], fontsize=7
            )
        _label_panel(ax, DATASET_TITLES.get(ds, ds), "thinking budget (tokens)")
    _finish(
        fig,
        axes,
        title or "Figure 1: accuracy vs thinking budget (dotted: linear fit on log2 budget, band: 95% CI)",
        png,
        pdf,
        dpi,
    )


def _label_panel(ax: Any, title: str, xlabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("accuracy (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _finish(fig: Any, axes: Any, suptitle: str, png: str, pdf: str, dpi: int) -> None:
    """One legend under the panels, the title, and both files."""
    import matplotlib.pyplot as plt

    handles, names = axes[0].get_legend_handles_labels()
    names = [mathtext_safe(n) for n in names]  # a label with "$" is text, not math
    if handles:
        fig.legend(
            handles,
            names,
            loc="lower center",
            ncol=min(6, len(names)),
            fontsize=9,
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def plot_figure3(points: pl.DataFrame, png: str, pdf: str, title: str = "", dpi: int = 150) -> None:
    fig, axes, datasets, labels, colors = _panels(points)
    budgets = sorted(set(points["budget"].to_list()))
    styles = ["-", "--", "-.", ":"]
    rounds = sorted(set(points["rounds"].to_list()))
    for ax, ds in zip(axes, datasets):
        sub = points.filter(pl.col("dataset") == ds)
        for label in labels:
            for bi, b in enumerate(budgets):
                p = sub.filter((pl.col("label") == label) & (pl.col("budget") == b)).sort("rounds")
                if p.height == 0:
                    continue
                name = label if len(budgets) == 1 else f"{label} @ {b}"
                ax.plot(
                    p["rounds"].to_list(),
                    p["accuracy"].to_list(),
                    "o" + styles[bi % len(styles)],
                    color=colors[label],
                    lw=1.2,
                    ms=4,
                    label=name,
                )
        _accuracy_ylim(ax, sub["accuracy"].to_list())
        if rounds:
            ax.set_xticks(rounds)
        _label_panel(ax, DATASET_TITLES.get(ds, ds), '"Wait" rounds (budget forcing)')
    btxt = ", ".join(str(b) for b in budgets)
    _finish(
        fig, axes, title or f'Figure 3: accuracy vs number of "Wait" rounds (thinking budget {btxt})', png, pdf, dpi
    )


def write_figure1(
    score_paths: list[str],
    models: list[dict[str, Any]],
    datasets: list[str],
    budgets: list[int],
    out: dict[str, str],
    dpi: int = 150,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """out: png, pdf, points (CSV), fits (CSV)."""
    pts = figure1_points(score_paths, models, datasets, budgets)
    ft = fits(pts)
    write_csv(pts, out["points"], precision=4)
    write_csv(ft, out["fits"], precision=4)
    plot_figure1(pts, ft, out["png"], out["pdf"], dpi=dpi)
    log_event(log, "figure 1 written", points=pts.height, fits=ft.height)
    return pts, ft


def write_figure3(
    score_paths: list[str],
    models: list[dict[str, Any]],
    datasets: list[str],
    forcing_budgets: list[int],
    rounds: list[int],
    out: dict[str, str],
    dpi: int = 150,
) -> pl.DataFrame:
    """out: png, pdf, points (CSV)."""
    pts = figure3_points(score_paths, models, datasets, forcing_budgets, rounds)
    write_csv(pts, out["points"], precision=4)
    plot_figure3(pts, out["png"], out["pdf"], dpi=dpi)
    log_event(log, "figure 3 written", points=pts.height)
    return pts
