"""What a prediction job produces for each item: the variants of a model (pure data, no engine; the workflow imports
this while it is being parsed).

``baseline`` for non-thinking models, ``budget{B}`` for a thinking budget and ``budget{B}_wait{k}`` for k rounds of
"Wait" forcing at budget B. Every prediction record carries its variant's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_VARIANT_RE = re.compile(r"^(?:baseline|budget(\d+)(?:_wait(\d+))?)$")


@dataclass(frozen=True, order=True)
class Variant:
    budget: int | None = None  # None: a baseline (no thinking phase)
    rounds: int = 0

    @property
    def name(self) -> str:
        if self.budget is None:
            return "baseline"
        return f"budget{self.budget}" + (f"_wait{self.rounds}" if self.rounds else "")

    @classmethod
    def parse(cls, name: str) -> Variant:
        m = _VARIANT_RE.match(name)
        if not m:
            raise ValueError(f"not a prediction variant: {name!r} (expected baseline, budgetB or budgetB_waitK)")
        if m.group(1) is None:
            return cls()
        return cls(int(m.group(1)), int(m.group(2) or 0))


def thinking_variants(
    budgets: Sequence[int], forcing_rounds: Sequence[int] = (), forcing_budgets: Sequence[int] = ()
) -> list[Variant]:
    """The budget sweep (no forcing) plus every forcing count at every forcing budget."""
    out = {Variant(b, 0) for b in budgets}
    out |= {Variant(b, r) for b in forcing_budgets for r in forcing_rounds}
    return sorted(out, key=lambda v: (v.budget or 0, v.rounds))
