"""Hugging Face hub access for sites whose compute nodes are offline (docs/site.md).

* :func:`hub_refs`: every hub repo a config needs (model weights, tokenizers, training bases, difficulty models, the
  evaluation file, the curation datasets), each at the revision of ``hub.revisions`` (default ``main``).
* :func:`check_access`: asks the hub about all of them at plan time and reports every problem at once (gated
  without access, missing repo, missing revision); skipped with a note when ``HF_HUB_OFFLINE=1``.
* :func:`prefetch`: on the login node, ``snapshot_download`` / ``hf_hub_download`` each repo into the hub cache and
  return a manifest ``{repo id: {commit, path, ...}}`` recording the commit each revision resolved to; compute jobs
  then run with :data:`OFFLINE_ENV` and load from the cache (or the manifest's snapshot path).
* :func:`fetch_eval_file`: the evaluation file from its dataset repo, checked by md5.

The token is huggingface_hub's own (``HF_TOKEN`` or ``hf auth login``); none is read, stored or logged here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m1repro.curate.collect import HF_IDS
from m1repro.io import InputError, atomic_open, read_yaml
from m1repro.log import log_event
from m1repro.records import md5sum

if TYPE_CHECKING:
    from m1repro.smk import RuleJob

logger = logging.getLogger(__name__)

# What compute jobs run with: no request to the hub; weights and files come from the pre-fetched cache.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
DEFAULT_IGNORE = ("original/*",)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LOCAL_PREFIXES = ("resources/", "results/", "cache/", "./", "../", "/", "~")


class HubAccessError(RuntimeError):
    """One or more hub repos cannot be fetched; the message lists every one and what to do."""


@dataclass(frozen=True)
class HubRef:
    """One repo to fetch: a whole snapshot, or one ``filename`` of it."""

    repo_id: str
    repo_type: str = "model"  # model | dataset
    revision: str = "main"
    filename: str | None = None

    @property
    def key(self) -> str:
        return self.repo_id if self.repo_type == "model" else f"datasets/{self.repo_id}"


def is_hub_id(path: str | None) -> bool:
    """A hub id (``org/name``) rather than a local directory or a file this workflow makes."""
    if not path or path.startswith(_LOCAL_PREFIXES) or Path(path).exists():
        return False
    return bool(_REPO_ID.match(path))


def pinned_revisions(hub_cfg: Mapping[str, Any]) -> dict[str, str]:
    """Revision per repo: the commits of ``hub.lock`` (another site's :data:`LOCK_FILE`), then ``hub.revisions``
    over them."""
    lock = hub_cfg.get("lock")
    commits = read_lock(lock) if lock else {}
    return {**commits, **(hub_cfg.get("revisions") or {})}


def hub_refs(cfg: Mapping[str, Any], datasets: bool = True) -> list[HubRef]:
    """Every hub repo the config reads (deduplicated, in config order), at its ``hub.revisions`` revision."""
    revisions = pinned_revisions(cfg.get("hub") or {})
    out: dict[tuple[str, str, str | None], HubRef] = {}

    def add(repo_id: str | None, repo_type: str = "model", filename: str | None = None) -> None:
        if repo_id and is_hub_id(repo_id):
            ref = HubRef(repo_id, repo_type, str(revisions.get(repo_id, "main")), filename)
            out.setdefault((repo_type, repo_id, filename), ref)

    for m in cfg.get("models", {}).values():
        add(m.get("path"))
        add(m.get("tokenizer"))
    for r in ((cfg.get("train") or {}).get("runs") or {}).values():
        add(r.get("base"))
    cur = cfg.get("curate") or {}
    diff = cur.get("difficulty") or {}
    if diff.get("backend", "engine") == "engine":
        for d in (diff.get("models") or {}).values():
            add(d.get("path"))
    if not datasets:
        return list(out.values())
    data = (cfg.get("eval") or {}).get("data") or {}
    if not data.get("path") and data.get("repo"):
        add(data["repo"], "dataset", data.get("filename", "m1_eval_data.json"))
    if cur.get("sets_source", "curated") == "released":
        for repo in (cur.get("released") or {}).values():
            add(repo, "dataset")
    elif cur.get("source", "hf") == "hf":
        for repo, _ in HF_IDS.values():
            add(repo, "dataset")
    return list(out.values())


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class AccessReport:
    problems: list[str]
    note: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(ref: HubRef, err: Exception) -> str:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    url = f"https://huggingface.co/{ref.key}"
    if isinstance(err, GatedRepoError):
        return (
            f"{ref.key}: gated, and your token has no access: accept its terms at {url} with your account, then "
            "set HF_TOKEN (or run `hf auth login`)"
        )
    if isinstance(err, RevisionNotFoundError):
        return f"{ref.key}: revision {ref.revision!r} not found: fix hub.revisions in the config"
    if isinstance(err, RepositoryNotFoundError):
        return (
            f"{ref.key}: not found (a typo, or private without access): check the id in the config, or "
            "set HF_TOKEN for a private repo"
        )
    return f"{ref.key}: could not ask the hub ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"


def check_access(refs: Sequence[HubRef], token: str | bool | None = None, endpoint: str | None = None) -> AccessReport:
    """Ask the hub whether every repo can be read at its revision; all problems at once. With
    ``HF_HUB_OFFLINE=1`` nothing is asked and the report carries a note instead."""
    if offline():
        return AccessReport([], "HF_HUB_OFFLINE=1: hub access not checked (the pre-fetched cache is used)")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=token)
    problems = []
    for i, ref in enumerate(refs):
        try:
            api.auth_check(ref.repo_id, repo_type=ref.repo_type)
            api.repo_info(ref.repo_id, repo_type=ref.repo_type, revision=ref.revision)
        except HfHubHTTPError as err:
            problems.append(_problem(ref, err))
        except Exception as err:  # noqa: BLE001 (the hub cannot be reached: one message, not one per repo)
            if not _unreachable(err):
                raise
            return AccessReport([unreachable_message(refs[i:], err, endpoint)])
    return AccessReport(problems)


def _unreachable(err: BaseException) -> bool:
    """A network failure (no route, DNS, refused, timeout) rather than an answer of the hub."""
    return isinstance(err, _transport_errors())


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The network errors of whichever HTTP client huggingface_hub uses (httpx2, httpx or requests)."""
    import importlib

    out: list[type[BaseException]] = [OSError, TimeoutError]
    for name, cls in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            out.append(getattr(importlib.import_module(name), cls))
        except (ImportError, AttributeError):
            continue
    return tuple(out)


def hf_home() -> str:
    """Where huggingface_hub keeps its cache (HF_HOME), as this process sees it."""
    from huggingface_hub import constants

    return os.environ.get("HF_HOME") or str(constants.HF_HOME)


def unreachable_message(refs: Sequence[HubRef], err: BaseException, endpoint: str | None = None) -> str:
    from huggingface_hub import constants

    names = ", ".join(r.key for r in refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")
    first = str(err).splitlines()[0] if str(err) else ""
    return (
        f"the hub at {endpoint or constants.ENDPOINT} cannot be reached ({type(err).__name__}: {first}), so {names} "
        f"cannot be fetched. Fetch on a machine that reaches the hub, into the shared cache HF_HOME={hf_home()}, then "
        "run here with HF_HUB_OFFLINE=1 (docs/site.md, offline compute nodes)"
    )


def fetch_problem(ref: HubRef, err: BaseException, endpoint: str | None = None) -> str | None:
    """One clear sentence for a fetch that failed (gated, missing, offline with an empty cache, hub unreachable),
    naming the repo and HF_HOME; None for an error that is none of these."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    if isinstance(err, OfflineModeIsEnabled | LocalEntryNotFoundError) and offline():
        return (
            f"{ref.key}@{ref.revision}: not in the hub cache at HF_HOME={hf_home()}, and HF_HUB_OFFLINE=1 forbids "
            "downloading it: fetch it where the hub is reachable (snakemake ... hub_fetch) into this HF_HOME, or "
            "unset HF_HUB_OFFLINE"
        )
    if isinstance(err, HfHubHTTPError):
        return f"{_problem(ref, err)} (HF_HOME={hf_home()})"
    if isinstance(err, LocalEntryNotFoundError) or _unreachable(err):  # the client hides the network error inside
        return unreachable_message([ref], err.__cause__ or err.__context__ or err, endpoint)
    return None


def require_access(refs: Sequence[HubRef], token: str | bool | None = None, endpoint: str | None = None) -> str | None:
    """:func:`check_access`, raising :class:`HubAccessError` listing every problem; returns the note, if any."""
    report = check_access(refs, token, endpoint)
    if report.problems:
        raise HubAccessError(
            f"{len(report.problems)} of {len(refs)} hub repos cannot be fetched:\n  - " + "\n  - ".join(report.problems)
        )
    return report.note


def commit_of(path: str | Path) -> str:
    """The commit hash of a path inside the hub cache (``.../snapshots/<commit>/...``)."""
    parts = Path(path).parts
    if "snapshots" not in parts or parts.index("snapshots") + 1 >= len(parts):
        raise ValueError(f"{path} is not inside a hub cache snapshot")
    return parts[parts.index("snapshots") + 1]


def prefetch(
    refs: Iterable[HubRef],
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
    ignore_patterns: Sequence[str] = DEFAULT_IGNORE,
    local_files_only: bool = False,
) -> dict[str, dict[str, str]]:
    """Download every repo (or file) into the hub cache at its revision; the manifest maps each repo to the commit
    its revision resolved to and the local path. ``local_files_only``: resolve from the cache alone (a check on an
    offline node that the pre-fetch is complete)."""
    from huggingface_hub import hf_hub_download, snapshot_download

    manifest: dict[str, dict[str, str]] = {}
    for ref in refs:
        common: dict[str, Any] = {
            "repo_type": ref.repo_type,
            "revision": ref.revision,
            "cache_dir": cache_dir,
            "token": token,
            "endpoint": endpoint,
            "local_files_only": local_files_only,
        }
        try:
            if ref.filename:
                path = hf_hub_download(ref.repo_id, ref.filename, **common)
            else:
                ignore = list(ignore_patterns) if ref.repo_type == "model" else None
                path = snapshot_download(ref.repo_id, ignore_patterns=ignore, **common)
        except Exception as err:  # noqa: BLE001 (a known failure becomes one sentence; others pass unchanged)
            message = fetch_problem(ref, err, endpoint)
            if message is None:
                raise
            raise HubAccessError(message) from None
        entry = {"repo_type": ref.repo_type, "revision": ref.revision, "commit": commit_of(path), "path": str(path)}
        if ref.filename:
            entry["filename"] = ref.filename
        manifest[ref.key] = entry
        log_event(logger, "fetched", repo=ref.key, revision=ref.revision, commit=entry["commit"])
    return manifest


def write_manifest(manifest: Mapping[str, Any], out: str | Path) -> None:
    with atomic_open(out) as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")


def local_path(manifest: Mapping[str, Mapping[str, str]], repo_id: str, repo_type: str = "model") -> str:
    """Where a pre-fetched repo lies (for engines on offline nodes); an error names what to pre-fetch."""
    key = repo_id if repo_type == "model" else f"datasets/{repo_id}"
    if key not in manifest:
        raise KeyError(f"{key} is not in the pre-fetch manifest (have {sorted(manifest)}): run the pre-fetch again")
    return manifest[key]["path"]


def fetch_eval_file(
    ref: HubRef,
    md5: str | None,
    out: str | Path,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
    local_files_only: bool = False,
) -> Path:
    """The evaluation file through ``hf_hub_download`` (cached), copied to ``out`` and checked by md5; a wrong md5
    is an error that leaves nothing at ``out``."""
    from huggingface_hub import hf_hub_download

    if not ref.filename:
        raise ValueError(f"{ref.key}: the evaluation file needs a filename (eval.data.filename)")
    cached = hf_hub_download(
        ref.repo_id,
        ref.filename,
        repo_type=ref.repo_type,
        revision=ref.revision,
        cache_dir=cache_dir,
        token=token,
        endpoint=endpoint,
        local_files_only=local_files_only,
    )
    got = md5sum(cached)
    if md5 and got != md5:
        raise ValueError(
            f"{ref.key}/{ref.filename}@{ref.revision}: md5 {got} differs from the expected {md5} (config eval.data.md5);"
            " not copied"
        )
    out = Path(out)
    with open(cached, "rb") as src, atomic_open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    log_event(logger, "evaluation file", repo=ref.key, commit=commit_of(cached), md5=got, bytes=out.stat().st_size)
    return out


# ---- the workflow's pre-fetch: one local rule per repo, its manifest an input of the jobs that read the repo -------
MANIFEST = "results/hub/{repo_type}/{repo_id}.json"


def manifest_file(ref: HubRef) -> str:
    return MANIFEST.format(repo_type=ref.repo_type, repo_id=ref.repo_id)


def ref_of(cfg: Mapping[str, Any], repo_id: str, repo_type: str = "model") -> HubRef:
    """The config's reference to a repo (at its pinned revision)."""
    for ref in hub_refs(cfg, datasets=repo_type != "model"):
        if ref.repo_id == repo_id and ref.repo_type == repo_type:
            return ref
    raise KeyError(f"{repo_type} repo {repo_id!r} is not read by this configuration")


def resolve_local(path: str, manifests: Sequence[str | Path]) -> str:
    """``path`` itself, or the local snapshot of the hub repo it names when one of ``manifests`` (pre-fetch
    manifests, see :func:`hub_fetch`) holds it: jobs on offline compute nodes load from there."""
    for m in manifests:
        with open(m, encoding="utf-8") as fh:
            manifest = json.load(fh)
        if path in manifest:
            return str(manifest[path]["path"])
    return path


def hub_fetch(job: RuleJob) -> None:
    """Rule hub_fetch: one repo into the hub cache at its revision, on the login node; the manifest records the
    commit it resolved to and the local path, and the lock file (:data:`LOCK_FILE`) the commit for another site."""
    fetch_and_lock(HubRef(**job.params.ref), job.output[0], job.params.lock, job.params.ignore_patterns)


def fetch_and_lock(
    ref: HubRef, manifest_out: str | Path, lock: str | Path, ignore_patterns: Sequence[str] = DEFAULT_IGNORE, **hub: Any
) -> dict[str, dict[str, str]]:
    """Fetch one repo (:func:`prefetch`, ``hub``: its cache_dir/token/endpoint), write its manifest and record its
    commit in the lock file."""
    manifest = prefetch([ref], ignore_patterns=ignore_patterns, **hub)
    write_manifest(manifest, manifest_out)
    record_lock(lock, {ref.repo_id: manifest[ref.key]["commit"]})
    return manifest


# The commit of every repo this checkout fetched, {repo id: commit}: a second site that sets `hub.lock` to a copy of it
# fetches the same weights (hub.revisions still wins over it).
LOCK_FILE = "results/hub/lock.yaml"
_LOCK_HEADER = (
    "# Commits of the hub repos fetched by hub_fetch (m1repro.hub). To fetch the same weights elsewhere, copy this\n"
    "# file and set `hub: {lock: <its path>}` in a config overlay.\n"
)


def read_lock(path: str | Path) -> dict[str, str]:
    """The {repo id: commit} of a lock file; a missing or malformed one is an error naming the file."""
    if not Path(path).is_file():
        raise InputError(path, "no such hub lock file (hub.lock in the config)")
    data = read_yaml(path) or {}
    if not isinstance(data, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{40}", v) for v in data.values()
    ):
        raise InputError(path, "a hub lock file maps repo ids to 40-hex-digit commits")
    return {str(k): str(v) for k, v in data.items()}


def record_lock(path: str | Path, commits: Mapping[str, str]) -> None:
    """Merge ``commits`` into the lock file; concurrent fetches (local jobs) take turns on a lock of their own."""
    import fcntl

    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".flock"), "w") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        current = read_lock(path) if path.is_file() else {}
        with atomic_open(path) as fh:
            fh.write(_LOCK_HEADER + yaml.safe_dump({**current, **commits}, sort_keys=True))


def check_before_run(refs: Sequence[HubRef]) -> str | None:
    """Before a run fetches anything: every gated, missing or unknown-revision repo at once (skipped offline)."""
    return require_access(refs) if refs else None
