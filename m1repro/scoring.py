"""Answer extraction and scoring for multiple-choice evaluation.

Two scorers, both kept per item so a report can show how much the choice of scorer moves the numbers:

* ``"m1"`` reproduces the original m1 code (``extract_format.py`` + ``score.py``, whose choice matcher is
  HuatuoGPT-o1's ``match_choice`` modified to return the LAST match), quirks included, because that is what
  produced the paper's numbers.
* ``"improved"`` fixes those quirks in a principled way (see :func:`improved_choice`).
"""

from __future__ import annotations

import difflib
import re

SCORERS: tuple[str, ...] = ("m1", "improved")

_LETTERS = "ABCDEFGHIJKLMN"  # the original matcher never looks past N (quirk, kept in the m1 scorer)
_FINAL_RESPONSE = "## Final Response\n\n"
_STRICT_RE = re.compile(r"(answer is\s*?)([A-N])", re.S)


# --- Extraction (m1 extract_format.py) ---


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the ``}`` at which the brace depth, counted from ``start``, first returns to zero; None if never.

    Brace matching (not a regex) so nested braces like ``\\boxed{\\frac{1}{2}}`` survive, as in the original.
    """
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _after_last_equals(s: str) -> str:
    """Keep what follows the last ``=`` (left-stripped): the original's math habit of boxing ``x = 5``."""
    return s.rsplit("=", 1)[-1].lstrip() if "=" in s else s


def _box_content(text: str) -> str | None:
    """Raw content of the last ``\\boxed{}`` (or of the last ``\\fbox{}`` when there is no ``\\boxed`` at all), for the
    improved scorer; None if there is no brace or it never closes. Only spaces may stand between the command and its
    ``{`` (the original rejects anything but ``\\boxed{``), and an ``\\fbox`` is unwrapped like a ``\\boxed``."""
    command = "\\boxed" if "\\boxed" in text else "\\fbox"
    if command not in text:
        return None
    open_idx = text.rfind(command) + len(command)
    while open_idx < len(text) and text[open_idx] in " \t":
        open_idx += 1
    if open_idx >= len(text) or text[open_idx] != "{":
        return None
    close = _closing_brace(text, open_idx)
    return None if close is None else text[open_idx + 1 : close]


def last_boxed_only_string(text: str) -> str:
    """The original's box search: from the last ``\\boxed`` (or, only when there is none, the last ``\\fbox``) to
    the ``}`` at which the brace depth first returns to zero; the whole text when there is no such command or the
    braces never balance.

    Depth counting starts at the command, not at its brace, so ``\\boxed A {x}`` yields ``\\boxed A {x}`` and a
    ``}`` met before any ``{`` pushes the depth below zero (it must climb back before a match counts).
    """
    idx = text.rfind("\\boxed")
    if idx < 0:
        idx = text.rfind("\\fbox")
        if idx < 0:
            return text
    close = _closing_brace(text, idx)
    return text if close is None else text[idx : close + 1]


def remove_boxed(s: str, command: str = "\\boxed") -> str:
    """The original's unwrapping: only a string that starts with ``command`` + ``{`` and ends with ``}`` loses the
    wrapper (so ``\\fbox{B}`` and ``\\boxed {B}`` stay as they are); if the content has an ``=``, what follows the
    last one is kept, with leading spaces (only spaces) removed."""
    head = command + "{"
    if not (s.startswith(head) and s.endswith("}")):
        return s
    inner = s[len(head) : -1]
    return inner.split("=")[-1].lstrip(" ") if "=" in inner else inner


def extract_answer(text: str) -> str:
    """The m1 extraction (``extract_format.py``), quirks included: two passes of the same box search, the second
    followed by unwrapping ``\\text{...}`` when it is the whole string.

    The second pass searches for ``\\boxed``/``\\fbox`` again (the original passes ``"\\text"`` to a parameter it
    never reads), so ``\\boxed{\\text{B}}`` and ``\\boxed{x = \\text{B}}`` give ``B``, while ``\\boxed{\\text{B} and C}``
    gives ``\\text{B} and C``. Without a box the whole response is returned.
    """
    first = remove_boxed(last_boxed_only_string(text))
    return remove_boxed(last_boxed_only_string(first), "\\text")


# --- HuatuoGPT-o1 matcher as modified by m1 (score.py) ---


def option_str(options: dict[str, str]) -> str:
    """``"A. text"`` lines in dict order: the exact string the evaluation prompt shows the model."""
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def _parse_option_str(opt_str: str) -> dict[str, str]:
    """Options as the original re-reads them from the option string: each line stripped, then split once on ``". "``.

    A line without ``". "`` is skipped (the original prints an error and goes on), so an empty option (``"C. "``,
    stripped to ``"C."``) disappears, and the continuation line of a multi-line option text becomes an option of
    its own keyed by what precedes its first ``". "``. Both shift ``len(options)``, which bounds the letters matched.
    """
    parsed: dict[str, str] = {}
    for line in opt_str.split("\n"):
        parts = line.strip().split(". ", 1)
        if len(parts) == 2:
            parsed[parts[0]] = parts[1]
    return parsed


def huatuo_match_choice(text: str, options: dict[str, str]) -> str:
    """The letter the original matcher picks in ``text`` (always one, possibly a letter that is not an option).

    Faithful to HuatuoGPT-o1's ``match_choice`` as used by m1 (last match kept), in order:
    text after ``"## Final Response\\n\\n"`` if present; last strict ``answer is X`` (X in A-N whatever the number of
    options); last non-strict standalone letter among the first ``len(options)`` of A-N (so with 10 options the
    pronoun "I" is option I, and letters after N can never match); the option whose lower-cased text starts
    LATEST in the lower-cased text (ties to the earlier option); else the highest difflib ratio, ties to the later.
    """
    opts = _parse_option_str(option_str(options))
    if not opts:  # the original crashes here (indexing with None); say why instead
        raise ValueError(f"no option line of the form 'X. text' to match against: {option_str(options)!r:.200}")
    if _FINAL_RESPONSE in text:
        text = text.split(_FINAL_RESPONSE)[-1]

    strict = list(_STRICT_RE.finditer(text))
    if strict:
        return strict[-1].group(2)

    match_options = _LETTERS[: len(opts)]
    non_strict = list(
        re.finditer(
            r"([\u4e00-\u9fff]|is |是|项|\*|\W|\ |\(|为|^|'|\"|#)(?![aA] )(["
            + match_options
            + r"])(\W|[\u4e00-\u9fff]|$)",
            text,
            re.S,
        )
    )
    if non_strict:
        return non_strict[-1].group(2)

    lowered = text.lower()
    best_letter: str | None = None
    best_pos = -1
    for letter, opt_text in opts.items():
        needle = opt_text.lower()
        if needle in lowered:
            pos = lowered.rindex(needle)
            if pos > best_pos:  # strict '>' = the original's stable sort: ties keep the earlier option
                best_letter, best_pos = letter, pos
    if best_letter is not None:
        return best_letter

    # the highest difflib ratio; max() over the reversed options = the original's ``>=``: ties go to the LATER one
    return max(reversed(opts), key=lambda k: difflib.SequenceMatcher(None, opts[k].lower(), lowered).ratio())


# --- Improved scorer ---

_SPECIAL_TOKENS_RE = re.compile(r"<\|im_start\|>(?:answer|think)?|<\|im_end\|>|</?think>")
_LATEX_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|emph|mbox)\s*\{([^{}]*)\}")
_ANSWER_PREFIX_RE = re.compile(
    r"^(?:the\s+)?(?:(?:final|correct|best|most\s+likely)\s+)?answer\s*(?:is\b\s*:?|:)\s*", re.I
)
_STATEMENT_RE = re.compile(r"\banswer\b\**\s*(?:is\b\s*:?|:)\**[ \t]*\n?[ \t]*(\S[^\n]*)", re.I)
_LETTER_FORM_RE = re.compile(
    r"^(?:(?:option|choice)\s*)?[(\[]?([A-Za-z])[)\]]?(?:\s*[.:,;)\-\u2013\u2014]\s*(.*))?$", re.I | re.S
)
_TEXT_BOUNDARY_RE = re.compile(r"^(?:$|[,;:(\[\u2013\u2014-]|\.(?:\s|$)|\s+[-\u2013\u2014(])")


def _clean(s: str) -> str:
    """Remove LaTeX text wrappers, math dollars and markdown emphasis; collapse whitespace; drop trailing dots."""
    prev = None
    while prev != s:
        prev, s = s, _LATEX_WRAPPER_RE.sub(r"\1", s)
    s = s.replace("$", "").replace("**", "").replace("__", "").replace("`", "")
    s = " ".join(s.split())
    return s.strip(" \"'").rstrip(" .").strip()


def _norm(s: str) -> str:
    return _clean(s).lower()


def _text_choice(span: str, options: dict[str, str]) -> str | None:
    """The option whose normalised text equals ``span``; None if none or several (duplicate options)."""
    target = _norm(span)
    hits = [k for k, v in options.items() if _norm(v) == target and target]
    return hits[0] if len(hits) == 1 else None


def _prefix_choice(span: str, options: dict[str, str]) -> str | None:
    """The option whose text opens ``span`` and is followed by punctuation or the end ("Aspirin, because ...").

    The longest such text wins ("Aspirin and clopidogrel" over "Aspirin"); a text followed by a plain word
    ("Aspirin is contraindicated") is not taken as a choice.
    """
    target = _norm(span)
    best: tuple[int, str] | None = None
    tie = False
    for k, v in options.items():
        opt = _norm(v)
        if opt and target.startswith(opt) and _TEXT_BOUNDARY_RE.match(target[len(opt) :]):
            if best is None or len(opt) > best[0]:
                best, tie = (len(opt), k), False
            elif len(opt) == best[0]:
                tie = True
    return None if best is None or tie else best[1]


def _parse_span(span: str, options: dict[str, str]) -> str | None:
    """A letter for a span the model declared as its answer, or None when it names no single valid option."""
    s = _ANSWER_PREFIX_RE.sub("", _clean(span)).strip()
    s = _clean(s)
    if not s:
        return None
    by_text = _text_choice(s, options)
    if by_text is not None:
        return by_text
    m = _LETTER_FORM_RE.match(s)
    if m:
        letter, rest = m.group(1), (m.group(2) or "")
        upper = letter.upper()
        # A lower-case letter counts alone ("b", "(b)") or with its own option text, never with other text ("i.e. ...").
        if letter.islower() and rest and (upper not in options or _norm(rest) != _norm(options[upper])):
            upper = ""
        letter = upper
        if letter in options:
            if not rest or _norm(rest) == _norm(options[letter]):
                return letter
            other = _text_choice(rest, options)
            if other is not None and other != letter:
                return None  # "B. <text of option A>": contradictory, so no choice
            return letter  # letter plus a paraphrase or explanation: the letter is the declared choice
        if letter:
            return None  # a letter form naming no option (e.g. "E" with four options) is not an answer
    return _prefix_choice(s, options)


def improved_choice(text: str, options: dict[str, str]) -> str | None:
    """The option letter the improved scorer reads from a response, or None when it names no valid option.

    Differences from the m1 scorer, each a fix of a quirk:

    1. Only a letter that is an option key counts (m1: any of A-N, and never O or later).
    2. A letter must stand as an answer form on its own: ``B``, ``B.``, ``(B)``, ``B)``, ``[B]``, ``Option B``,
       ``B: text``, ``B. text``; a lower-case letter only alone or with its own option text. Words such as the
       pronoun "I" or the article "A" inside a sentence never match (m1: any standalone capital, so with 10
       options "I think ..." is option I).
    3. LaTeX/markdown are removed before comparing: ``\\text{}``, ``\\textbf{}``, ``\\mathrm{}``, ``$``, ``**``,
       backticks, quotes, trailing dots (m1 unwraps ``\\text{}`` only, after its ``=`` split).
    4. Option text is compared after case and whitespace normalisation, as the whole answer or as its opening
       words followed by punctuation; "B. <text of another option>" is contradictory and counts as no choice.
    5. The box content is read as a whole first and only then after its last ``=`` (m1 always splits, so an option
       text containing ``=`` is cut before it is compared and only the fuzzy fallback can still pick it).
    6. No box: the last ``answer is X`` / ``Answer: X`` statement is read, then the last non-empty line
       (m1: the whole response goes to the choice matcher, which takes the last letter-like token anywhere).
    7. No fuzzy fallback: a response naming no recognisable choice is wrong (m1: difflib always picks an option).
    8. Chat-template markers (``<|im_start|>answer``, ``<|im_end|>``, ``</think>``) are dropped first.
    """
    text = _SPECIAL_TOKENS_RE.sub("\n", text)
    box = _box_content(text)
    if box is not None:
        spans = [box]
        if "=" in box:
            spans.append(_after_last_equals(box))
    else:
        statements = list(_STATEMENT_RE.finditer(text))
        spans = [statements[-1].group(1)] if statements else []
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            spans.append(lines[-1])
    for span in spans:
        letter = _parse_span(span, options)
        if letter is not None:
            return letter
    return None


# --- Verdicts ---


def _is_correct_m1(response_text: str, options: dict[str, str], answer_idx: str, answer: str) -> bool:
    """``score.py``'s verdict, in its order; ``answer`` is the item's own answer field."""
    extracted = extract_answer(response_text)
    low = extracted.lower()
    if low in (answer.lower(), f"{answer_idx}. {answer}".lower()) or (
        len(extracted) == 1 and low == answer_idx.lower()
    ):
        return True
    return huatuo_match_choice(extracted, options).lower() == answer_idx.lower()


def is_correct(
    response_text: str, options: dict[str, str], answer_idx: str, scorer: str = "m1", answer: str | None = None
) -> bool:
    """Whether a response answers the item correctly under ``scorer`` (``"m1"`` faithful, ``"improved"``).

    m1: the extracted answer (:func:`extract_answer`) equals ``answer``, or ``"X. answer"``, or is the single letter
    (any case), or :func:`huatuo_match_choice` applied to the EXTRACTED string gives the letter. ``answer`` is the
    item's own ``answer`` field, which the original compares with; ``None`` means ``options[answer_idx]`` (they
    differ for HumanityLastExam, whose answers read ``"C. text\\n"``).
    improved: :func:`improved_choice` on the whole response gives the letter.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; expected one of {', '.join(SCORERS)}")
    if answer_idx not in options:
        raise ValueError(f"answer_idx {answer_idx!r} is not an option key ({', '.join(options)})")
    if scorer == "m1":
        return _is_correct_m1(response_text, options, answer_idx, options[answer_idx] if answer is None else answer)
    return improved_choice(response_text, options) == answer_idx


def score_item(
    response_text: str, options: dict[str, str], answer_idx: str, answer: str | None = None
) -> dict[str, bool | str]:
    """Both verdicts for one item, so the report can compare scorers without rescoring."""
    return {
        "extracted": extract_answer(response_text),
        "correct_m1": is_correct(response_text, options, answer_idx, "m1", answer),
        "correct_improved": is_correct(response_text, options, answer_idx, "improved"),
    }
