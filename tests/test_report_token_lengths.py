"""The appendix's token-length figure (m1repro/report/token_lengths.py): lengths counted with a real Qwen2.5
tokenizer, the original's linear quantiles, the figure written, and the target optional in the real DAG."""

from __future__ import annotations

import numpy as np
import polars as pl
from workflow_helpers import dry_run, job_counts

from m1repro.curate.schema import write_table
from m1repro.report.token_lengths import plot_lengths, write_lengths


def test_lengths_are_the_tokenizers_and_quantiles_interpolate_linearly(tiny_model_dir, qwen_tokenizer, tmp_path):
    texts = {
        "m1K": ["The patient has a fever.", "Wait, consider sepsis first; then the answer is B.", "ok"],
        "m23K": ["Short.", "A longer chain of reasoning about myocardial infarction and troponin levels. " * 5],
    }
    sets = {}
    for name, rows in texts.items():
        sets[name] = str(tmp_path / f"{name}.parquet")
        write_table(pl.DataFrame({"reasoning": rows}), sets[name])
    lengths_csv, stats_csv = tmp_path / "lengths.csv", tmp_path / "stats.csv"
    write_lengths(sets, str(tiny_model_dir), None, str(lengths_csv), str(stats_csv))
    lengths = pl.read_csv(lengths_csv)
    want = [len(qwen_tokenizer(t)["input_ids"]) for name in texts for t in texts[name]]
    assert lengths["tokens"].to_list() == want and lengths["set"].to_list() == ["m1K"] * 3 + ["m23K"] * 2
    stats = {r["set"]: r for r in pl.read_csv(stats_csv).iter_rows(named=True)}
    m1k = want[:3]
    assert stats["m1K"]["examples"] == 3 and stats["m1K"]["max"] == max(m1k)
    for q in (25, 50, 75):  # pandas describe(), as the original's notebook: linear interpolation
        assert stats["m1K"][f"q{q}"] == np.quantile(m1k, q / 100)
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    plot_lengths(str(lengths_csv), str(png), str(pdf), dpi=50)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def test_the_figure_is_an_optional_target_of_the_tiny_dag():
    wanted = job_counts(dry_run(["--configfile", "config/tiny.yaml", "--", "results/figures/token_lengths.png"]))
    assert wanted["report_token_lengths"] == 1 == wanted["report_token_lengths_count"]
    default = job_counts(dry_run(["--configfile", "config/tiny.yaml", "--", "results/table1.csv"]))
    assert "report_token_lengths" not in default
