"""Hub access for offline compute nodes (m1repro.hub) against a loopback stand-in of the hub's HTTP API
(tests/hub_standin.py): huggingface_hub's own client code downloads, resolves revisions and raises its own errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hub_standin import HubStandIn

from m1repro import hub
from m1repro.config import load_config

REPO = Path(__file__).resolve().parent.parent
EVAL_BYTES = b'{"NEJM": []}\n'


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with HubStandIn() as s:
        s.add(
            "model",
            "org/tiny-7B",
            {"config.json": b"{}", "model.safetensors": b"w" * 64, "original/consolidated.pth": b"duplicate weights"},
        )
        s.add("model", "org/gated-8B", {"config.json": b"{}"}, gated=True)
        s.add("dataset", "UCSC-VLAA/m1_eval_data", {"m1_eval_data.json": EVAL_BYTES, "README.md": b"#"})
        yield s


def test_hub_refs_of_the_paper_config():
    cfg = load_config(REPO / "config" / "config.yaml")
    cfg["hub"]["revisions"] = {"Qwen/Qwen2.5-7B-Instruct": "abc123"}
    refs = hub.hub_refs(cfg)
    keys = [r.key for r in refs]
    assert len(keys) == len(set(keys))  # a model used for eval, training and difficulty is fetched once
    qwen = next(r for r in refs if r.repo_id == "Qwen/Qwen2.5-7B-Instruct")
    assert qwen.revision == "abc123" and qwen.repo_type == "model"
    assert {"Qwen/Qwen2.5-32B-Instruct", "UCSC-VLAA/m1-7B-1K", "aaditya/Llama3-OpenBioLLM-70B"} <= set(keys)
    evalfile = next(r for r in refs if r.repo_type == "dataset" and r.filename)
    assert (evalfile.repo_id, evalfile.filename, evalfile.revision) == (
        "UCSC-VLAA/m1_eval_data",
        "m1_eval_data.json",
        "main",
    )
    assert "datasets/openlifescienceai/medmcqa" in keys  # curation sources (curate.source: hf)
    assert not any(k.startswith(("results/", "resources/")) for k in keys)  # trained and tiny models are local
    assert all(r.repo_type == "model" for r in hub.hub_refs(cfg, datasets=False))


def test_prefetch_records_resolved_commits_and_works_offline_after(standin, tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    refs = [hub.HubRef("org/tiny-7B"), hub.HubRef("UCSC-VLAA/m1_eval_data", "dataset", filename="m1_eval_data.json")]
    manifest = hub.prefetch(refs, cache_dir=cache, token=False, endpoint=standin.url)
    model_commit = standin.repos[("model", "org/tiny-7B")].commit
    assert manifest["org/tiny-7B"]["commit"] == model_commit and manifest["org/tiny-7B"]["revision"] == "main"
    snap = Path(manifest["org/tiny-7B"]["path"])
    assert (snap / "model.safetensors").read_bytes() == b"w" * 64
    assert not (snap / "original").exists()  # the second copy of Llama-style weights is not fetched
    data = manifest["datasets/UCSC-VLAA/m1_eval_data"]
    assert Path(data["path"]).read_bytes() == EVAL_BYTES and data["filename"] == "m1_eval_data.json"
    out = tmp_path / "results" / "hub_manifest.json"
    hub.write_manifest(manifest, out)
    assert hub.local_path(manifest, "org/tiny-7B") == str(snap)
    with pytest.raises(KeyError, match="pre-fetch"):
        hub.local_path(manifest, "org/other")

    # On an offline node: the same refs resolve from the cache alone, to the same commits, with no request.
    seen = len(standin.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = hub.prefetch(refs, cache_dir=cache, endpoint=standin.url, local_files_only=True)
    assert again == manifest and len(standin.requests) == seen
    # A pinned revision (the recorded hash) resolves too.
    pinned = hub.prefetch([hub.HubRef("org/tiny-7B", revision=model_commit)], cache_dir=cache, local_files_only=True)
    assert pinned["org/tiny-7B"]["path"] == str(snap)


def test_check_access_reports_every_problem_at_once(standin):
    refs = [
        hub.HubRef("org/tiny-7B"),
        hub.HubRef("org/gated-8B"),
        hub.HubRef("org/no-such-model"),
        hub.HubRef("org/tiny-7B", revision="v9"),
        hub.HubRef("UCSC-VLAA/m1_eval_data", "dataset", filename="m1_eval_data.json"),
    ]
    report = hub.check_access(refs, token=False, endpoint=standin.url)
    assert len(report.problems) == 3, report.problems
    gated, missing, revision = report.problems
    assert gated.startswith("org/gated-8B: gated") and "HF_TOKEN" in gated
    assert missing.startswith("org/no-such-model: not found")
    assert revision.startswith("org/tiny-7B: revision 'v9' not found")
    with pytest.raises(hub.HubAccessError) as err:
        hub.require_access(refs, token=False, endpoint=standin.url)
    msg = str(err.value)
    assert msg.startswith("3 of 5 hub repos") and all(p in msg for p in report.problems)
    # The granted token opens the gated repo.
    assert hub.check_access(refs[:2], token="hf_granted", endpoint=standin.url).ok


def test_check_access_is_skipped_offline_with_a_note(standin, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = hub.check_access([hub.HubRef("org/no-such-model")], endpoint=standin.url)
    assert report.ok and "HF_HUB_OFFLINE" in (report.note or "")
    assert hub.require_access([hub.HubRef("org/no-such-model")], endpoint=standin.url) == report.note
    assert standin.requests == []


def test_eval_file_through_the_hub_checked_by_md5(standin, tmp_path):
    ref = hub.HubRef("UCSC-VLAA/m1_eval_data", "dataset", filename="m1_eval_data.json")
    good = hashlib.md5(EVAL_BYTES).hexdigest()
    out = tmp_path / "downloads" / "m1_eval_data.json"
    hub.fetch_eval_file(ref, good, out, cache_dir=tmp_path / "hf", token=False, endpoint=standin.url)
    assert out.read_bytes() == EVAL_BYTES
    bad = tmp_path / "other" / "m1_eval_data.json"
    with pytest.raises(ValueError, match="md5 .* differs from the expected 0{32}"):
        hub.fetch_eval_file(ref, "0" * 32, bad, cache_dir=tmp_path / "hf", token=False, endpoint=standin.url)
    assert not bad.exists()


def test_is_hub_id():
    assert hub.is_hub_id("Qwen/Qwen2.5-7B-Instruct")
    assert not hub.is_hub_id("resources/tiny/models/tiny-qwen")
    assert not hub.is_hub_id("results/train/m1-7B-1K/model")
    assert not hub.is_hub_id("/abs/path") and not hub.is_hub_id("qwen") and not hub.is_hub_id(None)


def test_jobs_read_prefetched_repos_from_their_manifests(tmp_path):
    """A GPU job of a hub model gets the repo's pre-fetch manifest as input and loads its local snapshot; a local
    path passes through unchanged."""
    import json

    from m1repro.hub import resolve_local

    m = tmp_path / "m.json"
    m.write_text(json.dumps({"Qwen/Qwen2.5-7B-Instruct": {"path": "/cache/snap/abc", "commit": "abc"}}))
    assert resolve_local("Qwen/Qwen2.5-7B-Instruct", [m]) == "/cache/snap/abc"
    assert resolve_local("results/train/x/model", [m]) == "results/train/x/model"
    assert resolve_local("Qwen/Qwen2.5-7B-Instruct", []) == "Qwen/Qwen2.5-7B-Instruct"


def test_the_paper_dag_prefetches_each_model_repo_once_on_the_login_node(tmp_path):
    from workflow_helpers import copy_checkout, dry_run, local_rules

    jobs = dry_run(["results/table1.csv", "--forceall"], cwd=copy_checkout(tmp_path / "checkout"))
    fetches = [j for j in jobs if j.rule == "hub_fetch"]
    repos = [j.wildcards["repo_id"] for j in fetches]
    assert len(repos) == len(set(repos)) and "UCSC-VLAA/m1-7B-1K" in repos and "Qwen/Qwen2.5-7B-Instruct" in repos
    assert "meta-llama/Meta-Llama-3-8B-Instruct" in repos  # the tokenizer override is read too
    assert "hub_fetch" in local_rules("config/config.yaml")


# ---- a lock file for the next site; one clear message per failure -------------------------------------------------


def test_hub_fetch_records_commits_in_a_lock_file_a_second_site_reuses(standin, tmp_path):
    lock = tmp_path / "results" / "hub" / "lock.yaml"
    refs = (hub.HubRef("org/tiny-7B"), hub.HubRef("UCSC-VLAA/m1_eval_data", "dataset"))
    for ref in refs:
        out = tmp_path / f"{ref.repo_id.replace('/', '_')}.json"
        hub.fetch_and_lock(ref, out, lock, cache_dir=tmp_path / "site1", token=False, endpoint=standin.url)
    commit = standin.repos[("model", "org/tiny-7B")].commit
    assert hub.read_lock(lock) == {
        "org/tiny-7B": commit,
        "UCSC-VLAA/m1_eval_data": standin.repos[("dataset", "UCSC-VLAA/m1_eval_data")].commit,
    }
    # a second site names the lock (a copy of it) in its config: its refs ask for the locked commits
    cfg = {"models": {"m": {"path": "org/tiny-7B"}}, "hub": {"lock": str(lock), "revisions": {}}}
    (ref,) = hub.hub_refs(cfg, datasets=False)
    assert ref.revision == commit
    again = hub.prefetch([ref], cache_dir=tmp_path / "site2", token=False, endpoint=standin.url)
    assert again["org/tiny-7B"]["commit"] == commit
    assert (Path(again["org/tiny-7B"]["path"]) / "model.safetensors").read_bytes() == b"w" * 64
    pinned = {**cfg, "hub": {**cfg["hub"], "revisions": {"org/tiny-7B": "main"}}}
    assert hub.hub_refs(pinned, datasets=False)[0].revision == "main"  # hub.revisions wins over the lock
    bad = tmp_path / "bad.yaml"
    bad.write_text("org/tiny-7B: main\n")
    with pytest.raises(ValueError, match="bad.yaml: a hub lock file maps repo ids to 40-hex-digit commits"):
        hub.read_lock(bad)


def test_an_unreachable_hub_is_one_message_naming_hf_home_and_the_repos(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    refs = [hub.HubRef("org/a-7B"), hub.HubRef("org/b-8B")]
    report = hub.check_access(refs, token=False, endpoint=closed)
    assert len(report.problems) == 1
    (msg,) = report.problems
    assert "cannot be reached" in msg and "org/a-7B, org/b-8B" in msg and f"HF_HOME={tmp_path / 'hf-home'}" in msg
    with pytest.raises(hub.HubAccessError) as err:
        hub.prefetch(refs[:1], cache_dir=tmp_path / "c", token=False, endpoint=closed)
    assert "cannot be reached" in str(err.value) and "org/a-7B" in str(err.value) and "HF_HOME=" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no raw httpx traceback chained


def test_offline_with_an_empty_cache_and_a_gated_repo_are_one_message_each(standin, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(hub.HubAccessError, match=r"org/gated-8B: gated.*HF_TOKEN.*HF_HOME=") as err:
        hub.prefetch([hub.HubRef("org/gated-8B")], cache_dir=tmp_path / "c", token=False, endpoint=standin.url)
    assert err.value.__suppress_context__
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(hub.HubAccessError) as err:
        hub.prefetch([hub.HubRef("org/tiny-7B")], cache_dir=tmp_path / "empty", endpoint=standin.url)
    msg = str(err.value)
    assert msg.startswith("org/tiny-7B@main: not in the hub cache at HF_HOME=") and "HF_HUB_OFFLINE=1" in msg
    assert str(tmp_path / "hf-home") in msg


def test_every_gpu_job_runs_with_the_hub_offline_trained_models_included(monkeypatch):
    """A rule with a `hub` input (every GPU rule) runs offline even when the list is empty (a trained model)."""
    from types import SimpleNamespace

    from m1repro import smk

    class Input(list):
        hub: list = []

        def keys(self):
            return ["hub"]

    for var in hub.OFFLINE_ENV:
        monkeypatch.delenv(var, raising=False)
    seen = {}
    job = SimpleNamespace(
        log=[], input=Input(), output=[], params=None, wildcards=None, resources=None, threads=1, rule="eval_predict"
    )
    smk.run(job, lambda j: seen.update({k: __import__("os").environ.get(k) for k in hub.OFFLINE_ENV}))
    assert seen == hub.OFFLINE_ENV
    for var in hub.OFFLINE_ENV:
        monkeypatch.delenv(var, raising=False)  # leave nothing behind
