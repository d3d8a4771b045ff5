"""Stage ``sample``: m1K by diversity sampling and the ablation sets (docs/fidelity.md, Curation).

m1K (``select_hard_sample_by_domain_source.ipynb``): rows are bucketed by domain code, then by source, with
domains and sources in the order they first occur in the m23K table (dict insertion order in the notebook).
``rng = np.random.default_rng(42)``; until n are picked: ``rng.choice`` of the domain keys, ``rng.choice`` of that
domain's source keys, ``rng.choice`` of that bucket's rows, which is removed; emptied buckets and domains are
pruned. hard_domain_1k (``select_hard_sample_by_domain.ipynb``): the same with a single source bucket per domain
(the notebook still draws ``rng.choice`` from its one key).

The random sets (``random_select.ipynb``) use ``datasets.Dataset.shuffle(seed=42)``, i.e. the order
``np.random.default_rng(42).permutation(n)`` (:func:`shuffled_order`): hard_random_1k is the first 1,000 of m23K in
that order; random_1k / random_23k take the first ``int(size / 0.8)`` of the raw pool before R1 and keep the first
``size`` correct ones after.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
import polars as pl

UNLABELLED = "(unlabelled)"
SINGLE_SOURCE = "merge_source"  # the notebook's one source key for hard_domain_1k


T = TypeVar("T")


def _choose(rng: np.random.Generator, items: list[T]) -> T:
    """``rng.choice(items)``: one ``integers(0, len(items))`` draw (none for a single item), then that item; by index,
    so keys of any type come back unchanged."""
    return items[int(rng.choice(len(items)))]


def diversity_sample(
    domains: Sequence[Hashable | None], sources: Sequence[Hashable], n: int, seed: int = 42
) -> list[int]:
    """Row indices in pick order, by the notebook's loop; stops early when every bucket is empty."""
    tree: dict[Hashable, dict[Hashable, list[int]]] = {}
    for i, (d, s) in enumerate(zip(domains, sources, strict=True)):
        tree.setdefault(UNLABELLED if d is None else d, {}).setdefault(s, []).append(i)
    rng = np.random.default_rng(seed)

    picked: list[int] = []
    while len(picked) < n and tree:
        domain = _choose(rng, list(tree.keys()))
        chosen = tree[domain]
        source = _choose(rng, list(chosen.keys()))
        bucket = chosen[source]
        row = _choose(rng, bucket)
        bucket.remove(row)
        if not bucket:
            chosen.pop(source)
        if not chosen:
            tree.pop(domain)
        picked.append(row)
    return picked


def m1k_sample(df: pl.DataFrame, n: int, seed: int = 42) -> list[int]:
    return diversity_sample(df["domain_code"].to_list(), df["source"].to_list(), n, seed)


def hard_domain_sample(df: pl.DataFrame, n: int, seed: int = 42) -> list[int]:
    return diversity_sample(df["domain_code"].to_list(), [SINGLE_SOURCE] * df.height, n, seed)


def shuffled_order(n: int, seed: int = 42) -> list[int]:
    """Row order after ``datasets.Dataset.shuffle(seed=seed)``."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def random_draw_size(size: int, estimated_accuracy: float) -> int:
    """Rows drawn before R1 for a random set of ``size``: ``int(size / estimated_accuracy)`` (1,000 -> 1,250,
    23,493 -> 29,366 at 0.8)."""
    return int(size / estimated_accuracy)
