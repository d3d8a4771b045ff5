"""SLURM node lists (m1repro.slurm): the parser on tricky lists, and ``scontrol show hostnames`` preferred when
present (a fake scontrol on the PATH here; tests/slurm checks the real one on the lab cluster)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from m1repro.slurm import NodelistError, expand_hostlist, hostnames

CASES = {
    "n[01-02]-ib": ["n01-ib", "n02-ib"],  # a suffix after the bracket (expand_nodelist gave "n01")
    "gpu[07-09,12],login1": ["gpu07", "gpu08", "gpu09", "gpu12", "login1"],
    "a[1-2]b[3-4]": ["a1b3", "a1b4", "a2b3", "a2b4"],  # several bracket groups multiply out, first outermost
    "node3": ["node3"],
    "n[8-11]": ["n8", "n9", "n10", "n11"],  # no padding unless the range is written padded
    "n[098-101]": ["n098", "n099", "n100", "n101"],
    "rack[1-2]-n[1,3]-ib,x[1]": ["rack1-n1-ib", "rack1-n3-ib", "rack2-n1-ib", "rack2-n3-ib", "x1"],
    "gpu-a100-[1-2],gpu-h100-01": ["gpu-a100-1", "gpu-a100-2", "gpu-h100-01"],  # dashes in names are text
    "n1,n1": ["n1", "n1"],  # as scontrol: no de-duplication
    "n1,,n2": ["n1", "n2"],  # as scontrol: empty entries skipped
}
# What SLURM 22.05's scontrol rejects ("Invalid hostlist"): text after the last bracket.
SUFFIXED = {"n[01-02]-ib", "rack[1-2]-n[1,3]-ib,x[1]"}


@pytest.mark.parametrize("nodelist,expected", CASES.items())
def test_expand_hostlist(nodelist, expected):
    assert expand_hostlist(nodelist) == expected
    assert hostnames(nodelist, scontrol=None) == expected


@pytest.mark.parametrize("bad", ["", ",", "n[01-02", "n01-02]", "n[a-b]", "n[3-1]", "n[1[2]]", "n[1-]"])
def test_bad_lists_are_errors_naming_the_list(bad):
    with pytest.raises(NodelistError):
        expand_hostlist(bad)


def test_scontrol_is_asked_first_when_on_the_path(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text('#!/bin/sh\n[ "$1 $2" = "show hostnames" ] || exit 2\necho "from-scontrol-$3"\necho other\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert hostnames("n[1-2]") == ["from-scontrol-n[1-2]", "other"]
    fake.write_text("#!/bin/sh\nexit 1\n")  # a failing scontrol (no configuration): parse it here
    assert hostnames("n[1-2]") == ["n1", "n2"]
    fake.write_text('#!/bin/sh\necho "Invalid hostlist: $3" >&2\n')  # 22.05 on a suffix: exit 0, nothing on stdout
    assert hostnames("n[01-02]-ib") == ["n01-ib", "n02-ib"]


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="no scontrol (Debian package slurm-client)")
def test_parser_agrees_with_the_real_scontrol(tmp_path, monkeypatch):
    """scontrol show hostnames needs only a configuration file, no controller."""
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=t\nSlurmctldHost=localhost\nNodeName=n1 CPUs=1\nPartitionName=p Nodes=n1\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    for nodelist, expected in CASES.items():
        real = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
        if nodelist in SUFFIXED:
            assert real.returncode == 0 and not real.stdout and "Invalid hostlist" in real.stderr
        else:
            assert real.stdout.split() == expected, nodelist
        assert hostnames(nodelist) == expected
