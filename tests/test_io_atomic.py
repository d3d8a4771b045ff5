"""Atomic writes (m1repro/io.py): the file appears only when complete, with the mode the umask allows (on a shared
cluster the group can read results), and a killed writer's leftovers can be found."""

from __future__ import annotations

import os
import stat

import pytest

from m1repro.io import atomic_open, current_umask, leftovers, partial_path, write_json_atomic, write_text_atomic


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600), (0o007, 0o660)])
def test_outputs_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert current_umask() == mask
    write_text_atomic(tmp_path / "a.txt", "x")
    write_json_atomic(tmp_path / "sub" / "b.json", {"a": 1})
    with atomic_open(tmp_path / "c.bin", "wb") as fh:
        fh.write(b"\0")
    for name in ("a.txt", "sub/b.json", "c.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    # and as a plain open() would make it
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == mode


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_leftovers_of_a_killed_writer(tmp_path):
    out = tmp_path / "model"
    (tmp_path / ".model.abc123.part").write_text("")
    (tmp_path / ".modelx.abc.part").write_text("")  # another output's
    partial_path(out).mkdir()
    assert [p.name for p in leftovers(out)] == [".model.abc123.part", ".model.partial"]
    assert leftovers(tmp_path / "absent" / "x") == []
