"""`python -m m1repro.site detect` against the CI's SLURM lab (tests/slurm/cluster_up.sh, as .ci/slurm-test.sh starts
it): the site file it writes from sinfo, scontrol and sacctmgr describes the lab as tests/slurm/site.yaml does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from m1repro.site import load_site  # noqa: E402

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        os.environ.get("M1REPRO_SLURM_TEST") != "1",
        reason="needs a SLURM cluster: .ci/slurm-test.sh (M1REPRO_SLURM_TEST=1)",
    ),
]


def test_detect_writes_the_labs_site_file(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "m1repro.site", "detect"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "site.yaml"
    path.write_text(done.stdout)
    got = load_site(path)
    lab = load_site(REPO / "tests" / "slurm" / "site.yaml")
    same = ("cpu_partition", "gpu_partition", "account", "gpus_per_node", "gpu_model", "gpu_type", "gpu_mem_gb")
    assert {k: getattr(got, k) for k in same} == {k: getattr(lab, k) for k in same}
    assert (got.cpus_per_node, got.mem_mb_per_node) == (lab.cpus_per_node, lab.mem_mb_per_node)
    # the lab's partitions have no time limit: the file asks at most a week and says so
    assert got.max_runtime_min == 10080 and "no time limit" in done.stdout
    assert yaml.safe_load(done.stdout)["gpu_partition"] == "gpu"
