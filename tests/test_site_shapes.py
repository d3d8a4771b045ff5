"""The paper DAG (config/config.yaml, report_all: Tables 1-4, the figures, every training run) planned and dry-run by
Snakemake on university site shapes (tests/site_shapes.yaml), each GPU job's request rendered into sbatch by the
SLURM executor plugin's own code: every job fits one node of its site, its partition and that partition's time
limit, with the site's account, QOS, constraint and --nodes; the models a site cannot run are left out of the DAG.
Planning only: nothing runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import REPO, copy_checkout, dry_run, sbatch

from m1repro import plan
from m1repro.config import resolve_config
from m1repro.io import read_yaml
from m1repro.site import Site, load_site, site_from_dict

SHAPES: dict[str, dict[str, Any]] = read_yaml(REPO / "tests" / "site_shapes.yaml")
GPU_RULES = ("eval_predict", "curate_difficulty_model", "train_sft")


def shape_site(name: str) -> Site:
    spec = SHAPES[name]["site"]
    return load_site(REPO / spec) if isinstance(spec, str) else site_from_dict(spec, name)


def shape_config(name: str) -> dict[str, Any]:
    return resolve_config(SHAPES[name].get("overlay") or {}, workdir=REPO)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("shapes"))


def option(line: str, pattern: str) -> str | None:
    m = re.search(pattern, line)
    return m.group(1) if m else None


def _value(v: str) -> Any:
    return int(v) if v.lstrip("-").isdigit() else v


@pytest.mark.parametrize("name", [n for n, s in SHAPES.items() if not s.get("long_jobs")])
def test_every_job_fits_its_node_partition_and_limit(name, checkout, tmp_path):
    site = shape_site(name)
    site_file = tmp_path / "site.yaml"
    spec = SHAPES[name]["site"]
    site_file.write_text((REPO / spec).read_text() if isinstance(spec, str) else yaml.safe_dump(spec))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({**(SHAPES[name].get("overlay") or {}), "site": str(site_file)}))
    jobs = dry_run(["report_all", "--forceall", "--configfile", str(overlay)], cwd=checkout)
    fitted, left_out = plan.fit_to_site(shape_config(name), site)
    gone = {p.name for p in left_out if p.section == "models"}
    assert not gone & {j.wildcards.get("model") for j in jobs}, "a left-out model is in the DAG"
    gpu_jobs = [j for j in jobs if j.rule in GPU_RULES]
    assert gpu_jobs
    limits = dict(site.gpu_partition_limits)
    for j in gpu_jobs:
        res = {k: _value(v) for k, v in j.resources.items()}
        line = sbatch(res)
        what = f"{name}: {j.rule} {j.wildcards}: {line}"
        nodes = int(option(line, r"--nodes=(\d+)") or 0)
        per_node = int(option(line, r"--gpus=(?:\w+:)?(\d+)") or option(line, r"--gres=gpu:(?:\w+:)?(\d+)") or 0)
        assert nodes >= 1, what  # every GPU job says how many nodes
        assert 0 < per_node <= site.gpus_per_node, what
        ntasks = int(option(line, r"--ntasks=(\d+)") or 1)
        assert int(option(line, r"--cpus-per-task=(\d+)")) * max(1, ntasks // nodes) <= site.cpus_per_node, what
        assert int(option(line, r"--mem (\d+)")) <= site.mem_mb_per_node, what
        partition = option(line, r"-p (\S+)")
        assert partition in limits and int(option(line, r"-t (\d+)")) <= limits[partition], what
        if site.account:
            assert f"-A {site.account}" in line, what
        if site.gpu_qos or site.qos:
            assert f"--qos={site.gpu_qos or site.qos}" in line, what
        if site.gpu_constraint:
            assert f"-C {site.gpu_constraint}" in line, what
        if site.gpu_model:
            request = option(line, r"--(?:gpus|gres)=(\S+)") or ""
            assert f":{site.gpu_model}:" in f":{request}", what
        if site.slurm_extra:
            assert site.slurm_extra in line, what
    if len(limits) > 1:
        assert len({option(sbatch({k: _value(v) for k, v in j.resources.items()}), r"-p (\S+)") for j in gpu_jobs}) > 1
    trained = {j.wildcards["run"] for j in gpu_jobs if j.rule == "train_sft"}
    assert trained == set(plan.trained_runs(fitted))


@pytest.mark.parametrize("name", [n for n, s in SHAPES.items() if s.get("long_jobs")])
def test_short_limits_list_every_problem_at_once(name):
    """Until sharding splits long jobs (issue 18 item 1), a short limit is a list of problems, all at once: jobs
    longer than one limit, and what the site cannot run at all."""
    with pytest.raises(plan.PlanningError) as err:
        plan.fit_to_site(shape_config(name), shape_site(name))
    problems = err.value.problems
    assert all(p.left_out or "needs a time limit" in p.message or p.key.startswith("curate.") for p in problems)
    assert any("needs a time limit" in p.message for p in problems)
    assert str(err.value).count("\n  - ") == len(problems)
