"""Partial reruns: after a finished tiny run, changing one config value reruns exactly the jobs it affects.

The finished run is simulated cheaply (seconds, not the run's minutes): every output is planted (a line of text, or an
empty folder), then `snakemake --touch --forceall` records every job's provenance (params, code, input set, software
env) as if it had run and orders the outputs' modification times along the DAG. Then one value changes and a
dry run lists what Snakemake would rerun.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml
from workflow_helpers import copy_checkout, dry_run, job_counts, run_snakemake

pytestmark = pytest.mark.slow  # records a whole tiny DAG with --touch, then a dry run per change

TARGET = "results/table1.csv"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = copy_checkout(tmp_path_factory.mktemp("rerun"))
    with open(work / "config" / "tiny.yaml", encoding="utf-8") as fh:
        base = yaml.safe_load(fh)
    jobs = dry_run([TARGET, "--configfile", "config/tiny.yaml"], cwd=work)
    dirs = {"resources/tiny/models/", "results/train/"}
    for job in jobs:
        for out in job.output:
            path = work / out
            if any(out.startswith(d) for d in dirs) and not path.suffix:  # directory() outputs
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("x\n")  # not empty: some outputs are ensure(non_empty=True)
    # every job "runs" by touching its outputs, in DAG order: its provenance is recorded as if it had run
    run_snakemake(["--touch", "--forceall", "--cores", "1", TARGET, "--configfile", "config/tiny.yaml"], work)
    # Snakemake write-protects the trained models and the paid API answers (protected()); rerunning one means
    # making it writable (or removing it) first, as a user who changes a training value does.
    subprocess.run(["chmod", "-R", "u+w", str(work / "results")], check=True)
    assert dry_run([TARGET, "--configfile", "config/tiny.yaml"], cwd=work) == [], "touched run is not up to date"
    return work, base, job_counts(jobs)


def rerun_after(finished, change) -> dict[str, int]:
    work, base, _ = finished
    cfg = copy.deepcopy(base)
    change(cfg)
    path = work / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return job_counts(dry_run([TARGET, "--configfile", str(path)], cwd=work))


def figure_models(cfg):
    return [m for m, v in cfg["models"].items() if v.get("mode") == "thinking" and v.get("figures")]


def test_a_new_budget_reruns_only_the_sweep_models(finished):
    _, base, all_jobs = finished
    n_sweep = len(figure_models(base))
    assert n_sweep >= 1

    def change(cfg):
        cfg["eval"]["budgets"] = [*cfg["eval"]["budgets"], 128]

    got = rerun_after(finished, change)
    # one prediction job per figure model (the tiny config groups datasets), then its scores and the table
    assert got == {"eval_predict": n_sweep, "eval_score": n_sweep, "report_table1": 1}


def test_one_runs_learning_rate_reruns_its_training_and_its_model_only(finished):
    _, base, _ = finished
    run = next(iter(base["train"]["runs"]))
    trained = [m for m, v in base["models"].items() if v.get("train") == run]
    assert trained

    def change(cfg):
        cfg["train"]["runs"][run].setdefault("hparams", {})["learning_rate"] = 1.0e-3

    got = rerun_after(finished, change)
    assert got.pop("train_sft") == 1
    assert got.pop("report_table1") == 1
    assert got.pop("eval_score") == len(trained)
    assert got == {"eval_predict": len(trained)}, got


def test_the_scorer_reruns_scoring_not_predictions(finished):
    _, base, all_jobs = finished
    assert base["eval"]["scorer"] == "m1"

    def change(cfg):
        cfg["eval"]["scorer"] = "improved"

    assert rerun_after(finished, change) == {"eval_score": all_jobs["eval_score"], "report_table1": 1}


def test_a_scorer_fix_reruns_scoring_and_tables_never_predictions(finished):
    """The scoring code is an input of eval_score: an edited scorer rescores the stored responses (Snakemake
    compares the content, so the edit must change it)."""
    work, _, all_jobs = finished
    code = work / "m1repro" / "scoring.py"
    original = code.read_bytes()
    try:
        code.write_bytes(original + b"\n# a fix\n")
        got = job_counts(dry_run([TARGET, "--configfile", "config/tiny.yaml"], cwd=work))
    finally:
        code.write_bytes(original)
    assert got == {"eval_score": all_jobs["eval_score"], "report_table1": 1}


def test_an_unchanged_config_reruns_nothing(finished):
    assert rerun_after(finished, lambda cfg: None) == {}
