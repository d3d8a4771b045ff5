"""Inference engines behind one interface (:class:`m1repro.engines.base.Engine`): transformers (CPU or GPU) and
SGLang (GPU). Implementations are imported lazily, so a CPU job never imports SGLang and vice versa."""

from __future__ import annotations

from m1repro.engines.base import Completion, Engine, EngineSpec

__all__ = ["Completion", "Engine", "EngineSpec", "load_engine"]


def load_engine(spec: EngineSpec) -> Engine:
    """Build the engine a spec names."""
    if spec.backend == "transformers":
        from m1repro.engines.hf import HFEngine

        return HFEngine(spec.model_path, tokenizer_path=spec.tokenizer_path, **spec.options)
    if spec.backend == "sglang":
        from m1repro.engines.sglang import SGLangEngine

        return SGLangEngine(spec.model_path, tokenizer_path=spec.tokenizer_path, **spec.options)
    raise ValueError(f"unknown engine backend {spec.backend!r} (expected 'transformers' or 'sglang')")
