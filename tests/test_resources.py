"""SLURM resources of the paper's DAG (config/config.yaml, dry run, the shipped 8 x H100 site): GPUs from each
model's tp x dp on the site, multi-node training with nodes/gres/mpi, runtimes from the size of the work, downloads
on the login node; and, for every config and every switch that adds jobs, the partition follows what a job asks
for, with no rule name in any profile."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, copy_checkout, dry_run, local_rules

from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.config import load_config
from m1repro.site import load_site


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A clean copy: resource functions read inputs that exist (a training set's size), and the checkout may hold
    the tiny run's."""
    return copy_checkout(tmp_path_factory.mktemp("paper"))


@pytest.fixture(scope="module")
def paper(checkout):
    cfg = load_config(REPO / "config" / "config.yaml")
    jobs = dry_run(["results/table1.csv"], cwd=checkout)
    assert len(jobs) > 100
    return cfg, jobs


def gpus(job) -> int:
    if job.resources.get("gres"):
        return int(job.resources["gres"].split(":")[-1]) * job.res_int("nodes", 1)
    return job.res_int("gpu")


def test_prediction_jobs_ask_for_the_sites_tp_x_dp(paper):
    cfg, jobs = paper
    predict = [j for j in jobs if j.rule == "eval_predict"]
    assert predict
    site = load_site()
    for j in predict:
        w = j.wildcards
        want = rsc.predict_job(cfg, site, w["model"], wf.part_datasets(cfg, w["part"])).gpus
        assert j.res_int("gpu") == want > 0, w
        assert j.resources["tasks_per_gpu"] == "0"  # one task for the whole job, not one per GPU
        assert j.res_int("cpus_per_task") == want * site.cpus_per_gpu  # its share of the node, never 1 CPU


def test_faithful_forcing_models_run_over_the_whole_file(paper):
    """Faithful "Wait" rounds batch consecutive items of the whole evaluation file, so a model with forcing
    variants gets one job over all datasets; the others keep one job per dataset."""
    cfg, jobs = paper
    parts = defaultdict(set)
    for j in jobs:
        if j.rule == "eval_predict":
            parts[j.wildcards["model"]].add(j.wildcards["part"])
    assert parts["m1-7B-1K-released"] == {"all"}
    assert parts["Qwen2.5-7B-Instruct"] == set(cfg["eval"]["datasets"])


def test_prediction_runtime_follows_items_times_budget(paper):
    _, jobs = paper
    rt = {(j.wildcards["model"], j.wildcards["part"]): j.res_int("runtime") for j in jobs if j.rule == "eval_predict"}
    base = "Qwen2.5-72B-Instruct"
    # MedMCQA has 10x the items of Lancet; the sweep over every dataset takes longer than any baseline job.
    assert rt[(base, "MedMCQA_validation")] > 2 * rt[(base, "Lancet")]
    assert rt[("m1-32B-1K-released", "all")] > rt[(base, "MedMCQA_validation")]


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
    assert runtime["m1-7B-23K"] > 5 * runtime["m1-7B-1K"] >= 5 * 15  # from the set's size, not a constant


def test_downloads_and_api_stages_are_local_rules(paper):
    _, jobs = paper
    local = local_rules("config/config.yaml")
    in_dag = {j.rule for j in jobs}
    assert {"eval_download", "curate_collect", "curate_traces", "curate_domains", "report_table1"} <= local & in_dag
    assert not {"eval_predict", "train_sft", "curate_dedup"} & local


SWITCHES = {
    "as shipped": {},
    "compare_budget_modes": {"report": {"compare_budget_modes": True}},
    "group_datasets": {"eval": {"group_datasets": True}},
    "sets_source released": {"curate": {"sets_source": "released"}},
}


def _overlay(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _overlay(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.mark.parametrize(
    "configfile", sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "paper_numbers.yaml")
)
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_gpu_jobs_and_only_they_land_on_the_gpu_partition(checkout, tmp_path, configfile, switch):
    """For every config and every switch that adds jobs, under the SLURM profile's partitions from the site file."""
    with open(REPO / "config" / configfile, encoding="utf-8") as fh:
        cfg = _overlay(yaml.safe_load(fh), SWITCHES[switch])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    site = load_site()
    jobs = dry_run(["report_all", "--configfile", str(path), "--forceall"], cwd=checkout)
    local = local_rules(f"config/{configfile}")
    remote = [j for j in jobs if j.rule not in local]
    assert remote
    for j in remote:
        want = site.gpu_partition if gpus(j) > 0 else site.cpu_partition
        assert j.resources.get("slurm_partition") == want, (j.rule, j.wildcards, j.resources)
    if switch == "compare_budget_modes" and configfile == "config.yaml":
        assert any(j.wildcards.get("budget_mode") == "exact" and gpus(j) > 0 for j in remote)


def test_no_rule_name_in_any_profile():
    """A profile says where and how work runs, never which rule runs where (a new rule would go stale there)."""
    names = {r.name for r in __import__("workflow_helpers").load_rules("config/config.yaml")}
    for profile in sorted((REPO / "profiles").glob("*/config.yaml")) + sorted(
        (REPO / "tests").glob("*/profile/*.yaml")
    ):
        text = profile.read_text()
        assert "set-resources" not in text, profile
        words = set(text.replace(":", " ").replace("/", " ").split())
        assert not names & words, (profile, names & words)


def test_literal_profile_name_resolves_to_the_project_profile():
    """`snakemake --profile slurm` looks in the working directory first: the checkout's `slurm` links here."""
    link = REPO / "slurm"
    assert link.is_symlink() and link.resolve() == (REPO / "profiles" / "slurm").resolve()


def test_gpu_summary_is_dominated_by_prediction(paper):
    _, jobs = paper
    summary: dict[str, dict[str, float]] = defaultdict(lambda: {"jobs": 0, "gpus": 0, "gpu_hours": 0.0})
    for j in jobs:
        g = gpus(j)
        if g:
            s = summary[j.rule]
            s["jobs"] += 1
            s["gpus"] = max(s["gpus"], g)
            s["gpu_hours"] += g * j.res_int("runtime") / 60
    print(f"\npaper DAG: {len(jobs)} jobs; GPU rules (reserved): {dict(summary)}")
    assert summary["eval_predict"]["jobs"] > 100
    assert summary["eval_predict"]["gpu_hours"] > summary["train_sft"]["gpu_hours"]
