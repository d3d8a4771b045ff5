"""The SLURM site, described once (``profiles/slurm/site.yaml``): partitions, account, the shape of a GPU node and
the time limit. Every job's request is derived from it by :mod:`m1repro.resources` (docs/site.md).

A file with an unknown key, a missing key or impossible numbers is an :class:`SiteError` that names the file and
says what is wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
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
    shrink_small_jobs: bool = True
    qos: str | None = None
    gpu_qos: str | None = None
    reservation: str | None = None
    slurm_extra: str | None = None
    # every GPU partition with its time limit, shortest first (one entry unless gpu_partition is a mapping)
    gpu_partition_limits: tuple[tuple[str, int], ...] = ()
    source: str = "<dict>"

    def __post_init__(self) -> None:
        if not self.gpu_partition_limits:
            object.__setattr__(self, "gpu_partition_limits", ((self.gpu_partition, self.max_runtime_min),))

    def gpu_partition_for(self, runtime_min: int) -> str:
        """The GPU partition with the shortest limit that holds ``runtime_min`` (the longest one otherwise)."""
        for name, limit in self.gpu_partition_limits:
            if runtime_min <= limit:
                return name
        return self.gpu_partition

    @property
    def extra_sbatch(self) -> str:
        """The site's own sbatch flags for every job: ``slurm_extra`` and the reservation."""
        parts = [self.slurm_extra or "", f"--reservation={self.reservation}" if self.reservation else ""]
        return " ".join(p for p in parts if p)

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
    out += _forbidden_extra(s.slurm_extra)
    return out


def _forbidden_extra(extra: str | None) -> list[str]:
    """slurm_extra flags the SLURM executor plugin sets itself (its own list; it would reject the job)."""
    if not extra:
        return []
    try:
        from snakemake_executor_plugin_slurm.validation import get_forbidden_slurm_options
    except ImportError:  # planning without the plugin installed: the plugin checks at submission
        return []
    import re

    return [
        f"slurm_extra {extra!r} sets the {name}, which the SLURM plugin sets itself: use the site key for it "
        "(qos, gpu_constraint, account, partitions, ...)"
        for pattern, name in get_forbidden_slurm_options().items()
        if re.search(pattern, extra)
    ]


def _partitions(values: dict[str, Any], source: str) -> dict[str, Any]:
    """``gpu_partition`` as a mapping {partition: time limit}: the longest is ``gpu_partition`` and its limit
    ``max_runtime_min``; every one is a choice for GPU jobs by their time."""
    parts = values.get("gpu_partition")
    if not isinstance(parts, dict):
        if values.get("max_runtime_min") is None:
            raise SiteError(f"{source}: max_runtime_min is required (the GPU partition's time limit, sinfo -o '%P %l')")
        return values
    limits = tuple(sorted(((str(k), int(v)) for k, v in parts.items()), key=lambda kv: (kv[1], kv[0])))
    longest = limits[-1]
    if values.get("max_runtime_min") not in (None, longest[1]):
        raise SiteError(
            f"{source}: max_runtime_min {values['max_runtime_min']} but the longest limit of gpu_partition is "
            f"{longest[1]} ({longest[0]}): leave max_runtime_min out when gpu_partition lists the limits"
        )
    return {**values, "gpu_partition": longest[0], "max_runtime_min": longest[1], "gpu_partition_limits": limits}


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
    values = _partitions({**defaults, **data}, source)
    names = {f.name for f in fields(Site)} - {"source"}
    site = Site(**{k: values[k] for k in names if k in values}, source=source)
    problems = _impossible(site)
    if problems:
        raise SiteError(f"{source}: impossible site: " + "; ".join(problems))
    return site


# The site file the submitting process chose, passed on to the jobs it starts (sbatch --export=ALL, local jobs): a job
# re-parses the workflow and must size itself for the same site, although its command line has no --profile.
SITE_ENV = "M1REPRO_SITE"


def _profiles(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The profiles of a snakemake command line (``--profile X``, ``--profile=X``; else $SNAKEMAKE_PROFILE)."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--profile="):
            out.append(arg.split("=", 1)[1])
    return out or ([env["SNAKEMAKE_PROFILE"]] if env.get("SNAKEMAKE_PROFILE") else [])


def profile_dir(profile: str) -> Path | None:
    """A profile's directory as Snakemake looks it up (a path, or a name in the working directory,
    ~/.config/snakemake or /etc/xdg/snakemake)."""
    from snakemake.cli import get_profile_dir

    found = get_profile_dir(profile)
    return Path(found[0]).resolve() if found else None


def site_file(
    configured: str | None, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The site file of a run and whether the jobs must be told (it came from the profile): the config's ``site``
    when given; else the one the submitting process chose ($M1REPRO_SITE, in a job); else the ``site.yaml`` next to
    the last ``--profile`` that has one, so a copied profile reads its own; else ``profiles/slurm/site.yaml``."""
    argv = sys.argv if argv is None else argv
    env = os.environ if env is None else env
    if configured:
        return Path(configured), False
    if env.get(SITE_ENV):
        return Path(env[SITE_ENV]), False
    for profile in reversed(_profiles(argv, env)):
        where = profile_dir(profile)
        if where is not None and (where / "site.yaml").is_file():
            return where / "site.yaml", True
    return SITE_FILE, False


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
