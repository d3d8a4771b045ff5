#!/usr/bin/env python3
"""GPU throughput and agreement figures on the tiny thinking model (built here; no downloads). Prints, per dtype:

- the transformers engine's generated tokens/s at batch sizes 1, 2, 4, ..., 256;
- the shared budget sweep against one independent run per variant: wall time of each, and how many predictions
  agree (bit-equal records), both budget modes (tests/gpu asserts float32 equality; bf16 is only measured);
- where ``sglang`` is installed: our SGLang engine against raw batched ``/generate`` requests to the same server,
  tokens/s and the ratio (goal >= 0.95x).

    python3 benchmarks/bench_gpu.py [--device cuda|cpu] [--items N] [--json benchmarks/out/gpu_bench.json]

The correctness checks are tests: ``make gpu-check`` runs tests/gpu first, then this script (docs/gpu_check.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs from a bare checkout

from m1repro.cfgview import model_variants  # noqa: E402
from m1repro.config import load_config  # noqa: E402
from m1repro.eval import EvalSettings, run_job  # noqa: E402
from m1repro.io import write_json_atomic  # noqa: E402
from m1repro.prompts import render_prompt  # noqa: E402
from m1repro.records import load_eval_file  # noqa: E402

BATCH_SIZES = tuple(2**k for k in range(9))
NEW_TOKENS = 64
SGLANG_ROUNDS = 4  # timed calls per side; the two sides alternate who goes first, the best of each counts
SGLANG_ARGS = ("--attention-backend", "triton")  # the tiny model's head dimension (16) needs triton's kernels


def build_models(workdir: Path) -> tuple[Path, Path]:
    """The tiny model of the tests, and its copy with a stronger ``<|im_end|>`` (so that thinking ends both ways)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from m1repro.tiny import build_tiny_model

    plain = build_tiny_model(workdir / "tiny-qwen", seed=0, init_std=0.3)
    stopping = workdir / "tiny-qwen-stopping"
    tok = AutoTokenizer.from_pretrained(str(plain))
    model = AutoModelForCausalLM.from_pretrained(str(plain), dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight[tok.convert_tokens_to_ids("<|im_end|>")] *= 2.0
    model.save_pretrained(str(stopping))
    tok.save_pretrained(str(stopping))
    return plain, stopping


def throughput(engine: Any, prompts: list[str], sync: Any, max_batch: int) -> list[dict[str, Any]]:
    engine.batch_size = max_batch
    engine.generate(prompts[:1], 2, [])  # warm-up
    out = []
    for bs in (b for b in BATCH_SIZES if b <= max_batch):
        batch = [prompts[i % len(prompts)] for i in range(bs)]
        sync()
        t = time.perf_counter()
        n = sum(c.num_tokens for c in engine.generate(batch, NEW_TOKENS, []))
        sync()
        dt = time.perf_counter() - t
        out.append({"batch_size": bs, "tokens": n, "seconds": round(dt, 4), "tokens_per_s": round(n / dt, 1)})
    return out


def sweep_agreement(engine: Any, items: list, variants: list, mode: str) -> dict[str, Any]:
    s = EvalSettings(budget_mode=mode, answer_max_tokens=8, batch_size=64, shared_sweep=True)
    t = time.perf_counter()
    shared = run_job(engine, engine.tokenizer, items, "thinking", variants, s)
    shared_s = time.perf_counter() - t
    t = time.perf_counter()
    naive = [
        r
        for v in variants
        for r in run_job(engine, engine.tokenizer, items, "thinking", [v], replace(s, shared_sweep=False))
    ]
    naive_s = time.perf_counter() - t
    key = {(r["variant"], r["id"]): r for r in naive}
    agree = sum(key.get((r["variant"], r["id"])) == r for r in shared)
    return {"agree": agree, "total": len(shared), "shared_s": round(shared_s, 2), "naive_s": round(naive_s, 2)}


def raw_generate(base_url: str, prompts: list[str], max_tokens: int) -> int:
    """One batched /generate request as a user of raw SGLang sends it; the generated token count."""
    params = [{"max_new_tokens": max_tokens, "temperature": 0.0} for _ in prompts]
    req = urllib.request.Request(
        base_url + "/generate",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"text": prompts, "sampling_params": params}).encode(),
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        return sum(int(r["meta_info"]["completion_tokens"]) for r in json.loads(resp.read()))


def sglang_vs_raw(model: Path, prompts: list[str], workdir: Path) -> dict[str, Any]:
    from m1repro.engines.sglang import SGLangEngine

    engine = SGLangEngine(
        str(model), extra_args=SGLANG_ARGS, log_path=str(workdir / "sglang.log"), server_timeout_s=300
    )
    try:
        batch = [prompts[i % len(prompts)] for i in range(256)]
        raw_generate(engine.base_url, batch[:1], 2)  # warm-up
        calls = {
            "raw": lambda: raw_generate(engine.base_url, batch, NEW_TOKENS),
            "engine": lambda: sum(c.num_tokens for c in engine.generate(batch, NEW_TOKENS, [])),
        }
        best: dict[str, float] = {"raw": 0.0, "engine": 0.0}
        tokens: dict[str, int] = {}
        for k in range(SGLANG_ROUNDS):
            for side in ("raw", "engine") if k % 2 == 0 else ("engine", "raw"):
                t = time.perf_counter()
                tokens[side] = calls[side]()
                best[side] = max(best[side], tokens[side] / (time.perf_counter() - t))
    finally:
        engine.close()
    return {
        "prompts": len(batch),
        "tokens": tokens,
        "raw_tokens_per_s": round(best["raw"], 1),
        "engine_tokens_per_s": round(best["engine"], 1),
        "ratio": round(best["engine"] / best["raw"], 3),
        "goal": 0.95,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda if available")
    ap.add_argument("--items", type=int, default=None, help="fixture items (default: all valid ones)")
    ap.add_argument("--max-batch", type=int, default=max(BATCH_SIZES), help="largest batch size (default: %(default)s)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    a = ap.parse_args()
    import torch

    from m1repro.engines.hf import HFEngine

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    dtypes = ("float32", "bfloat16") if device == "cuda" else ("float32",)
    cfg = load_config(REPO / "config" / "tiny.yaml", validate=False)  # complete as written; no Snakemake needed
    ev = load_eval_file(REPO / cfg["eval"]["data"]["path"], cfg["eval"]["datasets"], on_invalid="exclude")
    items = [it for src in ev.items.values() for it in src][: a.items]
    variants = model_variants(cfg, "tiny-think")
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "items": len(items),
        "variants": [v.name for v in variants],
        "new_tokens": NEW_TOKENS,
        "dtypes": {},
    }
    with tempfile.TemporaryDirectory(prefix="m1repro-bench-gpu-") as tmp:
        plain, stopping = build_models(Path(tmp))
        for dtype in dtypes:
            eng = HFEngine(str(plain), device=device, dtype=dtype)
            prompts = [render_prompt(eng.tokenizer, it.question, it.options, "thinking") for it in items]
            entry: dict[str, Any] = {"throughput": throughput(eng, prompts, sync, a.max_batch)}
            eng.close()
            eng = HFEngine(str(stopping), device=device, dtype=dtype, batch_size=64)
            entry["shared_sweep"] = {
                mode: sweep_agreement(eng, items, variants, mode) for mode in ("faithful", "exact")
            }
            eng.close()
            report["dtypes"][dtype] = entry
            tput = ", ".join(f"bs{b['batch_size']} {b['tokens_per_s']:,.0f}" for b in entry["throughput"])
            print(f"{dtype}: tokens/s {tput}")
            for mode, s in entry["shared_sweep"].items():
                print(
                    f"{dtype}: shared sweep ({mode}) agrees with independent runs on {s['agree']}/{s['total']} "
                    f"predictions; {s['shared_s']} s shared vs {s['naive_s']} s independent"
                )
        try:
            import sglang  # noqa: F401
        except ImportError as exc:
            report["sglang"] = {"skipped": f"sglang not importable: {exc}"}
            print(f"sglang: skipped ({exc})")
        else:
            if device == "cuda":
                report["sglang"] = r = sglang_vs_raw(stopping, prompts, Path(tmp))
                print(
                    f"sglang: engine {r['engine_tokens_per_s']:,.0f} vs raw {r['raw_tokens_per_s']:,.0f} tokens/s "
                    f"= {r['ratio']}x (goal {r['goal']}x)"
                )
    if a.json:
        write_json_atomic(a.json, report, indent=1)
        print(f"figures: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
