"""SLURM resources of the paper's DAG (config/config.yaml, dry run): GPUs from each model's tp x dp, multi-node
training with nodes/gres/mpi, runtimes from the size of the work, downloads on the login node, and the SLURM
profile sending every GPU rule to the GPU partition."""

from __future__ import annotations

from collections import defaultdict

import pytest
import yaml
from workflow_helpers import REPO, copy_checkout, dry_run, local_rules

from m1repro import config as cfgview
from m1repro import resources as rsc
from m1repro.site import load_site

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """Planned in a clean copy: resource functions read inputs that exist (e.g. a training set's size), and the
    checkout may hold the tiny run's."""
    cfg = cfgview.load_config(REPO / "config" / "config.yaml")
    jobs = dry_run(["results/table1.csv"], cwd=copy_checkout(tmp_path_factory.mktemp("paper")))
    assert len(jobs) > 100
    return cfg, jobs


def gpus(job) -> int:
    if "gres" in job.resources:
        return int(job.resources["gres"].split(":")[-1]) * job.res_int("nodes", 1)
    return job.res_int("gpu")


def test_prediction_jobs_ask_for_tp_x_dp_gpus(paper):
    cfg, jobs = paper
    predict = [j for j in jobs if j.rule.startswith("eval_predict_")]
    assert predict
    site = load_site()
    for j in predict:
        want = rsc.predict_job(cfg, site, j.wildcards["model"], [j.wildcards["dataset"]]).gpus  # tp x dp on the site
        assert j.res_int("gpu") == want, (j.rule, j.wildcards)
        assert j.resources["tasks_per_gpu"] == "0"  # one task for the whole job, not one per GPU


def test_prediction_runtime_follows_items_times_budget(paper):
    _, jobs = paper
    rt = {(j.wildcards["model"], j.wildcards["dataset"]): j.res_int("runtime") for j in jobs
          if j.rule == "eval_predict_sweep"}
    model = "m1-7B-1K-released"
    # MedMCQA has 10x the items of Lancet; the budget sweep makes both longer than a baseline job of the same size.
    assert rt[(model, "MedMCQA_validation")] > 3 * rt[(model, "Lancet")]
    base = {j.wildcards["dataset"]: j.res_int("runtime") for j in jobs
            if j.rule == "eval_predict_baseline" and j.wildcards["model"] == "Qwen2.5-7B-Instruct"}
    assert rt[(model, "MedMCQA_validation")] > base["MedMCQA_validation"]


def test_training_jobs_are_multi_node_with_gres_and_srun(paper):
    cfg, jobs = paper
    train = [j for j in jobs if j.rule == "train_sft"]
    assert train
    for j in train:
        run = cfg["train"]["runs"][j.wildcards["run"]]
        nodes = run.get("nodes", 1)
        assert j.res_int("nodes") == nodes
        assert j.resources["gres"] == f"gpu:{run.get('gpus_per_node', 8)}"  # per node, not a job total
        assert "gpu" not in j.resources  # `gpu` and `gres` together are rejected by the plugin
        assert j.resources["tasks_per_gpu"] == "0"
        if nodes > 1:
            assert j.resources["mpi"] == "srun" and j.res_int("tasks") == nodes  # one launcher per node
    assert any(j.res_int("nodes") == 2 for j in train), "the 32B run is the paper's 2-node job"
    runtime = {j.wildcards["run"]: j.res_int("runtime") for j in train}
    assert runtime["m1-7B-23K"] > 5 * runtime["m1-7B-1K"] >= 5 * 30  # from the set's size, not a constant


def test_downloads_and_api_stages_are_local_rules(paper):
    _, jobs = paper
    local = local_rules("config/config.yaml")
    in_dag = {j.rule for j in jobs}
    assert {"eval_download", "curate_collect", "curate_traces", "curate_domains", "report_table1"} <= local & in_dag
    assert not {"eval_predict_baseline", "train_sft", "curate_dedup"} & local


def test_slurm_profile_sends_every_gpu_rule_to_the_gpu_partition(paper):
    _, jobs = paper
    with open(PROFILE, encoding="utf-8") as fh:
        profile = yaml.safe_load(fh)
    gpu_rules = {j.rule for j in jobs if gpus(j) > 0}
    cpu_rules = {j.rule for j in jobs if gpus(j) == 0} - local_rules("config/config.yaml")
    sets = profile["set-resources"]
    gpu_partition = sets["eval_predict_baseline"]["slurm_partition"]
    cpu_partition = profile["default-resources"]["slurm_partition"]
    assert gpu_partition != cpu_partition
    for rule in gpu_rules:
        assert sets.get(rule, {}).get("slurm_partition") == gpu_partition, f"{rule} asks for GPUs: gpu partition"
    for rule in cpu_rules:
        assert rule not in sets, f"{rule} runs on CPUs: it belongs on the default (cpu) partition"
    assert profile["executor"] == "slurm" and profile["software-deployment-method"] == "conda"
    assert profile["retries"] >= 1 and profile["keep-going"] is True


def test_literal_profile_name_resolves_to_the_project_profile():
    """`snakemake --profile slurm` looks in the working directory first: the checkout's `slurm` links here."""
    link = REPO / "slurm"
    assert link.is_symlink() and link.resolve() == PROFILE.parent.resolve()


def gpu_summary(jobs) -> dict[str, dict[str, float]]:
    """Jobs, GPUs per job and GPU-hours requested per rule (printed by the report in docs/cluster.md)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"jobs": 0, "gpus": 0, "gpu_hours": 0.0})
    for j in jobs:
        g = gpus(j)
        if g:
            s = out[j.rule]
            s["jobs"] += 1
            s["gpus"] = max(s["gpus"], g)
            s["gpu_hours"] += g * j.res_int("runtime") / 60
    return dict(out)


def test_gpu_summary_is_dominated_by_prediction(paper):
    _, jobs = paper
    summary = gpu_summary(jobs)
    print(f"\npaper DAG: {len(jobs)} jobs; GPU rules: {summary}")
    assert summary["eval_predict_baseline"]["jobs"] > 100
