"""Launch commands from SLURM's environment and the job's resources: pure functions, no GPU or cluster needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from m1repro.config import load_config
from m1repro.resources import limit_needed, params_b, throughput
from m1repro.site import load_site
from m1repro.train import workflow as trainwf
from m1repro.train.estimate import Hardware, estimate
from m1repro.train.launch import (
    check_port_free,
    job_command,
    launch_command,
    plain_process_env,
    rendezvous_port,
)

REPO = Path(__file__).resolve().parent.parent
SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NNODES": "2", "SLURM_NODEID": "1"}


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config/config.yaml")


def test_two_node_run_is_srun_then_torchrun_per_node_with_c10d_rendezvous(cfg):
    spec = trainwf.spec(cfg, "m1-32B-1K")
    job = job_command(spec, ["--data", "d.parquet"], "srun", {})
    assert job[:4] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert job[4:7] == [sys.executable, "-m", "m1repro.train.launch"]
    node = launch_command(spec, ["--data", "d.parquet"], SLURM_ENV)
    cmd = " ".join(node)
    assert "-m torch.distributed.run --nproc_per_node 8" in cmd and "--nnodes 2" in cmd
    assert "--rdzv_backend c10d --rdzv_endpoint gpu07:24242 --rdzv_id m1repro-4242" in cmd
    assert node[-4:] == ["-m", "m1repro.train.sft", "--data", "d.parquet"]
    with pytest.raises(RuntimeError, match="SLURM_JOB_NODELIST"):
        launch_command(spec, [], {"SLURM_JOB_ID": "1"})
    with pytest.raises(RuntimeError, match="wants 2 nodes"):
        launch_command(spec, [], {**SLURM_ENV, "SLURM_NNODES": "1"})
    with pytest.raises(RuntimeError, match="needs resources.mpi"):
        job_command(spec, [], "", {})


def test_one_node_and_cpu_runs(cfg):
    node = launch_command(trainwf.spec(cfg, "m1-7B-1K"), [], {})
    assert "--standalone" in node and node[node.index("--nproc_per_node") + 1] == "8"
    tiny = trainwf.spec(load_config(REPO / "config/tiny.yaml"), "tiny-m1-1K")
    assert launch_command(tiny, ["--x"], {}) == [sys.executable, "-m", "m1repro.train.sft", "--x"]


def test_slurm_resources_per_run(cfg, tmp_path):
    site = load_site()
    missing = str(tmp_path / "missing.parquet")  # before curation: the paper's nominal sizes

    def res(run, attempt=1):
        return trainwf.resources(cfg, site, run, missing, attempt)

    big, small = res("m1-32B-1K"), res("m1-7B-1K")
    assert (big["nodes"], big["gres"], big["mpi"], big["tasks"]) == (2, "gpu:8", "srun", 2)
    assert (small["nodes"], small["gres"], small["mpi"]) == (1, "gpu:8", "")
    assert big["slurm_partition"] == small["slurm_partition"] == site.gpu_partition
    assert res("m1-32B-1K", 2)["runtime"] == min(2 * big["runtime"], site.max_runtime_min) > small["runtime"]
    ckpt = trainwf.checkpoint_dir(cfg, "m1-7B-1K", site)  # outside the output, keyed by the run's spec
    assert ckpt.startswith("cache/train/m1-7B-1K/") and ckpt.endswith("/checkpoints")
    assert not ckpt.startswith("results/")


def test_estimate_model(cfg):
    site = load_site()  # the shipped site: 8 x H100
    hw = Hardware.of(throughput(cfg, site), site)
    e7 = estimate(1000, 1_200_000, params_b(["Qwen/Qwen2.5-7B-Instruct"], None, "t") * 1e9, 1, 8, 5, hw)
    e32 = estimate(1000, 1_200_000, params_b(["Qwen/Qwen2.5-32B-Instruct"], None, "t") * 1e9, 2, 8, 5, hw)
    assert e7.gpu_hours < e32.gpu_hours and e7.wall_s < 3600  # "minutes" for 7B-1K (paper, Appendix)
    assert limit_needed(e7.wall_s / 60, site, throughput(cfg, site)) >= site.min_runtime_min
    with pytest.raises(ValueError, match="cannot tell its size"):
        params_b(["some/unknown-model"], None, "train.runs.x")


def test_rendezvous_port_comes_from_the_job_so_two_jobs_on_one_head_node_differ(cfg):
    spec = trainwf.spec(cfg, "m1-32B-1K")
    ports = set()
    for job_id in ("4242", "4243"):
        cmd = launch_command(spec, [], {**SLURM_ENV, "SLURM_JOB_ID": job_id})
        ports.add(cmd[cmd.index("--rdzv_endpoint") + 1])
    assert ports == {"gpu07:24242", "gpu07:24243"}
    assert rendezvous_port({"SLURM_JOB_ID": "123456", "M1REPRO_RDZV_PORT": "31000"}) == 31000
    assert 20000 <= rendezvous_port({"SLURM_JOB_ID": "987654321"}) < 30000


def test_a_taken_rendezvous_port_is_a_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"rendezvous port {port} on head1 is taken.*M1REPRO_RDZV_PORT"):
            check_port_free("head1", port)


def test_a_plain_run_does_not_inherit_a_parents_launcher_or_accelerate_settings():
    env = {
        "PATH": "/bin",
        "RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
        "LOCAL_RANK": "0",
        "ACCELERATE_USE_DEEPSPEED": "true",
        "HF_HOME": "/x",
    }
    assert plain_process_env(env) == {"PATH": "/bin", "HF_HOME": "/x"}
