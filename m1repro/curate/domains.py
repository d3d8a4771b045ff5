"""Stage ``domains``: MeSH qualifier labels from a chat LLM, with the request the original sends.

The rubric lists the 76 qualifiers of ``qualifier_scope_note.tsv`` in file order with codes 00..75 as
``"### {Name}\\n* Code: NN\\n* Description: {scope note}"`` joined by blank lines; the user prompt is
``"## Question\\n{prompt}\\n\\n## Classification rubrics\\n{rubric}"`` after the original's system prompt. The reply
is parsed as the original does (:func:`parse_code`). Unparseable replies are asked once more (the same request,
a separate cache entry); what still fails stops the stage, as in the original, or (``on_unparseable:
unlabelled``) is counted and labelled ``None``. See ``docs/fidelity.md``, "API stages".
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import polars as pl

from m1repro.io import InputError
from m1repro.log import log_event

logger = logging.getLogger(__name__)

#: The model name the original's request carries: curator's litellm backend is given
#: ``"azure/gpt-4o-1120-nofilter-global"`` and litellm strips the provider prefix: an Azure deployment name.
MESH_MODEL = "gpt-4o-1120-nofilter-global"

#: The original's system prompt, verbatim: it is part of the request.
SYSTEM_PROMPT = (
    "You are a helpful assistant that classifies questions into different subjects based on the provided "
    "classification rubrics. "
    "You will be given a question and a list of subjects. "
    "You need to classify the question into one of the subjects. "
    "If the question has multiple subjects, you should classify the question into the most relevant subject. "
    "Explain your reasoning, and end your response on a new line with two-digit code of the subject that the "
    "question belongs to."
)

#: Request parameters by ``curate.domains.request``. faithful: none (the original's generation_params line is
#: commented out), so the API's defaults apply. greedy: temperature 0 and a short reply.
MESH_PARAMS: dict[str, dict[str, Any]] = {
    "faithful": {},
    "greedy": {"temperature": 0.0, "max_tokens": 512},
}

#: Cache salt of the second ask: the request is the same, the reply may differ (sampled at the default temperature).
RETRY_SALT = "retry-1"

ON_UNPARSEABLE = ("error", "unlabelled")


class DomainLabelError(RuntimeError):
    """Replies that still give no code after the second ask (the original stops here too)."""


def mesh_params(request: str = "faithful") -> dict[str, Any]:
    """The parameters sent with every MeSH request (part of the cache key)."""
    if request not in MESH_PARAMS:
        raise ValueError(f"curate.domains.request must be one of {sorted(MESH_PARAMS)}, got {request!r}")
    return dict(MESH_PARAMS[request])


def load_qualifiers(path: str | Path) -> list[tuple[str, str]]:
    """(name, scope note) in file order; the code of row i is ``f"{i:02d}"``."""
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        for i, row in enumerate(reader, start=2):
            name, note = row.get("Name"), row.get("Scope Notes")
            if not name or note is None:
                raise InputError(path, "missing Name or Scope Notes", record=f"line {i}")
            out.append((name.strip(), note.strip()))
    if not out:
        raise InputError(path, "no qualifiers")
    return out


def rubric(qualifiers: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"### {n}\n* Code: {i:02d}\n* Description: {d}" for i, (n, d) in enumerate(qualifiers))


def user_prompt(prompt: str, rubric_text: str) -> str:
    return f"## Question\n{prompt}\n\n## Classification rubrics\n{rubric_text}"


def mesh_messages(prompt: str, rubric_text: str) -> list[dict[str, str]]:
    """The original's message list: its system prompt, then the question and the rubric."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(prompt, rubric_text)}]


def parse_code(reply: str | None, n_codes: int) -> str | None:
    """The original's parse: drop ``*`` and backticks, strip, drop trailing dots (no strip after that), take the
    last two characters; they must be one of the rubric's codes ``00``.. as written."""
    if reply is None:
        return None
    code = reply.replace("*", "").replace("`", "").strip().rstrip(".")[-2:]
    return code if code in {f"{i:02d}" for i in range(n_codes)} else None


def label_domains(
    df: pl.DataFrame,
    client: Any,
    qualifiers: list[tuple[str, str]],
    params: dict[str, Any],
    on_unparseable: str = "error",
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Add ``domain_code`` and ``domain``. The summary counts rows: ``answered`` (labelled), ``failed``
    (unlabelled), ``re_requested`` (broken cache entries sent again), first-try parses and second asks, both costs;
    ``api`` holds the client's own counts."""
    if on_unparseable not in ON_UNPARSEABLE:
        raise ValueError(f"curate.domains.on_unparseable must be one of {ON_UNPARSEABLE}, got {on_unparseable!r}")
    rub = rubric(qualifiers)
    ids = df["id"].to_list()
    msgs = [mesh_messages(p, rub) for p in df["prompt"]]
    first = client.complete_many(msgs, params, ids=ids)
    codes = [parse_code(r.content if r.ok else None, len(qualifiers)) for r in first]
    retry_idx = [i for i, c in enumerate(codes) if c is None]
    last = list(first)
    if retry_idx:
        second = client.complete_many(
            [msgs[i] for i in retry_idx], params, salts=[RETRY_SALT] * len(retry_idx), ids=[ids[i] for i in retry_idx]
        )
        for i, r in zip(retry_idx, second, strict=True):
            codes[i] = parse_code(r.content if r.ok else None, len(qualifiers))
            last[i] = r
    missing = [i for i, c in enumerate(codes) if c is None]
    if missing and on_unparseable == "error":
        shown = "; ".join(
            f"{ids[i]}: " + (repr((last[i].content or "")[-80:]) if last[i].ok else f"API failed ({last[i].error})")
            for i in missing[:10]
        )
        raise DomainLabelError(
            f"{len(missing)} of {df.height} items have no MeSH code after the second ask ({shown}). The original "
            "stops here too; set curate.domains.on_unparseable: unlabelled to keep them unlabelled."
        )
    names = [qualifiers[int(c)][0] if c is not None else None for c in codes]
    api = client.summary()
    stats: dict[str, Any] = {
        "items": df.height,
        "answered": df.height - len(missing),
        "failed": len(missing),
        "re_requested": sum(r.re_requested for r in first) + sum(last[i].re_requested for i in retry_idx),
        "parsed_first_try": df.height - len(retry_idx),
        "retried": len(retry_idx),
        "unparseable": len(missing),
        "unparseable_ids": [ids[i] for i in missing],
        **{k: api[k] for k in ("cost_usd", "cost_usd_this_run", "cost_usd_billed")},
        "params": dict(params),
        "api": api,
    }
    log_event(logger, "domains labelled", **{k: v for k, v in stats.items() if not isinstance(v, dict | list)})
    return df.with_columns(
        pl.Series("domain_code", codes, dtype=pl.String), pl.Series("domain", names, dtype=pl.String)
    ), stats


def domain_counts(m23k: pl.DataFrame, m1k: pl.DataFrame, sources: tuple[str, ...]) -> pl.DataFrame:
    """Table 4: per domain, counts per source in m23K and m1K."""

    def wide(df: pl.DataFrame, prefix: str) -> pl.DataFrame:
        t = df.with_columns(pl.col("domain").fill_null("(unlabelled)")).group_by("domain", "source").len()
        rows: dict[str, dict[str, Any]] = {}
        for d, s, n in t.iter_rows():
            rows.setdefault(d, {"domain": d})[f"{prefix}_{s}"] = n
        cols = [f"{prefix}_{s}" for s in sources]
        schema = {"domain": pl.String, **dict.fromkeys(cols, pl.Int64)}
        base = pl.DataFrame(list(rows.values()), schema=schema, orient="row")
        return base.fill_null(0).with_columns(pl.sum_horizontal(cols).alias(f"{prefix}_total"))

    out = wide(m23k, "m23k").join(wide(m1k, "m1k"), on="domain", how="full", coalesce=True)
    return out.fill_null(0).sort("domain")
