"""The two software stacks (config ``software: paper | current``, docs/software.md) as the workflow sees them: each
rule's conda env and container image, what a site needs to run a stack, and the deployment methods the workflow
honours. The API differences between the stacks' libraries live in m1repro/compat.py, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

KINDS = ("data", "inference", "train", "report")
IMAGE_SUFFIX = ".sif"
# The official SGLang images (Docker Hub lmsysorg/sglang), the bases of containers/inference.def. paper: the CUDA 12.4
# image of the pinned release (tag v<version>-cu124, used as such in public deployments of 0.4.3.post2). current: the
# plain release tag, which is the CUDA 13 build from 0.5.11 on (sglang PR 10671 set the v<version> scheme); that
# v0.5.23 tag itself could not be confirmed from here (docs/software.md).
SGLANG_IMAGES = {"paper": "lmsysorg/sglang:v0.4.3.post2-cu124", "current": "lmsysorg/sglang:v0.5.23"}


@dataclass(frozen=True)
class Stack:
    name: str
    libraries: dict[str, str]  # library -> version in the envs (the original's for `paper`)
    python: str
    cuda: str
    driver: str  # the oldest NVIDIA driver branch for the CUDA of the builds
    glibc: str  # the oldest glibc of the compute nodes
    generations: tuple[str, ...]  # GPU generations its CUDA builds run on
    note: str


STACKS = {
    "paper": Stack(
        name="paper",
        libraries={
            "torch": "2.5.1 (CUDA 12.4)",
            "transformers": "4.48.3",
            "trl": "0.15.2",
            "datasets": "3.4.0",
            "accelerate": "1.5.2",
            "openai": "1.66.3",
            "rapidfuzz": "3.12.2",
            "sglang": "0.4.3.post2 (flashinfer cu124/torch2.5)",
            "deepspeed": "0.16.4",
        },
        python="3.11 (the original: 3.10)",
        cuda="12.4",
        driver=">= 550",
        glibc=">= 2.28 (RHEL/Rocky 8)",
        generations=("volta", "turing", "ampere", "ada", "hopper"),
        note="the original's versions; CUDA 12.4 builds have no Blackwell kernels",
    ),
    "current": Stack(
        name="current",
        libraries={
            "torch": "2.13.0 / 2.14.1 with sglang (CUDA 13)",
            "transformers": "5.23.0 / 5.19.0 with sglang",
            "trl": "1.16.0",
            "datasets": "5.2.0",
            "accelerate": "1.15.0",
            "openai": "3.54.0",
            "rapidfuzz": "3.14.6",
            "sglang": "0.5.23",
            "deepspeed": "0.19.8",
        },
        python="3.11",
        cuda="13",
        driver=">= 580",
        glibc=">= 2.34 (RHEL/Rocky 9, Ubuntu 22.04, Debian 12)",
        generations=("turing", "ampere", "ada", "hopper", "blackwell"),
        note="today's versions; CUDA 13 dropped Volta (V100) and older",
    ),
}

# GPU names (the site's gpu_type, a row of throughput.gpus) -> generation, by the model number's family.
_GENERATIONS = (
    (r"^(GB|B)\d|RTX ?50\d\d|RTX PRO", "blackwell"),
    (r"^(GH|H)\d", "hopper"),
    (r"^L\d|RTX ?40\d\d|ADA", "ada"),
    (r"^A\d|RTX ?30\d\d", "ampere"),
    (r"^T4|RTX ?20\d\d|QUADRO RTX", "turing"),
    (r"^V\d", "volta"),
    (r"^P\d", "pascal"),
)


def stack(name: str) -> Stack:
    if name not in STACKS:
        raise ValueError(f"unknown software stack {name!r}; known: {', '.join(STACKS)}")
    return STACKS[name]


def env_file(name: str, kind: str, base: str = "..") -> str:
    """A rule's conda env for the stack, relative to the rule files (``rules/``): ``../envs/<stack>/<kind>.yaml``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of work {kind!r}; known: {', '.join(KINDS)}")
    return f"{base}/envs/{stack(name).name}/{kind}.yaml"


def image_file(name: str, kind: str, image_dir: str) -> str:
    """A rule's Apptainer image for the stack: ``<image_dir>/<stack>/<kind>.sif``, built from containers/<kind>.def
    (``make containers``, docs/software.md)."""
    env_file(name, kind)  # validates both names
    return f"{image_dir.rstrip('/')}/{name}/{kind}{IMAGE_SUFFIX}"


def gpu_generation(gpu_type: str) -> str | None:
    """The generation of a GPU name (H100 -> hopper, A100-80GB -> ampere, V100 -> volta), or None if unknown."""
    name = gpu_type.strip().upper().removeprefix("NVIDIA ").removeprefix("TESLA ")
    for pattern, generation in _GENERATIONS:
        if re.search(pattern, name):
            return generation
    return None


def site_warnings(name: str, gpu_type: str) -> list[str]:
    """What makes the site's GPUs unable to run the stack's CUDA builds (empty when they can, or are unknown)."""
    s = stack(name)
    generation = gpu_generation(gpu_type)
    if generation is None or generation in s.generations:
        return []
    other = [o for o in STACKS.values() if o.name != name and generation in o.generations]
    hint = f" Use `software: {other[0].name}` (--config software={other[0].name})." if other else ""
    return [
        f"the site's gpu_type {gpu_type} ({generation}) cannot run the `{name}` software stack: its CUDA "
        f"{s.cuda} builds run on {', '.join(s.generations)} GPUs ({s.note}).{hint}"
    ]


def plan_header(name: str, gpu_type: str) -> list[str]:
    """The lines that open results/plan.md: the stack, its versions and what the site needs to run it."""
    s = stack(name)
    libs = ", ".join(f"{lib} {v}" for lib, v in s.libraries.items())
    lines = [
        f"Software: `{s.name}` ({s.note}): {libs}.",
        f"Site needs: NVIDIA driver {s.driver} (CUDA {s.cuda}), glibc {s.glibc}, "
        f"{'/'.join(s.generations)} GPUs, Python {s.python}.",
    ]
    lines += [f"**Warning**: {w}" for w in site_warnings(name, gpu_type)]
    return lines + [""]


# ---- deployment methods -------------------------------------------------------------------------------------------
def deployment_problems(
    methods: Iterable[str],
    images: Iterable[str],
    which: Callable[[str], str | None],
    exists: Callable[[str], bool] = lambda p: Path(p).exists(),
    host_python: bool = False,
) -> list[str]:
    """Why the workflow cannot honour the deployment methods asked for (``conda``, ``apptainer``, ``env-modules``),
    given the local images the jobs to run use; empty when it can. Every rule has a conda env and an image, and no
    rule names an environment module, so ``env-modules`` would run every job outside any environment (accepted only
    with ``host_python``: the config says the submitting Python has every package, config ``jobs_in_host_python``)."""
    methods = set(methods)
    problems = []
    if "env-modules" in methods and not host_python:
        problems.append(
            "--software-deployment-method env-modules: no rule of this workflow names an environment module, so every "
            "job would run outside its environment. Use conda (envs/) or apptainer (containers/), or a profile "
            "without a deployment method where this Python has every package the jobs need (profiles/tiny)."
        )
    if "apptainer" in methods:
        if not (which("apptainer") or which("singularity")):
            problems.append(
                "--software-deployment-method apptainer: neither apptainer nor singularity is on the PATH "
                "(module load apptainer?)."
            )
        missing = sorted({i for i in images if "://" not in i and not exists(i)})
        if missing:
            problems.append(
                f"--software-deployment-method apptainer: the images {', '.join(missing)} are not built; build them "
                "once on a machine with apptainer (make containers SOFTWARE=<stack>, docs/software.md) or point "
                "`container_images` at the site's copies."
            )
    return problems
