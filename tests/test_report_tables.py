"""Tables 2-4, their Markdown and LaTeX, and the comparison with the paper (flags beyond the tolerance)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from m1repro.records import TABLE1_COLUMNS
from m1repro.report.compare import (
    budget_mode_frame,
    comparison_frame,
    load_paper_numbers,
    scorer_frame,
    write_comparison,
)
from m1repro.report.tables import (
    TABLE4_COLUMNS,
    table2_frame,
    table3_frame,
    table4_frame,
    to_latex,
    to_markdown,
    write_table2,
)
from m1repro.scores import SCORE_COLUMNS, write_scores

REPO = Path(__file__).resolve().parent.parent
PAPER_PATH = REPO / "config" / "paper_numbers.yaml"
PAPER = load_paper_numbers(PAPER_PATH)
DATASETS = [*TABLE1_COLUMNS, "HumanityLastExam"]


def _scores(path: Path, model: str, variant: str, acc: dict[str, float], improved_delta: float = 0.0) -> str:
    budget = None if variant == "baseline" else int(variant.removeprefix("budget"))
    rows = [
        {
            "model": model,
            "budget_mode": "faithful",
            "dataset": d,
            "variant": variant,
            "budget": budget,
            "rounds": 0,
            "scorer": "m1",
            "n": 200,
            "n_correct": int(a * 2),
            "accuracy": a,
            "accuracy_m1": a,
            "accuracy_improved": a + improved_delta,
            "mean_thinking_tokens": 100.0,
            "mean_gen_tokens": 120.0,
            "mean_wait": 0.0,
            "thinking_length_rate": 0.1,
        }
        for d, a in acc.items()
    ]
    df = pl.DataFrame(rows, schema_overrides={"budget": pl.Int64}).select(SCORE_COLUMNS)
    write_scores(df, path, model=model, budget_mode="faithful", scorer="m1")
    return str(path)


def _paper_acc(table: str, row: str, shift: dict[str, float] | None = None) -> dict[str, float]:
    """The paper's accuracies of a row per dataset source (plus HLE), optionally shifted per column."""
    vals = PAPER[table]["rows"][row]
    shift = shift or {}
    acc = {src: vals[col] + shift.get(col, 0.0) for src, col in TABLE1_COLUMNS.items()}
    return acc | {"HumanityLastExam": 5.0}


def test_table2_in_paper_order_with_avg(tmp_path):
    a = _scores(tmp_path / "abl-hard.csv", "abl-hard", "budget4096", _paper_acc("table2", "23K Hard"))
    b = _scores(tmp_path / "abl-rand.csv", "abl-rand", "budget4096", _paper_acc("table2", "1K Random"))
    models = [
        {"name": "abl-hard", "row": "23K Hard", "variant": "budget4096"},
        {"name": "abl-rand", "row": "1K Random", "variant": "budget4096"},
    ]
    df = table2_frame([a, b], models)
    assert df["data_filtering"].to_list() == ["Random", "Hard"] and df["scale"].to_list() == ["1K", "23K"]
    assert df["Avg"].to_list() == pytest.approx([54.75, 58.80], abs=0.006)
    assert df["model"].to_list() == ["abl-rand", "abl-hard"] and df["budget"].to_list() == [4096, 4096]


def test_table2_empty_and_unknown_row(tmp_path):
    out = {k: str(tmp_path / f"t2.{k}") for k in ("csv", "md", "tex")}
    df = write_table2([], [], out["csv"], out["md"], out["tex"], budget=32)
    assert df.height == 0
    assert pl.read_csv(out["csv"]).columns[:3] == ["scale", "data_filtering", "MedMCQA"]
    assert "No ablation models in this configuration" in Path(out["md"]).read_text()
    with pytest.raises(ValueError, match="not a Table 2 row"):
        table2_frame([], [{"name": "x", "row": "2K Fancy", "variant": "budget1"}])


def test_markdown_and_latex_format():
    df = pl.DataFrame({"Domain": ["Drug Effects & Co", "x_y"], "m23K MedQA": [12, 3], "Avg": [1.234, None]})
    md = to_markdown(df).splitlines()
    assert md[0] == "| Domain | m23K MedQA | Avg |" and md[1] == "|---|---|---|"
    assert md[2] == "| Drug Effects & Co | 12 | 1.23 |" and md[3] == "| x_y | 3 |  |"
    tex = to_latex(df, caption="50% of it", label="tab:x")
    assert r"\begin{tabular}{lrr}" in tex and r"Drug Effects \& Co & 12 & 1.23 \\" in tex
    assert r"x\_y & 3 &  \\" in tex and r"\caption{50\% of it}" in tex and r"\label{tab:x}" in tex
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1


COUNTS = {
    "stages": {
        "pool": {"MedMCQA": 182822, "MedQA": 10178, "HeadQA": 2657, "PubMedQA": 500, "total": 196157},
        "dedup": {"MedMCQA": 180000, "MedQA": 10100, "HeadQA": 2650, "PubMedQA": 500, "total": 193250},
        "difficulty": {"MedMCQA": 35270, "MedQA": 2099, "HeadQA": 331, "PubMedQA": 116, "total": 37816},
        "verify": {"correct": {"MedMCQA": 21628, "MedQA": 1628, "HeadQA": 209, "PubMedQA": 39, "total": 23504}},
        "m23k": {"MedMCQA": 21628, "MedQA": 1628, "HeadQA": 209, "PubMedQA": 28, "total": 23493},
    },
    "sets": {
        "m1k": {"MedMCQA": 575, "MedQA": 274, "HeadQA": 123, "PubMedQA": 28, "total": 1000},
        "random_1k": {"MedMCQA": 900, "MedQA": 80, "HeadQA": 18, "PubMedQA": 2, "total": 1000},
    },
}


def test_table3_from_counts_json():
    df = table3_frame(COUNTS)
    assert df.columns == ["stage", "MedQA", "HeadQA", "MedMCQA", "PubMedQA", "Summation", "in_paper"]
    # stages the file lacks (decontaminate, some sets) are left out, not zero
    assert df["stage"].to_list() == [
        "Initial collection",
        "+After deduplication",
        "+After difficulty filtering",
        "+Generating thinking data",
        "+Decontamination & deduplication (m23K)",
        "Random 1K",
        "Hard Domain Dataset Balanced 1K (m1K)",
    ]
    assert df.filter(pl.col("stage") == "+Generating thinking data")["PubMedQA"][0] == 39
    assert df["in_paper"].to_list()[1] is False


def test_table4_layout_from_domain_counts():
    dc = pl.DataFrame(
        {
            "domain": ["Virology", "Abnormalities"],
            "m23k_MedMCQA": [90, 646],
            "m23k_MedQA": [12, 24],
            "m23k_HeadQA": [5, 0],
            "m23k_PubMedQA": [0, 1],
            "m23k_total": [107, 671],
            "m1k_MedMCQA": [4, 10],
            "m1k_MedQA": [6, 10],
            "m1k_HeadQA": [5, 0],
            "m1k_PubMedQA": [0, 1],
            "m1k_total": [15, 21],
        }
    )
    df = table4_frame(dc)
    assert df.columns == ["Domain", *TABLE4_COLUMNS]
    assert df.row(0) == ("Abnormalities", 24, 1, 0, 646, 671, 10, 1, 0, 10, 21)  # the paper's first row exactly


def test_comparison_flags_cells_beyond_tolerance(tmp_path):
    shifted = _paper_acc("table1", "m1-7B-23K", {"GPQA": 2.5, "NEJM": -0.4})
    s1 = _scores(tmp_path / "m1-7B-23K-released.csv", "m1-7B-23K-released", "budget4096", shifted, improved_delta=1.5)
    s2 = _scores(tmp_path / "qwen-cot.csv", "qwen-cot", "baseline", _paper_acc("table1", "Qwen2.5-7B-Instruct-CoT"))
    t1 = [
        {"name": "m1-7B-23K-released", "label": "m1-7B-23K", "paper_row": "m1-7B-23K", "variant": "budget4096"},
        {"name": "qwen-cot", "label": "+CoT", "paper_row": "Qwen2.5-7B-Instruct-CoT", "variant": "baseline"},
    ]
    cmp = comparison_frame(PAPER, [s1, s2], t1, [], tolerance=1.0, count_tolerance=0.01, table3=table3_frame(COUNTS))
    row = cmp.filter((pl.col("table") == "table1") & (pl.col("row") == "m1-7B-23K"))
    by_col = {r["column"]: r for r in row.iter_rows(named=True)}
    assert by_col["GPQA"]["diff"] == pytest.approx(2.5) and by_col["GPQA"]["flagged"]
    assert by_col["NEJM"]["diff"] == pytest.approx(-0.4) and not by_col["NEJM"]["flagged"]
    assert by_col["Avg"]["diff"] == pytest.approx(0.21, abs=0.006) and not by_col["Avg"]["flagged"]
    assert row["flagged"].sum() == 1
    cot = cmp.filter((pl.col("table") == "table1") & (pl.col("row") == "Qwen2.5-7B-Instruct-CoT"))
    assert cot["status"].unique().to_list() == ["compared"] and cot["diff"].abs().max() < 0.006
    # every paper cell of Tables 1 and 2 is listed; rows we did not run say so
    assert cmp.filter(pl.col("table") == "table1").height == 25 * 11
    assert cmp.filter(pl.col("table") == "table2")["status"].unique().to_list() == ["not run"]
    # Table 3: relative tolerance on counts; the "+After deduplication" row is ours only (not compared)
    t3 = cmp.filter(pl.col("table") == "table3")
    assert not t3.filter(pl.col("row") == "Initial collection")["flagged"].any()
    rnd = t3.filter((pl.col("row") == "Random 1K") & (pl.col("column") == "MedQA"))
    assert rnd["diff"][0] == 80 - 61 and rnd["flagged"][0]
    assert "+After deduplication" not in t3["row"].to_list()

    out = {k: str(tmp_path / f"c.{k}") for k in ("csv", "md")} | {
        "scorer_csv": str(tmp_path / "s.csv"),
        "budget_csv": str(tmp_path / "b.csv"),
    }
    write_comparison(str(PAPER_PATH), [s1, s2], t1, [], 1.0, 0.01, out)
    md = Path(out["md"]).read_text()
    assert "**55.58 / 53.08 (+2.50)**" in md  # the flagged GPQA cell in bold
    assert "64.34 / 64.34" not in md and "63.94 / 64.34 (-0.40)" in md
    assert "Paper rows not run here:" in md and "Not run in this configuration." in md
    sc = pl.read_csv(out["scorer_csv"])
    assert sc["delta"].to_list() == pytest.approx([1.5] * 11 + [0.0] * 11)


def test_budget_mode_frame(tmp_path):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores_exact").mkdir()
    f = _scores(tmp_path / "scores" / "m.csv", "m", "budget2048", {"NEJM": 60.0})
    e = _scores(tmp_path / "scores_exact" / "m.csv", "m", "budget2048", {"NEJM": 62.5})
    df = budget_mode_frame([f], [e])
    assert df.height == 1 and df["delta"][0] == pytest.approx(2.5)
    assert df["accuracy_faithful"][0] == 60.0 and df["accuracy_exact"][0] == 62.5
    assert budget_mode_frame([f], []).height == 0


def test_scorer_frame_variant_filter(tmp_path):
    s = _scores(tmp_path / "m.csv", "m", "baseline", {"NEJM": 50.0}, improved_delta=-3.0)
    assert scorer_frame([s], {"m": ["baseline"]})["delta"].to_list() == [-3.0]
    assert scorer_frame([s], {"m": ["budget1"]}).height == 0
