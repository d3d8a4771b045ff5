"""Work longer than the site's time limit, in shards: consecutive runs of a part's items, one job each, merged into
the part's predictions before scoring (rule ``eval_merge``); likewise the difficulty filter's questions (rule
``curate_difficulty_merge``, :func:`difficulty_shards`).

* **Where a part is cut.** In the faithful budget mode only at multiples of ``eval.batch_size`` items from the part's
  start, so every batch is one of the original's batches of consecutive items (faithful "Wait" forcing depends on
  the batch, :mod:`m1repro.budget`); in the exact mode, whose results do not depend on the batch, anywhere.
* **How big a shard is.** As many items as fit the site's ``max_runtime_min`` by the planner's estimate
  (:func:`m1repro.resources.predict_job`), at most ``eval.items_per_shard`` when that is set; the part's items are
  spread evenly over the fewest shards. A part is planned from its expected size (``eval.max_items_per_dataset``,
  else the sources' known sizes); the last shard runs to the end of the part whatever its real size, so no item is
  ever left out, and a shard past the end is empty.
* **Merging.** A job writes its records variant by variant, items in order (:func:`m1repro.eval.run_job`); so does a
  batch. :func:`merge_lines` puts the lines of consecutive runs of items (batches, shards) back in that order, so
  the merged file is byte for byte the file one unsplit job writes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m1repro import cfgview
from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.io import atomic_open
from m1repro.log import log_event
from m1repro.site import Site
from m1repro.smk import RuleJob

logger = logging.getLogger(__name__)

END = "end"


@dataclass(frozen=True)
class Shard:
    """Items ``[start, stop)`` of a part (``stop`` None: to the part's end)."""

    start: int
    stop: int | None

    @property
    def name(self) -> str:
        return f"{self.start}-{END if self.stop is None else self.stop}"

    @classmethod
    def parse(cls, name: str) -> Shard:
        start, _, stop = name.partition("-")
        if not start.isdigit() or not (stop == END or stop.isdigit()):
            raise ValueError(f"not a shard name (start-stop or start-{END}): {name!r}")
        return cls(int(start), None if stop == END else int(stop))

    def select(self, items: Sequence[Any]) -> Sequence[Any]:
        return items[self.start : self.stop]


WHOLE = Shard(0, None)
SHARD_REGEX = rf"\d+-(\d+|{END})"


def cut(n_items: int, max_items: int | None, step: int) -> list[Shard]:
    """The fewest shards of at most ``max_items`` items (a multiple of ``step``) covering ``n_items``, balanced,
    every cut at a multiple of ``step``, the last one open-ended."""
    if max_items is None or n_items <= max_items:
        return [WHOLE]
    if max_items < step or max_items % step:
        raise ValueError(f"a shard of {max_items} items is not a multiple of the batch of {step}")
    k = math.ceil(n_items / max_items)
    size = math.ceil(math.ceil(n_items / k) / step) * step
    starts = list(range(0, n_items, size))
    return [Shard(s, e) for s, e in zip(starts, starts[1:])] + [Shard(starts[-1], None)]


def step(budget_mode: str, batch_size: int) -> int:
    """Where a part may be cut: at the original's batches (faithful) or anywhere (exact)."""
    return batch_size if budget_mode == "faithful" else 1


def max_items(cfg: Mapping[str, Any], site: Site, model: str, budget_mode: str, datasets: list[str]) -> int | None:
    """The most items of ``datasets`` one prediction job of ``model`` may take (a multiple of the cut step), or None
    when the whole part is one job; a :class:`m1repro.resources.PlanError` when not even one step fits the site."""

    def fits(items: int) -> bool:
        try:
            rsc.predict_job(cfg, site, model, datasets, items=items)
        except rsc.PlanError:
            return False
        return True

    unit = step(budget_mode, int(cfg["eval"]["batch_size"]))
    n = planned_items(cfg, datasets)
    configured = cfg["eval"].get("items_per_shard")
    limit = n if configured is None else min(n, max(unit, int(configured) // unit * unit))
    if limit >= n and fits(n):
        return None
    top = max(unit, limit // unit * unit)
    if fits(top):
        return top
    if not fits(unit):
        try:
            rsc.predict_job(cfg, site, model, datasets, items=unit)
        except rsc.PlanError as exc:
            if unit == 1 or not fits(1):  # not a question of length (the model does not fit the node, ...)
                raise
            raise rsc.PlanError(
                f"{exc}; a shard cannot be smaller than one batch of {unit} consecutive items in the faithful "
                "budget mode (the original's batches): eval.budget_mode: exact cuts anywhere"
            ) from None
    lo, hi = unit, top  # lo fits, hi does not; the estimate grows with the items
    while hi - lo > unit:
        mid = (lo + hi) // 2 // unit * unit
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def planned_items(cfg: Mapping[str, Any], datasets: list[str]) -> int:
    """Items of ``datasets`` expected before the items are prepared: counted in the evaluation file when it is here
    (a local ``eval.data.path``, or the download once it is done), else the sources' known sizes; at most
    ``eval.max_items_per_dataset`` each."""
    cap = cfg["eval"].get("max_items_per_dataset")
    path = Path(wf.eval_file(cfg))
    counted = _file_sizes(str(path), path.stat().st_mtime_ns) if path.is_file() else {}
    total = 0
    for d in datasets:
        n = counted.get(d, rsc.DATASET_SIZES.get(d, 1000))
        total += min(n, cap) if cap else n
    return total


@functools.lru_cache(maxsize=4)
def _file_sizes(path: str, mtime_ns: int) -> dict[str, int]:
    """Items per source of an evaluation file (``{source: [items]}``); read once per version of the file."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {k: len(v) for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def part_shards(cfg: Mapping[str, Any], site: Site, model: str, budget_mode: str, datasets: list[str]) -> list[Shard]:
    """The shards of one prediction part."""
    size = max_items(cfg, site, model, budget_mode, datasets)
    return cut(planned_items(cfg, datasets), size, step(budget_mode, int(cfg["eval"]["batch_size"])))


def shard_items(shard: Shard, n_items: int) -> int:
    """How many of a part's ``n_items`` a shard takes."""
    return max(0, min(n_items, shard.stop if shard.stop is not None else n_items) - shard.start)


# --------------------------------------------------------------------------------------------- merging


# ---- the prediction jobs of a part (what rules/common.smk asks) ---------------------------------------------------
def prediction_shards(cfg: Mapping[str, Any], site: Site, name: str, budget_mode: str, part: str) -> list[str]:
    """The prediction jobs of one part: its shards, by name (``start-stop``)."""
    return [s.name for s in part_shards(cfg, site, name, budget_mode, wf.part_datasets(cfg, part))]


def shard_files(cfg: Mapping[str, Any], site: Site, name: str, budget_mode: str, part: str) -> list[str]:
    """What rule eval_merge merges into the part's predictions, in item order."""
    return [
        wf.SHARD_PREDICTIONS.format(budget_mode=budget_mode, model=name, part=part, shard=s)
        for s in prediction_shards(cfg, site, name, budget_mode, part)
    ]


def shard_planned_items(cfg: Mapping[str, Any], part: str, shard: str) -> int:
    """Items of one shard as planned (the part's expected size cut at the shard's bounds)."""
    return shard_items(Shard.parse(shard), planned_items(cfg, wf.part_datasets(cfg, part)))


def predict_params(
    cfg: Mapping[str, Any], site: Site, name: str, budget_mode: str, part: str, shard: str = "0-end"
) -> dict[str, Any]:
    """What one prediction job needs (its ``params``: a change reruns exactly the jobs it touches); the engine's
    tp/dp are derived from the site and the shard's work (:mod:`m1repro.resources`)."""
    view = wf.cfg_model(cfg, name)
    items = shard_planned_items(cfg, part, shard)
    return {
        "model": view.name,
        "mode": view.mode,
        "weights": wf.model_weights(cfg, name),
        "tokenizer": view.tokenizer,
        "engine": rsc.engine_options(cfg, site, name, wf.part_datasets(cfg, part), items),
        "variants": wf.variant_names(cfg, name),
        "settings": {**cfgview.eval_settings(cfg), "budget_mode": budget_mode},
        "datasets": wf.part_datasets(cfg, part),
    }


# ---- the difficulty filter's jobs ------------------------------------------------------------------------------
# A difficulty model answers every pool question (196K in the paper): shard ``i`` of ``k`` (named ``{i}of{k}``) takes
# the i-th run of consecutive questions, cut at multiples of the batch so every batch is the unsplit job's. The pool
# is made by the workflow itself, so the number of shards is planned on the paper's initial collection (an upper
# bound) and the bounds are taken from the real pool when the job runs; the last shard runs to its end.
DIFFICULTY_SHARD_REGEX = r"\d+of\d+"


def difficulty_shard_size(n_items: int, k: int, batch: int) -> int:
    """Questions per shard: the pool over ``k`` shards, rounded up to whole batches."""
    return max(batch, math.ceil(math.ceil(n_items / k) / batch) * batch)


def difficulty_rows(n_items: int, shard: str, batch: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` of the pool that shard ``{i}of{k}`` answers."""
    i, k = (int(x) for x in shard.split("of"))
    if not 0 <= i < k:
        raise ValueError(f"difficulty shard {shard!r}: expected i of k with 0 <= i < k")
    size = difficulty_shard_size(n_items, k, batch)
    start = min(i * size, n_items)
    return start, n_items if i == k - 1 else min(start + size, n_items)


def difficulty_count(cfg: Mapping[str, Any], site: Site, dmodel: str) -> int:
    """How many jobs one difficulty model's questions take: ``curate.difficulty.shards`` when set, else the fewest
    whose share fits the site's ``max_runtime_min`` (a :class:`m1repro.resources.PlanError` when not even one batch
    fits, or the model fits no node)."""
    diff = cfg["curate"]["difficulty"]
    if diff.get("backend", "engine") != "engine":
        return 1  # an API answers; the job only waits for it
    if diff.get("shards"):
        return int(diff["shards"])
    n, batch = rsc.curation_counts(cfg)["pool"], int(diff["batch_size"])

    def fits(k: int) -> bool:
        try:
            rsc.difficulty_job(cfg, site, dmodel, items=difficulty_shard_size(n, k, batch))
        except rsc.TooLong:
            return False
        return True

    if fits(1):
        return 1
    lo, hi = 1, 2  # lo does not fit; the estimate falls as k grows, down to one batch per shard
    while not fits(hi):
        if difficulty_shard_size(n, hi, batch) == batch:
            rsc.difficulty_job(cfg, site, dmodel, items=batch)  # raises: not even one batch fits the limit
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def difficulty_shards(cfg: Mapping[str, Any], site: Site, dmodel: str) -> list[str]:
    k = difficulty_count(cfg, site, dmodel)
    return [f"{i}of{k}" for i in range(k)]


def difficulty_job(cfg: Mapping[str, Any], site: Site, dmodel: str, shard: str) -> rsc.GpuJob:
    """One shard's job, planned on its share of the paper's initial collection."""
    n, k = rsc.curation_counts(cfg)["pool"], int(shard.split("of")[1])
    diff = cfg["curate"]["difficulty"]
    items = difficulty_shard_size(n, k, int(diff["batch_size"])) if k > 1 else None
    job = rsc.difficulty_job(cfg, site, dmodel, items=items)
    return job if k == 1 else dataclasses.replace(job, name=f"{job.name} {shard}")


def merge_lines(runs: Sequence[Sequence[str]], variants: Sequence[str] | None = None) -> list[str]:
    """JSONL lines of consecutive runs of items, each run variant by variant, as one job writes them: variant by
    variant (in the order they first appear), the runs in order within each variant; only ``variants`` when given."""
    by_variant: dict[str, list[str]] = {}
    for run in runs:
        for line in run:
            by_variant.setdefault(json.loads(line)["variant"], []).append(line)
    keep = by_variant if variants is None else {v: by_variant[v] for v in by_variant if v in set(variants)}
    return [line for lines in keep.values() for line in lines]


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [ln for ln in fh.read().splitlines(keepends=True) if ln.strip()]


def eval_merge(job: RuleJob) -> None:
    """Rule eval_merge: the part's shard files (in item order) into the part's predictions, the model's configured
    variants only (``params.variants``)."""
    runs = [read_lines(p) for p in job.input]
    lines = merge_lines(runs, list(job.params.variants))
    with atomic_open(job.output[0]) as fh:
        fh.writelines(lines)
    log_event(logger, "merged", shards=len(runs), records=len(lines), output=job.output[0])
