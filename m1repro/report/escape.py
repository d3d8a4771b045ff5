"""Escaping of user text (model labels, run names) wherever an output renders it: Markdown tables, LaTeX,
matplotlib's text (``$`` starts math), and the Snakemake HTML report.

The Snakemake report embeds each reported job's ``params`` as ``str(value)`` inside a ``<script>`` block without
escaping, so a label ``</script><script>...`` in a report rule's params would become a live script element. Report
rules therefore pass their params through :func:`html_safe`: the job receives the same values, the report shows
``<``, ``>`` and ``&`` as ``\\u003c`` ``\\u003e`` ``\\u0026``.
"""

from __future__ import annotations

import json
from typing import Any

_HTML_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def markdown_text(text: str) -> str:
    """Running Markdown text: ``<`` and ``>`` show as text, so no HTML tag can form (Markdown passes raw HTML
    through); ``&`` stays as written (readable in the file; an entity it starts renders as text)."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def markdown_cell(text: str) -> str:
    """A table cell of GitHub/CommonMark Markdown: as :func:`markdown_text`, and ``|`` cannot end the cell nor a
    newline the row."""
    return markdown_text(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def mathtext_safe(text: str) -> str:
    """Text for matplotlib: a ``$`` is a dollar sign, not the start of math (two of them would be parsed)."""
    return text.replace("$", "\\$")


def _html_escaped(text: str) -> str:
    for ch, esc in _HTML_UNSAFE.items():
        text = text.replace(ch, esc)
    return text


class _SafeStr(str):
    """A string that the report shows escaped (``repr``, which lists and dicts use for their items); everywhere
    else it is the string itself."""

    def __repr__(self) -> str:
        return _html_escaped(str.__repr__(self))


class _SafeDict(dict):
    def __str__(self) -> str:
        return _html_escaped(json.dumps(dict(self), ensure_ascii=False, default=str, sort_keys=True))

    __repr__ = __str__


def html_safe(value: Any) -> Any:
    """A report rule's param as the job sees it (the same values), shown HTML-safe by the report: dicts (which
    Snakemake keeps as given) show as escaped JSON; lists (which it copies) hold strings whose ``repr`` is escaped."""
    if isinstance(value, str):
        return _SafeStr(value) if any(ch in value for ch in _HTML_UNSAFE) else value
    if isinstance(value, dict):
        return _SafeDict({k: html_safe(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [html_safe(v) for v in value]
    return value
