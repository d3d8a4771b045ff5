"""The SGLang engine on the GPU: our server lifecycle and /generate client run the whole sweep of the tiny thinking
model: every item and variant, both endings of thinking, forcing, exact budgets kept. Runs where ``sglang`` is installed (the inference env, envs/<stack>/inference.yaml); elsewhere it skips and says so.
Its throughput against raw SGLang requests is a figure of benchmarks/bench_gpu.py. The HTTP client itself is tested
on every machine against a stand-in server (tests/test_sglang_engine.py)."""

from __future__ import annotations

import importlib.util

import pytest

from m1repro.eval import run_job

from .gpu_helpers import by_variant, settings

pytestmark = pytest.mark.gpu

# The tiny model's head dimension is 16, which not every SGLang attention backend supports; triton's kernels do.
SGLANG_ARGS = ("--attention-backend", "triton")


@pytest.fixture(scope="module")
def sglang_engine(device, stopping_model_dir, tmp_path_factory):
    if importlib.util.find_spec("sglang") is None:
        pytest.skip(
            "sglang is not installed in this environment (run in the inference env, envs/<stack>/inference.yaml)"
        )
    if device != "cuda":
        pytest.skip("SGLang serves on CUDA only")
    from m1repro.engines.sglang import SGLangEngine  # an installed but broken sglang fails here, loudly

    log = tmp_path_factory.mktemp("sglang") / "server.log"
    engine = SGLangEngine(
        str(stopping_model_dir),
        server_timeout_s=300.0,
        request_timeout_s=600.0,
        extra_args=SGLANG_ARGS,
        log_path=str(log),
    )
    yield engine
    engine.close()


def test_sglang_engine_runs_the_whole_sweep(sglang_engine, items, variants):
    got = by_variant(
        run_job(sglang_engine, sglang_engine.tokenizer, items, "thinking", variants, settings("exact", True))
    )
    assert set(got) == {v.name for v in variants}
    rows = [r for rs in got.values() for r in rs]
    for v in variants:
        assert [r["id"] for r in got[v.name]] == [it.id for it in items]
        if v.rounds == 0:
            assert all(r["num_thinking_tokens"] <= v.budget for r in got[v.name]), v.name
    assert {r["thinking_finish_reason"] for r in rows} == {"stop", "length"}
    assert any(r["num_wait"] > 0 for r in rows)
    assert all(r["response_text"] is not None for r in rows)
