"""How long a training run takes: token counts of its set -> GPU-hours (cost plan) and SLURM runtime (minutes).

A model of the time of one optimizer step under DeepSpeed ZeRO-3, each assumption a named constant or a row of the
config's ``throughput.gpus`` table (:class:`Hardware`): compute = 6 x parameters x tokens / (GPUs x peak x MFU);
communication per micro-step = 3 passes (parameter all-gather in forward and backward, gradient reduce-scatter) of
the bf16 weights over the slowest link per GPU (NVLink/PCIe inside a node, the network across nodes); step time =
max(compute, communication), then an overhead factor for loading, checkpointing and the final save. Everything
forward/backward runs over every token (prompt included), although only the assistant tokens carry a loss.

The parameter count and the time limit have one owner each, shared with inference: m1repro.resources.run_params_b
and m1repro.resources.limit_needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from m1repro.resources import Throughput
    from m1repro.site import Site

OVERHEAD = 1.5  # model load, dataset preparation, per-epoch checkpoints, final save
CHARS_PER_TOKEN = 4.0  # Qwen2.5 tokenizer on English medical QA text (measured on MedQA/MedBullets items: 4.01)
TEMPLATE_TOKENS = 40  # system prompt, turn headers and think/answer markers of the training text
# Before a set exists (DAG planning, cost plans): the paper's sizes and "most samples around 1,000 tokens" (Fig. 8a),
# taken as a mean of 1,200 tokens per example for the right-skewed distribution.
NOMINAL_EXAMPLES = {
    "m1k": 1000,
    "random_1k": 1000,
    "hard_random_1k": 1000,
    "hard_domain_1k": 1000,
    "m23k": 23493,
    "random_23k": 23493,
}
NOMINAL_TOKENS_PER_EXAMPLE = 1200


@dataclass(frozen=True)
class Hardware:
    """What the estimate needs of the GPUs and the network (bf16, per GPU)."""

    peak_flops: float  # dense bf16 FLOP/s
    mfu: float  # model FLOPs utilisation reached by ZeRO-3 SFT on ~1K-token sequences
    intra_node_bytes_s: float  # effective all-gather/reduce-scatter bandwidth inside a node
    inter_node_bytes_s: float  # across nodes

    @classmethod
    def of(cls, tput: Throughput, site: Site) -> Hardware:
        return cls(tput.peak_tflops * 1e12, tput.mfu, tput.intra_node_gb_s * 1e9, site.network_gb_s_per_gpu * 1e9)


@dataclass(frozen=True)
class Estimate:
    examples: int
    tokens: int
    params: float
    gpus: int
    nodes: int
    epochs: float
    compute_s: float
    comm_s: float
    wall_s: float

    @property
    def gpu_hours(self) -> float:
        return self.wall_s * self.gpus / 3600


def nominal_token_count(set_name: str) -> tuple[int, int]:
    n = NOMINAL_EXAMPLES.get(set_name, 1000)
    return n, n * NOMINAL_TOKENS_PER_EXAMPLE


def set_token_count(path: str | Path) -> tuple[int, int]:
    """(examples, approximate tokens) of a training set from its characters (cheap enough for a resource function)."""
    import polars as pl

    df = pl.read_parquet(path, columns=["prompt", "reasoning", "distilled_answer_string"])
    chars = df.select(
        pl.col("prompt").str.len_chars().sum()
        + pl.col("reasoning").str.len_chars().sum()
        + pl.col("distilled_answer_string").str.len_chars().sum()
    ).item()
    return df.height, int(chars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS * df.height


def estimate(
    examples: int, tokens: int, params: float, nodes: int, gpus_per_node: int, epochs: float, hw: Hardware
) -> Estimate:
    gpus = nodes * gpus_per_node
    total_tokens = tokens * epochs
    compute_s = 6 * params * total_tokens / (gpus * hw.peak_flops * hw.mfu)
    micro_steps_per_gpu = math.ceil(examples * epochs / gpus)  # per-device batch 1
    link = hw.intra_node_bytes_s if nodes == 1 else min(hw.intra_node_bytes_s, hw.inter_node_bytes_s)
    comm_s = micro_steps_per_gpu * 3 * 2 * params / link
    wall_s = OVERHEAD * max(compute_s, comm_s)
    return Estimate(examples, tokens, params, gpus, nodes, epochs, compute_s, comm_s, wall_s)
