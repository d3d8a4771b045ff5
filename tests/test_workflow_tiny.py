"""The tiny workflow end to end with real Snakemake, in temporary copies of the repository: twice, with identical
outputs (determinism), and a rerun that has nothing to do."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TARGETS = ["results/table1.csv"]

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SNAKEMAKE, "--profile", "profiles/tiny", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def runs(tiny_runs) -> list[Path]:
    return tiny_runs


def test_table1_shape(runs):
    import polars as pl

    df = pl.read_csv(runs[0] / "results/table1.csv")
    assert df.columns[:12] == [
        "model",
        "MedMCQA",
        "MedQA",
        "PubMedQA",
        "MMLU-Pro",
        "GPQA",
        "Lancet",
        "MedBullets-op4",
        "MedBullets-op5",
        "MedXpertQA",
        "NEJM",
        "Avg",
    ]
    assert df.height >= 3
    ten = df.select(df.columns[1:11]).to_numpy()
    assert ((ten >= 0) & (ten <= 100)).all()
    assert abs(df["Avg"] - ten.mean(axis=1)).max() < 0.006


def test_two_runs_identical(runs):
    a, b = runs
    assert (a / "results/table1.csv").read_bytes() == (b / "results/table1.csv").read_bytes()
    preds = sorted(p.relative_to(a) for p in (a / "results/predictions").rglob("*.jsonl"))
    assert preds
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(p) for p in preds], shallow=False)
    assert not mismatch and not errors


def test_one_shard_merges_to_its_own_bytes(runs):
    """Each tiny part is one prediction job (shard 0-end); rule eval_merge writes the same bytes as the part's file."""
    parts = sorted((runs[0] / "results/predictions").glob("*/*/all"))
    assert parts
    for part in parts:
        assert sorted(p.name for p in part.glob("*.jsonl")) == ["0-end.jsonl"]
        assert part.with_suffix(".jsonl").read_bytes() == (part / "0-end.jsonl").read_bytes()


def test_rerun_does_nothing(runs):
    res = snakemake(runs[0], "-n", *TARGETS)
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_prediction_and_scored_records(runs):
    import json

    from m1repro.eval import RECORD_FIELDS

    lines = (runs[0] / "results/predictions/faithful/tiny-think/all.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(tuple(r) == RECORD_FIELDS for r in records)
    forced = [r for r in records if r["variant"] == "budget32_wait1" and r["source"] == "NEJM"]
    assert forced and all(r["prompt"].endswith("<|im_start|>think\n") for r in forced)
    assert all(r["response_text"].startswith("<|im_start|>answer") for r in forced)
    scored = [
        json.loads(line) for line in (runs[0] / "results/scored/faithful/tiny-think.jsonl").read_text().splitlines()
    ]
    assert len(scored) == len(records)
    assert {"extracted", "correct", "correct_m1", "correct_improved"} <= set(scored[0])
    validation = json.loads((runs[0] / "results/eval/validation.json").read_text())
    # the real HumanityLastExam item whose answer is longer than its option is scored, as the original scores it
    assert validation["excluded"] == [] and "HumanityLastExam/137" in validation["item_ids"]["HumanityLastExam"]


def test_trained_model_ends_its_thinking_and_is_forced_to_wait(runs):
    """The tiny SFT learned the think/answer format: its thinking stops on its own, so "Wait" rounds insert text."""
    import json

    path = runs[0] / "results/predictions/faithful/tiny-m1-1K/all.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    base = [r for r in records if r["variant"] == "budget32"]
    assert sum(r["thinking_finish_reason"] == "stop" for r in base) >= len(base) // 4
    forced = [r for r in records if r["variant"] == "budget32_wait1"]
    assert any(r["num_wait"] == 1 and "Wait" in r["thinking_text"] for r in forced)
