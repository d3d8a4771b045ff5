"""Helpers for tests that look at the workflow itself: its rules (Snakemake API), its DAG (dry runs), a copy of it."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@dataclass
class DryJob:
    """One job of a dry run, as Snakemake prints it."""

    rule: str
    local: bool
    wildcards: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def res_int(self, name: str, default: int = 0) -> int:
        return int(self.resources.get(name, default))


_HEAD = re.compile(r"^(localrule|rule) ([A-Za-z0-9_]+):$")


def parse_dry_run(text: str) -> list[DryJob]:
    jobs: list[DryJob] = []
    cur: DryJob | None = None
    for line in text.splitlines():
        m = _HEAD.match(line)
        if m:
            cur = DryJob(rule=m.group(2), local=m.group(1) == "localrule")
            jobs.append(cur)
            continue
        if cur is None or not line.startswith("    ") or ": " not in line:
            cur = None if not line.startswith("    ") else cur
            continue
        key, _, value = line.strip().partition(": ")
        if key == "wildcards":
            cur.wildcards = dict(kv.split("=", 1) for kv in value.split(", "))
        elif key == "resources":
            cur.resources = dict(kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
        elif key == "output":
            cur.output = value.split(", ")
    return jobs


def run_snakemake(
    args: list[str], cwd: Path, timeout: float = 300, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def dry_run(args: list[str], cwd: Path = REPO) -> list[DryJob]:
    """The jobs Snakemake would run (``-n``), quietly if there are none."""
    proc = run_snakemake(["-n", "--cores", "1", *args], cwd)
    return parse_dry_run(proc.stdout + proc.stderr)


def job_counts(jobs: list[DryJob]) -> dict[str, int]:
    return dict(Counter(j.rule for j in jobs))


def copy_checkout(dest: Path) -> Path:
    """The checkout as git would ship it (tracked and untracked, not ignored files), without outputs or state."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    dest.mkdir(parents=True, exist_ok=True)
    for rel in filter(None, files):
        src = REPO / rel
        if not src.is_file() and not src.is_symlink():
            continue  # deleted in the work tree but still tracked
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    return dest


def cli_config(configfile: str, *config_args: str) -> dict[str, Any]:
    """The configuration the Snakefile resolves for ``--configfile configfile --config ARGS...``: the arguments
    parsed by Snakemake's own command line code, the workflow loaded with the Snakemake API (no DAG, no jobs)."""
    from snakemake.api import SnakemakeApi
    from snakemake.cli import parse_config
    from snakemake.settings.types import (
        ConfigSettings,
        DeploymentSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(enable_file_logging=False)) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / configfile], config=parse_config(list(config_args))),
            storage_settings=StorageSettings(),
            deployment_settings=DeploymentSettings(),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )
        return dict(wf._workflow.config)


def load_rules(configfile: str) -> tuple[Any, ...]:
    """The workflow's rules for one config file, loaded with the Snakemake API (no DAG, no jobs)."""
    return load_workflow(configfile)[0]


def local_rules(configfile: str) -> frozenset[str]:
    """Names of the rules that run on the submitting (login) node under a cluster executor."""
    return load_workflow(configfile)[1]


@lru_cache(maxsize=4)
def load_workflow(configfile: str) -> tuple[tuple[Any, ...], frozenset[str]]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DeploymentSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(enable_file_logging=False)) as api:  # no .snakemake/log in the checkout
        wf = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / configfile]),
            storage_settings=StorageSettings(),
            deployment_settings=DeploymentSettings(),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )
        w = wf._workflow
        return tuple(w.rules), frozenset(w._localrules)


# ---- sbatch lines as the SLURM executor plugin renders them -----------------------------------------------------
class PluginResources(dict):
    """Snakemake's job.resources as the plugin reads it: .get() and attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclasses.dataclass
class PluginJob:
    resources: PluginResources
    threads: int = 1
    name: str = "job"

    def is_group(self) -> bool:
        return False


def sbatch(res: dict[str, Any], logfile: str = "log") -> str:
    """The plugin's own sbatch line for a job with these resources (its account and partition arguments are
    built as its get_account_arg/get_partition_arg do for a given slurm_account/slurm_partition)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = PluginJob(PluginResources(res))
    params = {
        "run_uuid": "u",
        "slurm_logfile": logfile,
        "comment_str": "c",
        "workdir": None,
        "account": f" -A {shlex.quote(res['slurm_account'])}" if res.get("slurm_account") else "",
        "partition": f" -p {shlex.quote(res['slurm_partition'])}",
    }
    return get_submit_command(job, params) + set_gres_string(job)
