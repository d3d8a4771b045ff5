"""Figures 1 and 3: the data behind them (points, fits, 95% bands) and that they render."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from m1repro.records import TABLE1_COLUMNS
from m1repro.report.figures import AVG, band_frame, figure1_points, figure3_points, fits, write_figure1, write_figure3
from m1repro.report.stats import linear_fit, t_quantile
from m1repro.scores import SCORE_COLUMNS, write_scores

DATASETS = [*TABLE1_COLUMNS, "HumanityLastExam"]
BUDGETS = [128, 256, 512, 1024, 2048, 4096, 8192]


@pytest.mark.parametrize(
    ("df", "want"),
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706), (10, 2.2281), (30, 2.0423), (120, 1.9799)],
)
def test_t_quantile_matches_tables(df, want):
    assert t_quantile(0.975, df) == pytest.approx(want, abs=1e-4)


def test_t_quantile_other_levels():
    assert t_quantile(0.95, 5) == pytest.approx(2.0150, abs=1e-4)
    assert t_quantile(0.995, 3) == pytest.approx(5.8409, abs=1e-4)


def test_linear_fit_matches_numpy_and_band_formula():
    rng = np.random.default_rng(0)
    x = np.log2(np.array(BUDGETS, dtype=float))
    y = 40 + 2.5 * x + rng.normal(0, 1.5, x.size)
    f = linear_fit(x.tolist(), y.tolist())
    slope, intercept = np.polyfit(x, y, 1)
    assert f.slope == pytest.approx(slope, rel=1e-10) and f.intercept == pytest.approx(intercept, rel=1e-10)
    resid = y - (intercept + slope * x)
    se = math.sqrt((resid**2).sum() / (x.size - 2))
    assert f.residual_se == pytest.approx(se)
    # the band is symmetric around the line, narrowest at mean(x), and the slope CI contains the slope
    lo, hi = f.band(float(x.mean()))
    assert (lo + hi) / 2 == pytest.approx(f.predict(float(x.mean())))
    assert hi - lo < (f.band(x.max())[1] - f.band(x.max())[0])
    assert f.slope_ci[0] < f.slope < f.slope_ci[1]
    assert (hi - lo) / 2 == pytest.approx(t_quantile(0.975, 5) * se / math.sqrt(x.size))


def test_band_covers_the_true_line_95_percent():
    """Coverage of the 95% CI of the mean response at the ends of the range, by simulation."""
    rng = np.random.default_rng(1)
    x = np.log2(np.array(BUDGETS, dtype=float))
    hits, trials = 0, 2000
    for _ in range(trials):
        y = 50 + 1.0 * x + rng.normal(0, 2.0, x.size)
        f = linear_fit(x.tolist(), y.tolist())
        lo, hi = f.band(float(x[0]))
        hits += lo <= 50 + 1.0 * x[0] <= hi
    assert 0.93 <= hits / trials <= 0.97


def test_two_points_give_a_line_without_band():
    f = linear_fit([1.0, 2.0], [10.0, 20.0])
    assert f.slope == 10 and all(math.isnan(v) for v in f.band(1.5))


def _write_scores(path, model, acc):
    """A score file as eval_score writes it: ``acc(dataset, budget, rounds)`` gives the accuracy."""
    rows = []
    variants = [(b, 0) for b in BUDGETS] + [(2048, r) for r in (1, 2, 4)]
    for d in DATASETS:
        for b, r in variants:
            a = acc(d, b, r)
            rows.append(
                {
                    "model": model,
                    "budget_mode": "faithful",
                    "dataset": d,
                    "variant": f"budget{b}" + (f"_wait{r}" if r else ""),
                    "budget": b,
                    "rounds": r,
                    "scorer": "m1",
                    "n": 100,
                    "n_correct": round(a),
                    "accuracy": a,
                    "accuracy_m1": a,
                    "accuracy_improved": a + 1,
                    "mean_thinking_tokens": b * 0.9,
                    "mean_gen_tokens": b,
                    "mean_wait": r,
                    "thinking_length_rate": 0.5,
                }
            )
    write_scores(pl.DataFrame(rows).select(SCORE_COLUMNS), path, model=model, budget_mode="faithful", scorer="m1")
    return str(path)


@pytest.fixture
def score_files(tmp_path):
    d_index = {d: i for i, d in enumerate(DATASETS)}
    a = _write_scores(tmp_path / "m-a.csv", "m-a", lambda d, b, r: 30 + d_index[d] + 3 * math.log2(b) - r)
    b = _write_scores(
        tmp_path / "m-b.csv", "m-b", lambda d, b_, r: 50 + ((b_ * 7 + d_index[d] * 13) % 11) / 2 + 0.5 * r
    )
    return [a, b]


MODELS = [{"name": "m-a", "label": "A"}, {"name": "m-b", "label": "B"}]


def test_figure1_points_are_the_score_file_rows(score_files):
    pts = figure1_points(score_files, MODELS, DATASETS, BUDGETS)
    # 2 models x (11 datasets + Avg) x 7 budgets, rounds 0 only, x = log2(budget)
    assert pts.height == 2 * 12 * 7
    assert set(pts["rounds"]) == {0}
    assert (pts["x"] - pts["budget"].cast(pl.Float64).log(2)).abs().max() < 1e-12
    raw = pl.read_csv(score_files[0]).filter((pl.col("rounds") == 0) & (pl.col("dataset") == "NEJM"))
    got = pts.filter((pl.col("model") == "m-a") & (pl.col("dataset") == "NEJM")).sort("budget")
    assert got["accuracy"].to_list() == raw.sort("budget")["accuracy"].to_list()
    # Avg = mean over the ten Table 1 datasets (HumanityLastExam excluded)
    at = pts.filter((pl.col("model") == "m-a") & (pl.col("budget") == 1024))
    want = at.filter(pl.col("dataset").is_in(list(TABLE1_COLUMNS)))["accuracy"].mean()
    assert at.filter(pl.col("dataset") == AVG)["accuracy"][0] == pytest.approx(want)


def test_figure1_fits_recover_slopes_and_match_polyfit(score_files):
    pts = figure1_points(score_files, MODELS, DATASETS, BUDGETS)
    ft = fits(pts)
    assert ft.height == 2 * 12
    a = ft.filter(pl.col("model") == "m-a")
    assert a["slope"].to_list() == pytest.approx([3.0] * 12)  # exactly linear in log2(budget)
    assert a["r2"].to_list() == pytest.approx([1.0] * 12)
    for row in ft.filter(pl.col("model") == "m-b").iter_rows(named=True):
        p = pts.filter((pl.col("model") == "m-b") & (pl.col("dataset") == row["dataset"]))
        slope, intercept = np.polyfit(p["x"].to_numpy(), p["accuracy"].to_numpy(), 1)
        assert row["slope"] == pytest.approx(slope) and row["intercept"] == pytest.approx(intercept)
        assert row["slope_ci_low"] <= row["slope"] <= row["slope_ci_high"]
        assert row["t_crit"] == pytest.approx(t_quantile(0.975, 5))
        line, lo, hi = band_frame(row, p["x"].to_list())
        assert all(lo_ <= y <= hi_ for y, lo_, hi_ in zip(line, lo, hi))


def test_figure3_points_rounds_at_the_forcing_budget(score_files):
    pts = figure3_points(score_files, MODELS, DATASETS, [2048], [0, 1, 2, 4])
    assert set(pts["budget"]) == {2048}
    assert sorted(set(pts["rounds"])) == [0, 1, 2, 4]
    a = pts.filter((pl.col("model") == "m-a") & (pl.col("dataset") == "MedQA_USLME_test")).sort("rounds")
    base = 30 + DATASETS.index("MedQA_USLME_test") + 3 * 11
    assert a["accuracy"].to_list() == pytest.approx([base - r for r in (0, 1, 2, 4)])
    assert a["x"].to_list() == [0.0, 1.0, 2.0, 4.0]


def test_figures_render(score_files, tmp_path):
    out1 = {k: str(tmp_path / f"f1.{k}") for k in ("png", "pdf")} | {
        "points": str(tmp_path / "p1.csv"),
        "fits": str(tmp_path / "fit1.csv"),
    }
    write_figure1(score_files, MODELS, DATASETS, BUDGETS, out1, dpi=60)
    out3 = {k: str(tmp_path / f"f3.{k}") for k in ("png", "pdf")} | {"points": str(tmp_path / "p3.csv")}
    write_figure3(score_files, MODELS, DATASETS, [2048], [0, 1, 2, 4], out3, dpi=60)
    for p in (out1["png"], out3["png"]):
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    for p in (out1["pdf"], out3["pdf"]):
        assert open(p, "rb").read(5) == b"%PDF-"
    back = pl.read_csv(out1["fits"])
    assert back.height == 24 and set(back["dataset"]) == {*DATASETS, AVG}


def test_figures_with_no_models_render_empty(tmp_path):
    out = {k: str(tmp_path / f"f.{k}") for k in ("png", "pdf")} | {
        "points": str(tmp_path / "p.csv"),
        "fits": str(tmp_path / "fits.csv"),
    }
    pts, ft = write_figure1([], [], DATASETS, BUDGETS, out, dpi=50)
    assert pts.height == 0 and ft.height == 0


@pytest.mark.slow  # the tiny workflow's runs (shared with tests/test_workflow_tiny.py in one session)
def test_tiny_runs_scores_give_a_point_per_dataset_and_budget(tiny_runs):
    """On a real tiny run's score file: every sweep budget of every dataset is a point of Figure 1."""
    path = tiny_runs[0] / "results" / "scores" / "faithful" / "tiny-think.csv"
    raw = pl.read_csv(path)
    sweep = raw.filter(pl.col("rounds") == 0)
    budgets = sorted(sweep["budget"].unique().to_list())
    datasets = raw["dataset"].unique().to_list()
    assert len(budgets) > 1 and len(datasets) > 1
    pts = figure1_points([str(path)], [{"name": "tiny-think", "label": "tiny"}], datasets, budgets)
    assert pts.filter(pl.col("dataset") != AVG).height == sweep.height
