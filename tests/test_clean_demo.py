"""The demo runs in its own working directory (``make demo``: ``snakemake --directory demo``), so ``make clean-demo``
is a plain removal of that directory: a paper run's files in the checkout are never the demo's, and never removed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from workflow_helpers import copy_checkout, run_snakemake

PAPER_FILES = {  # a paper run's work in the same checkout, on the paths the demo writes inside demo/
    "results/table1.csv": "model,MedQA\npaper,1\n",
    "results/scores/faithful/tiny-base.csv": "model,n\ntiny-base,1\n",
    "cache/api/r1.jsonl": '{"key": "k", "response": {"content": "paid"}}\n',
    "cache/tiny/train/tiny-m1-1K/x/checkpoints/checkpoint-1/trainer_state.json": "{}\n",
    "logs/train_sft/tiny-m1-1K.log": "{}\n",
}


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file() and "demo" not in p.parts}


def _make(co: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(co), *args], capture_output=True, text=True, check=True, timeout=60)


def test_demo_writes_only_in_its_directory_and_clean_demo_removes_it(tmp_path):
    co = copy_checkout(tmp_path / "checkout")
    for rel, text in PAPER_FILES.items():
        (co / rel).parent.mkdir(parents=True, exist_ok=True)
        (co / rel).write_text(text)
    before = _files(co)
    _make(co, "demo-dir")
    # every file of the tiny DAG, as Snakemake plans it in the demo's directory
    summary = run_snakemake(["--directory", "demo", "--profile", "profiles/tiny", "report_all", "--summary"], co)
    outputs = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if "\t" in line]
    assert "results/table1.csv" in outputs and len(outputs) > 40
    outside = [
        p
        for p in outputs
        if p.startswith(("/", "..")) or not (co / "demo" / p).parent.resolve().is_relative_to(co / "demo")
    ]
    # only the tiny models reach outside, through the link to the checkout's resources/ (a cache of generated inputs)
    assert {p.split("/tiny-")[0] for p in outside} <= {"resources/tiny/models"}, outside
    assert (co / "demo" / ".snakemake").is_dir() and not (co / ".snakemake").exists()
    (co / "demo" / "results").mkdir()
    (co / "demo" / "results" / "table1.csv").write_text("model\ntiny\n")  # as the demo leaves it

    listed = _make(co, "clean-demo", "CLEAN_ARGS=--dry-run").stdout.split()
    assert "demo/results/table1.csv" in listed and "demo/config" in listed  # files and links, one per line
    assert (co / "demo" / "results" / "table1.csv").exists()  # a dry run removes nothing

    _make(co, "clean-demo")
    assert not (co / "demo").exists()
    assert _files(co) == before  # the paper run's files and the checkout's inputs (behind the links) are untouched


def test_clean_demo_refuses_while_a_run_holds_the_lock(tmp_path):
    co = copy_checkout(tmp_path / "checkout")
    _make(co, "demo-dir")
    (co / "demo" / ".snakemake" / "locks").mkdir(parents=True)
    (co / "demo" / ".snakemake" / "locks" / "0.input.lock").write_text("x\n")
    proc = subprocess.run(["make", "-C", str(co), "clean-demo"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "holds demo/.snakemake/locks" in proc.stdout
    assert (co / "demo" / "config").is_symlink()
