"""Progress of long engine jobs (prediction, difficulty): finished batches kept outside the job's output, and a meter
that logs how far a job is.

Snakemake deletes the output of a failed job, and a job killed at its time limit, preempted or cancelled has no
output yet, so a job's finished batches live under ``cache/progress/<job>/<key>/`` instead. The key is the job's
identity (:func:`job_key`: its params, the content of the items it works on, the weights it loads, the code that
computes the batch), so a rerun of the very same job (``retries`` of the profile, or a rerun after a kill) takes up
where it stopped and any change of what a batch would compute starts afresh. Each batch is written atomically
(:mod:`m1repro.io`): a batch is either complete or absent. The job removes its progress once its output is in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from m1repro.io import atomic_open
from m1repro.log import log_event

PROGRESS_ROOT = Path("cache/progress")
PACKAGE = Path(__file__).resolve().parent
# A meter logs after the first and the last batch, and in between at most this often (a batch of the original's 1,024
# prompts takes minutes on a GPU; a tiny CPU batch a second).
LOG_EVERY_S = 60.0


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def files_digest(paths: Iterable[str | Path]) -> str:
    """The identity of files and directories as a job sees them: every file's path, size and modification time (a
    retrained model or a re-fetched snapshot is a new file; reading gigabytes of weights to hash them is not needed)."""
    parts: list[bytes] = []
    for top in map(Path, paths):
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for f in files:
            st = f.stat()
            parts.append(f"{f}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return _digest(parts)


def code_digest(relpaths: Iterable[str]) -> str:
    """The content of the package's source files (paths relative to the package) that compute a batch."""
    parts: list[bytes] = []
    for rel in sorted(relpaths):
        target = PACKAGE / rel
        for f in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            parts += [str(f.relative_to(PACKAGE)).encode(), f.read_bytes()]
    return _digest(parts)


def job_key(**parts: Any) -> str:
    """A short stable key of JSON-able parts (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class BatchStore:
    """The finished batches of one job: ``<root>/<job>/<key>/batch-<i>.<suffix>``, each written atomically."""

    def __init__(self, job: str, key: str, root: str | Path = PROGRESS_ROOT, suffix: str = "jsonl"):
        self.job_dir = Path(root) / job
        self.dir = self.job_dir / key
        self.suffix = suffix

    def path(self, i: int) -> Path:
        return self.dir / f"batch-{i:06d}.{self.suffix}"

    def get(self, i: int) -> str | None:
        """The stored text of batch ``i``, or None when it is not done."""
        p = self.path(i)
        return p.read_text(encoding="utf-8") if p.is_file() else None

    def put(self, i: int, text: str) -> None:
        with atomic_open(self.path(i)) as fh:
            fh.write(text)

    def done(self) -> int:
        return len(list(self.dir.glob(f"batch-*.{self.suffix}"))) if self.dir.is_dir() else 0

    def clear(self) -> None:
        """Remove this job's progress, that of earlier keys included (the output now holds the work)."""
        shutil.rmtree(self.job_dir, ignore_errors=True)


class Meter:
    """Logs batches and items done, generated tokens per second and an estimated end, after the first and the last
    batch and at most every ``every_s`` seconds in between. Batches taken from a previous attempt count as done but
    not in the rate."""

    def __init__(
        self,
        logger: logging.Logger,
        batches: int,
        items: int,
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.time,
        **fields: Any,
    ):
        self.logger, self.batches, self.items, self.every_s, self.clock = logger, batches, items, every_s, clock
        self.fields = fields
        self.t0 = clock()
        self.t_work: float | None = None  # when this attempt began computing (after loading the model)
        self.last_log: float | None = None
        self.batches_done = self.items_done = 0
        self.items_now = self.tokens_now = 0  # computed in this attempt

    def begin_batch(self) -> None:
        """A batch is about to be computed: the rate counts from the first one (a model load is not work)."""
        if self.t_work is None:
            self.t_work = self.clock()

    def update(self, items: int, tokens: int = 0, resumed: bool = False) -> None:
        """One more batch of ``items`` done (``tokens`` generated for it; ``resumed``: taken from an earlier attempt)."""
        self.batches_done += 1
        self.items_done += items
        if not resumed:
            self.items_now += items
            self.tokens_now += tokens
        now = self.clock()
        due = self.last_log is None or now - self.last_log >= self.every_s or self.batches_done == self.batches
        if due:
            self.last_log = now
            log_event(self.logger, "progress", **self.figures(now))

    def figures(self, now: float) -> dict[str, Any]:
        elapsed = max(now - self.t0, 1e-9)
        working = max(now - (self.t_work if self.t_work is not None else self.t0), 1e-9)
        out: dict[str, Any] = {
            **self.fields,
            "batches_done": self.batches_done,
            "batches": self.batches,
            "items_done": self.items_done,
            "items": self.items,
            "resumed_items": self.items_done - self.items_now,
            "elapsed_s": round(elapsed, 1),
            "tokens_per_s": round(self.tokens_now / working, 1),
        }
        left = self.items - self.items_done
        if self.items_now:
            eta = now + left * working / self.items_now
            out["eta"] = datetime.fromtimestamp(eta, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return out
