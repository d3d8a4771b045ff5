"""The curation grader (the filtering notebooks), the m1K / hard-domain samplers, MeSH rubric and parsing."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from m1repro.curate import domains, grade, sample


# Cases read off the filtering notebooks' eval_sample / extract_answer (answer "Atrophy", letter "C").
@pytest.mark.parametrize(
    ("out", "ok"),
    [
        ("\\boxed{Atrophy}", True),
        ("\\boxed{ ATROPHY }", True),  # text compared stripped and lower-cased
        ("\\boxed{C}", True),
        ("\\boxed{c}", True),  # the letter too is compared lower-cased
        ("\\boxed{C. Atrophy}", True),
        ("\\boxed{Cannot tell}", True),  # lenient: only the first character is compared with the letter
        ("\\boxed{ C}", False),  # ...taken before the strip: " " is not "c"
        ("\\boxed{B}", False),
        ("\\boxed{B} then \\boxed{C}", True),  # the last box counts
        ("\\boxed{x = C}", True),  # what follows the last "=" is kept
        ("\\boxed{\\text{C}}", True),  # second pass strips a \text{...} wrapper
        ("\\fbox{C}", False),  # \fbox is found but its wrapper is never removed: "\" is not "c"
        ("\\boxed {C}", False),  # "\boxed {" is not "\boxed{": the wrapper stays
        ("\\boxed{}", False),  # empty extraction: the index error counts as wrong
        ("C is my answer", True),  # no box: the whole text is the extraction
        ("My answer: \\boxed{C", False),  # braces never close: the whole text, first character "M"
        (None, False),  # no response
    ],
)
def test_faithful_grader_follows_the_notebook(out, ok):
    assert grade.is_correct(out, "Atrophy", "C") is ok


@pytest.mark.parametrize(
    ("out", "extracted"),
    [
        ("so \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}"),
        ("\\boxed{a=b= 7}", "7"),
        ("\\fbox{A}", "\\fbox{A}"),
        ("\\boxed{\\text{ yes }}", " yes "),
        ("plain", "plain"),
    ],
)
def test_notebook_extraction(out, extracted):
    assert grade.extract_answer(out) == extracted


@pytest.mark.parametrize(
    ("out", "ok"),
    [
        ("\\boxed{Cannot tell}", False),
        ("\\boxed{c}", True),
        ("\\boxed{C. Atrophy}", True),
        ("\\boxed{atrophy}", True),
    ],
)
def test_improved_grader(out, ok):
    assert grade.is_correct(out, "Atrophy", "C", "improved") is ok


def _notebook_sampler(domains: list, sources: list, n: int, seed: int) -> list[int]:
    """select_hard_sample_by_domain_source.ipynb as read: dicts filled in table order, rng.choice on the key lists
    and on the bucket's sample dicts, list.remove of the chosen sample."""
    buckets: dict = {}
    for i, (d, s) in enumerate(zip(domains, sources, strict=True)):
        buckets.setdefault(d, {}).setdefault(s, []).append({"row": i, "domain_code": d, "source": s})
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n and buckets:
        d = rng.choice(list(buckets.keys()))
        chosen = buckets[d]
        s = rng.choice(list(chosen.keys()))
        sample_ = rng.choice(chosen[s])
        chosen[s].remove(sample_)
        if not chosen[s]:
            chosen.pop(s)
        if not chosen:
            buckets.pop(d)
        out.append(sample_["row"])
    return out


def _table(n: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    return pl.DataFrame(
        {
            "domain_code": [f"{int(x):02d}" for x in rng.integers(0, 40, n)],
            "source": [
                ["MedMCQA", "MedQA", "HeadQA", "PubMedQA"][int(x)] for x in rng.choice(4, n, p=[0.85, 0.1, 0.04, 0.01])
            ],
        }
    )


def test_m1k_sampler_follows_the_notebook():
    df = _table()
    got = sample.m1k_sample(df, 100, 42)
    assert got == _notebook_sampler(df["domain_code"].to_list(), df["source"].to_list(), 100, 42)
    assert len(set(got)) == 100
    picked = df[got]  # balancing lifts the rare sources far above their share of the table
    assert (picked["source"] == "PubMedQA").sum() > (df["source"] == "PubMedQA").mean() * 100


def test_sampler_takes_domains_in_first_occurrence_order():
    df = _table()
    codes = df["domain_code"].to_list()
    assert list(dict.fromkeys(codes)) != sorted(set(codes))  # first occurrence is not sorted order here
    by_first = sample.m1k_sample(df, 100, 42)
    order = df.with_row_index("i").sort("domain_code", "i")  # rows keep their order within a domain
    by_sorted = [order["i"][j] for j in sample.m1k_sample(order.drop("i"), 100, 42)]
    assert by_first != by_sorted  # sorting the keys first would pick other rows


def test_hard_domain_sampler_has_one_source_per_domain():
    df = _table()
    got = sample.hard_domain_sample(df, 100, 42)
    assert got == _notebook_sampler(df["domain_code"].to_list(), ["merge_source"] * df.height, 100, 42)


def test_sampler_exhausts_without_repeats():
    df = _table(50)
    assert sorted(sample.m1k_sample(df, 80, 0)) == list(range(50))
    assert sorted(sample.hard_domain_sample(df, 80, 0)) == list(range(50))


def test_unlabelled_rows_form_their_own_domain():
    got = sample.diversity_sample([None, "01", None], ["MedQA", "MedQA", "MedQA"], 3)
    assert sorted(got) == [0, 1, 2]


def test_rubric_and_prompt_follow_the_reference():
    quals = domains.load_qualifiers("resources/mesh/qualifier_scope_note.tsv")
    assert len(quals) == 76 and quals[0][0] == "Abnormalities"
    rub = domains.rubric(quals)
    assert rub.startswith("### Abnormalities\n* Code: 00\n* Description: Used with organs")
    assert "* Code: 75\n" in rub
    assert domains.user_prompt("Q?", rub).startswith("## Question\nQ?\n\n## Classification rubrics\n### Abnormalities")


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("The question is about drug therapy.\n\n**24**", "24"),
        ("`07`.", "07"),
        ("05", "05"),
        ("Code: 3", None),
        ("I cannot classify this.", None),
        ("99", None),
        (None, None),
        ("75", "75"),
    ],
)
def test_parse_code(reply, code):
    assert domains.parse_code(reply, 76) == code
