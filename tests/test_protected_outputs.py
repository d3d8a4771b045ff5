"""Snakemake flags on the outputs that cost the most to make again or that must never be empty: trained models and
paid API answers are protected (read-only once written), and the evaluation records are ensured non-empty. A
protected tree is still removable by `make clean-demo` (which gives the demo directory its write bits back first)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from snakemake.io import strip_wildcard_constraints
from workflow_helpers import load_rules

REPO = Path(__file__).resolve().parent.parent

PROTECTED = {
    "train_sft": {"results/train/{run}/model"},
    "curate_traces": {"results/curate/traces.parquet"},
    "curate_domains": {"results/curate/domains.parquet"},
}
NON_EMPTY = {
    "eval_prepare": {"results/eval/items.jsonl"},
    "eval_merge": {"results/predictions/{budget_mode}/{model}/{part}.jsonl"},
    "eval_score": {"results/scored/{budget_mode}/{model}.jsonl"},
}


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/tiny.yaml"])
def test_expensive_outputs_are_protected_and_records_never_empty(configfile):
    rules = {r.name: r for r in load_rules(configfile)}
    for name, want in PROTECTED.items():
        got = {strip_wildcard_constraints(str(f)) for f in rules[name].output if f.is_flagged("protected")}
        assert got == want, name
    for name, want in NON_EMPTY.items():
        ensured = [f for f in rules[name].output if (f.flags.get("ensure") or {}).get("non_empty")]
        got = {strip_wildcard_constraints(str(f)) for f in ensured}
        assert got == want, name


def test_clean_removes_a_write_protected_tree(tmp_path):
    """As Snakemake leaves a protected directory output: every file and folder without write bits."""
    demo = tmp_path / "demo"
    model = demo / "results/train/tiny-m1-1K/model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(b"\0")
    for folder, dirs, files in os.walk(model, topdown=False):
        for name in dirs + files:
            p = os.path.join(folder, name)
            os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    os.chmod(model, os.stat(model).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    subprocess.run(["make", "-s", "-C", str(REPO), "clean-demo", f"DEMO_DIR={demo}"], check=True, capture_output=True)
    assert not demo.exists() and tmp_path.is_dir()
