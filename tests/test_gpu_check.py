"""The GPU check kit (benchmarks/gpu_check.py) on this CPU, so that it cannot rot before a GPU is lent: the whole
``--device cpu --quick`` run on the real tiny model (report schema and sane values), the SGLang section against the
stand-in server, and the agreement and guarding logic on hand-made inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m1repro import gpucheck as gc
from m1repro.records import EvalItem

REPO = Path(__file__).resolve().parent.parent
STANDIN = str(Path(__file__).with_name("sglang_standin.py"))
STATUSES = {"ok", "failed", "skipped"}


def _rates(obj):
    """Every agreement rate anywhere in a report."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "rate":
                yield v
            else:
                yield from _rates(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _rates(v)


@pytest.mark.slow  # about two minutes on two shared cores: tokenizer conversion, generation, three short SFT runs
def test_cpu_quick_run_writes_the_documented_report(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_check.py",
            "--device",
            "cpu",
            "--quick",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rep = json.loads(out.read_text())

    # schema: the documented top-level keys, one entry per section, each with a status and timing
    assert rep["schema"] == gc.SCHEMA_NAME and rep["version"] == gc.SCHEMA_VERSION
    assert set(rep) == {"schema", "version", "created", "command", "settings", "device", "sections", "summary"}
    assert list(rep["sections"]) == list(gc.SECTIONS)
    for name, sec in rep["sections"].items():
        assert sec["status"] in STATUSES and sec["seconds"] >= 0, name
    assert rep["settings"] | {} and rep["settings"]["device"] == "cpu" and rep["settings"]["run"] == "quick"
    dev = rep["device"]
    assert dev["device"] == "cpu" and dev["gpu"] is None and dev["torch"] and dev["packages"]["transformers"]
    summary = rep["summary"]
    assert summary["ok"] + summary["failed"] + summary["skipped"] == len(gc.SECTIONS) and summary["failed"] == 0
    for name in gc.SECTIONS:
        assert name in res.stdout  # the human summary names every section

    setup = rep["sections"]["setup"]
    assert setup["reference_usable"], setup["reference_problem"]
    n_items, n_variants = setup["items"], len(setup["variants"])
    assert n_items == gc.PLANS["quick"].items and n_variants == 5

    assert all(0.0 <= r <= 1.0 for r in _rates(rep["sections"]))
    # the transformers engine on this CPU reproduces the committed CPU reference item for item
    eng = rep["sections"]["engine"]["dtypes"]["float32"]
    agree = eng["vs_cpu_reference"]
    assert agree["rate"] == 1.0 and agree["total"] == n_items * n_variants == len(agree["items"])
    assert eng["coverage"]["thinking_finish_reasons"] == ["length", "stop"] and eng["coverage"]["forced_items"] > 0
    tput = rep["sections"]["engine"]["throughput"]["float32"]["batches"]
    assert [b["batch_size"] for b in tput] == list(gc.PLANS["quick"].batch_sizes)
    assert all(b["tokens"] > 0 and b["tokens_per_s"] > 0 for b in tput)

    sweep = rep["sections"]["shared_sweep"]
    assert set(sweep["modes"]) == {"faithful", "exact"} and sweep["checks"] == {
        "both_thinking_endings_exercised": True,
        "forcing_exercised": True,
    }
    for mode in sweep["modes"].values():
        assert mode["float32"]["total"] == n_items * n_variants

    sft = rep["sections"]["sft"]
    assert sft["status"] == "ok" and all(sft["checks"].values()), sft["checks"]
    assert sft["losses"][-1] < sft["losses"][0] and sft["precision"] == "float32"
    resume = sft["resume"]
    assert resume["global_steps_resumed"] == resume["global_steps_reference"] == sft["steps"]
    assert resume["resumed_from"] == f"checkpoint-{resume['killed_after_step']}" and resume["weights_identical"]

    sg = rep["sections"]["sglang"]
    assert sg["status"] == "skipped" and "sglang" in sg["reason"]


def test_sglang_section_against_the_stand_in_server(tiny_model_dir, tmp_path):
    """The SGLang path end to end over HTTP (the stand-in answers with the transformers engine on this CPU): the
    engine's outputs match the CPU reference, and the engine/raw throughput comparison is measured."""
    opts = gc.Options(
        device="cpu",
        plan=gc.PLANS["quick"],
        out=tmp_path / "r.json",
        workdir=tmp_path / "work",
        sections=("sglang",),
        sglang_server_command=[sys.executable, STANDIN],
    )
    rep = gc.run_check(opts, tokenizer_dir=tiny_model_dir)
    secs = rep["sections"]
    assert secs["setup"]["status"] == "ok" and secs["setup"]["reference_usable"]
    assert all(secs[k]["reason"] == "not requested (--sections)" for k in ("engine", "shared_sweep", "sft"))
    sg = secs["sglang"]
    assert sg["status"] in {"ok", "failed"}, sg
    assert sg["vs_cpu_reference"]["rate"] == 1.0
    tp = sg["throughput"]
    assert tp["prompts"] == gc.PLANS["quick"].sglang_prompts and tp["raw_tokens"] > 0 and tp["ratio"] > 0
    assert sg["checks"]["same_tokens_as_raw"]
    if sg["status"] == "failed":  # timing noise on a shared CPU may miss the 0.95x goal; nothing else may fail
        assert sg["error"] == "check(s) did not hold: throughput_goal_met", sg["error"]
    assert json.loads(opts.out.read_text())["sections"]["sglang"]["status"] == sg["status"]


def _row(item_id: str, thinking: str, wait: int = 0) -> dict:
    return {
        "id": item_id,
        "thinking_text": thinking,
        "thinking_finish_reason": "length",
        "response_text": "B",
        "finish_reason": "stop",
        "num_thinking_tokens": 4,
        "num_gen_tokens": 6,
        "num_wait": wait,
    }


def test_compare_counts_items_and_locates_the_first_difference():
    want = {"budget8": [_row("a", "same"), _row("b", "abcdef")], "budget8_wait1": [_row("a", "x", 1)]}
    got = {"budget8": [_row("a", "same"), _row("b", "abcXef")], "budget8_wait1": [_row("a", "x", 2)]}
    res = gc.compare(got, want)
    assert (res["matched"], res["total"], res["rate"]) == (1, 3, round(1 / 3, 4))
    assert res["by_variant"] == {"budget8": 0.5, "budget8_wait1": 0.0}
    b = next(e for e in res["items"] if e["id"] == "b")
    assert b["first_field"] == "thinking_text" and b["thinking_common_prefix_chars"] == 3
    w = next(e for e in res["items"] if e["variant"] == "budget8_wait1")
    assert w["first_field"] == "num_wait"
    missing = gc.compare({"budget8": [_row("a", "same")]}, want)  # an item the run lacks counts as a disagreement
    assert missing["matched"] == 1 and missing["total"] == 3


def test_outputs_keep_the_generated_fields_by_variant_from_either_record_shape():
    rows = [_row("a", "x") | {"variant": "budget8", "prompt": "p"}, _row("a", "y", 1) | {"variant": "budget8_wait1"}]
    by_variant = {"budget8": [rows[0]], "budget8_wait1": [rows[1]]}
    want = {"budget8": [_row("a", "x")], "budget8_wait1": [_row("a", "y", 1)]}
    assert gc.outputs_of(rows) == gc.outputs_of(by_variant) == want


def test_a_failing_section_is_recorded_not_raised():
    def boom(body):
        body["steps"] = 3  # measured before the failure: kept in the report
        raise RuntimeError("CUDA error: out of memory")

    r = gc.run_section("sft", boom)
    assert r["status"] == "failed" and r["error"] == "RuntimeError: CUDA error: out of memory" and r["steps"] == 3
    assert "boom" in r["traceback"]
    r = gc.run_section("sft", lambda body: body.update(checks={"loss_decreased": False, "resumed": True}, steps=4))
    assert r["status"] == "failed" and r["error"] == "check(s) did not hold: loss_decreased" and r["steps"] == 4
    assert gc.run_section("x", lambda body: body.update(checks={"a": True}))["status"] == "ok"


def test_reference_does_not_apply_to_another_model_or_item_set(tmp_path):
    item = EvalItem("NEJM/00000", "NEJM", "q?", {"A": "x", "B": "y"}, "A", "x")
    ref = {
        "fingerprint": {"weights_sha256": "w"},
        "runs": {"quick": {"items": ["NEJM/00000"], "prompts_sha256": "p", "outputs": {}}},
    }
    opts = gc.Options(device="cpu", plan=gc.PLANS["quick"])
    ctx = gc.Context(
        opts, {}, tmp_path, tmp_path, tmp_path, [item], None, [], {"weights_sha256": "w", "prompts_sha256": "p"}, ref
    )
    assert gc.reference_run(ctx) is ref["runs"]["quick"] and ctx.reference_problem is None
    ctx.fingerprint["weights_sha256"] = "other"
    assert gc.reference_run(ctx) is None and "tiny model" in ctx.reference_problem
    ctx.fingerprint["weights_sha256"], ctx.items = "w", [item, item]
    assert gc.reference_run(ctx) is None and "other items" in ctx.reference_problem
    ctx.opts = gc.Options(device="cpu", plan=gc.PLANS["full"])
    assert gc.reference_run(ctx) is None and "no 'full' run" in ctx.reference_problem


def test_committed_reference_matches_the_fixture_and_plans():
    """The reference carried to GPU machines covers both plans on today's fixture (rerun --make-reference after a
    change to the model, tokenizer, prompts, fixture or budget semantics; the quick CPU run checks the outputs)."""
    from m1repro.config import load_config

    ref = gc.load_reference(gc.DEFAULT_REFERENCE)
    cfg = load_config(gc.DEFAULT_CONFIG, validate=False)
    assert set(ref["runs"]) == {"quick", "full"} and ref["made_on"]["device"] == "cpu"
    for name, run in ref["runs"].items():
        assert run["items"] == [it.id for it in gc.select_items(cfg, gc.PLANS[name].items)]
        assert all(len(rows) == len(run["items"]) for rows in run["outputs"].values())
        assert run["coverage"]["thinking_finish_reasons"] == ["length", "stop"] and run["coverage"]["forced_items"]
