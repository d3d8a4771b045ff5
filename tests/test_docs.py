"""Docs that stay true: every generated block (scripts/dev/docs_tables.py) equals what the code computes now, and
every relative link of the README and docs/ points to a file of the checkout."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(((?!https?://|mailto:|#)[^)\s]+)\)")


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", REPO / "scripts" / "dev" / "docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_doc_blocks_equal_what_the_code_computes():
    dt = _docs_tables()
    names = [m["name"] for path in dt.doc_files() for m in dt.blocks(path.read_text(encoding="utf-8"))]
    assert "site-bill" in names  # the bill table of docs/site.md is generated
    assert not set(names) - set(dt.GENERATORS), "a block names no generator"
    stale = [(str(path.relative_to(REPO)), name, want) for path, name, _, want in dt.stale()]
    assert not stale, f"stale doc blocks (rewrite: python3 scripts/dev/docs_tables.py --write): {stale}"


def test_stale_block_is_found_and_rewritten(tmp_path):
    """The check is not vacuous: a block with other numbers is stale, and --write puts the computed text back."""
    dt = _docs_tables()
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "x.md"
    doc.write_text("before\n<!-- generated: site-bill -->\n| 1 |\n<!-- end generated: site-bill -->\nafter\n")
    (tmp_path / "README.md").write_text("no blocks\n")
    assert [name for _, name, _, _ in dt.stale(tmp_path)] == ["site-bill"]
    assert dt.rewrite(tmp_path) == [doc]
    assert dt.stale(tmp_path) == [] and doc.read_text().endswith("<!-- end generated: site-bill -->\nafter\n")


def test_relative_links_of_the_docs_resolve():
    broken = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert not broken, broken
