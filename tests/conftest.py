"""Shared fixtures: a scripted engine for controller tests and a real tiny Qwen model (built once per session)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m1repro.engines.base import Completion

REPO = Path(__file__).resolve().parent.parent


# The scripted engine's special tokens: one token each (ids past the last code point), skipped in replies' text
SPECIAL_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")
SPECIAL_BASE = 0x110000
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


@dataclass
class ScriptedEngine:
    """An engine whose "model" is a function from the prompt text to the text it would write.

    One character is one token (``encode`` = code points), except the special tokens of ``SPECIAL_TOKENS``, one
    token each, so token arithmetic in tests is visible; ``count_fn`` replaces the count used for encoding text (the
    faithful mode counts by encoding each piece). Every call is recorded (prompts and limits in ``calls``, stop
    strings in ``stops``). ``eos`` ends a generation whatever the stop strings, as a model's end-of-sequence token
    does in SGLang. Replies finish as SGLang finishes them: the limit is checked before the stop tokens (a stop token
    written as the limit-th token ends the reply with 'length'), and the text skips special tokens.
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
        ids: list[int] = []
        for part in _SPECIAL_RE.split(text):
            if part in SPECIAL_TOKENS:
                ids.append(SPECIAL_BASE + SPECIAL_TOKENS.index(part))
            else:
                ids.extend(ord(c) for c in part)
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return "".join(
            chr(i) if i < SPECIAL_BASE else ("" if skip_special_tokens else SPECIAL_TOKENS[i - SPECIAL_BASE])
            for i in ids
        )

    def count_tokens(self, text: str) -> int:
        return self.count_fn(text) if self.count_fn else len(self.encode(text))

    def close(self) -> None:
        pass

    def generate(self, prompts, max_tokens, stop):
        texts = [p if isinstance(p, str) else self.decode(p, skip_special_tokens=False) for p in prompts]
        limits = [max_tokens] * len(texts) if isinstance(max_tokens, int) else list(max_tokens)
        self.calls.append((texts, limits))
        self.stops.append(tuple(stop))
        token_stops = {SPECIAL_BASE + SPECIAL_TOKENS.index(s) for s in (*stop, self.eos) if s in SPECIAL_TOKENS}
        text_stops = [s for s in stop if s not in SPECIAL_TOKENS]
        out = []
        for text, limit in zip(texts, limits):
            out.append(self._finish(self.encode(self.script(text)), limit, token_stops, text_stops))
        return out

    def _finish(self, ids: list[int], limit: int, token_stops: set[int], text_stops: list[str]) -> Completion:
        for n in range(1, len(ids) + 1):
            if n >= limit:  # the limit first, whatever the token
                break
            if ids[n - 1] in token_stops:
                kept = ids[: n - 1]
                return Completion(self.decode(kept), "stop", n, tuple(kept), (ids[n - 1],))
            raw = self.decode(ids[:n], skip_special_tokens=False)
            hit = [raw.find(s) for s in text_stops if s in raw]
            if hit:
                return Completion(raw[: min(hit)], "stop", n, tuple(ids[:n]))
        row = ids[: max(limit, 0)]
        return Completion(self.decode(row), "length", len(row), tuple(row))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A real tiny Qwen2 with the real Qwen2.5 tokenizer, as the workflow's models_tiny rule builds it."""
    from m1repro.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen", seed=0, init_std=0.3)


@pytest.fixture(scope="session")
def qwen_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


class TinyRuns:
    """Tiny workflow runs to results/table1.csv, each with real Snakemake in a fresh copy of the checkout.

    A run starts when first asked for and is waited for when its result is needed, so independent runs overlap: the
    two determinism runs run side by side, and the SLURM test starts its local reference before its SLURM run. Each
    run is its own process group, stopped at the end of the session if it is still running (nothing left behind).
    """

    TIMEOUT_S = 1800

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._runs: dict[int, tuple[Path, subprocess.Popen[bytes], float]] = {}
        self._done: dict[int, Path] = {}

    def start(self, i: int) -> None:
        if i in self._runs:
            return
        from workflow_helpers import copy_checkout

        d = copy_checkout(self._factory.mktemp(f"tiny{i}"))
        with open(d / "snakemake.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "snakemake", "--profile", "profiles/tiny", "results/table1.csv"],
                cwd=d,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._runs[i] = (d, proc, time.time())

    def result(self, i: int) -> Path:
        """The checkout of run ``i`` once it has finished (started now if it was not)."""
        if i not in self._done:
            self.start(i)
            d, proc, t0 = self._runs[i]
            rc = proc.wait(timeout=self.TIMEOUT_S - (time.time() - t0))
            assert rc == 0, (d / "snakemake.log").read_text()[-4000:]
            print(f"\ntiny{i}: tiny run done, {time.time() - t0:.0f} s after its start")
            self._done[i] = d
        return self._done[i]

    def stop(self) -> None:
        for _, proc, _ in self._runs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # Snakemake cancels its jobs on SIGINT
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture(scope="session")
def tiny_runner(tmp_path_factory) -> Iterator[TinyRuns]:
    runner = TinyRuns(tmp_path_factory)
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def tiny_run(tiny_runner) -> Path:
    """One tiny run (the SLURM test's local reference, and the first of ``tiny_runs``)."""
    return tiny_runner.result(0)


@pytest.fixture(scope="session")
def tiny_runs(tiny_runner) -> list[Path]:
    """Two independent tiny runs, side by side (determinism), shared by the workflow tests."""
    tiny_runner.start(0)
    tiny_runner.start(1)
    return [tiny_runner.result(0), tiny_runner.result(1)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that needs a whole tiny workflow run (minutes) is slow, marked or not: `make test-fast` leaves it out."""
    for item in items:
        if "tiny_runner" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
