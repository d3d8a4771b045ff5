"""The software stacks as the workflow sees them (m1repro/software.py): env and image per rule, what a site needs,
the warning for GPUs a stack cannot run, the plan's header, and deployment methods the workflow cannot honour
stopping a real Snakemake run before its first job."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from workflow_helpers import REPO, copy_checkout, run_snakemake

from m1repro import software


def test_env_and_image_of_each_stack_and_kind_exist_or_are_built_from_files_here():
    for stack in software.STACKS:
        for kind in software.KINDS:
            env = software.env_file(stack, kind)
            assert (REPO / "rules" / env).resolve() == REPO / "envs" / stack / f"{kind}.yaml"
            assert (REPO / "envs" / stack / f"{kind}.yaml").exists()
            assert software.image_file(stack, kind, "img/") == f"img/{stack}/{kind}.sif"
    assert (REPO / "containers" / "conda.def").exists() and (REPO / "containers" / "inference.def").exists()
    assert "{{ SGLANG_IMAGE }}" in (REPO / "containers" / "inference.def").read_text()
    with pytest.raises(ValueError, match="unknown software stack"):
        software.env_file("newest", "data")
    with pytest.raises(ValueError, match="unknown kind"):
        software.image_file("paper", "gpu", "img")


@pytest.mark.parametrize(
    ("gpu", "generation"),
    [
        ("H100", "hopper"),
        ("H200", "hopper"),
        ("A100-80GB", "ampere"),
        ("L40S", "ada"),
        ("V100", "volta"),
        ("Tesla V100-SXM2-32GB", "volta"),
        ("B200", "blackwell"),
        ("GB200", "blackwell"),
        ("RTX 5090", "blackwell"),
        ("T4", "turing"),
        ("MI300X", None),
    ],
)
def test_gpu_generation(gpu, generation):
    assert software.gpu_generation(gpu) == generation


def test_site_warnings_name_the_gpus_a_stack_cannot_run():
    assert software.site_warnings("paper", "H100") == [] and software.site_warnings("current", "H100") == []
    (paper_b200,) = software.site_warnings("paper", "B200")
    assert "blackwell" in paper_b200 and "CUDA 12.4" in paper_b200 and "software: current" in paper_b200
    (current_v100,) = software.site_warnings("current", "V100")
    assert "volta" in current_v100 and "software: paper" in current_v100
    assert software.site_warnings("paper", "MI300X") == []  # unknown: no claim


def test_plan_header_names_the_stack_and_its_requirements():
    head = "\n".join(software.plan_header("paper", "A100-80GB"))
    assert "`paper`" in head and "transformers 4.48.3" in head and "driver >= 550" in head and "Warning" not in head
    head = "\n".join(software.plan_header("paper", "B200"))
    assert "**Warning**" in head and "B200" in head


def test_deployment_problems():
    none = lambda _: None  # noqa: E731  (no binary on the PATH)
    found = lambda name: f"/usr/bin/{name}"  # noqa: E731
    assert software.deployment_problems(["conda"], [], none) == []
    assert software.deployment_problems([], [], none) == []
    (modules,) = software.deployment_problems(["env-modules"], [], found)
    assert "no rule of this workflow names an environment module" in modules
    # a lab whose submitting Python has every package says so in its config (tests/slurm/tiny_lab.yaml)
    assert software.deployment_problems(["env-modules"], [], found, host_python=True) == []
    (binary,) = software.deployment_problems(["apptainer"], [], none)
    assert "neither apptainer nor singularity" in binary
    images = ["containers/images/paper/train.sif", "docker://x/y:1"]
    (missing,) = software.deployment_problems(["apptainer", "conda"], images, found, exists=lambda p: False)
    assert (
        "containers/images/paper/train.sif" in missing and "docker://" not in missing and "make containers" in missing
    )
    assert software.deployment_problems(["apptainer"], images, found, exists=lambda p: True) == []


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("software"))


@pytest.fixture(scope="module")
def fake_apptainer(tmp_path_factory) -> str:
    """A PATH whose `apptainer` only reports a version (Snakemake checks it), so that the image check is reached."""
    bin_dir = tmp_path_factory.mktemp("bin")
    tool = bin_dir / "apptainer"
    tool.write_text("#!/bin/sh\necho 'apptainer version 1.3.4'\n")
    tool.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


@pytest.mark.parametrize(
    ("methods", "with_binary", "message"),
    [
        (["env-modules"], False, "no rule of this workflow names an environment module"),
        # Snakemake's own check comes first: still an error before any job
        (["apptainer"], False, "The apptainer or singularity command has to be available"),
        (["apptainer"], True, "containers/images/current/data.sif"),
        (["conda", "apptainer"], True, "are not built"),
    ],
)
def test_a_deployment_method_that_cannot_be_honoured_stops_the_run_before_its_first_job(
    checkout, fake_apptainer, methods, with_binary, message
):
    """The tiny run with a method the workflow cannot honour here: an error, and no job ran (no log, no output)."""
    run = run_snakemake(
        ["--profile", "profiles/tiny", "--software-deployment-method", *methods, "--", "results/eval/items.jsonl"],
        checkout,
        check=False,
        env={"PATH": fake_apptainer} if with_binary else None,
    )
    out = re.sub(r"\s+", " ", run.stdout + run.stderr)
    assert run.returncode != 0 and message in out, out[-3000:]
    assert not (checkout / "results" / "eval" / "items.jsonl").exists()
    assert not (checkout / "logs").exists() or not any((checkout / "logs").rglob("*.log"))


def test_the_plan_opens_with_the_stack_and_warns_for_gpus_it_cannot_run(tmp_path):
    import dataclasses

    from m1repro import plan
    from m1repro.config import load_config
    from m1repro.site import load_site

    cfg, site = load_config(str(REPO / "config" / "config.yaml")), load_site()
    plan.write_plan(cfg, site, tmp_path / "plan.csv", tmp_path / "plan.md")
    lines = (tmp_path / "plan.md").read_text().splitlines()
    assert lines[0] == "# The bill before submitting" and lines[2].startswith("Software: `paper`")
    assert "driver >= 550" in lines[3] and not any("Warning" in line for line in lines)
    current = {**cfg, "software": "current"}
    plan.write_plan(current, site, tmp_path / "plan.csv", tmp_path / "plan.md")
    assert (tmp_path / "plan.md").read_text().splitlines()[2].startswith("Software: `current`")
    # a Volta site under the current stack: the warning is in the plan, at the top
    v100 = dataclasses.replace(site, gpu_type="V100")
    assert "**Warning**" in "\n".join(software.plan_header("current", v100.gpu_type))


def test_planning_warns_when_the_sites_gpus_cannot_run_the_stack(tmp_path):
    """A dry run of the paper's configuration on a Blackwell site: the warning names the GPU, the stack and the
    switch; with `software: current` there is none."""
    site = (REPO / "profiles" / "slurm" / "site.yaml").read_text()
    site_file = tmp_path / "site.yaml"
    site_file.write_text(re.sub(r"(?m)^gpu_type:.*$", "gpu_type: B200", site))
    b200 = "throughput={gpus: {B200: {decode_tokens_per_s: 9000, peak_tflops: 2250, mfu: 0.35, intra_node_gb_s: 400}}}"
    outs = {}
    for stack in ("paper", "current"):
        args = [
            "-n",
            "--cores",
            "1",
            "--config",
            f"site={site_file}",
            f"software={stack}",
            b200,
            "--",
            "results/plan.md",
        ]
        run = run_snakemake(args, REPO)
        outs[stack] = re.sub(r"\s+", " ", run.stdout + run.stderr)
    assert "gpu_type B200 (blackwell) cannot run the `paper` software stack" in outs["paper"]
    assert "software: current" in outs["paper"]
    assert "cannot run" not in outs["current"]
