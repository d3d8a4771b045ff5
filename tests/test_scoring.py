"""Answer extraction and both scorers, on realistic medical items (cases derived from the original scorer, docs/fidelity.md)."""

from __future__ import annotations

import pytest

from m1repro.scoring import (
    SCORERS,
    extract_answer,
    huatuo_match_choice,
    improved_choice,
    is_correct,
    option_str,
    score_item,
)

# MedBullets op5 item (acute angle-closure glaucoma prophylaxis), answer A.
GLAUCOMA = {"A": "Acetazolamide", "B": "Amitriptyline", "C": "Clopidogrel", "D": "Epinephrine", "E": "Verapamil"}

# Ten options as in MMLU-Pro: option I exists, so the pronoun "I" is a choice for the m1 matcher.
TEN = {
    "A": "Hyperkalemia",
    "B": "Hypokalemia",
    "C": "Hypercalcemia",
    "D": "Hypocalcemia",
    "E": "Hypernatremia",
    "F": "Hyponatremia",
    "G": "Hypermagnesemia",
    "H": "Hypomagnesemia",
    "I": "Hyperphosphatemia",
    "J": "Hypophosphatemia",
}

ANTIHYPERTENSIVES = {
    "A": "Beta-blocker",
    "B": "Calcium channel blocker",
    "C": "ACE inhibitor",
    "D": "Thiazide diuretic",
}

SPIROMETRY = {
    "A": "FEV1/FVC = 0.65, DLCO = 50%",
    "B": "FEV1/FVC = 0.85, DLCO = 50%",
    "C": "FEV1/FVC = 0.65, DLCO = 100%",
    "D": "FEV1/FVC = 0.85, DLCO = 100%",
}


# ---------------------------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("First \\boxed{B}, on reflection \\boxed{A}.", "A", id="last-box-wins"),
        pytest.param("\\fbox{C} then \\boxed{D} then \\fbox{E}", "D", id="boxed-beats-later-fbox"),
        pytest.param("The answer: \\fbox{Clopidogrel}", "\\fbox{Clopidogrel}", id="fbox-found-but-kept-wrapped"),
        pytest.param("\\boxed {A}", "\\boxed {A}", id="boxed-space-brace-kept-wrapped"),
        pytest.param("\\boxed{x =\tB}", "\tB", id="equals-split-strips-spaces-only"),
        pytest.param("\\boxed{x = \\text{B}}", "B", id="text-unwrapped-after-equals"),
        pytest.param("\\boxed{\\text{B} or \\text{C}}", "B} or \\text{C", id="text-unwrap-needs-whole-string-only"),
        pytest.param("\\boxed{\\text{B} or C}", "\\text{B} or C", id="text-kept-when-not-closing-the-string"),
        pytest.param("\\boxed A and {x}", "\\boxed A and {x}", id="depth-counted-from-the-command"),
        pytest.param("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", id="nested-braces"),
        pytest.param("\\boxed{x = y =   5 mg}", "5 mg", id="after-last-equals-left-stripped"),
        pytest.param("\\boxed{\\text{Acetazolamide}}", "Acetazolamide", id="text-unwrapped"),
        pytest.param("\\boxed{\\text{pH = 7.1}}", "7.1}", id="equals-split-runs-before-text-unwrap"),
        pytest.param("\\boxed{\\textbf{B}}", "\\textbf{B}", id="textbf-is-not-text"),
        pytest.param("\\boxed{ A }", " A ", id="content-not-stripped"),
        pytest.param("The answer is B. Amitriptyline", "The answer is B. Amitriptyline", id="no-box-whole-string"),
        pytest.param("\\boxed{A", "\\boxed{A", id="unclosed-box-whole-string"),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_option_str_matches_prompt_format() -> None:
    assert option_str({"B": "Amitriptyline", "A": "Acetazolamide"}) == "B. Amitriptyline\nA. Acetazolamide"


# ---------------------------------------------------------------------------------------------------- huatuo matcher


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        pytest.param("The answer is B. No wait, the answer is C", GLAUCOMA, "C", id="strict-last-match"),
        pytest.param("The answer is B. Option (C) is wrong.", GLAUCOMA, "B", id="strict-beats-later-letter"),
        pytest.param(
            "The answer is Clopidogrel... no, Verapamil", ANTIHYPERTENSIVES, "C", id="strict-reads-word-initial"
        ),
        pytest.param("The answer is M", GLAUCOMA, "M", id="strict-returns-non-option-letter"),
        pytest.param("Between (B) and **D**, I pick D.", GLAUCOMA, "D", id="non-strict-last-match"),
        pytest.param("答案是B", GLAUCOMA, "B", id="non-strict-chinese"),
        pytest.param("A patient like this needs verapamil", GLAUCOMA, "E", id="article-a-not-a-letter"),
        pytest.param("acetazolamide was considered before verapamil", GLAUCOMA, "E", id="latest-option-text"),
        pytest.param("verapamil or acetazolamide? verapamil.", GLAUCOMA, "E", id="latest-occurrence-not-first"),
        pytest.param("Acetazolamid", GLAUCOMA, "A", id="difflib-best-ratio"),
        pytest.param("???", GLAUCOMA, "E", id="difflib-all-zero-last-option"),
    ],
)
def test_huatuo_match_choice(text: str, options: dict[str, str], expected: str) -> None:
    assert huatuo_match_choice(text, options) == expected


def test_latest_text_is_start_position_and_prefers_shorter_contained_option() -> None:
    # "aspirin" starts later than "low-dose aspirin" inside "low-dose aspirin", so the shorter option wins (quirk).
    options = {"A": "Low-dose aspirin", "B": "Aspirin", "C": "Warfarin"}
    assert huatuo_match_choice("start low-dose aspirin", options) == "B"


def test_latest_text_tie_goes_to_earlier_option() -> None:
    options = {"A": "Aspirin", "B": "Aspirin and clopidogrel", "C": "Warfarin"}
    assert huatuo_match_choice("aspirin and clopidogrel", options) == "A"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"A": "Metoprolol", "B": "Bisoprolol", "C": "Amlodipine", "D": "Lisinopril"}, "B"),
        ({"A": "Bisoprolol", "B": "Metoprolol", "C": "Amlodipine", "D": "Lisinopril"}, "B"),
    ],
)
def test_difflib_tie_goes_to_later_option(options: dict[str, str], expected: str) -> None:
    # "prolol" is equally similar to metoprolol and bisoprolol: whichever is listed later wins.
    assert huatuo_match_choice("prolol", options) == expected


def test_final_response_section_is_used() -> None:
    text = "## Thinking\n\nThe answer is C?\n\n## Final Response\n\nAcetazolamide lowers intraocular pressure."
    assert huatuo_match_choice(text, GLAUCOMA) == "A"
    assert huatuo_match_choice(text.replace("## Final Response\n\n", ""), GLAUCOMA) == "C"


def test_pronoun_i_is_option_i_only_with_ten_options() -> None:
    text = "I would expect hyperkalemia"
    assert huatuo_match_choice(text, TEN) == "I"
    eight = {k: v for k, v in TEN.items() if k < "I"}
    assert huatuo_match_choice(text, eight) == "A"


def test_letters_capped_at_n() -> None:
    fifteen = {letter: f"Drug {n}" for n, letter in enumerate("ABCDEFGHIJKLMNO", start=1)}
    # "(O)" is never read as a letter, so the matcher falls through to option text; "(N)" is read.
    assert huatuo_match_choice("Option (O): drug 3", fifteen) == "C"
    assert huatuo_match_choice("Option (N): drug 3", fifteen) == "N"
    assert improved_choice("\\boxed{O}", fifteen) == "O"


@pytest.mark.parametrize("response", ["\\boxed{Drug 15}", "\\boxed{O. Drug 15}"])
def test_m1_equality_rules_reach_past_the_letter_cap(response: str) -> None:
    # The matcher alone cannot give O (it would say A: "drug 1" and "drug 15" tie at position 0); the equality
    # rules before it (answer text, "X. answer text") are what make these correct.
    fifteen = {letter: f"Drug {n}" for n, letter in enumerate("ABCDEFGHIJKLMNO", start=1)}
    assert huatuo_match_choice(extract_answer(response), fifteen) != "O"
    assert is_correct(response, fifteen, "O", scorer="m1") is True


def test_option_lines_are_reparsed_from_option_string() -> None:
    # A newline in an option text is lost by the ". " line split: only the first line is the option text.
    options = {"A": "Acetazolamide\ntopical", "B": "Verapamil"}
    assert huatuo_match_choice("acetazolamide then verapamil", options) == "B"
    assert huatuo_match_choice("verapamil then acetazolamide", options) == "A"


# ---------------------------------------------------------------------------------------------------- m1 verdict


@pytest.mark.parametrize(
    ("response", "answer_idx", "expected"),
    [
        pytest.param("\\boxed{acetazolamide}", "A", True, id="answer-text-case-insensitive"),
        pytest.param("\\boxed{A. Acetazolamide}", "A", True, id="letter-dot-text"),
        pytest.param("\\boxed{a}", "A", True, id="single-letter-any-case"),
        pytest.param("\\boxed{b}", "B", True, id="single-lower-b"),
        pytest.param("\\boxed{(E)}", "E", True, id="huatuo-on-extracted"),
        pytest.param("\\boxed{B}", "A", False, id="wrong-letter"),
        pytest.param("Thinking: (E)? \\boxed{C}", "E", False, id="only-box-is-read"),
        pytest.param("<|im_start|>answer\nFinal Answer: \\boxed{\\text{D}}", "D", True, id="text-in-box"),
    ],
)
def test_is_correct_m1(response: str, answer_idx: str, expected: bool) -> None:
    assert is_correct(response, GLAUCOMA, answer_idx, scorer="m1") is expected


# ---------------------------------------------------------------------------------------------------- improved


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param("\\boxed{A}", "A", id="bare-letter"),
        pytest.param("\\boxed{(B)}", "B", id="paren-letter"),
        pytest.param("\\boxed{C)}", "C", id="letter-paren"),
        pytest.param("\\boxed{Option D}", "D", id="option-word"),
        pytest.param("\\boxed{E: Verapamil}", "E", id="letter-colon-text"),
        pytest.param("$\\boxed{\\textbf{A. Acetazolamide.}}$", "A", id="latex-markdown-trailing-dot"),
        pytest.param("\\boxed{**amitriptyline**}", "B", id="markdown-text-case"),
        pytest.param("\\boxed{  Verapamil   }", "E", id="whitespace"),
        pytest.param("\\boxed{Clopidogrel, to prevent stroke}", "C", id="option-text-then-explanation"),
        pytest.param("\\boxed{\\text{Answer} = B}", "B", id="after-equals-as-second-try"),
        pytest.param("\\boxed{b. amitriptyline}", "B", id="lowercase-letter-with-its-text"),
        pytest.param("\\boxed{(d)}", "D", id="lowercase-letter-alone"),
        pytest.param("\\boxed{e.g. verapamil}", None, id="lowercase-letter-with-other-text"),
        pytest.param("<|im_start|>answer\nB<|im_end|>", "B", id="chat-markers-dropped"),
        pytest.param("\\boxed{F}", None, id="letter-not-an-option"),
        pytest.param("\\boxed{B. Acetazolamide}", None, id="letter-contradicts-text"),
        pytest.param("\\boxed{Acetazolamid}", None, id="no-fuzzy-match"),
        pytest.param("I am not sure.", None, id="no-choice"),
        pytest.param("Reasoning...\nThe correct answer is: (D).\nDone.", "D", id="answer-is-statement"),
        pytest.param("<|im_start|>answer\nFinal Answer:\nC. Clopidogrel", "C", id="final-answer-next-line"),
        pytest.param("Acetazolamide", "A", id="bare-option-text"),
    ],
)
def test_improved_choice(response: str, expected: str | None) -> None:
    assert improved_choice(response, GLAUCOMA) == expected


@pytest.mark.parametrize(
    ("response", "options", "answer_idx", "m1", "improved"),
    [
        pytest.param("\\boxed{I am not sure}", TEN, "I", True, False, id="pronoun-I-ten-options"),
        pytest.param("\\boxed{Acetazolamid}", GLAUCOMA, "A", True, False, id="fuzzy-rescue"),
        pytest.param(
            "\\boxed{A. FEV1/FVC = 0.65, DLCO = 50%}", SPIROMETRY, "A", False, True, id="equals-inside-option-text"
        ),
        pytest.param(
            "Answer: B\n\nVerapamil (E) is less effective for prophylaxis.",
            GLAUCOMA,
            "B",
            False,
            True,
            id="no-box-statement",
        ),
        pytest.param(
            "\\boxed{The answer is ACE inhibitor}", ANTIHYPERTENSIVES, "C", False, True, id="strict-regex-word-initial"
        ),
        pytest.param("\\boxed{Hypophosphatemia (J)}", TEN, "J", True, True, id="agree-correct"),
        pytest.param("\\boxed{C}", GLAUCOMA, "A", False, False, id="agree-wrong"),
    ],
)
def test_scorers_disagree_where_quirks_matter(
    response: str, options: dict[str, str], answer_idx: str, m1: bool, improved: bool
) -> None:
    assert is_correct(response, options, answer_idx, scorer="m1") is m1
    assert is_correct(response, options, answer_idx, scorer="improved") is improved


# ---------------------------------------------------------------------------------------------------- API


def test_score_item_keeps_both_verdicts() -> None:
    assert score_item("\\boxed{Acetazolamid}", GLAUCOMA, "A") == {
        "extracted": "Acetazolamid",
        "correct_m1": True,
        "correct_improved": False,
    }


def test_unknown_scorer_is_named() -> None:
    assert SCORERS == ("m1", "improved")
    with pytest.raises(ValueError, match="'lenient'"):
        is_correct("\\boxed{A}", GLAUCOMA, "A", scorer="lenient")


# ------------------------------------------------------------------------ score.py details (the original's verdict)

# An empty option: the original strips each option line, "C. " becomes "C." without ". " and is skipped, so the
# matcher sees three options and reads only the letters A-C; the empty text never matches anything.
EMPTY_C = {"A": "Warfarin", "B": "Heparin", "C": "", "D": "Aspirin"}


def test_empty_option_line_is_skipped() -> None:
    # with the empty text kept as an option, "" would occur at the very end of any text and win the text search
    assert huatuo_match_choice("start aspirin now", EMPTY_C) == "D"
    # only A-C are letters now: a lone "(D)" is not read as a letter, the option text decides
    assert huatuo_match_choice("aspirin, not (D)", EMPTY_C) == "D"
    assert huatuo_match_choice("(D) heparin", EMPTY_C) == "B"


def test_multiline_option_text_adds_an_option_of_its_own() -> None:
    # "B. Start insulin.\nThen recheck. Glucose": the second line parses as option "Then recheck" -> "Glucose"
    options = {"A": "Observation", "B": "Start insulin.\nThen recheck. Glucose", "C": "Metformin"}
    assert huatuo_match_choice("then recheck", options) == "Then recheck"
    # four parsed options, so the letters A-D are read (D is no option of the item)
    assert huatuo_match_choice("not (D)", options) == "D"


def test_text_comparison_uses_the_items_answer_field() -> None:
    # HumanityLastExam items carry answers like "B. text\n": the exact-text rule then never fires, and the option
    # search prefers the earlier of two options starting at the same place.
    options = {"A": "Aspirin", "B": "Aspirin and heparin", "C": "Warfarin"}
    response = "\\boxed{Aspirin and heparin}"
    assert is_correct(response, options, "B")  # answer=None: options["B"], the exact-text rule
    assert is_correct(response, options, "B", answer="Aspirin and heparin")
    assert not is_correct(response, options, "B", answer="B. Aspirin and heparin\n")
    assert score_item(response, options, "B", answer="B. Aspirin and heparin\n")["correct_m1"] is False


def test_letter_with_answer_text_form_uses_the_answer_field() -> None:
    options = {"A": "Aspirin", "B": "Heparin"}
    assert is_correct("\\boxed{B. heparin 5000 U}", options, "B", answer="heparin 5000 U")
    # the same box read against options["B"]: no exact form matches, the matcher reads the letter B anyway
    assert is_correct("\\boxed{B. heparin 5000 U}", options, "B")


def test_fbox_and_spaced_box_are_scored_through_the_matcher() -> None:
    assert is_correct("\\fbox{B}", GLAUCOMA, "B")  # "{B}" is a standalone letter for the matcher
    assert is_correct("\\fbox{Amitriptyline}", GLAUCOMA, "B")  # the option text is found
    assert is_correct("\\boxed {A}", GLAUCOMA, "A")


def test_no_option_line_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no option line"):
        huatuo_match_choice("anything", {"A": "", "B": " "})
