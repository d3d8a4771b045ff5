"""collect: rows shaped like the four hub datasets, the original's option shuffles, the PubMedQA split, pool order."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from m1repro.curate import collect as col
from m1repro.curate import fuzzy
from m1repro.io import InputError

MEDMCQA_ROW = {
    "id": "e9ad821a-c438-4965-9f77-760819dfa155",
    "question": "Chronic urethral obstruction due to benign prismatic hyperplasia can lead to the following change in kidney parenchyma",
    "opa": "Hyperplasia",
    "opb": "Hyperophy",
    "opc": "Atrophy",
    "opd": "Dyplasia",
    "cop": 2,
    "choice_type": "single",
    "exp": "Chronic urethral obstruction ...",
    "subject_name": "Anatomy",
    "topic_name": "Urinary tract",
}
MEDQA_ROW = {
    "question": "A 23-year-old pregnant woman at 22 weeks gestation presents with burning upon urination. Which of the following is the best treatment for this patient?",
    "answer": "Nitrofurantoin",
    "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin"},
    "meta_info": "step2&3",
    "answer_idx": "D",
    "metamap_phrases": ["pregnant woman"],
}
HEADQA_ROW = {
    "data": {
        "Question": "The antidote for heparin overdose is:",
        "Options": {"A": "Vitamin K", "B": "Protamine sulfate", "C": "Flumazenil", "D": "Idarucizumab"},
        "Correct Answer": "Protamine sulfate",
        "Correct Option": "B",
    },
    "subject_name": "pharmacology",
    "id": "h1",
}
PUBMEDQA_ROW = {
    "pubid": 21645374,
    "question": "Do mitochondria play a role in remodelling lace plant leaves during programmed cell death?",
    "context": {
        "contexts": [
            "Programmed cell death (PCD) is the regulated death of cells.",
            "The lace plant produces perforations.",
        ],
        "labels": ["BACKGROUND", "RESULTS"],
        "meshes": ["Alismataceae"],
        "reasoning_required_pred": ["yes"],
        "reasoning_free_pred": ["yes"],
    },
    "long_answer": "Results depicted mitochondrial dynamics in vivo as PCD progresses.",
    "final_decision": "yes",
}


@pytest.mark.parametrize(
    ("source", "row", "answer"),
    [
        ("MedMCQA", MEDMCQA_ROW, "Atrophy"),
        ("MedQA", MEDQA_ROW, "Nitrofurantoin"),
        ("HeadQA", HEADQA_ROW, "Protamine sulfate"),
        ("PubMedQA", PUBMEDQA_ROW, "yes"),
    ],
)
def test_mapping_keeps_the_answer_through_the_shuffle(source, row, answer):
    rows, excluded = col.map_source(source, [row] * 5, "fixture.jsonl")
    assert not excluded and len(rows) == 5
    orders = set()
    for r in rows:
        assert r["answer_string"] == answer
        assert r["options"][ord(r["answer_letter"]) - 65] == answer
        assert r["prompt"] == r["question"] + "\n" + "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(r["options"]))
        orders.add(tuple(r["options"]))
        json.loads(r["metadata"])
    assert len(orders) > 1  # the options really are shuffled


def test_row_k_gets_the_shuffle_after_the_printed_sample():
    # medmcqa.py maps dataset[0] once for a printed sample (one shuffle of 4 options) before dataset.map, so row k
    # receives the (k+2)-th shuffle of default_rng(42), not the (k+1)-th
    rows, _ = col.map_source("MedMCQA", [MEDMCQA_ROW] * 4, "f", seed=42)
    rng = np.random.default_rng(42)
    opts = [MEDMCQA_ROW[k] for k in ("opa", "opb", "opc", "opd")]
    rng.shuffle(list(opts))  # the printed sample
    for r in rows:
        expected = list(opts)
        rng.shuffle(expected)
        assert r["options"] == expected
        assert r["answer_letter"] == "ABCD"[expected.index("Atrophy")]
    no_sample = np.random.default_rng(42)
    first = list(opts)
    no_sample.shuffle(first)
    assert rows[0]["options"] != first  # the sample shuffle matters for this row


def _original_map(source):
    """The original's _map_* functions (collect_data/*.py) as read: options in the row's order, rng.shuffle, the
    letter of the first option equal to the answer text, "{letter}. {text}" lines."""

    def fn(x, rng):
        if source == "MedMCQA":
            raw = {"A": x["opa"], "B": x["opb"], "C": x["opc"], "D": x["opd"]}
            answer, question = raw["ABCD"[x["cop"]]], x["question"]
        elif source == "MedQA":
            raw, question = x["options"], x["question"]
            answer = raw[x["answer_idx"]]
        elif source == "HeadQA":
            raw, question, answer = x["data"]["Options"], x["data"]["Question"], x["data"]["Correct Answer"]
        else:
            raw = {k: k for k in ("yes", "no", "maybe")}
            question = "\n".join(x["context"]["contexts"]) + "\n" + x["question"]
            answer = x["final_decision"]
        options = list(raw.values())
        rng.shuffle(options)
        idx = options.index(answer)
        lines = "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options))
        return {"prompt": f"{question}\n{lines}", "answer_letter": chr(65 + idx)}

    return fn


def _variants(source, n):
    rng = np.random.default_rng(7)
    base = {"MedMCQA": MEDMCQA_ROW, "MedQA": MEDQA_ROW, "HeadQA": HEADQA_ROW, "PubMedQA": PUBMEDQA_ROW}[source]
    rows = []
    for i in range(n):
        r = json.loads(json.dumps(base))
        if source == "MedMCQA":
            r["cop"] = int(rng.integers(4))
        elif source == "PubMedQA":
            r["final_decision"] = ["yes", "no", "maybe"][int(rng.integers(3))]
        target = r["data"] if source == "HeadQA" else r
        key = "Question" if source == "HeadQA" else "question"
        target[key] = f"{target[key]} (variant {i})"
        rows.append(r)
    return rows


@pytest.mark.parametrize("source", ["MedMCQA", "MedQA", "HeadQA", "PubMedQA"])
def test_every_row_gets_the_original_option_order(source):
    """The original's call sequence run for real with `datasets`: printed sample, Dataset.map with the shared
    generator, and for PubMedQA train_test_split(test_size=0.5, seed=0) after the map."""
    import datasets

    rows = _variants(source, 41)
    ds = datasets.Dataset.from_list(rows)
    fn = _original_map(source)
    rng = np.random.default_rng(42)
    fn(ds[0], rng)  # the printed sample
    mapped = ds.map(partial(fn, rng=rng), remove_columns=ds.column_names)
    if source == "PubMedQA":
        splits = mapped.train_test_split(test_size=0.5, seed=0, shuffle=True)
        train, test, _ = col.pubmedqa_halves(rows, "f")
        assert [r["prompt"] for r in test] == splits["test"]["prompt"]
        assert [r["answer_letter"] for r in test] == splits["test"]["answer_letter"]
        mapped, ours = splits["train"], train
    else:
        ours, _ = col.map_source(source, rows, "f")
    assert [r["prompt"] for r in ours] == mapped["prompt"]
    assert [r["answer_letter"] for r in ours] == mapped["answer_letter"]


def test_duplicate_option_texts_take_the_first_occurrence():
    # options.index(answer_string): with two equal texts the letter is the first one after the shuffle
    row = dict(MEDMCQA_ROW, opa="None", opb="Atrophy", opc="None", opd="Dyplasia", cop=2)
    rows, _ = col.map_source("MedMCQA", [row] * 6, "f")
    for r in rows:
        assert r["answer_letter"] == "ABCD"[r["options"].index("None")]


def test_null_option_is_shuffled_and_shown_as_none():
    # list(raw_options.values()) keeps a struct field that is null in this row; the f-string prints it as None
    row = json.loads(json.dumps(HEADQA_ROW))
    row["data"]["Options"]["E"] = None
    (r,), _ = col.map_source("HeadQA", [row], "f")
    assert len(r["options"]) == 5 and "None" in r["options"]
    assert "\n" + "ABCDE"[r["options"].index("None")] + ". None" in r["prompt"]


def test_pubmedqa_halves_match_datasets_train_test_split():
    import datasets

    ds = datasets.Dataset.from_list([{"i": i} for i in range(101)])
    split = ds.train_test_split(test_size=0.5, seed=0)
    train, test = col.split_halves(101)
    assert train == split["train"]["i"] and test == split["test"]["i"]


def test_pubmedqa_prompt_is_contexts_then_question():
    train, test, _ = col.pubmedqa_halves([PUBMEDQA_ROW] * 4, "f")
    assert len(train) == len(test) == 2
    assert [r["id"] for r in train] == ["PubMedQA-train-0", "PubMedQA-train-1"]
    r = train[0]
    assert r["prompt"].startswith(
        "Programmed cell death (PCD) is the regulated death of cells.\nThe lace plant produces perforations.\nDo mitochondria"
    )
    assert sorted(r["options"]) == ["maybe", "no", "yes"]


@pytest.mark.parametrize(
    ("source", "row", "field"),
    [
        ("MedMCQA", dict(MEDMCQA_ROW, cop=7), "cop"),
        ("MedMCQA", dict(MEDMCQA_ROW, opb=5), "opb"),
        ("MedQA", dict(MEDQA_ROW, answer_idx="F"), "answer_idx"),
        ("HeadQA", {"data": dict(HEADQA_ROW["data"], **{"Correct Option": None})}, "Correct Option"),
        ("HeadQA", {"data": dict(HEADQA_ROW["data"], **{"Correct Answer": "Vitamin K"})}, "Correct Answer"),
        ("PubMedQA", dict(PUBMEDQA_ROW, final_decision="perhaps"), "final_decision"),
    ],
)
def test_malformed_row_error_names_file_record_field(source, row, field):
    with pytest.raises(InputError) as exc:
        good = {"MedMCQA": MEDMCQA_ROW, "MedQA": MEDQA_ROW, "HeadQA": HEADQA_ROW, "PubMedQA": PUBMEDQA_ROW}[source]
        col.map_source(source, [good, row], "data/x.jsonl")
    assert exc.value.path == "data/x.jsonl" and exc.value.record == 1 and exc.value.field == field


def test_empty_option_text_is_kept_as_the_original_does():
    (r,), excluded = col.map_source("MedMCQA", [dict(MEDMCQA_ROW, opb="")], "f")
    assert not excluded and "" in r["options"]


def test_malformed_rows_can_be_excluded_and_counted():
    rows, excluded = col.map_source(
        "MedMCQA", [MEDMCQA_ROW, dict(MEDMCQA_ROW, cop=None), MEDMCQA_ROW], "f", on_invalid="exclude"
    )
    assert len(rows) == 2 and [e["record"] for e in excluded] == [1]
    assert [r["id"] for r in rows] == ["MedMCQA-train-0", "MedMCQA-train-2"]


def test_collect_counts_order_and_paper_check():
    data = {"MedMCQA": [MEDMCQA_ROW] * 3, "MedQA": [MEDQA_ROW], "HeadQA": [HEADQA_ROW], "PubMedQA": [PUBMEDQA_ROW] * 4}
    pool, counts, pub_test = col.collect({s: s for s in data}, lambda s, _o: data[s], check_paper_counts=True)
    assert counts["per_source"] == {"MedMCQA": 3, "MedQA": 1, "HeadQA": 1, "PubMedQA": 2}
    assert counts["total"] == pool.height == 7 and pub_test.height == 2
    assert counts["paper_check"]["mismatch"]["MedMCQA"] == (3, 182_822)
    assert pool.columns == list(col.pool_frame([]).columns)
    # merge_data.py concatenates medqa, pubmedqa, headqa, medmcqa
    assert pool["source"].to_list() == ["MedQA", "PubMedQA", "PubMedQA", "HeadQA", "MedMCQA", "MedMCQA", "MedMCQA"]


def test_pool_order_decides_which_duplicate_dedup_keeps():
    # the same long vignette in MedMCQA and MedQA: the option orders differ but the prompts stay within 95
    vignette = MEDQA_ROW["question"] * 3
    opts = ["Ampicillin", "Ceftriaxone", "Doxycycline", "Nitrofurantoin"]
    data = {
        "MedMCQA": [dict(MEDMCQA_ROW, question=vignette, opa=opts[0], opb=opts[1], opc=opts[2], opd=opts[3], cop=3)],
        "MedQA": [dict(MEDQA_ROW, question=vignette)],
        "HeadQA": [HEADQA_ROW],
        "PubMedQA": [PUBMEDQA_ROW] * 2,
    }
    pool, _, _ = col.collect({s: s for s in data}, lambda s, _o: data[s])
    kept = fuzzy.dedup_faithful(pool["prompt"].to_list())
    survivors = pool[kept.keep]["source"].to_list()
    assert "MedQA" in survivors and "MedMCQA" not in survivors
