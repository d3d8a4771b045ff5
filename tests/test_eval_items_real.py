"""Real evaluation items are accepted and scored as the original scores them: a HumanityLastExam item whose
``answer`` is longer than its option text (idx 137) goes through, and its verdicts follow the item's own ``answer``
field (``score.py``: 82-107). Only what the original could not run is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from original_transcript import original_verdict

from m1repro.evaldata import prepare_items
from m1repro.io import InputError
from m1repro.records import load_eval_file
from m1repro.scoring import extract_answer, is_correct

FIXTURE = Path(__file__).parent / "fixtures" / "eval" / "hle_items.json"


def test_item_with_a_longer_answer_is_accepted_in_the_paper_configuration(tmp_path):
    ev = load_eval_file(FIXTURE, on_invalid="error")  # the paper configuration: any bad item stops the run
    items = ev.items["HumanityLastExam"]
    assert [it.id for it in items] == ["HumanityLastExam/4", "HumanityLastExam/9", "HumanityLastExam/137"]
    raw = json.loads(FIXTURE.read_text())["HumanityLastExam"][2]
    item = items[2]
    assert item.answer == raw["answer"] and len(item.answer) > len(item.options[item.answer_idx]) + 3
    assert not ev.excluded
    counts = prepare_items(FIXTURE, ["HumanityLastExam"], tmp_path / "items.jsonl", tmp_path / "v.json", "error")
    assert counts == {"HumanityLastExam": 3}


def test_verdicts_follow_the_items_own_answer_field():
    items = load_eval_file(FIXTURE, on_invalid="error").items["HumanityLastExam"]
    checked = 0
    for it in items:
        lines = it.answer.strip().split("\n")
        responses = [
            *(f"The answer is \\boxed{{{letter}}}" for letter in it.options),
            f"\\boxed{{{it.answer}}}",
            f"\\boxed{{{it.answer.strip()}}}",
            f"\\boxed{{{it.options[it.answer_idx]}}}",
            *(f"So: \\boxed{{{line}}}" for line in lines),
            "I cannot tell.",
        ]
        for r in responses:
            want = original_verdict(extract_answer(r), it.answer_idx, it.answer, it.options)
            assert is_correct(r, it.options, it.answer_idx, "m1", it.answer) == want, (it.id, r)
            checked += 1
    assert checked > 20


def test_strict_answer_check_refuses_it():
    with pytest.raises(InputError, match=r"(?s)HumanityLastExam\[2\].*answer.*differs"):
        load_eval_file(FIXTURE, on_invalid="error", answers="strict")
    ev = load_eval_file(FIXTURE, on_invalid="exclude", answers="strict")
    assert [e.id for e in ev.excluded] == ["HumanityLastExam/137"]


@pytest.mark.parametrize("bad", [None, 3, ["D"]])
def test_an_answer_the_original_could_not_compare_is_an_error(tmp_path, bad):
    data = json.loads(FIXTURE.read_text())
    data["HumanityLastExam"][1]["answer"] = bad  # the original calls answer.lower(): it stops on this
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"(?s)HumanityLastExam\[1\].*answer"):
        load_eval_file(path, on_invalid="error")
