"""Partial reruns: after a finished tiny run, changing one config value reruns exactly the jobs it affects.

The finished run is simulated cheaply (seconds, not the run's minutes): every output is planted (a line of text, an empty folder,
or for a prediction job the params it ran with, as the job writes them), then `snakemake --touch --forceall` records every job's provenance (params, code, input set, software
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
            if any(out.startswith(d) for d in dirs) and not path.suffix:  # directory() outputs: model folders
                path.mkdir(parents=True, exist_ok=True)
                (path / "config.json").write_text("{}\n")  # a model folder is checked to hold one
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("x\n")  # not empty: some outputs are ensure(non_empty=True)
    write_prediction_params(work, jobs)
    # every job "runs" by touching its outputs, in DAG order: its provenance is recorded as if it had run
    run_snakemake(["--touch", "--forceall", "--cores", "1", TARGET, "--configfile", "config/tiny.yaml"], work)
    # Snakemake write-protects the trained models and the paid API answers (protected()); rerunning one means
    # making it writable (or removing it) first, as a user who changes a training value does.
    subprocess.run(["chmod", "-R", "u+w", str(work / "results")], check=True)
    assert dry_run([TARGET, "--configfile", "config/tiny.yaml"], cwd=work) == [], "touched run is not up to date"
    return work, base, job_counts(jobs)


def write_prediction_params(work, jobs) -> None:
    """What each prediction job writes beside its records: the params it ran with (m1repro.eval.eval_predict)."""
    from m1repro import shards
    from m1repro import workflow as wf
    from m1repro.config import load_config
    from m1repro.io import write_json_atomic
    from m1repro.site import load_site, site_file

    cfg = load_config(work / "config" / "tiny.yaml")
    site = load_site(work / site_file(cfg["site"], argv=[], env={})[0])
    for job in jobs:
        if job.rule == "eval_predict":
            w = job.wildcards
            params = shards.predict_params(cfg, site, w["model"], w["budget_mode"], w["part"], w["shard"])
            write_json_atomic(work / wf.SHARD_PARAMS.format(**w), params)


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
    # one prediction job per figure model (the tiny config groups datasets), its merge, its scores and the table
    assert got == {"eval_predict": n_sweep, "eval_merge": n_sweep, "eval_score": n_sweep, "report_table1": 1}


def sweep_only(n):
    return {"eval_merge": n, "eval_score": n, "report_table1": 1}


def set_in(path: str, value):
    def change(cfg):
        *keys, last = path.split(".")
        node = cfg
        for k in keys:
            node = node[k]
        node[last] = value

    return change


# (what changes, the change, the jobs it reruns: a function of the tiny config's figure-model count n)
RERUNS = [
    # fewer budgets or forcing counts: what the predictions already hold; the merge keeps the wanted variants
    # (16 is also eval.table2_budget: the Table 2 model keeps that variant, so only the other figure model changes)
    ("remove the smallest budget", set_in("eval.budgets", [32, 64]), lambda n: sweep_only(n - 1)),
    ("remove the largest budget", set_in("eval.budgets", [16, 32]), sweep_only),
    ("remove a forcing count", set_in("eval.forcing.rounds", [0, 1]), sweep_only),
    # prices are paid when a reply is bought: no stage's output changes
    ("an API price (traces)", set_in("curate.traces.api.pricing", {"input": 1.0, "output": 2.19}), lambda n: {}),
    ("an API price (domains)", set_in("curate.domains.api.pricing", {"input": 2.5, "output": 20.0}), lambda n: {}),
    # what the report shows
    ("a model's label", set_in("models.tiny-base-CoT.label", "CoT!"), lambda n: {"report_table1": 1}),
    ("the Table 1 budget (swept)", set_in("eval.table1_budget", 64), lambda n: {"report_table1": 1}),
    # a shard size the evaluation file's 44 items fill in one job: the same jobs
    ("items_per_shard below one batch", set_in("eval.items_per_shard", 16), lambda n: {}),
    # what every prediction depends on
    (
        "answer_max_tokens",
        set_in("eval.answer_max_tokens", 24),
        lambda n: {"eval_predict": 4, "eval_merge": 4, "eval_score": 4, "report_table1": 1},
    ),
]


@pytest.mark.parametrize(("what", "change", "want"), RERUNS, ids=[r[0] for r in RERUNS])
def test_a_config_change_reruns_the_jobs_whose_outputs_it_changes(finished, what, change, want):
    _, base, all_jobs = finished
    assert all_jobs["eval_predict"] == 4  # the numbers above: four models, datasets grouped
    assert rerun_after(finished, change) == want(len(figure_models(base)))


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
    assert got == {"eval_predict": len(trained), "eval_merge": len(trained)}, got


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
