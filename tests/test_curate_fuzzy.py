"""dedup / decontaminate: the windowed matcher equals brute force; faithful semantics and quirks (the benchmark
references of the first pass, MMLU's characters); improved mode."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from rapidfuzz import fuzz

from m1repro.curate import benchmarks, fuzzy, stages
from m1repro.curate.collect import build_prompt
from m1repro.curate.schema import write_table
from m1repro.io import InputError

VIGNETTE = (
    "A 54-year-old man comes to the emergency department because of crushing substernal chest pain that began "
    "two hours ago while shovelling snow. He has hypertension and smokes one pack of cigarettes daily. His "
    "pulse is 110/min and blood pressure is 150/90 mm Hg. An ECG shows ST elevations in leads II, III and aVF. "
    "Which of the following coronary arteries is most likely occluded?"
)


def _strings(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    base = [
        " ".join(
            rng.choice(["renal", "tubule", "sodium", "acid", "base", "cell", "nerve", "drug", "of", "the"])
            for _ in range(rng.randint(3, 30))
        )
        for _ in range(n)
    ]
    out = []
    for s in base:
        out.append(s)
        if rng.random() < 0.3:  # near copies at varied distances around the cutoff
            t = list(s)
            for _ in range(rng.randint(0, 4)):
                t[rng.randrange(len(t))] = rng.choice("xyz")
            out.append("".join(t))
    return out


def test_windowed_matches_equal_brute_force():
    q, c = _strings(60, 1), _strings(80, 2) + _strings(20, 1)
    for cutoff in (95.0, 90.0, 80.0):
        got = fuzzy.fuzzy_matches(q, c, cutoff, block=7, max_cols=13)
        for i, s in enumerate(q):
            want = {j for j, t in enumerate(c) if fuzz.ratio(s, t) >= cutoff}
            assert {j for j, _ in got[i]} == want


def test_dedup_faithful_keeps_lowest_index_and_limit_five():
    texts = [VIGNETTE] * 7 + ["something else entirely, a short question"] + [VIGNETTE.replace("54", "55")]
    res = fuzzy.dedup_faithful(texts)
    assert res.keep == [0, 7]
    # identical strings collapse into one unique value: the self match removes all copies but the first
    assert {r["index"] for r in res.removed} == {1, 2, 3, 4, 5, 6, 8}


def test_dedup_faithful_limit_quirk_against_unlimited():
    # 7 distinct near-duplicates of one string: each unique string keeps at most 5 matches (itself included),
    # yet pairs between later strings still remove everything above the lowest index.
    texts = [VIGNETTE + " " * i for i in range(7)]
    assert fuzzy.dedup_faithful(texts, limit=5).keep == [0]
    assert fuzzy.dedup_faithful(texts, limit=None).keep == [0]


def test_improved_dedup_ignores_option_order():
    q, opts = "Drug of choice for absence seizures is:", ["Ethosuximide", "Valproate", "Phenytoin", "Carbamazepine"]
    a, b = build_prompt(q, opts), build_prompt(q, opts[::-1])
    assert fuzz.ratio(a, b) < 95
    assert fuzzy.dedup_faithful([a, b]).keep == [0, 1]  # faithful misses a reordered copy
    assert fuzzy.dedup_improved([q, q], [opts, opts[::-1]]).keep == [0]


def _pool(rows):
    return pl.DataFrame(
        [
            {"id": f"x{i}", "source": s, "question": q, "options": o, "prompt": build_prompt(q, o)}
            for i, (s, q, o) in enumerate(rows)
        ]
    )


def test_faithful_misses_short_copy_improved_catches_it():
    short_q, short_o = (
        "Nerve supply of the deltoid is:",
        ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"],
    )
    long_o = ["RCA", "LCx", "LAD", "LMCA"]  # short options: the prompt stays within 95 of the bare question
    pool = _pool(
        [
            ("MedMCQA", short_q, short_o),
            ("MedQA", VIGNETTE, long_o),
            ("MedMCQA", "Nerve supply of the serratus anterior is:", ["Long thoracic", "Axillary", "Radial", "Ulnar"]),
        ]
    )
    evals = [
        fuzzy.EvalQuestion("MedMCQA_validation", 0, short_q, tuple(short_o)),
        fuzzy.EvalQuestion("MedQA_USLME_test", 0, VIGNETTE, tuple(long_o)),
    ]
    table = fuzzy.contamination_table(pool, evals)
    by_id = {r["id"]: r for r in table.iter_rows(named=True)}
    assert set(by_id) == {"x0", "x1"}  # the third item shares the stem only: no copy
    assert not by_id["x0"]["faithful"] and by_id["x0"]["improved"] and by_id["x0"]["faithful_score"] < 95
    assert by_id["x1"]["faithful"] and by_id["x1"]["improved"]
    summary = fuzzy.report_summary(table, ["MedMCQA_validation", "MedQA_USLME_test"]).rows_by_key(
        "reference", named=True
    )
    assert summary["MedMCQA_validation"][0]["missed_by_faithful"] == 1
    assert summary["MedQA_USLME_test"][0]["faithful_removed"] == 1
    md = fuzzy.report_markdown(
        fuzzy.report_summary(table, ["MedMCQA_validation", "MedQA_USLME_test"]), table, "faithful", "t"
    )
    assert "x0" in md


def test_pubmedqa_eval_format_matches_after_normalisation():
    ctx, q = (
        "Statins were given to 120 patients. No significant difference was seen.",
        "Do statins reduce atrial fibrillation?",
    )
    pool = _pool([("PubMedQA", ctx + "\n" + q, ["no", "yes", "maybe"])])
    ev = ctx + "\n\n" + fuzzy.PUBMEDQA_INSTRUCTION + "\n" + q
    table = fuzzy.contamination_table(pool, [fuzzy.EvalQuestion("PubMedQA_test", 3, ev, ("yes", "no", "maybe"))])
    row = table.row(0, named=True)
    assert row["improved"] and not row["faithful"] and row["eval_index"] == 3


def test_ngram_overlap_catches_an_edited_long_copy():
    edited = VIGNETTE.replace("two hours ago", "three hours earlier").replace("150/90", "160/95")
    opts = ("Right coronary", "Left circumflex", "LAD", "Left main")
    res = fuzzy.improved_contamination([edited], [opts], [fuzzy.EvalQuestion("E", 0, VIGNETTE, opts)], cutoff=99.5)
    assert res[0] is not None and res[0]["by"] == "ngram" and res[0]["ngram"] >= 0.5


# --------------------------------------------------------------------------- first decontamination: the benchmarks


def _bench_table(texts: dict) -> pl.DataFrame:
    full = {n: [] for n in benchmarks.ORDER} | texts
    return benchmarks.benchmark_table(full)


def test_mmlu_character_quirk_removes_nothing():
    # decontaminate.py iterates the rows of the concatenated MMLU subsets and then the characters of each question
    pool = _pool([("MedQA", VIGNETTE, ["RCA", "LCx", "LAD", "LMCA"])])
    assert fuzz.ratio(pool["prompt"][0], VIGNETTE) >= 95
    as_mmlu = fuzzy.contamination_table(
        pool, [], refs=benchmarks.faithful_references(_bench_table({"mmlu_medical": [VIGNETTE]}))
    )
    assert as_mmlu.height == 0
    refs = benchmarks.faithful_references(_bench_table({"mmlu_medical": ["ab", "ba"]}))
    assert [(r.source, r.index, r.text) for r in refs] == [("mmlu_medical", 0, "a"), ("mmlu_medical", 0, "b")]
    as_pro = fuzzy.contamination_table(
        pool, [], refs=benchmarks.faithful_references(_bench_table({"mmlu_pro": [VIGNETTE]}))
    )
    assert as_pro["faithful"].to_list() == [True] and as_pro["faithful_ref"].to_list() == ["mmlu_pro"]


def test_benchmark_table_keeps_the_original_order_and_skips_nulls():
    t = _bench_table({"mmlu_pro": ["p"], "gpqa_diamond": ["g", None, "h"], benchmarks.PUBMEDQA_TEST: ["x"]})
    assert t.rows() == [
        ("gpqa_diamond", 0, "g"),
        ("gpqa_diamond", 2, "h"),
        ("pubmedqa_custom_test", 0, "x"),
        ("mmlu_pro", 0, "p"),
    ]


def test_fixture_benchmark_rows_need_the_hub_column(tmp_path):
    path = tmp_path / "gpqa.jsonl"
    path.write_text(json.dumps({"Question": "q1"}) + "\n" + json.dumps({"question": "q2"}) + "\n")
    with pytest.raises(InputError) as exc:
        benchmarks.load_fixture_texts(benchmarks.BY_NAME["gpqa_diamond"], path)
    assert exc.value.path == str(path) and exc.value.record == 1 and exc.value.field == "Question"


def test_first_decontamination_runs_against_the_benchmarks_not_the_eval_file(tmp_path):
    """A MedQA vignette that is a MedQA test question is removed (faithful, benchmark medqa_test) although the
    evaluation file does not hold it; the improved mode also removes the copy of an evaluation question."""
    short_q, short_o = (
        "Nerve supply of the deltoid is:",
        ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"],
    )
    pool = _pool(
        [
            ("MedQA", VIGNETTE, ["RCA", "LCx", "LAD", "LMCA"]),
            ("MedMCQA", short_q, short_o),
            ("MedMCQA", "Which vitamin deficiency causes scurvy?", ["C", "A", "D", "K"]),
        ]
    )
    write_table(pool.with_columns(pl.lit("C").alias("answer_letter")), tmp_path / "pool.parquet")
    write_table(_bench_table({"medqa_test": [VIGNETTE], "mmlu_medical": [short_q]}), tmp_path / "bench.parquet")
    (tmp_path / "eval.json").write_text(
        json.dumps({"MedMCQA_validation": [{"question": short_q, "options": dict(zip("ABCD", short_o))}]})
    )
    cfg = {"threshold": 95, "ngram_n": 8, "ngram_overlap": 0.5}
    out = {}
    for mode in ("faithful", "improved"):
        stats = stages.run_decontaminate(
            dict(cfg, mode=mode),
            str(tmp_path / "pool.parquet"),
            str(tmp_path / "eval.json"),
            str(tmp_path / f"{mode}.parquet"),
            str(tmp_path / f"{mode}.csv"),
            str(tmp_path / f"{mode}.md"),
            benchmarks_path=str(tmp_path / "bench.parquet"),
        )
        out[mode] = pl.read_parquet(tmp_path / f"{mode}.parquet")["id"].to_list()
        summary = {r["reference"]: r for r in stats["per_reference"]}
        assert summary["medqa_test"]["faithful_removed"] == 1 and summary["mmlu_medical"]["faithful_removed"] == 0
    assert out["faithful"] == ["x1", "x2"]
    assert out["improved"] == ["x2"]


def test_removed_ids_improved_is_the_union():
    t = pl.DataFrame({"id": ["a", "b", "c"], "faithful": [True, False, False], "improved": [False, True, False]})
    assert fuzzy.removed_ids(t, "faithful").to_list() == ["a"]
    assert fuzzy.removed_ids(t, "improved").to_list() == ["a", "b"]


def test_hub_loader_concatenates_subsets_in_order(monkeypatch):
    import datasets

    calls = []

    def fake_load(hub_id, subset, split):
        calls.append((hub_id, subset, split))
        return datasets.Dataset.from_list([{"question": f"{subset}-{i}", "choices": ["a", "b"]} for i in range(2)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    texts = benchmarks.load_hf_texts(benchmarks.BY_NAME["mmlu_medical"])
    subsets = benchmarks.BY_NAME["mmlu_medical"].subsets
    assert calls == [("cais/mmlu", s, "test") for s in subsets]
    assert texts == [f"{s}-{i}" for s in subsets for i in range(2)]
