"""File helpers shared by every stage.

Every output is written under a temporary name and renamed into place, so a job killed midway never leaves a
file that looks finished (Snakemake would otherwise take a half-written JSONL as complete on a rerun). The file gets
the mode a plain ``open`` would give it (``0o666`` less the umask), so on a shared cluster the group reads results as
the user's umask allows (``mkstemp`` alone would make every output ``0600``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, Any

import yaml


class InputError(ValueError):
    """Bad input, with the file, the record and the field that are wrong."""

    def __init__(self, path: str | Path, message: str, record: str | int | None = None, field: str | None = None):
        where = f"{path}"
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.record = record
        self.field = field


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """Keys written twice are an error; keys a merge (``<<: *anchor``, valid YAML) brings in may be overridden."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml(path: str | Path) -> Any:
    """A YAML file, strictly: a duplicate key or a syntax error is an InputError naming the file and the line."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark else None
        raise InputError(path, f"{exc.problem or exc}", record=where) from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except FileNotFoundError:
        raise InputError(path, "no such config file") from None


def current_umask() -> int:
    """The process umask: from /proc on Linux (no side effect); elsewhere by setting it and setting it back, which
    for an instant changes it for other threads too."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def partial_path(path: str | Path) -> Path:
    """Where a directory output is built before its rename into place (e.g. the trainer's final model)."""
    path = Path(path)
    return path.parent / f".{path.name}.partial"


def leftovers(path: str | Path) -> list[Path]:
    """What a killed writer of ``path`` can leave beside it: :func:`atomic_open`'s temporary files and the
    :func:`partial_path` directory."""
    path = Path(path)
    found = sorted(path.parent.glob(f".{glob_escape(path.name)}.*.part")) if path.parent.is_dir() else []
    return found + [p for p in (partial_path(path),) if p.exists() or p.is_symlink()]


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent, sort_keys=False)
        fh.write("\n")


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file; a broken line (bad JSON, not UTF-8) is an error naming the file and the line number."""
    rows: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    path, f"not UTF-8 text ({exc.reason}); save it as UTF-8", record=f"line {lineno}"
                ) from None
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON ({exc.msg})", record=f"line {lineno}") from exc
    return rows


def read_json(path: str | Path, object_pairs_hook: Any = None) -> Any:
    """Read a JSON file; bad JSON or bytes that are not UTF-8 are an error naming the file and the line.
    ``object_pairs_hook`` builds every object from its (key, value) pairs (e.g. to catch a key given twice)."""
    data = Path(path).read_bytes()
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=object_pairs_hook)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8", record=f"line {line}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON at line {exc.lineno} ({exc.msg})") from exc
