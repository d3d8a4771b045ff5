"""The curation grader: the ``eval_sample`` of the original's filtering notebooks (``filtering_qwen_correct.ipynb``
for the difficulty filter, ``filtering_r1_wrong.ipynb`` for the R1 traces), written out here on its own; the
evaluation's verdict (:func:`m1repro.scoring.is_correct`) is a different function and is not used.

Extraction (:func:`extract_answer`, the same code as the evaluation's: the notebooks carry their own copies of
``extract_format.py``'s helpers, and they agree line for line), two passes of the same pair of helpers:

1. :func:`m1repro.scoring.last_boxed_only_string`: from the last ``\\boxed`` (or, when there is none, the last ``\\fbox``) to the
   brace that closes the first ``{`` after it; the whole text when there is neither or the braces never close;
2. :func:`m1repro.scoring.remove_boxed`: strip ``\\boxed{`` ... ``}`` only when the string starts with exactly ``\\boxed{`` and ends
   with ``}`` (so an ``\\fbox{..}`` or ``\\boxed {..}`` keeps its wrapper), and keep what follows the last ``=``
   (left-stripped of spaces);
3. the second pass calls the finder with ``"\\text"``, which it ignores (it looks for ``\\boxed``/``\\fbox`` again),
   then strips a ``\\text{`` ... ``}`` wrapper the same way.

faithful (the notebook): correct if the extracted string, stripped and lower-cased, equals the answer text stripped
and lower-cased, OR its first character (taken before any strip, then stripped and lower-cased) equals the lower-cased
answer letter; any exception (an empty extraction) counts as wrong. So "\\boxed{c}" and "\\boxed{Cannot tell}" both
count for option C, and "\\boxed{ C}" does not.
improved: the extracted string equals the answer text, the letter, or ``"{letter}. {text}"`` (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Callable

from m1repro.scoring import extract_answer

Extractor = Callable[[str], str]


def is_correct(
    output: str | None,
    answer_string: str,
    answer_letter: str,
    mode: str = "faithful",
    extract: Extractor | None = None,
) -> bool:
    """``output`` None (no response) is wrong; ``extract`` replaces :func:`extract_answer` (tests only)."""
    if mode not in ("faithful", "improved"):
        raise ValueError(f"unknown grader mode {mode!r} (expected 'faithful' or 'improved')")
    if output is None:
        return False
    extracted = (extract or extract_answer)(output)
    text = extracted.strip().lower()
    if text == answer_string.strip().lower():
        return True
    if mode == "faithful":
        return bool(extracted) and extracted[0].strip().lower() == answer_letter.strip().lower()
    return text in {answer_letter.strip().lower(), f"{answer_letter}. {answer_string}".strip().lower()}
