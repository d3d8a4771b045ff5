"""Helpers of the GPU tests (tests/gpu/conftest.py has the fixtures)."""

from __future__ import annotations

from m1repro.eval import EvalSettings


def settings(mode: str, shared_sweep: bool) -> EvalSettings:
    """The tiny run's evaluation settings, one budget mode, shared sweep on or off."""
    return EvalSettings(budget_mode=mode, answer_max_tokens=8, batch_size=64, shared_sweep=shared_sweep)


def by_variant(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["variant"], []).append(r)
    return out
