"""The launcher of one training run: the command each node runs, built from the run spec and SLURM's environment.

* CPU run: one plain process (``python -m m1repro.train.sft``).
* One GPU node: ``torchrun --standalone --nproc_per_node G``.
* Several nodes: the job (:func:`run_job`, called by the rule's script) starts this module once per node under
  ``srun`` (``resources.mpi``, one task per node); each copy starts ``torchrun --nnodes N --nproc_per_node G`` with
  a c10d rendezvous on the first node of the allocation (``SLURM_JOB_NODELIST``, expanded as ``scontrol show hostnames`` does), keyed by ``SLURM_JOB_ID``, as the
  original's ``torchrun --rdzv_backend c10d``.

Every command runs under the job's own interpreter (``sys.executable``: the rule's conda env, or the venv locally).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from m1repro.hub import resolve_local
from m1repro.log import log_event
from m1repro.slurm import hostnames
from m1repro.smk import RuleJob
from m1repro.train.hparams import RunSpec

logger = logging.getLogger("m1repro.train")

# What a launcher (torchrun, srun) sets for each process; a plain process must not inherit them from its parent.
DIST_ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

# Rendezvous ports of multi-node runs: one per SLURM job in [base, base + span), below the usual ephemeral range
# (32768+), so two jobs sharing a head node do not collide (M1REPRO_RDZV_PORT overrides).
RDZV_PORT_BASE = 20000
RDZV_PORT_SPAN = 10000


def rendezvous_port(env: Mapping[str, str]) -> int:
    """The c10d rendezvous port of a multi-node job: ``M1REPRO_RDZV_PORT`` if set, else derived from the job id."""
    if env.get("M1REPRO_RDZV_PORT"):
        return int(env["M1REPRO_RDZV_PORT"])
    return RDZV_PORT_BASE + int(env["SLURM_JOB_ID"]) % RDZV_PORT_SPAN


def check_port_free(host: str, port: int) -> None:
    """On the rendezvous host, fail early and clearly when the port is taken (torchrun would only time out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError as exc:
            raise RuntimeError(
                f"rendezvous port {port} on {host} is taken ({exc.strerror}); set M1REPRO_RDZV_PORT to a free port "
                "and resubmit"
            ) from None


def plain_process_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a one-process (CPU) run: without a launcher's rank and rendezvous variables or accelerate's
    settings, which a parent (a test process, a notebook, an outer torchrun) may have set and which would make the
    run join a group or switch to DeepSpeed."""
    return {k: v for k, v in env.items() if k not in DIST_ENV_VARS and not k.startswith("ACCELERATE_")}


def launch_command(spec: RunSpec, sft_args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The command this node runs for the run ``spec`` (``sft_args`` are passed on to ``m1repro.train.sft``)."""
    python = sys.executable
    module = ["-m", "m1repro.train.sft", *sft_args]
    if spec.device == "cpu":
        return [python, *module]
    torchrun = [python, "-m", "torch.distributed.run", "--nproc_per_node", str(spec.gpus_per_node)]
    torchrun += ["--max_restarts", "0"]
    if spec.nodes == 1:
        return [*torchrun, "--standalone", "--nnodes", "1", *module]
    missing = [k for k in ("SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURM_NNODES") if not env.get(k)]
    if missing:
        raise RuntimeError(
            f"run {spec.run!r} asks for {spec.nodes} nodes but {missing} are not set: start one launcher per node "
            "under srun (the rule's shell does this with {resources.mpi})"
        )
    if int(env["SLURM_NNODES"]) != spec.nodes:
        raise RuntimeError(f"run {spec.run!r} wants {spec.nodes} nodes, the allocation has {env['SLURM_NNODES']}")
    endpoint = f"{hostnames(env['SLURM_JOB_NODELIST'])[0]}:{rendezvous_port(env)}"
    rdzv = ["--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", f"m1repro-{env['SLURM_JOB_ID']}"]
    return [*torchrun, "--nnodes", str(spec.nodes), *rdzv, *module]


def job_command(spec: RunSpec, sft_args: Sequence[str], mpi: str, env: Mapping[str, str]) -> list[str]:
    """The command of the whole job: ``srun`` starting one launcher per node, or this node's launch command."""
    if mpi:
        srun = [*shlex.split(mpi), f"--nodes={spec.nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
        return [*srun, sys.executable, "-m", "m1repro.train.launch", "--spec", spec_json(spec), *sft_args]
    if spec.nodes > 1:
        raise RuntimeError(f"run {spec.run!r} uses {spec.nodes} nodes: it needs resources.mpi (srun)")
    return launch_command(spec, ["--spec", spec_json(spec), *sft_args], env)


def spec_json(spec: RunSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))


def run_job(
    spec: RunSpec,
    data: str,
    output: str,
    checkpoints: str,
    train_log: str,
    process_log: str,
    mpi: str = "",
    env: Mapping[str, str] | None = None,
) -> None:
    """Run the training job to completion; the processes' output is appended to ``process_log``."""
    env = dict(os.environ if env is None else env)
    env.setdefault("TORCH_EXTENSIONS_DIR", str(Path("cache/torch_extensions").resolve()))
    sft_args = ["--data", data, "--output", output, "--checkpoints", checkpoints, "--log", train_log]
    if spec.device == "cpu":
        env = plain_process_env(env)
    cmd = job_command(spec, sft_args, mpi, env)
    log_event(
        logger, "launch", run=spec.run, command=shlex.join(cmd), nodes=spec.nodes, gpus_per_node=spec.gpus_per_node
    )
    for h in logging.getLogger().handlers:
        h.flush()
    with open(process_log, "a", encoding="utf-8") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if rc != 0:
        raise RuntimeError(f"training run {spec.run!r} failed (exit status {rc}); see {process_log} and {train_log}")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", required=True, help="the run's resolved spec as JSON")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    a, rest = p.parse_known_args(argv)
    spec = RunSpec.from_dict(json.loads(a.spec))
    cmd = launch_command(spec, ["--spec", a.spec, *rest], os.environ)
    node = os.environ.get("SLURM_NODEID", "0")
    if spec.nodes > 1 and node == "0":
        check_port_free(socket.gethostname(), rendezvous_port(os.environ))
    print(f"[m1repro.train.launch] node {node}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    if a.dry_run:
        print(shlex.join(cmd))
        return
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()


def train_sft(job: RuleJob) -> None:
    """Rule train_sft: one SFT run (srun per node when multi-node, torchrun per node, trl + DeepSpeed inside); a
    pre-fetched hub base model is read from its local snapshot."""
    from dataclasses import replace

    spec = RunSpec.from_dict(json.loads(job.params.spec))
    spec = replace(spec, base=resolve_local(spec.base, list(job.input.hub)))
    run_job(
        spec,
        data=job.input.data,
        output=job.output.model,
        checkpoints=job.params.checkpoints,
        train_log=job.log.train,
        process_log=job.log.launcher,
        mpi=job.resources.mpi,
    )
