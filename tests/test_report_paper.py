"""The transcription of the paper's numbers (config/paper_numbers.yaml) is internally consistent.

A typo in one cell breaks one of these identities, which the paper itself satisfies: Avg = mean of the ten accuracy
columns (to rounding), Summation = sum of the four sources, Table 4 columns add up to Table 3's m23K and m1K rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from m1repro.records import TABLE1_COLUMNS
from m1repro.report.compare import load_paper_numbers
from m1repro.report.tables import TABLE2_ROW_NAMES, TABLE3_ROWS, TABLE4_COLUMNS

REPO = Path(__file__).resolve().parent.parent

PAPER = load_paper_numbers(REPO / "config" / "paper_numbers.yaml")


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_avg_is_mean_of_ten_columns(table):
    t = PAPER[table]
    assert t["columns"] == [*TABLE1_COLUMNS.values(), "Avg"]
    for row, vals in t["rows"].items():
        mean = sum(vals[c] for c in TABLE1_COLUMNS.values()) / 10
        assert abs(mean - vals["Avg"]) <= 0.01, f"{table} {row}: Avg {vals['Avg']} vs mean {mean:.4f}"
        assert all(0 <= v <= 100 for v in vals.values()), row


def test_table1_rows_and_config_models_match():
    rows = PAPER["table1"]["rows"]
    assert len(rows) == 25
    meta = PAPER["table1"]["meta"]
    for key, m in meta.items():
        if m.get("label") == "+CoT":
            assert key == f"{m['follows']}-CoT" and m["follows"] in rows
    from m1repro.config import load_config

    cfg = load_config(REPO / "config" / "config.yaml")
    for name, m in cfg["models"].items():
        if m.get("table1", True) and "path" in m:
            assert m.get("paper_row", name) in rows, f"config model {name} maps to no paper row"
    # spot checks against the paper text
    assert rows["m1-7B-23K"]["Avg"] == 60.32 and rows["m1-32B-1K"]["MedQA"] == 83.50
    assert rows["Qwen2.5-72B-Instruct-CoT"]["MMLU-Pro"] == 69.77


def test_table2_rows_are_the_ablation_rows():
    assert list(PAPER["table2"]["rows"]) == list(TABLE2_ROW_NAMES)
    assert PAPER["table2"]["rows"]["1K Hard Domain Dataset"]["Avg"] == 56.55


def test_table3_sums_and_stage_labels():
    t = PAPER["table3"]
    for row, v in t["rows"].items():
        assert v["MedQA"] + v["HeadQA"] + v["MedMCQA"] + v["PubMedQA"] == v["Summation"], row
    ours = {label for label, _, in_paper in TABLE3_ROWS if in_paper}
    assert ours == set(t["rows"])
    assert t["rows"]["Initial collection"]["Summation"] == 196157


def test_table4_sums_match_table3():
    t4, t3 = PAPER["table4"], PAPER["table3"]["rows"]
    assert tuple(t4["columns"]) == TABLE4_COLUMNS
    assert len(t4["rows"]) == 76
    for row, v in t4["rows"].items():
        for prefix in ("m23K", "m1K"):
            parts = sum(v[f"{prefix} {s}"] for s in ("MedQA", "PubMedQA", "HeadQA", "MedMCQA"))
            assert parts == v[f"{prefix} Summation"], (row, prefix)
    m23k = t3["+Decontamination & deduplication (m23K)"]
    assert sum(v["m23K Summation"] for v in t4["rows"].values()) == m23k["Summation"] == 23493
    assert sum(v["m1K Summation"] for v in t4["rows"].values()) == 1000
    # the m1K column per source equals Table 3's m1K row
    m1k = t3["Hard Domain Dataset Balanced 1K (m1K)"]
    for s in ("MedQA", "PubMedQA", "HeadQA", "MedMCQA"):
        got = sum(v[f"m1K {s}"] for v in t4["rows"].values())
        assert got == m1k[s], s


def test_table4_domains_are_the_mesh_qualifiers():
    names = [
        line.split("\t")[0]
        for line in (REPO / "resources" / "mesh" / "qualifier_scope_note.tsv").read_text().splitlines()[1:]
        if line
    ]
    assert sorted(PAPER["table4"]["rows"]) == sorted(names)
