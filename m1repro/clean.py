"""``make clean-demo``: delete exactly what one configuration's run wrote, and nothing else.

By default the configuration is the tiny demo's (``--profile profiles/tiny report_all``); any Snakemake arguments
that name a configuration and targets may be given instead. Snakemake says what the run writes: the jobs of that
configuration's DAG for those targets, each with its outputs (directories too), logs and benchmark file, and
Snakemake's records of those outputs (metadata, incomplete markers). Added to that: the trainer checkpoints of the
DAG's training runs (``{train.checkpoint_root}/{run}``, kept outside the outputs on purpose; the tiny config has its
own root), and what a killed job leaves beside an output (:func:`m1repro.io.leftovers`).

The demo shares output paths with the paper run (``results/table1.csv``, ``results/eval/``, ``results/curate/``...).
So a job's existing outputs (and its logs) go only if Snakemake's record of them names the same rule and the same
params as this configuration's job; otherwise they are kept and listed (``--force`` removes them too). A job with no
output never finished: what it left (logs, checkpoints, temporary files) goes. Everything the DAG does not name
stays: the paper run's own results, the paid API caches under ``cache/api/``, its checkpoints, Snakemake's run logs
(``.snakemake/log``, which do not say which configuration wrote them). A path outside the working directory is never
touched, a symlink is removed and not followed, and nothing is removed while a Snakemake run holds the lock.

Snakemake interfaces: the CLI's argument parser (``snakemake.cli.parse_args``, so a profile reads as on the command
line) and the Python API (``SnakemakeApi``) are public. Listing a DAG's jobs with their files, reading one file's
record and dropping it have no public interface (``--delete-all-output`` keeps non-empty directories, logs and
benchmark files; ``--summary`` lists no benchmark files and no logs of jobs that never finished;
``--cleanup-metadata`` fails on an output without a record). So :func:`_dag` and :func:`job_files` use internals,
the ones ``--delete-all-output`` and ``--summary`` use themselves (Snakemake 9): ``Workflow._prepare_dag`` and
``_build_dag``, ``DAG.jobs``, a job's ``output``/``log``/``benchmark``/``params``/``wildcards``, and
``persistence.locked``/``metadata``/``params_changed``/``cleanup_metadata``. tests/test_clean_demo.py fails if
they change.

    python -m m1repro.clean [--dry-run] [--force] [SNAKEMAKE ARGS]   # default: --profile profiles/tiny report_all
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m1repro.io import leftovers
from m1repro.train.workflow import run_checkpoint_root

DEMO_ARGS = ("--profile", "profiles/tiny", "report_all")


@dataclass
class JobFiles:
    """What one job of the DAG writes, as paths relative to the working directory: ``outputs`` (Snakemake keeps a
    record of each) and ``other`` files and folders (logs, benchmark file, trainer checkpoints)."""

    rule: str
    outputs: list[str]
    other: list[str]
    written_here: bool  # no output exists, or Snakemake's record says this configuration's job wrote them
    why_not: str = ""

    def paths(self) -> list[str]:
        return self.outputs + self.other


@dataclass
class Plan:
    remove: list[str] = field(default_factory=list)  # existing paths, leftovers included
    kept: list[str] = field(default_factory=list)  # "path: why" for what the DAG names but another run wrote
    outputs: list[Any] = field(default_factory=list)  # Snakemake's output objects whose records go too


class CleanError(RuntimeError):
    pass


@contextmanager
def _dag(snakemake_args: Sequence[str]) -> Iterator[Any]:
    """The Snakemake workflow object with its DAG built for ``snakemake_args`` (a profile, config files, targets)."""
    from snakemake.api import SnakemakeApi
    from snakemake.cli import parse_args, parse_config
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        DeploymentSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    _, args = parse_args(list(snakemake_args))
    workdir = Path(args.directory or ".").resolve()
    snakefile = Path(args.snakefile) if args.snakefile else workdir / "Snakefile"
    quiet = {Quietness.PROGRESS, Quietness.RULES}
    with SnakemakeApi(OutputSettings(quiet=quiet, enable_file_logging=False)) as api:  # no run log of its own
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(
                configfiles=[Path(f) for f in args.configfile or []], config=parse_config(args.config or [])
            ),
            storage_settings=StorageSettings(),
            deployment_settings=DeploymentSettings(),
            snakefile=snakefile,
            workdir=workdir,
        )
        dag_api = workflow_api.dag(dag_settings=DAGSettings(targets=set(args.targets or [])))
        # Internal (see the module docstring): what Workflow.delete_output does before DAG.clean.
        workflow = dag_api.workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        yield workflow


def job_files(workflow: Any, job: Any) -> JobFiles:
    """A job's outputs, logs, benchmark file and trainer checkpoints, and whether this configuration wrote them.

    The demo shares paths with the paper run (``results/table1.csv``, ``results/eval/``, ``results/curate/``...), so
    an existing output is this configuration's only if Snakemake's record of it names the same rule and the same
    params; a job none of whose outputs exists never finished here, and what it left (logs, checkpoints) goes."""
    other = [str(f) for f in job.log] + ([str(job.benchmark)] if job.benchmark else [])
    if "checkpoints" in job.params.keys():  # a training run: its trainer checkpoints, every spec of the run
        other.append(run_checkpoint_root(workflow.config, job.wildcards.run))
    files = JobFiles(job.rule.name, [str(f) for f in job.output], other, written_here=True)
    existing = [f for f in job.output if os.path.lexists(f)]
    if existing:
        persistence = workflow.persistence
        record = persistence.metadata(existing[0])
        if record is None:
            files.why_not = "Snakemake has no record of it (written by hand, or its records were deleted)"
        elif record.rule != job.rule.name:
            files.why_not = f"Snakemake's record says rule {record.rule} wrote it"
        elif persistence.params_changed(job, file=existing[0]):
            files.why_not = "written with other params (another configuration, or an older version of this one)"
        files.written_here = not files.why_not
    return files


def _inside(path: str) -> bool:
    """A relative path that stays in the working directory."""
    p = Path(path)
    return not p.is_absolute() and ".." not in p.parts and p.parts != ()


def _remove(path: Path) -> None:
    """Remove a file, a link (not followed) or a tree. Protected outputs (a trained model, paid API answers) are
    read-only, and a read-only folder's entries cannot be removed: the tree's folders get their owner's write bit
    back first."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    for folder, _, _ in os.walk(path):
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IWUSR)
    shutil.rmtree(path)


def _prune_empty_parents(paths: Sequence[Path], workdir: Path) -> None:
    """Remove folders left empty by the removal, up to (not including) the working directory."""
    for d in sorted({p.parent for p in paths}, key=lambda p: len(p.parts), reverse=True):
        while workdir in d.parents and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            d = d.parent


def plan(workflow: Any, force: bool = False) -> Plan:
    """What to remove (existing paths and their leftovers) and what to keep, over every job of the DAG; ``force``
    removes an output whatever its record says."""
    out = Plan()
    workdir = Path.cwd().resolve()  # Snakemake works in its working directory
    for job in workflow.dag.jobs:
        files = job_files(workflow, job)
        if not (files.written_here or force):
            out.kept += [f"{p}: {files.why_not}" for p in files.outputs if os.path.lexists(p)]
            continue
        for rel in files.paths():
            if not _inside(rel):
                out.kept.append(f"{rel}: outside {workdir}")
                continue
            out.remove += [str(q) for q in (Path(rel), *leftovers(rel)) if os.path.lexists(q)]
        out.outputs += [f for f in job.output if _inside(str(f))]
    out.remove = list(dict.fromkeys(out.remove))
    return out


def clean(snakemake_args: Sequence[str] = DEMO_ARGS, dry_run: bool = False, force: bool = False) -> Plan:
    """Remove what the DAG of ``snakemake_args`` wrote (see the module docstring) and Snakemake's records of it;
    returns the plan (removed, or with ``dry_run`` to be removed, and kept paths)."""
    with _dag(snakemake_args) as workflow:
        if workflow.persistence.locked:
            raise CleanError(
                f"{Path.cwd()} is locked by a running Snakemake (or by one that was killed: then run `snakemake "
                "--unlock` with the same arguments first); nothing was removed"
            )
        todo = plan(workflow, force)
        if dry_run:
            return todo
        for rel in todo.remove:
            if os.path.lexists(rel):  # a folder removed before may have held it
                _remove(Path(rel))
        for f in todo.outputs:  # Snakemake's records: metadata and incomplete markers
            workflow.persistence.cleanup_metadata(f)
        _prune_empty_parents([Path(rel).resolve() for rel in todo.remove], Path.cwd().resolve())
    return todo


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours = {"-n", "--dry-run", "--force", "--"}
    args = [a for a in argv if a not in ours] or list(DEMO_ARGS)
    dry_run = "-n" in argv or "--dry-run" in argv
    try:
        done = clean(args, dry_run=dry_run, force="--force" in argv)
    except CleanError as exc:
        print(f"clean: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if dry_run else "removed"
    for p in done.remove:
        print(f"{verb} {p}")
    for k in done.kept:
        print(f"kept {k}")
    print(
        f"clean: {verb} {len(done.remove)} path(s) written by `snakemake {' '.join(args)}`; kept {len(done.kept)} "
        "that the same paths name but another run wrote (--force removes those too)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
