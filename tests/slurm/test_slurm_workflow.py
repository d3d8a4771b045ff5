"""The tiny workflow on a real SLURM cluster shaped like a university site (tests/slurm/cluster_up.sh as
.ci/slurm-test.sh starts it: slurmctld, slurmdbd, two virtual nodes with suffixed names, partitions cpu and gpu, two
fake GPUs of gres type a100 per node), through the project's profile and the lab's site file:

    snakemake --profile profiles/slurm --profile tests/slurm/profile results/table1.csv

tests/slurm/profile names the configuration (config/tiny.yaml + the overlay tests/slurm/tiny_lab.yaml: the lab's site
file tests/slurm/site.yaml, one GPU per prediction and difficulty job); every job's partition and request come from
the site file through m1repro.resources, as on a real site. Needs root, apt and a few minutes: run by
.ci/slurm-test.sh (which brings the cluster up and down), or by hand with M1REPRO_SLURM_TEST=1 once it is up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ (shared helpers)
from workflow_helpers import REPO, SNAKEMAKE, copy_checkout, dry_run, local_rules, sbatch  # noqa: E402

from m1repro import resources as rsc  # noqa: E402
from m1repro import workflow as wf  # noqa: E402
from m1repro.config import deep_merge, load_config, resolve_config  # noqa: E402
from m1repro.io import read_yaml  # noqa: E402
from m1repro.site import load_site  # noqa: E402
from m1repro.slurm import expand_hostlist, hostnames  # noqa: E402

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        os.environ.get("M1REPRO_SLURM_TEST") != "1",
        reason="needs a SLURM cluster: .ci/slurm-test.sh (M1REPRO_SLURM_TEST=1)",
    ),
]

TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
PROFILES = ["--profile", "profiles/slurm", "--profile", str(TEST_PROFILE)]
SITE = load_site(REPO / "tests" / "slurm" / "site.yaml")
SLURM_TIMEOUT_S = int(os.environ.get("M1REPRO_SLURM_TIMEOUT", "1500"))


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


SACCT_FIELDS = ("JobID", "Partition", "AllocTRES", "NNodes", "State", "ExitCode")


def sacct(jobids: set[str], timeout_s: float = 60) -> dict[str, dict[str, str]]:
    """The accounting records of these jobs (-X: the allocation), once slurmdbd has all of them complete: right after
    a job ends, its record can still lack the partition or the final state."""
    deadline = time.time() + timeout_s
    while True:
        out = sh("sacct", "-X", "-P", "-n", "-j", ",".join(sorted(jobids)), "-o", ",".join(SACCT_FIELDS))
        rows = {r["JobID"]: r for r in (dict(zip(SACCT_FIELDS, ln.split("|"))) for ln in out.splitlines())}
        done = set(rows) >= jobids and all(
            all(r.values()) and r["State"] not in ("PENDING", "RUNNING", "COMPLETING") for r in rows.values()
        )
        if done or time.time() > deadline:
            return rows
        time.sleep(1)


def scontrol_hostnames(nodelist: str) -> list[str]:
    return sh("scontrol", "show", "hostnames", nodelist).split()


@pytest.fixture(scope="module")
def cluster() -> dict[str, dict[str, str]]:
    """The lab's nodes as scontrol shows them (name -> its key=value fields); sacct answers (slurmdbd)."""
    nodes = {}
    for block in sh("scontrol", "-o", "show", "node").splitlines():
        fields = dict(kv.split("=", 1) for kv in block.split() if "=" in kv)
        nodes[fields["NodeName"]] = fields
    sh("sacct", "-n", "-X", "-o", "JobID")
    return nodes


def test_the_lab_is_what_its_site_file_says(cluster):
    """Shaped like a site with typed GPUs and suffixed node names; tests/slurm/site.yaml describes it."""
    assert len(cluster) == 2 and all(re.fullmatch(r".+-n\d-ib", n) for n in cluster), sorted(cluster)
    for name, node in cluster.items():
        assert node["Gres"] == f"gpu:{SITE.gpu_model}:{SITE.gpus_per_node}", (name, node["Gres"])
        assert int(node["CPUTot"]) == SITE.cpus_per_node and int(node["RealMemory"]) == SITE.mem_mb_per_node
        assert set(node["Partitions"].split(",")) == {SITE.cpu_partition, SITE.gpu_partition}
    assert SITE.account in sh("sacctmgr", "-n", "-P", "show", "assoc", "format=account").split()


def test_hostnames_agree_with_scontrol_on_the_labs_node_lists(cluster):
    """m1repro.slurm.hostnames and its own parser against the lab's scontrol, on the node lists SLURM itself prints
    (sinfo, the partitions). SLURM 22.05 cannot write a range with a suffix, so it lists these nodes one by one."""
    lists = {sh("sinfo", "-h", "-p", p, "-o", "%N").strip() for p in (SITE.cpu_partition, SITE.gpu_partition)}
    lists |= {
        re.search(r"\bNodes=(\S+)", sh("scontrol", "show", "partition", p)).group(1)
        for p in (SITE.cpu_partition, SITE.gpu_partition)
    }
    for nodelist in lists:
        want = scontrol_hostnames(nodelist)
        assert sorted(want) == sorted(cluster)
        assert hostnames(nodelist) == expand_hostlist(nodelist) == want, nodelist
    compressed = sh("scontrol", "show", "hostlist", ",".join(sorted(cluster))).strip()
    assert expand_hostlist(compressed) == scontrol_hostnames(compressed) == sorted(cluster)


def run_interruptible(
    cmd: list[str], cwd: Path, timeout: float, log: Path, until: Callable[[], bool] | None = None
) -> int:
    """Run Snakemake; on timeout stop it with SIGINT (it ignores SIGTERM while jobs run; SIGINT cancels them).
    ``until``: called every second while Snakemake runs until it returns True (to act on a running job)."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        try:
            t0 = time.time()
            while until is not None and proc.poll() is None and not until():
                if time.time() - t0 > timeout:
                    raise subprocess.TimeoutExpired(cmd, timeout)
                time.sleep(1)
            return proc.wait(timeout=max(1.0, timeout - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise AssertionError(f"snakemake did not finish in {timeout}s; see {log}") from None


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory, tiny_runner):
    """The tiny run through the SLURM profile; every non-local job's plan (dry run), SLURM log and sacct record.
    The local reference run (tests/conftest.py) starts first and runs alongside: the SLURM run mostly waits."""
    tiny_runner.start(0)
    work = copy_checkout(tmp_path_factory.mktemp("slurm"))
    planned = dry_run([*PROFILES, "results/table1.csv"], cwd=work)
    # keyed as the SLURM plugin names each job's log directory: rule_<rule>/<wildcard values joined by _>/
    local = local_rules("config/tiny.yaml")  # (a dry run prints every job as `rule`, local or not)
    remote = {(j.rule, "_".join(j.wildcards.values())): j for j in planned if j.rule not in local}
    t0 = time.time()
    rc = run_interruptible([SNAKEMAKE, *PROFILES, "results/table1.csv"], work, SLURM_TIMEOUT_S, work / "snakemake.log")
    wall = time.time() - t0
    log = (work / "snakemake.log").read_text()
    assert rc == 0, log[-6000:]
    # jobid -> (rule, wildcards) from the SLURM log paths: logs/slurm/rule_<rule>/[<wildcards>/]<jobid>.log
    submitted = {}
    for path in (work / "logs" / "slurm").rglob("*.log"):
        rule_dir, *wildcards, _ = path.relative_to(work / "logs" / "slurm").parts
        assert rule_dir.startswith("rule_") and len(wildcards) <= 1, f"unexpected SLURM log (a group job?): {path}"
        submitted[path.stem] = (rule_dir.removeprefix("rule_"), "".join(wildcards))
    acct = sacct(set(submitted))
    summary = {
        "wall_s": round(wall, 1),
        "sbatch": len(submitted),
        "planned_remote": len(remote),
        "local_jobs": len(planned) - len(remote),
        "gpu_jobs": sum(j.res_int("gpu") > 0 for j in remote.values()),
    }
    print(f"\nSLURM tiny run: {json.dumps(summary)}")
    Path(os.environ.get("M1REPRO_SLURM_REPORT", work / "slurm_summary.json")).write_text(json.dumps(summary))
    return {"work": work, "remote": remote, "submitted": submitted, "acct": acct, "log": log}


def test_every_cluster_job_went_through_sbatch_and_completed(slurm_run):
    submitted, acct = slurm_run["submitted"], slurm_run["acct"]
    assert sorted(submitted.values()) == sorted(slurm_run["remote"]), "one sbatch per non-local job of the tiny DAG"
    for jobid, job in submitted.items():
        assert jobid in acct, f"{job} (SLURM job {jobid}) is not in sacct"
        assert acct[jobid]["State"] == "COMPLETED" and acct[jobid]["ExitCode"] == "0:0", (job, acct[jobid])
    assert len(re.findall(r"submitted with SLURM jobid", slurm_run["log"])) == len(submitted)


def test_each_job_ran_where_the_site_file_puts_it_with_typed_gpus(slurm_run):
    """GPU jobs (the tiny prediction and difficulty jobs, one GPU each by the overlay's engine `gpus`) on the site's
    GPU partition with a typed GPU in their accounting; every other job on the CPU partition with none."""
    files = [REPO / "config" / "tiny.yaml", REPO / "tests" / "slurm" / "tiny_lab.yaml"]  # the test profile's
    cfg = resolve_config(deep_merge(*(read_yaml(f) for f in files)), files)
    submitted, acct, remote = slurm_run["submitted"], slurm_run["acct"], slurm_run["remote"]
    gpu_rules = set()
    for jobid, job in submitted.items():
        planned, a = remote[job].resources, acct[jobid]
        gpus = int(planned.get("gpu", 0))
        assert a["Partition"] == planned["slurm_partition"] == rsc.partition(SITE, planned), (job, a, planned)
        if gpus:
            gpu_rules.add(job[0])
            assert a["Partition"] == SITE.gpu_partition and planned["gpu_model"] == SITE.gpu_model, (job, a)
            cpus, mem = rsc.node_share(SITE, gpus)
            tres = set(a["AllocTRES"].split(","))
            assert {f"gres/gpu:{SITE.gpu_model}={gpus}", f"gres/gpu={gpus}", f"cpu={cpus}", f"mem={mem}M"} <= tres, a
        else:
            assert a["Partition"] == SITE.cpu_partition and "gres/gpu" not in a["AllocTRES"], (job, a)
    assert gpu_rules == {"eval_predict", "curate_difficulty_model"}
    for j in remote.values():
        if j.rule == "eval_predict":
            datasets = wf.part_datasets(cfg, j.wildcards["part"])
            assert rsc.predict_job(cfg, SITE, j.wildcards["model"], datasets).gpus == 1 == j.res_int("gpu")


def test_table1_equals_the_local_run(slurm_run, tiny_runner):
    """The same bytes as one local tiny run (tests/conftest.py), which slurm_run started before its own: the SLURM
    run predicts in shards (tests/slurm/tiny_lab.yaml: two jobs per part, merged by eval_merge), the local run in one
    job per part."""
    shards = {j.wildcards["shard"] for j in slurm_run["remote"].values() if j.rule == "eval_predict"}
    assert shards == {"0-32", "32-end"}, shards
    local = tiny_runner.result(0) / "results" / "predictions" / "faithful"
    assert sorted(p.name for p in local.glob("*/all/*.jsonl")) == ["0-end.jsonl"] * 4
    got = (slurm_run["work"] / "results" / "table1.csv").read_bytes()
    assert got == (tiny_runner.result(0) / "results" / "table1.csv").read_bytes()


def test_a_prediction_job_killed_at_its_time_limit_resumes_and_finishes(cluster, tmp_path_factory):
    """One prediction job of the tiny config (tiny-base, batches of 2 items, 22 batches). Once it has stored its first
    batch, its processes are paused (SIGSTOP: a job slower than its limit, on a machine of any speed; a fast CI
    machine once finished the whole job inside the limit) and its SLURM time limit is cut to one minute (the shortest
    SLURM has), so SLURM ends it at the limit (TIMEOUT) with most of its work left; Snakemake retries it (``retries``
    of the real profile, which the lab's profile sets to 0) and the retry continues from the batches the first attempt
    stored (m1repro.progress) and finishes."""
    work = copy_checkout(tmp_path_factory.mktemp("timelimit"))
    target = "results/predictions/faithful/tiny-base/all.jsonl"
    settings = "eval={batch_size: 2, baseline_max_tokens: 160, items_per_shard: null}"
    slurm_logs = work / "logs" / "slurm" / "rule_eval_predict"
    progress = work / "cache" / "progress" / "eval_predict"
    cut: list[str] = []
    paused: list[int] = []

    def cut_the_time_limit() -> bool:
        jobs = [p.stem for p in slurm_logs.rglob("*.log")] if slurm_logs.is_dir() else []
        if jobs and progress.is_dir() and any(progress.rglob("batch-*.jsonl")):
            paused.extend(signal_job(jobs[0], signal.SIGSTOP))
            assert paused, f"no process of SLURM job {jobs[0]} found under /proc"
            sh("scontrol", "update", f"JobId={jobs[0]}", "TimeLimit=1")
            cut.append(jobs[0])
            return True
        return False

    retries = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["retries"]  # the site's
    cmd = [SNAKEMAKE, *PROFILES, "--retries", str(retries), "--config", settings, "--", target]
    try:
        rc = run_interruptible(cmd, work, SLURM_TIMEOUT_S, work / "snakemake.log", until=cut_the_time_limit)
    finally:  # SLURM kills the paused processes at the limit; any left (a failed test) are let go
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert rc == 0 and cut, (work / "snakemake.log").read_text()[-6000:]
    attempts = sorted((p.stem for p in slurm_logs.rglob("*.log")), key=int)
    acct = sacct(set(attempts))
    states = [acct[j]["State"] for j in attempts]
    print(f"\ntime-limited prediction job: attempts {states}")
    assert attempts[0] == cut[0] and states == ["TIMEOUT", "COMPLETED"], states
    log = work / "logs" / "eval_predict" / "faithful" / "tiny-base" / "all" / "0-end.log"
    rows = [json.loads(ln) for ln in log.read_text().splitlines()]
    start = next(r for r in rows if r["msg"] == "predicting")
    assert 0 < start["batches_already_done"] < start["batches"] == 22, start  # the retry took up the first's work
    assert any(r["msg"] == "progress" and r["resumed_items"] > 0 and "eta" in r for r in rows)
    records = [json.loads(ln) for ln in (work / target).read_text().splitlines()]
    items = read_items(work)
    assert len(records) == len(items) and [r["id"] for r in records] == [it["id"] for it in items]
    assert not list(progress.rglob("batch-*")), "a finished job leaves no progress behind"


def signal_job(jobid: str, sig: signal.Signals) -> list[int]:
    """Send ``sig`` to every process of a SLURM job on this machine (the lab's nodes are this host): those whose
    environment holds its SLURM_JOB_ID. Returns their pids."""
    mark = f"SLURM_JOB_ID={jobid}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), sig)
                pids.append(int(proc.name))
        except (OSError, ProcessLookupError):  # gone, or not ours to read
            continue
    return pids


def read_items(work: Path) -> list[dict]:
    return [json.loads(ln) for ln in (work / wf.ITEMS).read_text().splitlines()]


def test_two_node_training_launches_one_process_per_node(cluster, tmp_path):
    """A 2-node training run on the lab: the job's resources from the site (m1repro.train.workflow.resources: nodes,
    gres per node, one task per node, mpi=srun), submitted with the SLURM plugin's own sbatch options. srun starts
    one launcher per node; each builds torchrun for 2 nodes with one rendezvous on the first host of
    SLURM_JOB_NODELIST (m1repro.slurm.hostnames, compared with the real scontrol in the job) at the port derived from
    the real SLURM_JOB_ID. The launchers print their command (--dry-run): fake GPUs cannot train."""
    from m1repro.train import launch
    from m1repro.train import workflow as trainwf

    paper = load_config(REPO / "config" / "config.yaml")
    cfg = {
        "throughput": paper["throughput"],
        "train": {
            "device": "cuda",
            "deepspeed": None,
            "slurm": True,
            "defaults": {"global_batch_size": 4, "per_device_batch_size": 1},
            # 4 GPUs: as few of the lab's 2-GPU nodes as hold them, so 2 nodes x 2 (the base only names a size)
            "runs": {"two-node": {"base": "Qwen/Qwen2.5-7B-Instruct", "data": "m1k", "nodes": 2, "gpus_per_node": 2}},
        },
    }
    res = trainwf.resources(cfg, SITE, "two-node")
    assert (res["nodes"], res["gres"], res["mpi"], res["tasks"]) == (2, f"gpu:{SITE.gpu_model}:2", "srun", 2)
    assert res["slurm_partition"] == SITE.gpu_partition and res["slurm_account"] == SITE.account
    out = tmp_path / "job.out"
    line = sbatch(res, logfile=str(out))
    assert f"--gres=gpu:{SITE.gpu_model}:2" in line and "--nodes=2" in line and "--gpus" not in line, line
    spec = trainwf.spec(cfg, "two-node", SITE)
    cmd = launch.job_command(spec, ["--dry-run"], res["mpi"], {})
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        f"cd {REPO}\nexport PYTHONPATH={REPO}\n"
        'echo "NODELIST=$SLURM_JOB_NODELIST JOBID=$SLURM_JOB_ID"\n'
        'scontrol show hostnames "$SLURM_JOB_NODELIST" | sed "s/^/HOST=/"\n'
        f"{shlex.join(cmd)}\n"
    )
    args = shlex.split(line)
    assert args[0] == "sbatch"
    sh("sbatch", "--wait", *args[1:], str(script))
    text = out.read_text()
    nodelist, jobid = re.search(r"NODELIST=(\S+) JOBID=(\d+)", text).groups()
    hosts = re.findall(r"^HOST=(\S+)$", text, flags=re.M)
    assert len(hosts) == 2 and set(hosts) <= set(cluster), text
    assert hostnames(nodelist) == expand_hostlist(nodelist) == hosts
    lines = [ln for ln in text.splitlines() if ln.startswith("[m1repro.train.launch] node")]
    assert sorted(re.search(r"node (\d+):", ln).group(1) for ln in lines) == ["0", "1"], text
    port = launch.rendezvous_port({"SLURM_JOB_ID": jobid})
    assert launch.RDZV_PORT_BASE <= port < launch.RDZV_PORT_BASE + launch.RDZV_PORT_SPAN
    for ln in lines:
        assert "--nnodes 2" in ln and "--nproc_per_node 2" in ln and "--rdzv_backend c10d" in ln, ln
        assert f"--rdzv_endpoint {hosts[0]}:{port}" in ln and f"--rdzv_id m1repro-{jobid}" in ln, ln
    a = sacct({jobid})[jobid]
    assert (a["Partition"], a["NNodes"], a["State"]) == (SITE.gpu_partition, "2", "COMPLETED"), a
    assert f"gres/gpu:{SITE.gpu_model}=4" in a["AllocTRES"].split(","), a  # 2 per node
