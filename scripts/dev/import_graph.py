#!/usr/bin/env python3
"""The import graph of the ``m1repro`` package, read with ``ast`` (nothing is imported): its circles and its deferred
imports (imports of the package's own modules inside a function or method).

    python3 scripts/dev/import_graph.py            # summary: lines, deferred imports, circles
    python3 scripts/dev/import_graph.py --verbose  # and every deferred import with its place
    python3 scripts/dev/import_graph.py --check    # exit status 1 if there is a circle

Imports under ``if TYPE_CHECKING:`` are not edges (they never run). A circle is a strongly connected component of
the graph of all runtime imports, module-level and deferred alike: a deferred import only postpones the circle.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "m1repro"


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module of the package
    line: int
    deferred: bool  # inside a function or method


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``root``."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement below ``node`` with whether it sits in a function; TYPE_CHECKING blocks skipped."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield from _walk(sub, in_function)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The package-internal imports of one module, resolved to module names (``from pkg import mod`` -> pkg.mod)."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node, deferred in _walk(ast.parse(path.read_text(), str(path)), False):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        for t in dict.fromkeys(targets):
            while t and t not in modules:  # `import m1repro.x.y` names a module; keep the deepest that exists
                t = t.rpartition(".")[0]
            if t and t != module and (t == PACKAGE or t.startswith(PACKAGE + ".")):
                out.append(Import(module, t, node.lineno, deferred))
    return out


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one module (or a module importing itself), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                comps.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps, key=lambda c: (-len(c), c))


def shortest_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One shortest circle through the component's first module (breadth-first inside the component)."""
    start, inside = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ()) & inside):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def analyse(root: Path = REPO) -> dict:
    modules = module_names(root)
    imports = [i for m, p in modules.items() for i in imports_of(m, p, modules)]
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        graph[i.source].add(i.target)
    circles = strongly_connected(graph)
    return {
        "modules": len(modules),
        "lines": sum(len(p.read_text().splitlines()) for p in modules.values()),
        "imports": imports,
        "deferred": [i for i in imports if i.deferred],
        "circles": circles,
        "cycles": [shortest_cycle(graph, c) for c in circles],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true", help="list every deferred import")
    p.add_argument("--check", action="store_true", help="exit status 1 if the graph has a circle")
    a = p.parse_args(argv)
    r = analyse()
    print(f"{r['modules']} modules, {r['lines']} lines")
    print(f"{len(r['imports'])} package-internal imports, {len(r['deferred'])} deferred (inside a function)")
    if a.verbose:
        for i in r["deferred"]:
            print(f"  {i.source}:{i.line} -> {i.target}")
    print(f"{len(r['circles'])} circle(s)")
    for comp, cyc in zip(r["circles"], r["cycles"]):
        print(f"  {len(comp)} modules: {', '.join(comp)}")
        print(f"    e.g. {' -> '.join(cyc)}")
    return 1 if a.check and r["circles"] else 0


if __name__ == "__main__":
    sys.exit(main())
