"""Overlays (docs/overlays.md): the two recipes, the common --config knobs and every command the page shows, each
run as a dry run with the real SLURM profile on a PATH without conda, sbatch or sacct (planning needs none of them),
and checked against the configuration Snakemake resolves (results/report/config.yaml): an overlay changes what it
says and nothing else."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import REPO, DryJob, copy_checkout, local_rules, parse_dry_run, run_snakemake, sbatch

from m1repro import hub, shards
from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.site import load_site

SLURM_TOOLS = ("conda", "mamba", "sbatch", "sacct", "squeue", "scontrol")
MY_SITE = "docs/recipes/my_site.yaml"
MY_CHECKPOINT = "docs/recipes/my_checkpoint.yaml"
SITE_4XA100 = "docs/recipes/site_4xa100.yaml"
RELEASED_M1 = {"m1-7B-1K-released", "m1-7B-23K-released", "m1-32B-1K-released"}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    work = copy_checkout(tmp_path_factory.mktemp("overlays"))
    ckpt = work / "checkpoints" / "my-m1-7B"  # the recipe's checkpoint: a local model folder must exist
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}\n")
    return work


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory) -> str:
    """A PATH with the Snakemake installation and a shell, and none of conda, mamba or the SLURM commands."""
    tools = tmp_path_factory.mktemp("bin")
    for tool in ("bash", "sh", "which"):  # Snakemake's shell, and its lookup of it
        (tools / tool).symlink_to(shutil.which(tool))
    path = os.pathsep.join([str(Path(sys.executable).parent), str(tools)])
    assert not [t for t in SLURM_TOOLS if shutil.which(t, path=path)]
    return path


@pytest.fixture(scope="module")
def dry(checkout, bare_path):
    """``dry(args)``: the jobs of ``snakemake -n <args>`` in the checkout on the bare PATH (cached by args)."""

    @cache
    def run(args: tuple[str, ...]) -> tuple[list[DryJob], str]:
        proc = run_snakemake(["-n", *args], checkout, env={"PATH": bare_path})
        return parse_dry_run(proc.stdout + proc.stderr), proc.stdout + proc.stderr

    return run


@pytest.fixture(scope="module")
def resolved(checkout):
    """``resolved(args)``: the configuration Snakemake resolves with these overlay arguments, as the workflow itself
    writes it (results/report/config.yaml, a local rule run for real; no profile, so no conda)."""

    @cache
    def run(args: tuple[str, ...]) -> dict[str, Any]:
        run_snakemake(["--cores", "1", "--force", "results/report/config.yaml", *args], checkout)
        return yaml.safe_load((checkout / "results" / "report" / "config.yaml").read_text())

    return run


def changes(base: Any, new: Any, where: str = "") -> dict[str, tuple[Any, Any]]:
    """Every leaf that differs between two configurations, by dotted path: (before, after)."""
    if isinstance(base, dict) and isinstance(new, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for k in sorted(set(base) | set(new), key=str):
            out.update(changes(base.get(k), new.get(k), f"{where}.{k}" if where else str(k)))
        return out
    return {} if base == new else {where: (base, new)}


def key(job: DryJob) -> tuple[str, tuple[tuple[str, str], ...]]:
    return job.rule, tuple(sorted(job.wildcards.items()))


SNAKEMAKE_OWN = {"tmpdir", "disk", "disk_mb", "disk_mib", "mem", "mem_mib"}  # derived by Snakemake, some "<TBD>"


def slurm_resources(job: DryJob) -> dict[str, str]:
    """The resources of a job that reach sbatch."""
    return {k: v for k, v in job.resources.items() if k not in SNAKEMAKE_OWN}


PAPER = ("--profile", "slurm", "results/table1.csv")


def test_dry_run_with_the_real_profile_needs_neither_conda_nor_slurm(dry):
    """The issue's "A dry run needs conda installed ('Error running conda info')": the profile asks for conda, this
    PATH has none, and the dry run plans every job and says why it went without the envs."""
    jobs, out = dry(PAPER)
    assert "conda is not on the PATH: planning without the rules' conda envs" in out
    assert "Error running conda info" not in out
    assert len(jobs) > 100 and {"eval_predict", "train_sft", "curate_difficulty_model"} <= {j.rule for j in jobs}
    site = load_site()
    local = local_rules("config/config.yaml")
    assert all(
        j.resources.get("slurm_partition") in (site.cpu_partition, site.gpu_partition)
        for j in jobs
        if j.rule not in local
    )


def test_without_conda_the_plan_runs_and_any_other_job_stops_before_starting(checkout, bare_path):
    env = {"PATH": bare_path}
    fast = ["--slurm-init-seconds-before-status-checks", "1"]  # no SLURM job here: do not wait for one
    run = run_snakemake(["--profile", "slurm", "results/table1.csv", *fast], checkout, check=False, env=env)
    assert run.returncode != 0
    msg = re.sub(r"\s+", " ", run.stderr + run.stdout)
    assert "conda is not on the PATH, and the jobs of" in msg and "eval_predict" in msg and "train_sft" in msg
    assert (
        not (checkout / "resources" / "downloads").exists() and not (checkout / "logs" / "eval_download.log").exists()
    )
    plan = run_snakemake(["--profile", "slurm", "results/plan.md", *fast], checkout, env=env)
    assert "report_plan" in plan.stderr + plan.stdout
    assert (checkout / "results" / "plan.md").read_text().count("|") > 20
    (checkout / "results" / "plan.md").unlink()
    (checkout / "results" / "plan.csv").unlink()


def test_my_site_recipe_changes_the_site_and_the_grouping_only(dry, resolved):
    paper_cfg = resolved(())
    assert changes(paper_cfg, resolved(("--configfile", MY_SITE))) == {
        "site": (None, SITE_4XA100),
        "eval.group_datasets": (False, True),
    }
    assert changes(paper_cfg, resolved(("--config", f"site={SITE_4XA100}"))) == {"site": (None, SITE_4XA100)}
    jobs, _ = dry((*PAPER, "--configfile", MY_SITE))
    same_site, _ = dry((*PAPER, "--config", f"site={SITE_4XA100}"))
    # every job but the predictions (and their merges, one per part) is the one the paper's run has on that site,
    # with the same request
    predicting = ("eval_predict", "eval_merge")
    others = {key(j): slurm_resources(j) for j in jobs if j.rule not in predicting}
    assert others == {key(j): slurm_resources(j) for j in same_site if j.rule not in predicting}
    predict = [j for j in jobs if j.rule == "eval_predict"]
    assert {j.wildcards["part"] for j in predict} == {"all"}
    pairs = {(j.wildcards["budget_mode"], j.wildcards["model"]) for j in same_site if j.rule == "eval_predict"}
    assert {(j.wildcards["budget_mode"], j.wildcards["model"]) for j in predict} == pairs
    site = load_site(REPO / SITE_4XA100)
    for j in jobs:
        gres = j.resources.get("gres", "")
        if j.res_int("gpu") or gres:
            assert j.resources["slurm_partition"] == "gpu-a100" and j.resources["slurm_account"] == "my-lab", j
            if gres:
                assert re.fullmatch(r"gpu:a100:[1-4]", gres), j
            else:
                assert j.resources["gpu_model"] == "a100" and j.res_int("gpu") <= site.gpus_per_node, j


def test_my_checkpoint_recipe_adds_one_model_and_restricts_table1(dry, resolved):
    paper_cfg, cfg = resolved(()), resolved(("--configfile", MY_CHECKPOINT))
    assert wf.models_where(cfg, table1=True) == [
        "m1-7B-1K-released",
        "m1-7B-23K-released",
        "m1-32B-1K-released",
        "my-m1-7B",
    ]
    diff = changes(paper_cfg, cfg)
    new = {k for k in diff if k.startswith("models.my-m1-7B")}
    assert diff["models.my-m1-7B"] == (None, cfg["models"]["my-m1-7B"])
    off = {k for k, (before, after) in diff.items() if k.endswith(".table1") and (before, after) == (True, False)}
    assert set(diff) == new | off | {"report.compare_counts"}
    assert len(off) == len(wf.models_where(paper_cfg, table1=True)) - len(RELEASED_M1)
    site = load_site()
    path = cfg["models"]["my-m1-7B"]["path"]
    assert shards.predict_params(cfg, site, "my-m1-7B", "faithful", "NEJM")["weights"] == path
    assert path not in {r.repo_id for r in hub.hub_refs(cfg)}  # a local directory is not fetched from the hub

    jobs, _ = dry((*PAPER, "--configfile", MY_CHECKPOINT))
    paper_jobs, _ = dry(PAPER)
    rules = {"hub_fetch", "eval_download", "eval_prepare", "eval_predict", "eval_merge", "eval_score", "report_table1"}
    assert {j.rule for j in jobs} == rules  # hub_fetch: the released m1 models, on the login node
    predict = {key(j): j for j in jobs if j.rule == "eval_predict"}
    mine = [j for j in predict.values() if j.wildcards["model"] == "my-m1-7B"]
    assert sorted(j.wildcards["part"] for j in mine) == sorted(cfg["eval"]["datasets"])
    for j in mine:
        want = rsc.predict_job(cfg, site, "my-m1-7B", [j.wildcards["part"]])
        # 7.6B: tp 1, dp up to 8 on the shipped site (fewer replicas for a small job: site shrink_small_jobs)
        assert j.res_int("gpu") == want.gpus and want.layout.tp == 1 and want.gpus <= site.gpus_per_node
        assert j.res_int("runtime") == want.limit_min
    # the released m1 models' jobs are the paper run's own, request for request
    paper_predict = {key(j): slurm_resources(j) for j in paper_jobs if j.rule == "eval_predict"}
    released = {k: slurm_resources(j) for k, j in predict.items() if j.wildcards["model"] in RELEASED_M1}
    assert released and {k: paper_predict[k] for k in released} == released

    # the same model from the hub instead: one --config value on top of the recipe
    hub_id = ("--config", "models={my-m1-7B: {path: my-org/my-m1-7B}}")
    from_hub = resolved(("--configfile", MY_CHECKPOINT, *hub_id))
    assert changes(cfg, from_hub) == {"models.my-m1-7B.path": (path, "my-org/my-m1-7B")}
    assert shards.predict_params(from_hub, site, "my-m1-7B", "faithful", "NEJM")["weights"] == "my-org/my-m1-7B"
    assert "my-org/my-m1-7B" in {r.repo_id for r in hub.hub_refs(from_hub)}


def test_config_knobs_merge_into_their_section(dry, resolved):
    paper_cfg = resolved(())
    assert changes(paper_cfg, resolved(("--config", "eval={scorer: improved}"))) == {"eval.scorer": ("m1", "improved")}
    assert changes(paper_cfg, resolved(("--config", "eval={table1_budget: 2048}"))) == {
        "eval.table1_budget": (4096, 2048)
    }
    jobs, _ = dry((*PAPER, "--config", "eval={scorer: improved}"))
    paper_jobs, _ = dry(PAPER)
    assert {key(j): slurm_resources(j) for j in jobs} == {key(j): slurm_resources(j) for j in paper_jobs}


def documented_commands() -> list[list[str]]:
    """The snakemake commands of docs/overlays.md's shell blocks, as argument lists."""
    text = (REPO / "docs" / "overlays.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            args = shlex.split(line, comments=True)
            if args and args[0] == "snakemake":
                out.append(args[1:])
    return out


def test_every_command_of_the_overlays_page_plans(dry):
    commands = documented_commands()
    assert len(commands) >= 8
    for args in commands:
        jobs, out = dry(tuple(a for a in args if a != "-n"))
        assert jobs or "Nothing to be done" in out, (args, out[-2000:])


def test_the_slurm_tests_overlay_asks_the_labs_typed_gpus(dry):
    """tests/slurm/profile (config/tiny.yaml + the overlay tests/slurm/tiny_lab.yaml) planned here without a cluster:
    the tiny prediction and difficulty jobs ask one typed GPU of the lab's site file, every other cluster job its CPU
    partition; each sbatch line (the plugin's own) fits one node of the lab."""
    lab = load_site(REPO / "tests" / "slurm" / "site.yaml")
    jobs, _ = dry(("--profile", "profiles/slurm", "--profile", "tests/slurm/profile", "results/table1.csv"))
    remote = [j for j in jobs if j.rule not in local_rules("config/tiny.yaml")]
    gpu_rules = {j.rule for j in remote if j.res_int("gpu")}
    assert gpu_rules == {"eval_predict", "curate_difficulty_model"}
    for j in remote:
        res = {k: int(v) if v.isdigit() else v for k, v in slurm_resources(j).items()}
        line = sbatch(res)
        assert f"-A {lab.account}" in line, line
        if j.rule in gpu_rules:
            assert f"-p {lab.gpu_partition}" in line and f"--gpus={lab.gpu_model}:1" in line, line
        else:
            assert f"-p {lab.cpu_partition}" in line and "--gpus" not in line and "--gres" not in line, line
        assert int(re.search(r"--mem (\d+)", line).group(1)) <= lab.mem_mb_per_node, line
        assert int(re.search(r"--cpus-per-task=(\d+)", line).group(1)) <= lab.cpus_per_node, line
