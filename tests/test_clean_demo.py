"""`make clean-demo` (m1repro/clean.py) removes exactly what the tiny run wrote: planted paper-run files survive.

The tiny run's files are planted where the tiny DAG writes them (Snakemake's own ``--detailed-summary`` lists the
outputs) and Snakemake records them as that run's (``--touch``), instead of running the workflow (minutes). A shared
path that another configuration wrote last (its record has other params) must survive too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from workflow_helpers import REPO, copy_checkout, run_snakemake

TINY = ["--profile", "profiles/tiny", "report_all"]

PAPER_FILES = {  # a paper run's work in the same checkout: none of it is the demo's
    "results/predictions/faithful/Qwen2.5-7B-Instruct/MedQA_USLME_test.jsonl": '{"id": "x"}\n',
    "results/scores/faithful/Qwen2.5-7B-Instruct.csv": "model,n\nQwen2.5-7B-Instruct,1\n",
    "results/scored/faithful/m1-7B-1K.jsonl": '{"id": "y"}\n',
    "results/train/m1-7B-1K/model/config.json": "{}\n",
    "results/curate/released/m1k.parquet": "not really parquet\n",
    "results/report.html": "<html></html>\n",
    "cache/api/r1.jsonl": '{"key": "k", "response": {"content": "paid"}}\n',
    "cache/api/mesh.jsonl": '{"key": "m", "response": {"content": "paid too"}}\n',
    "cache/train/m1-7B-1K/0123456789ab/checkpoints/checkpoint-40/trainer_state.json": "{}\n",
    "cache/train/tiny-m1-1K/0123456789ab/checkpoints/checkpoint-1/x": "paper root, same run name\n",
    "logs/eval_predict/faithful/Qwen2.5-7B-Instruct/MedQA_USLME_test.log": "{}\n",
    "logs/train_sft/m1-7B-1K.log": "{}\n",
    "logs/benchmarks/eval_predict/faithful/Qwen2.5-7B-Instruct/MedQA_USLME_test.tsv": "s\n1\n",
}
TINY_EXTRA = [  # written by the tiny run outside its declared outputs, or left by a killed job
    "logs/benchmarks/eval_predict/faithful/tiny-base/all.tsv",
    "logs/benchmarks/train_sft/tiny-m1-1K.tsv",
    "cache/tiny/train/tiny-m1-1K/fedcba987654/checkpoints/checkpoint-3/trainer_state.json",
    "results/scores/faithful/.tiny-base.csv.k3j2.part",
    "results/train/tiny-m1-1K/.model.partial/config.json",
]
SHARED = ["results/eval/items.jsonl", "results/eval/validation.json"]  # rewritten by another configuration


def _summary(cwd: Path, *extra: str) -> dict[str, list[str]]:
    """``--detailed-summary``: output -> [rule, logs on record]."""
    out = run_snakemake([*TINY, "--detailed-summary", *extra], cwd).stdout.splitlines()
    rows = [line.split("\t") for line in out[1:] if "\t" in line]
    return {r[0]: [r[2], r[3]] for r in rows}


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file() and ".snakemake" not in p.parts}


def _clean(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "m1repro.clean", *args, *TINY],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture
def planted(tmp_path) -> tuple[Path, dict[str, list[str]]]:
    d = copy_checkout(tmp_path / "checkout")
    outputs = _summary(d)
    assert len(outputs) > 60 and "results/table1.csv" in outputs
    for path, (rule, _) in outputs.items():
        p = d / path
        if rule in ("models_tiny", "train_sft"):  # directory outputs
            (p / "config.json").parent.mkdir(parents=True, exist_ok=True)
            (p / "config.json").write_text("{}\n")
        elif path.endswith(".parquet"):  # a training set is read when its job's resources are computed
            p.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame({c: ["tiny"] for c in ("prompt", "reasoning", "distilled_answer_string")}).write_parquet(p)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"tiny {path}\n")
    run_snakemake([*TINY, "--touch", "--forceall"], d)  # Snakemake records every output as the tiny run's
    # another configuration (other eval settings) writes the shared evaluation items last
    run_snakemake(
        [
            "--profile",
            "profiles/tiny",
            "results/eval/items.jsonl",
            "--touch",
            "--config",
            "eval={max_items_per_dataset: 2}",
        ],
        d,
    )
    for rel in TINY_EXTRA:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("tiny\n")
    for rel, text in PAPER_FILES.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d, outputs


def test_clean_removes_the_tiny_run_and_keeps_the_rest(planted):
    d, outputs = planted
    # first a dry run: it lists, and removes nothing
    before = _files(d)
    listed = {
        line.removeprefix("would remove ")
        for line in _clean(d, "--dry-run").stdout.splitlines()
        if line.startswith("would")
    }
    assert "results/table1.csv" in listed and "cache/tiny/train/tiny-m1-1K" in listed
    assert not listed & set(PAPER_FILES) and not listed & set(SHARED)
    assert _files(d) == before
    proc = _clean(d)
    left_tiny = [p for p in [*outputs, *TINY_EXTRA] if p not in SHARED and (d / p).exists()]
    assert not left_tiny, left_tiny
    for log in (
        "logs/eval_score/faithful/tiny-base.log",
        "logs/train_sft/tiny-m1-1K.launcher.log",
        "logs/report_table1.log",
    ):
        assert not (d / log).exists(), log
    assert (d / "logs/eval_prepare.log").exists()  # the log of the other configuration's job
    assert not (d / "resources/tiny").exists() and not (d / "cache/tiny").exists()  # emptied folders pruned
    for rel, text in PAPER_FILES.items():
        assert (d / rel).read_text() == text, rel  # byte for byte
    for rel in SHARED:  # the other configuration's record says it wrote them: kept and listed
        assert (d / rel).exists() and f"kept {rel}: written with other params" in proc.stdout
    assert (d / "results/README.md").exists() and (d / "config/tiny.yaml").exists()
    # Snakemake's records of the removed outputs are gone (no logs on record), the shared ones' stay
    after = _summary(d)
    assert all(after[p][1] == "-" for p in outputs if p not in SHARED)
    assert all(after[p][1] != "-" for p in SHARED)
    # a second clean finds nothing more of the tiny run's
    again = _clean(d)
    assert not [line for line in again.stdout.splitlines() if line.startswith("removed")]


def test_make_clean_demo_calls_the_clean_module():
    proc = subprocess.run(["make", "-n", "clean-demo"], cwd=REPO, capture_output=True, text=True)
    recipe = [line for line in proc.stdout.splitlines() if "m1repro.clean" in line]
    assert recipe and "--profile profiles/tiny" in recipe[-1] and "rm -rf" not in proc.stdout
