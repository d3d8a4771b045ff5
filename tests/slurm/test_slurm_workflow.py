"""The tiny workflow on a real SLURM cluster (tests/slurm/cluster_up.sh: slurmctld, slurmdbd, two virtual nodes,
partitions cpu and gpu with fake GPUs), through the project's profile:

    snakemake --profile profiles/slurm --profile tests/slurm/profile results/table1.csv

Needs root, apt and a few minutes: run by .ci/slurm-test.sh (which brings the cluster up and down), or by hand with
M1REPRO_SLURM_TEST=1 once the cluster is up.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ (shared helpers)
from workflow_helpers import REPO, SNAKEMAKE, copy_checkout, dry_run, local_rules  # noqa: E402

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("M1REPRO_SLURM_TEST") != "1",
                       reason="needs a SLURM cluster: .ci/slurm-test.sh (M1REPRO_SLURM_TEST=1)"),
]

TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
SLURM_TIMEOUT_S = int(os.environ.get("M1REPRO_SLURM_TIMEOUT", "1500"))
GPU_RULES = {"eval_predict_baseline", "eval_predict_thinking", "eval_predict_sweep", "curate_difficulty_model"}


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def cluster():
    """The cluster cluster_up.sh made: both partitions, two nodes, GPUs, accounting (sacct)."""
    parts = sh("sinfo", "-h", "-o", "%P %D %G").split("\n")
    got = {p.split()[0].rstrip("*"): p.split() for p in parts if p.strip()}
    assert {"cpu", "gpu"} <= set(got), f"partitions cpu and gpu expected, sinfo says {got}"
    assert got["gpu"][1] == "2" and "gpu:" in got["gpu"][2], got["gpu"]
    sh("sacct", "-n", "-X", "-o", "JobID")  # slurmdbd answers
    return got


def run_interruptible(cmd: list[str], cwd: Path, timeout: float, log: Path) -> int:
    """Run Snakemake; on timeout stop it with SIGINT (it ignores SIGTERM while jobs run; SIGINT cancels them)."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise AssertionError(f"snakemake did not finish in {timeout}s; see {log}") from None


@pytest.fixture(scope="module")
def reference_table(tiny_run) -> Path:
    """results/table1.csv of the local tiny run (tests/conftest.py: shared with the workflow tests)."""
    return tiny_run / "results" / "table1.csv"


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = copy_checkout(tmp_path_factory.mktemp("slurm"))
    planned = dry_run(["results/table1.csv", "--configfile", "config/tiny.yaml"], cwd=work)
    local = local_rules("config/tiny.yaml")
    remote = [j for j in planned if j.rule not in local]
    t0 = time.time()
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0 - 5))
    rc = run_interruptible(
        [SNAKEMAKE, "--profile", "profiles/slurm", "--profile", str(TEST_PROFILE), "results/table1.csv"],
        work, SLURM_TIMEOUT_S, work / "snakemake.log")
    wall = time.time() - t0
    log = (work / "snakemake.log").read_text()
    assert rc == 0, log[-6000:]
    # jobid -> rule from the SLURM log paths: logs/slurm/rule_<rule>/<wildcards>/<jobid>.log
    submitted = {}
    for path in (work / "logs" / "slurm").rglob("*.log"):
        first = path.relative_to(work / "logs" / "slurm").parts[0]
        assert first.startswith("rule_"), f"unexpected SLURM log (a group job?): {path}"
        submitted[path.stem] = first.removeprefix("rule_")
    acct = {}
    out = sh("sacct", "-X", "-P", "-n", "-S", start, "-o", "JobID,Partition,AllocTRES,NNodes,State,ExitCode")
    for line in out.splitlines():
        jobid, partition, tres, nnodes, state, exit_code = line.split("|")
        acct[jobid] = {"partition": partition, "tres": tres, "nodes": int(nnodes), "state": state, "exit": exit_code}
    summary = {"wall_s": round(wall, 1), "sbatch": len(submitted), "planned_remote": len(remote),
               "local_jobs": len(planned) - len(remote)}
    print(f"\nSLURM tiny run: {json.dumps(summary)}")
    (Path(os.environ.get("M1REPRO_SLURM_REPORT", work / "slurm_summary.json"))).write_text(json.dumps(summary))
    return {"work": work, "planned": planned, "remote": remote, "submitted": submitted, "acct": acct, "log": log}


def test_every_cluster_job_went_through_sbatch(slurm_run):
    submitted, acct = slurm_run["submitted"], slurm_run["acct"]
    want = sorted(j.rule for j in slurm_run["remote"])
    assert sorted(submitted.values()) == want, "one sbatch per non-local job of the tiny DAG"
    for jobid, rule in submitted.items():
        assert jobid in acct, f"{rule} job {jobid} is not in sacct"
        assert acct[jobid]["state"] == "COMPLETED", (rule, acct[jobid])
    assert len(re.findall(r"submitted with SLURM jobid", slurm_run["log"])) >= len(want)


def test_gpu_rules_ran_on_the_gpu_partition_with_their_gpus(slurm_run):
    submitted, acct = slurm_run["submitted"], slurm_run["acct"]
    gpu_jobs = {j: r for j, r in submitted.items() if r in GPU_RULES}
    assert {"eval_predict_baseline", "eval_predict_sweep"} <= set(gpu_jobs.values())
    for jobid, rule in submitted.items():
        a = acct[jobid]
        if rule in GPU_RULES:
            assert a["partition"] == "gpu" and "gres/gpu=1" in a["tres"], (rule, a)
        elif rule == "train_sft":  # the tiny run trains on CPU, on the GPU rules' partition
            assert a["partition"] == "gpu" and "gres/gpu" not in a["tres"], (rule, a)
        else:
            assert a["partition"] == "cpu" and "gres/gpu" not in a["tres"], (rule, a)


def test_table1_equals_the_local_run(slurm_run, reference_table):
    got = (slurm_run["work"] / "results" / "table1.csv").read_text()
    assert got == reference_table.read_text()


def test_test_profile_keeps_the_real_profiles_partitions():
    with open(REPO / "profiles" / "slurm" / "config.yaml") as fh:
        real = yaml.safe_load(fh)
    with open(TEST_PROFILE / "config.yaml") as fh:
        test = yaml.safe_load(fh)
    for rule, res in real["set-resources"].items():
        assert test["set-resources"][rule]["slurm_partition"] == res["slurm_partition"], rule


def test_two_node_training_launches_one_process_per_node(cluster, tmp_path):
    """The training rule's job command (m1repro.train.launch.job_command, what train_sft runs) for a 2-node run,
    in a real 2-node allocation asked with the rule's own resources (nodes, gres per node, tasks, mpi=srun): srun
    starts one launcher per node, and each builds torchrun for 2 nodes with one rendezvous on the first node.
    The launchers print their command (--dry-run): fake GPUs cannot train."""
    from m1repro.train import launch, workflow

    cfg = {"train": {"device": "cuda", "deepspeed": None, "slurm": True,
                     "defaults": {"global_batch_size": 4, "per_device_batch_size": 1},
                     "runs": {"two-node": {"base": "resources/tiny/models/tiny-qwen", "data": "m1k", "nodes": 2,
                                           "gpus_per_node": 1}}}}
    wc = type("W", (), {"run": "two-node"})()
    res = {k: f(wc) for k, f in workflow.resources_fns(cfg).items() if k in ("nodes", "gres", "mpi", "tasks")}
    assert res == {"nodes": 2, "gres": "gpu:1", "mpi": "srun", "tasks": 2}
    cmd = launch.job_command(workflow.spec(cfg, "two-node"), ["--dry-run"], res["mpi"], {})
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\ncd {REPO}\nexport PYTHONPATH={REPO}\n{shlex.join(cmd)}\n")
    out = tmp_path / "job.out"
    sh("sbatch", "--wait", "-p", "gpu", f"--nodes={res['nodes']}", f"--ntasks={res['tasks']}",
       f"--gres={res['gres']}", "--mem=1000", "-t", "5", "-o", str(out), str(script))
    lines = [ln for ln in out.read_text().splitlines() if ln.startswith("[m1repro.train.launch] node")]
    assert len(lines) == 2, out.read_text()
    nodes = sorted(re.search(r"node (\d+):", ln).group(1) for ln in lines)
    assert nodes == ["0", "1"]
    for ln in lines:
        assert "--nnodes 2" in ln and "--nproc_per_node 1" in ln and "--rdzv_backend c10d" in ln
    endpoints = {re.search(r"--rdzv_endpoint (\S+)", ln).group(1) for ln in lines}
    ids = {re.search(r"--rdzv_id (\S+)", ln).group(1) for ln in lines}
    assert len(endpoints) == 1 and len(ids) == 1, lines
