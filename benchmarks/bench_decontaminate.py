"""Time dedup and decontamination on synthetic MCQ-like text and extrapolate to 196K x ~12K.

Lengths follow the pool's mix (93% short MedMCQA-like prompts, 5% long MedQA vignettes, the rest HeadQA/PubMedQA
lengths). Decontamination is linear in the pool size (each item against ~12K evaluation questions); dedup is
quadratic (each unique prompt against all others). Usage: .venv/bin/python benchmarks/bench_decontaminate.py [N] [WORKERS]
"""

from __future__ import annotations

import random
import sys
import time

import polars as pl

from m1repro.curate import fuzzy

WORDS = (
    "patient presents with pain fever cough renal hepatic cardiac nerve muscle drug dose acute chronic "
    "syndrome deficiency infection artery vein which following most likely diagnosis treatment of the a "
    "in is with for year old man woman child history examination shows"
).split()


def text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def item(rng: random.Random) -> tuple[str, list[str]]:
    u = rng.random()
    n = rng.randint(8, 30) if u < 0.93 else rng.randint(100, 180) if u < 0.98 else rng.randint(200, 300)
    return text(rng, n), [text(rng, rng.randint(1, 4)) for _ in range(4)]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rng = random.Random(0)
    pool_items = [item(rng) for _ in range(n)]
    evals = [fuzzy.EvalQuestion("E", i, *item(rng)) for i in range(12_000)]
    pool = pl.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "source": ["MedMCQA"] * n,
            "question": [q for q, _ in pool_items],
            "options": [o for _, o in pool_items],
            "prompt": [q + "\n" + "\n".join(f"{'ABCD'[k]}. {t}" for k, t in enumerate(o)) for q, o in pool_items],
        }
    )
    t0 = time.perf_counter()
    fuzzy.faithful_contamination(pool["prompt"].to_list(), fuzzy.eval_references(evals), 95.0, workers)
    t1 = time.perf_counter()
    fuzzy.improved_contamination(pool["question"].to_list(), pool["options"].to_list(), evals, 95.0, 8, 0.5, workers)
    t2 = time.perf_counter()
    fuzzy.dedup_faithful(pool["prompt"].to_list(), 95.0, 5, workers)
    t3 = time.perf_counter()
    scale = 196_157 / n
    f, im, dd = t1 - t0, t2 - t1, t3 - t2
    print(f"items={n} eval=12000 workers={workers}")
    print(f"decontaminate faithful: {f:.1f} s  -> per 10K {f * 10_000 / n:.1f} s -> 196K {f * scale / 60:.1f} min")
    print(f"decontaminate improved: {im:.1f} s  -> per 10K {im * 10_000 / n:.1f} s -> 196K {im * scale / 60:.1f} min")
    print(f"dedup faithful (n x n): {dd:.1f} s  -> 196K x 196K (quadratic) {dd * scale**2 / 3600:.1f} h")


if __name__ == "__main__":
    main()
