"""The appendix's token-length figure (paper Appendix A, Figure 8(a)): how long the R1 reasoning of the training sets
is, in tokens, against s1K's. Optional target ``results/figures/token_lengths.png`` (rules/report.smk).

As the original (``src/analyse/stats_token_length_paper.ipynb``): each m1K/m23K example's ``reasoning`` is tokenized
with the m1-32B-1K tokenizer (``tokenizer(text)["input_ids"]``: a Qwen2.5 tokenizer adds no special token), s1K-1.1's
``deepseek_thinking_trajectory`` with s1.1-32B's; one histogram per set, 50 bins, each bar the probability of its bin,
y axis up to 0.13, and dotted lines at the 25/50/75% quantiles (pandas ``describe``: linear interpolation). The
original's seaborn KDE curve is left out (seaborn is no dependency); the bars and quantiles are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from m1repro.curate.schema import read_table
from m1repro.io import atomic_open
from m1repro.log import log_event
from m1repro.smk import RuleJob

logger = logging.getLogger(__name__)

QUANTILES = (0.25, 0.5, 0.75)
BINS = 50
Y_MAX = 0.13  # the original's ax.set_ylim(0, 0.13)


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    texts = list(texts)
    return [len(ids) for ids in tokenizer(texts)["input_ids"]] if texts else []


def quantile_row(name: str, lengths: Sequence[int]) -> dict[str, Any]:
    s = pl.Series(lengths, dtype=pl.Int64)
    row: dict[str, Any] = {"set": name, "examples": len(s), "mean": s.mean(), "max": s.max()}
    for q in QUANTILES:
        row[f"q{int(q * 100)}"] = s.quantile(q, interpolation="linear")
    return row


def write_lengths(
    sets: Mapping[str, str], tokenizer_path: str, s1k: Mapping[str, str] | None, lengths_out: str, stats_out: str
) -> pl.DataFrame:
    """Token lengths of every example (``lengths_out``: set, tokens) and each set's quantiles (``stats_out``).
    ``sets``: {name: set parquet with ``reasoning``}; ``s1k``: {dataset, tokenizer, field} or None."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    frames = [
        pl.DataFrame({"set": name, "tokens": count_tokens(tok, read_table(path, ("reasoning",))["reasoning"])})
        for name, path in sets.items()
    ]
    if s1k:
        from datasets import load_dataset

        texts = load_dataset(s1k["dataset"], split="train")[s1k.get("field", "deepseek_thinking_trajectory")]
        frames.append(
            pl.DataFrame({"set": "s1K", "tokens": count_tokens(AutoTokenizer.from_pretrained(s1k["tokenizer"]), texts)})
        )
    lengths = pl.concat([f.cast({"tokens": pl.Int64}) for f in frames])
    stats = pl.DataFrame(
        [
            quantile_row(n, lengths.filter(pl.col("set") == n)["tokens"])
            for n in lengths["set"].unique(maintain_order=True)
        ]
    )
    for frame, path in ((lengths, lengths_out), (stats, stats_out)):
        with atomic_open(path) as fh:
            frame.write_csv(fh)
    log_event(logger, "token lengths", **{r["set"]: r["q50"] for r in stats.iter_rows(named=True)})
    return stats


def plot_lengths(lengths_csv: str, png: str, pdf: str, dpi: int) -> None:
    """One panel per set: the probability histogram and the quantile lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = pl.read_csv(lengths_csv)
    names = lengths["set"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        tokens = lengths.filter(pl.col("set") == name)["tokens"].to_list()
        ax.hist(tokens, bins=BINS, weights=[1 / len(tokens)] * len(tokens) if tokens else None)
        row = quantile_row(name, tokens)
        for q in QUANTILES:
            ax.axvline(row[f"q{int(q * 100)}"], ls="--", alpha=0.5)
        ax.set_ylim(0, Y_MAX)
        ax.set_title(f"{name} ({len(tokens):,} examples)")
        ax.set_xlabel("reasoning tokens")
        ax.set_ylabel("probability")
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def report_token_lengths_count(job: RuleJob) -> None:
    p = job.params
    write_lengths(
        {"m1K": job.input.m1k, "m23K": job.input.m23k}, p.tokenizer, p.s1k, job.output.lengths, job.output.stats
    )


def report_token_lengths(job: RuleJob) -> None:
    plot_lengths(job.input[0], job.output.png, job.output.pdf, job.params.dpi)
