"""Shared vs naive budget sweep, answer-phase overhead, and transformers throughput, on the tiny Qwen model (CPU).

Prints, in one run:
- thinking tokens generated and wall time for the 7-budget sweep (and the forcing sweep) done the shared way vs
  one independent run per budget (goal: shared <= 0.55x the naive thinking tokens), with a check that both give
  byte-identical predictions;
- the answer-phase share of the shared sweep;
- generation throughput of the transformers backend at batch sizes 1..64.

    .venv/bin/python benchmarks/bench_sweep.py [--items 44] [--mode faithful|exact] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from m1repro.budget import ThinkState
from m1repro.engines.hf import HFEngine
from m1repro.eval import EvalSettings, _think_naive, _think_shared, run_job
from m1repro.records import load_eval_file
from m1repro.variants import Variant

REPO = Path(__file__).resolve().parent.parent


class Counting:
    """Counts generated tokens of thinking calls and answer calls separately (answer prompts hold the marker)."""

    def __init__(self, engine: HFEngine) -> None:
        self.e = engine
        self.name = engine.name
        self.returns_token_ids = True
        self.tokenizer = engine.tokenizer
        self.thinking = 0
        self.answer = 0
        self.answer_s = 0.0

    def generate(self, prompts, max_tokens, stop):
        t = time.perf_counter()
        out = self.e.generate(prompts, max_tokens, stop)
        first = prompts[0] if isinstance(prompts[0], str) else self.e.decode(prompts[0])
        n = sum(c.num_tokens for c in out)
        if "<|im_start|>answer" in first:
            self.answer += n
            self.answer_s += time.perf_counter() - t
        else:
            self.thinking += n
        return out

    def __getattr__(self, k):
        return getattr(self.e, k)


def key(states: list[ThinkState]) -> list[tuple]:
    return [(s.thinking, s.finish_reason, s.num_tokens, s.num_wait) for s in states]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "resources/tiny/models/tiny-qwen"))
    ap.add_argument("--items", type=int, default=44)
    ap.add_argument("--mode", default="exact", choices=["faithful", "exact"])
    ap.add_argument("--budgets", default="8,16,32,64,128,256,512")
    args = ap.parse_args()
    if not Path(args.model, "config.json").exists():
        from m1repro.tiny import build_tiny_model

        build_tiny_model(args.model, init_std=0.3)
    ev = load_eval_file(REPO / "resources/fixtures/eval/m1_eval_fixture.json", on_invalid="exclude")
    items = [it for src in ev.items.values() for it in src][: args.items]
    eng = HFEngine(args.model, batch_size=64, num_threads=1)
    from m1repro.prompts import render_prompt

    prompts = [render_prompt(eng.tokenizer, it.question, it.options, "thinking") for it in items]
    budgets = [int(b) for b in args.budgets.split(",")]
    settings = EvalSettings(budget_mode=args.mode, batch_size=64, answer_max_tokens=16)
    report: dict[str, object] = {"items": len(items), "mode": args.mode, "budgets": budgets}
    for label, variants in {
        "budget_sweep": [Variant(b, 0) for b in budgets],
        "forcing_sweep": [Variant(budgets[len(budgets) // 2], r) for r in (0, 1, 2, 4)],
    }.items():
        shared_eng = Counting(eng)
        t = time.perf_counter()
        shared = _think_shared(shared_eng, prompts, variants, settings)
        shared_s = time.perf_counter() - t
        naive_tokens, naive_s, identical = 0, 0.0, True
        for v in variants:
            ne = Counting(eng)
            t = time.perf_counter()
            states = _think_naive(ne, prompts, v, settings)
            naive_s += time.perf_counter() - t
            naive_tokens += ne.thinking
            identical &= key(states) == key(shared[v])
        report[label] = {
            "variants": [v.name for v in variants],
            "shared_thinking_tokens": shared_eng.thinking,
            "naive_thinking_tokens": naive_tokens,
            "token_ratio": round(shared_eng.thinking / max(1, naive_tokens), 3),
            "shared_s": round(shared_s, 2),
            "naive_s": round(naive_s, 2),
            "identical": identical,
        }
    # answer-phase overhead: the whole job (shared thinking + one answer pass for every variant)
    ce = Counting(eng)
    t = time.perf_counter()
    run_job(ce, eng.tokenizer, items, "thinking", [Variant(b, 0) for b in budgets], settings)
    total = time.perf_counter() - t
    report["answer_phase"] = {
        "answer_tokens": ce.answer,
        "thinking_tokens": ce.thinking,
        "answer_s": round(ce.answer_s, 2),
        "job_s": round(total, 2),
        "answer_share_of_time": round(ce.answer_s / total, 3),
    }
    # throughput of the transformers backend
    tput = {}
    for bs in (1, 4, 16, 64):
        e = HFEngine(args.model, batch_size=bs, num_threads=1)
        ps = (prompts * 64)[:bs]
        t = time.perf_counter()
        out = e.generate(ps, 64, [])
        dt = time.perf_counter() - t
        tput[bs] = round(sum(c.num_tokens for c in out) / dt, 1)
    report["transformers_tokens_per_s"] = tput
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
