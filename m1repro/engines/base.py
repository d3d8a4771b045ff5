"""The engine interface: text prompts in, completions with finish reasons and token ids out.

Engines know nothing of prompts or budgets; the budget controller (:mod:`m1repro.budget`) drives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Completion:
    """One generated continuation.

    ``token_ids`` are the generated ids of ``text`` (a matched stop token excluded); ``stop_ids`` the ids that ended
    the generation after them (the matched stop or end-of-sequence token), so that ``token_ids + stop_ids`` is every
    id the server generated (SGLang's ``output_ids``). ``num_tokens`` is the engine's own count of generated tokens,
    which for SGLang includes a matched stop sequence.

    Engines finish as SGLang does (``Req.check_finished``): the token limit is checked before the stop tokens, so a
    stop token generated as the ``max_tokens``-th token ends the reply with ``length``; ``text`` is decoded with
    special tokens skipped (SGLang's ``skip_special_tokens=True``).
    """

    text: str
    finish_reason: FinishReason
    num_tokens: int
    token_ids: tuple[int, ...] | None = None
    stop_ids: tuple[int, ...] = ()


@runtime_checkable
class Engine(Protocol):
    """Greedy text completion with stop strings, and the model's own token arithmetic.

    Everything the budget controller and the prediction job use is declared here: ``encode``/``decode`` work on
    the model's tokenizer with no special tokens added and ``decode`` skipping them as SGLang's text does (exact
    budgets and shared sweeps cut token ids);
    ``returns_token_ids`` says whether completions carry the generated ids (the SGLang engine's text-only ``openai``
    API does not, so shared sweeps fall back to one generation per variant).
    """

    name: str
    tokenizer: Any
    generated_tokens: int

    @property
    def returns_token_ids(self) -> bool: ...

    def generate(
        self, prompts: Sequence[str | Sequence[int]], max_tokens: int | Sequence[int], stop: Sequence[str]
    ) -> list[Completion]:
        """Complete each prompt; ``max_tokens`` is one value for the batch or one per prompt."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer, no special tokens added."""
        ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def close(self) -> None: ...


class TokenizerMixin:
    """Token arithmetic with the model's own Hugging Face tokenizer (``self.tokenizer``), no special tokens added:
    the same counts, ids and text for every backend."""

    tokenizer: Any

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids as SGLang's server returns it: special tokens skipped (``skip_special_tokens``
        defaults to true in SGLang's sampling parameters), so a thinking cut from a longer run reads as the run at
        the smaller budget would."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))


@dataclass(frozen=True)
class EngineSpec:
    """What a job needs to build an engine: backend and its settings, from the model's config entry."""

    backend: Literal["transformers", "sglang"]
    model_path: str
    tokenizer_path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
