"""The shared budget sweep on the GPU: one shared generation per job gives the same predictions as one independent run
per budget and forcing count, in both budget modes, under GPU numerics (on the GPU the answer phase of a shared sweep
batches every variant together, independent runs batch one). The CPU twin is tests/test_shared_sweep_tiny.py.

If this fails on a GPU, the shared sweep is still a valid evaluation, but no longer bit-equal to one run per budget:
set ``eval.shared_sweep: false`` where that matters (it costs the generation the sweep saves)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from m1repro.engines.hf import HFEngine
from m1repro.eval import run_job

from .gpu_helpers import by_variant, settings

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("mode", ["faithful", "exact"])
def test_shared_sweep_equals_independent_runs_in_float32(device, stopping_model_dir, items, variants, mode):
    engine = HFEngine(str(stopping_model_dir), device=device, dtype="float32", batch_size=64)
    shared_settings = settings(mode, shared_sweep=True)
    shared = by_variant(run_job(engine, engine.tokenizer, items, "thinking", variants, shared_settings))
    differ = []
    for v in variants:
        alone = by_variant(
            run_job(engine, engine.tokenizer, items, "thinking", [v], replace(shared_settings, shared_sweep=False))
        )
        differ += [(v.name, a["id"]) for a, s in zip(alone[v.name], shared[v.name], strict=True) if a != s]
    engine.close()
    rows = [r for rs in shared.values() for r in rs]
    # not vacuous: thinking ended both ways, and forcing appended "Wait"
    assert {r["thinking_finish_reason"] for r in rows} == {"stop", "length"}
    assert any(r["num_wait"] > 0 for r in rows)
    assert not differ, f"{len(differ)} of {len(rows)} predictions differ: {differ[:10]}"


def test_bfloat16_sweep_gives_a_prediction_for_every_item_and_variant(
    device, dtypes, stopping_model_dir, items, variants
):
    """bf16 (what real GPU runs use): the whole job runs and every record is complete; how often it agrees with
    independent runs is a figure of benchmarks/bench_gpu.py, not a pass/fail property."""
    if "bfloat16" not in dtypes:
        pytest.skip("bfloat16 runs on CUDA only")
    engine = HFEngine(str(stopping_model_dir), device=device, dtype="bfloat16", batch_size=64)
    got = by_variant(run_job(engine, engine.tokenizer, items, "thinking", variants, settings("exact", True)))
    engine.close()
    assert set(got) == {v.name for v in variants}
    for v in variants:
        assert [r["id"] for r in got[v.name]] == [it.id for it in items]
        if v.rounds == 0:  # exact budgets never overshoot
            assert all(r["num_thinking_tokens"] <= v.budget for r in got[v.name]), v.name
