#!/usr/bin/env bash
# The SLURM test: bring up a real SLURM cluster on this machine (tests/slurm/cluster_up.sh: munge, MariaDB, slurmdbd,
# slurmctld, two slurmd; Debian packages, root), run tests/slurm/ against it, stop every daemon it started by PID
# (also on failure or interrupt). Called by .ci/run; by hand: sudo .ci/slurm-test.sh [pytest args].
# The lab is shaped like a typical university site and described by tests/slurm/site.yaml: typed GPUs
# (Gres=gpu:a100:2 per node), node names with a suffix (<host>-n1-ib, <host>-n2-ib), 16,000 MB per node.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLURMLAB=${SLURMLAB:-/tmp/m1repro-slurm}
export SLURMLAB_NODES=2 SLURMLAB_GPUS=2 SLURMLAB_ACCOUNTING=slurmdbd SLURMLAB_ACCOUNT=ci
export SLURMLAB_GPU_TYPE=a100 SLURMLAB_NODE_SUFFIX=-ib SLURMLAB_MEM_MB=16000
export M1REPRO_SLURM_TEST=1
PY=${PYTHON:-.venv/bin/python}
T0=$(date +%s)

cleanup() {
    local rc=$?
    tests/slurm/cluster_down.sh || true
    echo "[slurm-test] total $(($(date +%s) - T0))s (rc=$rc)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tests/slurm/cluster_up.sh
T1=$(date +%s)
"$PY" -m pytest -m slurm tests/slurm -v -s -p no:cacheprovider "$@"
echo "[slurm-test] cluster up in $((T1 - T0))s, tests $(($(date +%s) - T1))s"
