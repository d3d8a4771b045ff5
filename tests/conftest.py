"""Shared fixtures: a scripted engine for controller tests and a real tiny Qwen model (built once per session)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m1repro.engines.base import Completion

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ScriptedEngine:
    """An engine whose "model" is a function from the prompt text to the text it would write.

    One character is one token (``encode`` = code points), so token arithmetic in tests is visible; ``count_fn``
    replaces the count used for encoding text (the faithful mode counts by encoding each piece). Every call is
    recorded (prompts and limits in ``calls``, stop strings in ``stops``). ``eos`` ends a generation whatever the stop
    strings, as a model's end-of-sequence token does in SGLang.
    """

    script: Callable[[str], str]
    count_fn: Callable[[str], int] | None = None
    name: str = "scripted"
    returns_token_ids: bool = True
    calls: list[tuple[list[str], list[int]]] = field(default_factory=list)
    stops: list[tuple[str, ...]] = field(default_factory=list)
    eos: str = "<|im_end|>"
    tokenizer: object = None
    generated_tokens: int = 0

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)

    def count_tokens(self, text: str) -> int:
        return self.count_fn(text) if self.count_fn else len(text)

    def close(self) -> None:
        pass

    def generate(self, prompts, max_tokens, stop):
        texts = [p if isinstance(p, str) else self.decode(p) for p in prompts]
        limits = [max_tokens] * len(texts) if isinstance(max_tokens, int) else list(max_tokens)
        self.calls.append((texts, limits))
        self.stops.append(tuple(stop))
        out = []
        for text, limit in zip(texts, limits):
            full = self.script(text)
            cut = min((full.find(s) for s in (*stop, self.eos) if s in full), default=-1)
            if cut != -1 and cut < limit:
                gen = full[:cut]
                out.append(Completion(gen, "stop", len(gen) + 1, tuple(self.encode(gen))))
            else:
                gen = full[:limit]
                out.append(Completion(gen, "length", len(gen), tuple(self.encode(gen))))
        return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A real tiny Qwen2 with the real Qwen2.5 tokenizer, as the workflow's models_tiny rule builds it."""
    from m1repro.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen", seed=0, init_std=0.3)


@pytest.fixture(scope="session")
def qwen_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _run_tiny(tmp_path_factory, name: str) -> Path:
    """The tiny workflow to results/table1.csv with real Snakemake in a fresh copy of the checkout."""
    import subprocess
    import sys
    import time

    from workflow_helpers import copy_checkout

    d = copy_checkout(tmp_path_factory.mktemp(name))
    t = time.time()
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/tiny", "results/table1.csv"],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    print(f"\n{name}: tiny run {time.time() - t:.0f} s")
    return d


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny run (the SLURM test's local reference, and the first of ``tiny_runs``)."""
    return _run_tiny(tmp_path_factory, "tiny0")


@pytest.fixture(scope="session")
def tiny_runs(tiny_run, tmp_path_factory) -> list[Path]:
    """Two independent tiny runs (determinism), shared by the workflow tests."""
    return [tiny_run, _run_tiny(tmp_path_factory, "tiny1")]
