"""The SLURM site, described once (the profile's ``site.yaml``): partitions and their time limits, account, QOS,
reservation, extra sbatch flags, the shape of a GPU node. Every job's request is derived from it by
:mod:`m1repro.resources` (docs/site.md).

* :func:`site_file`: which file (the config's ``site``, else the one next to ``--profile``, else the shipped one).
* :func:`load_site`: read with the config's strict YAML loader and validated; a key given twice, an unknown key, a
  missing key or impossible numbers are a :class:`SiteError` that names the file and says what is wrong.
* ``python -m m1repro.site detect > site.yaml`` (:func:`detect`): a site file from ``sinfo``, ``scontrol show
  node`` and ``sacctmgr`` on a login node.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from m1repro import REPO
from m1repro.io import InputError, read_yaml

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


# ---- writing the site file from the cluster: python -m m1repro.site detect > site.yaml --------------------------

# GPU names as sites write them (gres types, node features) -> rows of the config's throughput.gpus, most specific first
GPU_NAMES = (
    ("h200", "H200"),
    ("h100", "H100"),
    ("a100_40", "A100-40GB"),
    ("a100-40", "A100-40GB"),
    ("a100", "A100-80GB"),
    ("l40s", "L40S"),
    ("v100", "V100-32GB"),
)
UNLIMITED_MIN = 7 * 24 * 60  # what to ask where a partition has no time limit


@dataclass(frozen=True)
class Node:
    """One node as ``scontrol show node -o`` describes it."""

    name: str
    cpus: int
    mem_mb: int  # RealMemory minus MemSpecLimit: what jobs can get
    gpus: int
    gres_type: str | None  # gpu:<type>:N
    features: tuple[str, ...]
    partitions: tuple[str, ...]


def parse_nodes(text: str) -> list[Node]:
    """``scontrol show node -o`` (one line of key=value per node)."""
    out = []
    for line in text.splitlines():
        kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "NodeName" not in kv:
            continue
        gpus, gtype = 0, None
        for gres in kv.get("Gres", "").split(","):
            parts = gres.split("(")[0].split(":")
            if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
                gpus += int(parts[-1])
                gtype = parts[1] if len(parts) == 3 else gtype
        features = tuple(f for f in kv.get("AvailableFeatures", "").split(",") if f and f != "(null)")
        out.append(
            Node(
                name=kv["NodeName"],
                cpus=int(kv.get("CPUTot", "1")),
                mem_mb=int(kv.get("RealMemory", "1")) - int(kv.get("MemSpecLimit", "0") or 0),
                gpus=gpus,
                gres_type=gtype,
                features=features,
                partitions=tuple(p for p in kv.get("Partitions", "").split(",") if p),
            )
        )
    return out


def parse_time_limit(text: str) -> int | None:
    """Minutes of a SLURM time limit (``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS``, ``MM``); None when unlimited."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days, _, rest = text.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    h, m, s = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)


def parse_partitions(text: str) -> list[tuple[str, bool, int | None]]:
    """``sinfo -h -o '%P|%l'``: (partition, is the default, time limit in minutes or None), each once."""
    out: dict[str, tuple[str, bool, int | None]] = {}
    for line in text.splitlines():
        if "|" not in line:
            continue
        name, limit = line.split("|")[:2]
        default = name.endswith("*")
        out.setdefault(name.rstrip("*"), (name.rstrip("*"), default, parse_time_limit(limit)))
    return list(out.values())


def _gpu_type(names: Sequence[str]) -> str | None:
    for name in names:
        low = name.lower()
        for key, row in GPU_NAMES:
            if key in low:
                return row
    return None


def detect(
    sinfo: str, nodes_text: str, default_account: str = "", assoc: str = "", gpu_mem: Mapping[str, float] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A site (a mapping for ``site.yaml``) from the outputs of ``sinfo -h -o '%P|%l'``, ``scontrol show node -o``,
    ``sacctmgr -n -P show user $USER format=defaultaccount`` and ``sacctmgr -n -P show assoc user=$USER
    format=account,qos``; and notes on what to check by hand. ``gpu_mem``: GB per throughput row."""
    parts = parse_partitions(sinfo)
    nodes = parse_nodes(nodes_text)
    notes: list[str] = []
    with_gpus = {p for n in nodes if n.gpus for p in n.partitions}
    without = [p for p, _, _ in parts if p not in with_gpus]
    default = next((p for p, d, _ in parts if d), parts[0][0] if parts else "cpu")
    cpu_partition = without[0] if without else default
    gpu_parts = [(p, lim) for p, _, lim in parts if p in with_gpus and (p != cpu_partition or len(with_gpus) == 1)]
    if not gpu_parts:
        raise SiteError("detect: no partition has nodes with GPUs (scontrol show node: Gres=gpu:...)")
    gpu_nodes = [n for n in nodes if n.gpus and set(n.partitions) & {p for p, _ in gpu_parts}]
    limits = {p: lim or UNLIMITED_MIN for p, lim in gpu_parts}
    if any(lim is None for _, lim in gpu_parts):
        notes.append(f"a GPU partition has no time limit: {UNLIMITED_MIN} min is asked at most; lower it if you like")
    gtypes = sorted({n.gres_type for n in gpu_nodes if n.gres_type})
    features = sorted({f for n in gpu_nodes for f in n.features})
    gpu_type = _gpu_type(gtypes) or _gpu_type(features)
    if len({n.gpus for n in gpu_nodes}) > 1 or len(gtypes) > 1:
        notes.append(
            "the GPU nodes differ (GPUs or types): the smallest is described; check gpus_per_node and gpu_type"
        )
    site: dict[str, Any] = {"cpu_partition": cpu_partition}
    if len(limits) == 1:
        site["gpu_partition"] = next(iter(limits))
    else:
        site["gpu_partition"] = dict(sorted(limits.items(), key=lambda kv: kv[1]))
    site["account"] = default_account.strip() or None
    qos = sorted({q for line in assoc.splitlines() if "|" in line for q in line.split("|")[1].split(",") if q})
    site["qos"] = None
    if [q for q in qos if q != "normal"]:
        notes.append(f"your associations allow the QOS {qos}: set qos (or gpu_qos) if a partition requires one")
    site["gpus_per_node"] = min(n.gpus for n in gpu_nodes)
    site["gpu_model"] = gtypes[0] if len(gtypes) == 1 else None
    site["gpu_constraint"] = None
    if not gtypes and gpu_type:
        site["gpu_constraint"] = next(f for f in features if _gpu_type([f]) == gpu_type)
    if gpu_type is None:
        notes.append(f"GPU type not recognised from {gtypes or features}: set gpu_type to a row of throughput.gpus")
    site["gpu_type"] = gpu_type or (gtypes or ["unknown"])[0]
    mem = (gpu_mem or {}).get(site["gpu_type"])
    if mem is None:
        notes.append("gpu_mem_gb is a guess (80): check nvidia-smi on a GPU node")
    site["gpu_mem_gb"] = mem or 80
    if gpu_type == "A100-80GB":
        notes.append("A100: the 80 GB model is assumed; with 40 GB GPUs set gpu_type: A100-40GB, gpu_mem_gb: 40")
    site["cpus_per_node"] = min(n.cpus for n in gpu_nodes)
    site["mem_mb_per_node"] = min(n.mem_mb for n in gpu_nodes)
    if len(limits) == 1:
        site["max_runtime_min"] = next(iter(limits.values()))
    return site, notes


def site_yaml(site: Mapping[str, Any], notes: Sequence[str]) -> str:
    """The site file's text: the detected values, then what to check."""
    import yaml

    head = [
        "# Written by `python -m m1repro.site detect` from sinfo, scontrol show node and sacctmgr (docs/site.md).",
        *(f"# CHECK: {n}" for n in notes),
        "",
    ]
    return "\n".join(head) + yaml.safe_dump(dict(site), sort_keys=False, default_flow_style=False)


def _run(*cmd: str) -> str:
    import subprocess

    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SiteError(f"detect: {cmd[0]} is not on the PATH: run this on a login node of the cluster") from None
    if done.returncode != 0:
        raise SiteError(f"detect: {' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


def detect_here() -> str:
    """Ask this cluster (sinfo, scontrol, sacctmgr) and return the site file's text."""
    import getpass

    user = os.environ.get("USER") or getpass.getuser()
    sinfo = _run("sinfo", "--noheader", "--format=%P|%l")
    nodes = _run("scontrol", "show", "node", "--oneliner")
    try:
        account = _run("sacctmgr", "-n", "-P", "show", "user", user, "format=defaultaccount")
        assoc = _run("sacctmgr", "-n", "-P", "show", "assoc", f"user={user}", "format=account,qos")
    except SiteError:  # no accounting database: no account to name
        account, assoc = "", ""
    table = ((read_yaml(REPO / "config" / "config.yaml").get("throughput") or {}).get("gpus")) or {}
    mem = {row: v["mem_gb"] for row, v in table.items() if v.get("mem_gb")}
    return site_yaml(*detect(sinfo, nodes, account.splitlines()[0] if account.strip() else "", assoc, mem))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["detect"]:
        print("usage: python -m m1repro.site detect > site.yaml", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(detect_here())
    except SiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
