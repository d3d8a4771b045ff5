"""Table 2 is scored at its own budget: the original evaluated the ablation models at 2048 thinking tokens
(``exp/250319-ablation/h100.data_curation.makefile``: ``start_server 2048``), not at Table 1's budget."""

from __future__ import annotations

from pathlib import Path

from m1repro import workflow as wf
from m1repro.cfgview import model_variants, table2_variant
from m1repro.config import load_config
from m1repro.variants import Variant

REPO = Path(__file__).resolve().parent.parent


def test_paper_configuration_scores_every_table2_row_at_2048():
    cfg = load_config(REPO / "config/config.yaml")
    assert cfg["eval"]["table2_budget"] == 2048 and cfg["eval"]["table1_budget"] == 4096
    rows = wf.ablation_rows(cfg)
    assert len(rows) == 6  # the paper's six Table 2 rows
    for name in rows:
        assert table2_variant(cfg, name) == Variant(2048, 0)
        assert Variant(2048, 0) in model_variants(cfg, name), name  # predicted, so the cell can be scored
    # a model in both tables keeps its Table 1 variant for Table 1
    assert wf.table1_variant(cfg, "m1-7B-1K") == "budget4096" and wf.table2_variant(cfg, "m1-7B-1K") == "budget2048"
    # an ablation model outside Table 1 runs the Table 2 budget only, as the original's ablation runs
    assert model_variants(cfg, "abl-7B-random_1k") == [Variant(2048, 0)]


def test_tiny_configuration_has_its_own_table2_budget():
    cfg = load_config(REPO / "config/tiny.yaml")
    assert cfg["eval"]["table2_budget"] != cfg["eval"]["table1_budget"]
    assert wf.table2_variant(cfg, "tiny-m1-1K") == f"budget{cfg['eval']['table2_budget']}"
