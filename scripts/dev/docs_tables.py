#!/usr/bin/env python3
"""Numbers in the docs that the code computes, kept true. A block of a Markdown file between

    <!-- generated: NAME -->
    ...
    <!-- end generated: NAME -->

is the output of ``GENERATORS[NAME]`` (this file). tests/test_docs.py fails while a block differs from what its
generator gives now; after a change to the code or the config behind it, rewrite the blocks:

    python3 scripts/dev/docs_tables.py            # lists the stale blocks (exit status 1 if any)
    python3 scripts/dev/docs_tables.py --write    # rewrites them in place
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # runs from a bare checkout

BLOCK = re.compile(
    r"(?P<head><!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<tail><!-- end generated: (?P=name) -->)", re.S
)


def _num(x: float | None, digits: int = 0) -> str:
    """A table cell: thousands separators, blank for nothing (a GPU stage costs no dollars, an API stage no GPU)."""
    return f"{x:,.{digits}f}" if x else ""


def site_bill() -> str:
    """The bill of the paper's configuration on the shipped site file, per stage (docs/site.md)."""
    import polars as pl

    from m1repro import plan
    from m1repro.config import load_config
    from m1repro.site import load_site

    df = plan.plan_frame(load_config(REPO / "config" / "config.yaml"), load_site())
    jobs = df.filter(pl.col("job") != "total")
    lines = [
        "| stage | jobs | GPU-hours estimated | GPU-hours reserved | USD (upper bound) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in df.filter(pl.col("job") == "total").iter_rows(named=True):
        n = jobs.height if r["stage"] == "all" else jobs.filter(pl.col("stage") == r["stage"]).height
        cells = [r["stage"], str(n), _num(r["gpu_hours_estimated"]), _num(r["gpu_hours_reserved"]), _num(r["usd"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {"site-bill": site_bill}


def doc_files(root: Path = REPO) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks(text: str) -> list[re.Match[str]]:
    return list(BLOCK.finditer(text))


def stale(root: Path = REPO) -> list[tuple[Path, str, str, str]]:
    """(file, block name, text in the file, text generated now) for every block that differs."""
    out = []
    for path in doc_files(root):
        for m in blocks(path.read_text(encoding="utf-8")):
            want = GENERATORS[m["name"]]()
            if m["body"] != want:
                out.append((path, m["name"], m["body"], want))
    return out


def rewrite(root: Path = REPO) -> list[Path]:
    changed = []
    for path in doc_files(root):
        text = path.read_text(encoding="utf-8")
        new = BLOCK.sub(lambda m: m["head"] + GENERATORS[m["name"]]() + m["tail"], text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="rewrite the stale blocks in place")
    a = p.parse_args(argv)
    if a.write:
        for path in rewrite():
            print(f"rewrote {path.relative_to(REPO)}")
        return 0
    found = stale()
    for path, name, _, _ in found:
        print(f"stale: {path.relative_to(REPO)} block {name!r} (python3 scripts/dev/docs_tables.py --write)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
