"""The SLURM site, described once (``profiles/slurm/site.yaml``): partitions, account, the shape of a GPU node and
the time limit. Every job's request is derived from it by :mod:`m1repro.resources` (docs/site.md).

A file with an unknown key, a missing key or impossible numbers is an :class:`SiteError` that names the file and
says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from m1repro.config import REPO, read_yaml
from m1repro.io import InputError

SCHEMA = REPO / "config" / "schemas" / "site.schema.yaml"
SITE_FILE = REPO / "profiles" / "slurm" / "site.yaml"

# Below these a site cannot run the workflow's GPU jobs: one SGLang scheduler or torchrun worker per GPU needs a
# CPU and ~8 GB of host memory (weights are staged through host memory when loading).
MIN_MEM_MB_PER_GPU = 8_000
MIN_GPU_MEM_GB = 8


class SiteError(ValueError):
    """A site file that cannot describe a usable site; the message names the file and the key."""


@dataclass(frozen=True)
class Site:
    cpu_partition: str
    gpu_partition: str
    gpus_per_node: int
    gpu_type: str
    gpu_mem_gb: float
    cpus_per_node: int
    mem_mb_per_node: int
    max_runtime_min: int
    account: str | None = None
    gpu_model: str | None = None
    gpu_constraint: str | None = None
    min_runtime_min: int = 15
    network_gb_s_per_gpu: float = 50.0
    shrink_small_jobs: bool = False
    source: str = "<dict>"

    @property
    def cpus_per_gpu(self) -> int:
        return self.cpus_per_node // self.gpus_per_node

    @property
    def mem_mb_per_gpu(self) -> int:
        return self.mem_mb_per_node // self.gpus_per_node


def _schema() -> dict[str, Any]:
    return read_yaml(SCHEMA)


def _schema_errors(data: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    out = []
    for err in sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.path) or "(top level)"
        out.append(f"{where}: {err.message}")
    return out


def _impossible(s: Site) -> list[str]:
    """Numbers that pass the schema but describe no real GPU node."""
    out = []
    if s.mem_mb_per_node < 1024 * s.gpus_per_node:
        out.append(
            f"mem_mb_per_node is {s.mem_mb_per_node} MB for {s.gpus_per_node} GPUs: the value is in MB "
            f"(512 GB is 512000)"
        )
    elif s.mem_mb_per_gpu < MIN_MEM_MB_PER_GPU:
        out.append(
            f"mem_mb_per_node {s.mem_mb_per_node} gives {s.mem_mb_per_gpu} MB per GPU; a GPU job needs at "
            f"least {MIN_MEM_MB_PER_GPU} MB of host memory per GPU"
        )
    if s.cpus_per_node < s.gpus_per_node:
        out.append(
            f"cpus_per_node ({s.cpus_per_node}) is less than gpus_per_node ({s.gpus_per_node}): every GPU "
            "process needs a CPU"
        )
    if s.gpu_mem_gb < MIN_GPU_MEM_GB:
        out.append(f"gpu_mem_gb is {s.gpu_mem_gb}: GPU memory is in GB (an H100 has 80); at least {MIN_GPU_MEM_GB}")
    elif s.gpu_mem_gb > 1024:
        out.append(
            f"gpu_mem_gb is {s.gpu_mem_gb}: GPU memory is in GB per GPU (an H100 has 80), not MB or a node total"
        )
    if s.min_runtime_min > s.max_runtime_min:
        out.append(f"min_runtime_min ({s.min_runtime_min}) exceeds max_runtime_min ({s.max_runtime_min})")
    return out


def site_from_dict(data: Any, source: str = "<dict>") -> Site:
    """A validated :class:`Site` from a parsed mapping (``source`` names it in errors)."""
    if not isinstance(data, dict):
        raise SiteError(f"{source}: a site file is a mapping of keys to values, got {type(data).__name__}")
    schema = _schema()
    known = set(schema["properties"])
    unknown = sorted(set(data) - known)
    if unknown:
        raise SiteError(f"{source}: unknown key(s) {unknown}; a site has {sorted(known)} (docs/site.md)")
    errors = _schema_errors(data, schema)
    if errors:
        raise SiteError(f"{source}: " + "; ".join(errors))
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    values = {**defaults, **data}
    names = {f.name for f in fields(Site)} - {"source"}
    site = Site(**{k: values[k] for k in names if k in values}, source=source)
    problems = _impossible(site)
    if problems:
        raise SiteError(f"{source}: impossible site: " + "; ".join(problems))
    return site


def load_site(path: str | Path = SITE_FILE) -> Site:
    """Read and validate a site file (default ``profiles/slurm/site.yaml``) with the config's strict loader: a key
    given twice, a syntax error or a missing file is a :class:`SiteError` naming the file (and the line)."""
    path = Path(path)
    if not path.is_file():
        raise SiteError(f"{path}: no site file; copy profiles/slurm/site.yaml and describe your site")
    try:
        data = read_yaml(path)
    except InputError as e:
        raise SiteError(str(e)) from None
    return site_from_dict(data, str(path))
