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


@pytest.mark.parametrize("name", list(SHAPES))
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


def test_curated_sets_on_a_site_no_difficulty_model_fits_is_one_problem_naming_the_fixes():
    """The issue's 2 x L40S (24 h) shape with the paper's curated sets: the long parts are cut into shards and the
    models the node cannot hold are left out, but the 32B difficulty model cannot be left out alone (the hard set
    needs both models): one problem, in a list, naming the ways out."""
    name = "2xL40S-48GB-24h-released-sets"
    site, curated = shape_site(name), resolve_config({}, workdir=REPO)
    with pytest.raises(plan.PlanningError) as err:
        plan.fit_to_site(curated, site)
    errors = [p for p in err.value.problems if not p.left_out]
    assert [p.key for p in errors] == ["curate.difficulty.models.qwen2.5-32b"], err.value.problems
    assert "curate.sets_source: released" in errors[0].message and "curate.difficulty.backend: api" in errors[0].message
    assert str(err.value).count("\n  - ") == len(err.value.problems)
