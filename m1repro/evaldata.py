"""The evaluation file: download with md5 check, validation, one JSONL of items per dataset."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from m1repro.hub import HubRef, fetch_eval_file
from m1repro.io import InputError, atomic_open, write_json_atomic, write_jsonl_atomic
from m1repro.log import log_event
from m1repro.records import AnswerCheck, load_eval_file, md5sum
from m1repro.smk import RuleJob

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download that failed, with the URL and the reason."""


def download_eval_file(url: str, out: str | Path, md5: str | None, timeout: float = 120.0) -> None:
    """Fetch ``url`` to ``out``; a wrong md5 is an error and leaves nothing behind."""
    if not url:
        raise ValueError("config eval.data.url is empty: set it, or set eval.data.path to a local file")
    out = Path(out)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_open(out, "wb") as fh:
            while block := resp.read(1 << 20):
                fh.write(block)
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"{url}: HTTP {exc.code} {exc.reason} (config eval.data.url); check the URL, or set "
            "eval.data.path to a local copy"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DownloadError(
            f"{url}: cannot download ({reason}) (config eval.data.url); compute nodes are often "
            "offline: download on the login node, or set eval.data.path to a local copy"
        ) from None
    got = md5sum(out)
    if md5 and got != md5:
        out.unlink()
        raise ValueError(f"{url}: md5 {got} differs from the expected {md5} (config eval.data.md5); file removed")
    log_event(log, "downloaded evaluation file", url=url, md5=got, bytes=out.stat().st_size)


def prepare_items(
    eval_path: str | Path,
    datasets: list[str],
    items_out: str | Path,
    validation_out: str | Path,
    on_invalid: Literal["error", "exclude"] = "error",
    max_items: int | None = None,
    allow_empty: bool = False,
    answers: AnswerCheck = "faithful",
) -> dict[str, int]:
    """Validate the file and write the items of the configured datasets to one JSONL in the file's order (the order
    of the original's batches), plus a summary of counts and exclusions; returns the counts per dataset. A configured
    dataset without valid items is an error naming it, unless ``allow_empty`` (``eval.allow_empty_datasets``): then
    the summary lists it under ``empty_datasets`` and Table 1 flags its cells."""
    evalset = load_eval_file(eval_path, datasets, on_invalid=on_invalid, max_items=max_items, answers=answers)
    counts = {source: len(items) for source, items in evalset.items.items()}
    empty = [d for d in datasets if not counts.get(d)]
    if empty and not allow_empty:
        excluded = {d: sum(e.source == d for e in evalset.excluded) for d in empty}
        raise InputError(
            eval_path,
            f"configured dataset(s) {empty} have no valid items (excluded: {excluded}): fix "
            "the file, drop them from eval.datasets, or set eval.allow_empty_datasets: true (their "
            "Table 1 cells are then left empty and flagged)",
            record=empty[0],
        )
    write_jsonl_atomic(items_out, (it.to_dict() for items in evalset.items.values() for it in items))
    summary = {
        "file": str(eval_path),
        "md5": md5sum(eval_path),
        "on_invalid": on_invalid,
        "max_items_per_dataset": max_items,
        "items": {d: counts[d] for d in datasets},
        "item_ids": {d: [it.id for it in evalset.items[d]] for d in datasets},
        "excluded": [e.__dict__ for e in evalset.excluded],
        "excluded_per_source": {s: sum(e.source == s for e in evalset.excluded) for s in datasets},
        "allow_empty_datasets": allow_empty,
        "empty_datasets": empty,
    }
    write_json_atomic(validation_out, summary)
    if empty:
        log.warning("evaluation datasets without items (allowed by eval.allow_empty_datasets): %s", empty)
    log_event(log, "evaluation items prepared", items=counts, excluded=len(evalset.excluded), empty=empty)
    return counts


def eval_prepare(job: RuleJob) -> None:
    """Rule eval_prepare."""
    prepare_items(
        job.input[0],
        list(job.params.datasets),
        job.output.eval_items,
        job.output.validation,
        job.params.on_invalid,
        job.params.max_items,
        job.params.allow_empty,
        job.params.answer_check,
    )


def eval_download(job: RuleJob) -> None:
    """Rule eval_download: the evaluation file from its hub dataset repo (``eval.data.repo``, at its pinned
    revision, through the hub cache) or, without a repo, from ``eval.data.url``; checked by md5 either way."""
    data = dict(job.params.data)
    if data.get("repo"):
        ref = HubRef(data["repo"], "dataset", job.params.revision, data.get("filename") or "m1_eval_data.json")
        fetch_eval_file(ref, data.get("md5"), job.output[0])
    else:
        download_eval_file(data.get("url") or "", job.output[0], data.get("md5"))
