"""scripts/dev/import_graph.py (the package's import circles and deferred imports) on a planted package: a circle
closed by a deferred import is found, a TYPE_CHECKING import is no edge, and relative imports resolve."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "dev" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_circles_and_deferred_imports_of_a_planted_package(tmp_path):
    pkg = tmp_path / "m1repro"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from m1repro import b\n")
    (pkg / "b.py").write_text("def f():\n    from m1repro.sub import c\n    return c\n")
    (pkg / "sub" / "c.py").write_text("from .. import a\nimport json\n")
    (pkg / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from m1repro import a\nimport m1repro.sub.c\n"
    )
    r = _import_graph().analyse(tmp_path)
    edges = {(i.source, i.target, i.deferred) for i in r["imports"]}
    assert edges == {
        ("m1repro.a", "m1repro.b", False),
        ("m1repro.b", "m1repro.sub.c", True),
        ("m1repro.sub.c", "m1repro.a", False),
        ("m1repro.leaf", "m1repro.sub.c", False),
    }
    assert [(i.source, i.line) for i in r["deferred"]] == [("m1repro.b", 2)]
    assert r["circles"] == [["m1repro.a", "m1repro.b", "m1repro.sub.c"]]
    assert r["cycles"] == [["m1repro.a", "m1repro.b", "m1repro.sub.c", "m1repro.a"]]


def test_the_real_package_is_read_whole():
    r = _import_graph().analyse(REPO)
    assert r["modules"] == len(list((REPO / "m1repro").rglob("*.py"))) and r["imports"]


def test_the_real_package_has_no_import_circle():
    """The package is layered (m1repro.cfgview and m1repro.io below, m1repro.config's resolution above
    m1repro.workflow, the prediction jobs in m1repro.shards above m1repro.resources): a new circle fails here."""
    assert _import_graph().analyse(REPO)["circles"] == []
