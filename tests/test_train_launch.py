"""Launch commands from SLURM's environment and the job's resources: pure functions, no GPU or cluster needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from m1repro.config import load_config
from m1repro.resources import throughput
from m1repro.site import load_site
from m1repro.train import workflow as trainwf
from m1repro.train.estimate import Hardware, estimate, params_of, runtime_minutes
from m1repro.train.launch import expand_nodelist, job_command, launch_command

REPO = Path(__file__).resolve().parent.parent
SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NNODES": "2", "SLURM_NODEID": "1"}


class W:
    def __init__(self, run: str):
        self.run = run


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config/config.yaml")


def test_expand_nodelist():
    assert expand_nodelist("gpu[07-09,12],login1") == ["gpu07", "gpu08", "gpu09", "gpu12", "login1"]
    assert expand_nodelist("node3") == ["node3"]


def test_two_node_run_is_srun_then_torchrun_per_node_with_c10d_rendezvous(cfg):
    spec = trainwf.spec(cfg, "m1-32B-1K")
    job = job_command(spec, ["--data", "d.parquet"], "srun", {})
    assert job[:4] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert job[4:7] == [sys.executable, "-m", "m1repro.train.launch"]
    node = launch_command(spec, ["--data", "d.parquet"], SLURM_ENV)
    cmd = " ".join(node)
    assert "-m torch.distributed.run --nproc_per_node 8" in cmd and "--nnodes 2" in cmd
    assert "--rdzv_backend c10d --rdzv_endpoint gpu07:29400 --rdzv_id m1repro-4242" in cmd
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
    res = trainwf.resources_fns(cfg)

    class Inp:
        data = str(tmp_path / "missing.parquet")  # before curation: the paper's nominal sizes

    big, small = W("m1-32B-1K"), W("m1-7B-1K")
    assert (res["nodes"](big), res["gres"](big), res["mpi"](big), res["tasks"](big)) == (2, "gpu:8", "srun", 2)
    assert (res["nodes"](small), res["gres"](small), res["mpi"](small)) == (1, "gpu:8", "")
    assert res["runtime"](big, Inp(), 2) == 2 * res["runtime"](big, Inp(), 1) > res["runtime"](small, Inp(), 1)
    ckpt = trainwf.checkpoint_dir(cfg, "m1-7B-1K")  # outside the output, keyed by the run's spec
    assert ckpt.startswith("cache/train/m1-7B-1K/") and ckpt.endswith("/checkpoints")
    assert not ckpt.startswith("results/")


def test_estimate_model(cfg):
    hw = Hardware.of(throughput(cfg, load_site()), load_site())  # the shipped site: 8 x H100
    e7 = estimate(1000, 1_200_000, params_of("Qwen/Qwen2.5-7B-Instruct"), 1, 8, 5, hw)
    e32 = estimate(1000, 1_200_000, params_of("Qwen/Qwen2.5-32B-Instruct"), 2, 8, 5, hw)
    assert e7.gpu_hours < e32.gpu_hours and e7.wall_s < 3600  # "minutes" for 7B-1K (paper, Appendix)
    assert runtime_minutes(e7) >= 30
    with pytest.raises(ValueError, match="parameter count"):
        params_of("some/unknown-model")
