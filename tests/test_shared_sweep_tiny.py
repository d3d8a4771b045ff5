"""On the real tiny model (CPU, deterministic): one shared generation gives byte-identical predictions to
independent per-budget runs, for every budget and forcing count of the tiny config, in both budget modes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from m1repro.cfgview import model_variants
from m1repro.config import load_config
from m1repro.engines.hf import HFEngine
from m1repro.eval import EvalSettings, run_job
from m1repro.records import load_eval_file

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # every variant generated twice on the real tiny model


@pytest.fixture(scope="module")
def stopping_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with its <|im_end|> embedding scaled by 2, so that greedy thinking sometimes ends on its own
    (an untrained model never does), and forcing has something to force."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("stopping") / "model"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with torch.no_grad():
        model.get_input_embeddings().weight[151645] *= 2.0
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out))
    return out


def by_variant(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["variant"], []).append(r)
    return out


@pytest.mark.parametrize("mode", ["faithful", "exact"])
def test_shared_sweep_identical_to_independent_runs(stopping_model_dir, mode):
    cfg = load_config(REPO / "config/tiny.yaml")
    variants = model_variants(cfg, "tiny-think")
    assert {v.name for v in variants} == {"budget16", "budget32", "budget64", "budget32_wait1", "budget32_wait2"}
    ev = load_eval_file(REPO / cfg["eval"]["data"]["path"], ["NEJM", "MedQA_USLME_test"], on_invalid="exclude")
    items = ev.items["NEJM"][:3] + ev.items["MedQA_USLME_test"][:3]
    engine = HFEngine(str(stopping_model_dir), batch_size=8, num_threads=1)
    shared_settings = EvalSettings(budget_mode=mode, answer_max_tokens=8, batch_size=64, shared_sweep=True)
    shared = by_variant(run_job(engine, engine.tokenizer, items, "thinking", variants, shared_settings))
    naive_settings = replace(shared_settings, shared_sweep=False)
    for v in variants:
        alone = by_variant(run_job(engine, engine.tokenizer, items, "thinking", [v], naive_settings))
        assert alone[v.name] == shared[v.name], v.name
    # the sweep covers both endings, and the forcing rounds really forced something
    reasons = {r["thinking_finish_reason"] for r in shared["budget64"]}
    assert reasons == {"stop", "length"}
    assert any(r["num_wait"] > 0 for r in shared["budget32_wait2"])
