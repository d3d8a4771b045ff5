"""Bad inputs and faults, round 2: the classes that cost money, published numbers or a secret (issue 21).

As in ``test_bad_inputs.py``, each case is one ``@case``: its test id is ``NNN-<outcome>-<name>``, the outcome
``error`` (a clear error naming what ``expect`` lists, never a bare KeyError/TypeError traceback), ``excluded`` (a
counted exclusion, the count checked) or ``handled`` (the fault is survived and the result is the honest one, as
the thunk checks). Each case builds its inputs under ``tmp_path`` and returns the call to make. After every case the
test checks that no key-shaped string (the test key below) reached any file under ``tmp_path``, and that no input
file lost a byte (append-only caches may grow).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from api_standin import StandIn
from bad_input_helpers import check_bad_input

from m1repro.api import chat
from m1repro.api.chat import ChatClient, ledger_path
from m1repro.curate.schema import pool_frame, write_table

REPO = Path(__file__).resolve().parent.parent
CASES: list[Any] = []
Thunk = Callable[[], Any]
KEY = "sk-proj-Rel1ab1l1tyTestKey0123456789"  # what the tests put in the key variable; must never reach a file
KEY_VAR = "M1_TEST_REL_KEY"


def case(name: str, outcome: str, *expect: str):
    def deco(fn: Callable[[Path], Thunk]) -> Callable[[Path], Thunk]:
        CASES.append(pytest.param(fn, outcome, expect, id=f"{len(CASES) + 1:03d}-{outcome}-{name}"))
        return fn

    return deco


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_VAR, KEY)


# ---- paid replies: never lost, never paid twice, every bill on record -------------------------------------------------
MODEL = "Pro/deepseek-ai/DeepSeek-R1"
PARAMS = {"temp": 0.0, "max_tokens": 8000}
PRICE = {"input": 0.55, "output": 2.19}
ONE = 10 / 1e6 * PRICE["input"] + 20 / 1e6 * PRICE["output"]  # the stand-in bills 10 + 20 tokens per reply


def msgs(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Question {i}: which nerve supplies the deltoid?"}] for i in range(n)]


def client(api: StandIn, cache: Path, **kw: Any) -> ChatClient:
    kw.setdefault("concurrency", 4)
    return ChatClient(
        model=MODEL,
        cache_path=cache,
        base_url=api.base_url,
        api_key_env=KEY_VAR,
        timeout=5,
        backoff_base=0.001,
        backoff_max=0.01,
        max_retries=2,
        require_reasoning=True,
        pricing=PRICE,
        progress=False,
        **kw,
    )


def read_only_dir(tmp: Path) -> Path:
    """A directory this process cannot create files in (root ignores permission bits: /proc/self is such a one)."""
    if os.geteuid() == 0:
        return Path("/proc/self")
    d = tmp / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


@case("cache-dir-read-only", "error", "not writable", "no request was sent")
def _(tmp):
    def run() -> None:
        with StandIn(noise=False) as api:
            try:
                client(api, read_only_dir(tmp) / "r1.jsonl").complete_many(msgs(8), PARAMS)
            finally:
                assert sum(api.calls.values()) == 0, "a request was sent although nothing could be stored"

    return run


@case("cache-parent-is-a-file", "error", "not-a-dir", "not writable")
def _(tmp):
    (tmp / "not-a-dir").write_text("user file\n")

    def run() -> None:
        with StandIn(noise=False) as api:
            client(api, tmp / "not-a-dir" / "r1.jsonl").complete_many(msgs(2), PARAMS)

    return run


def disk_full_after(n: int):
    """Simulate a disk that fills after ``n`` appended lines (cache and ledger alike): ENOSPC from then on."""
    real = chat._append_line
    writes = {"n": 0}

    def append(path: Path, line: str, needs_newline: bool = False) -> None:
        writes["n"] += 1
        if writes["n"] > n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, line, needs_newline)

    return append


@case("cache-disk-full-first-write", "error", "r1.billed.jsonl", "No space left on device", "sending stopped")
def _(tmp):
    """ENOSPC at the first write: at most the requests in flight (2) are paid, and the stage stops."""

    def run() -> None:
        with StandIn(noise=False) as api, pytest.MonkeyPatch.context() as mp:
            mp.setattr(chat, "_append_line", disk_full_after(0))
            try:
                client(api, tmp / "r1.jsonl", concurrency=2).complete_many(msgs(40), PARAMS)
            finally:
                paid = sum(api.paid.values())
                assert 1 <= paid <= 2, f"{paid} replies paid after the first failed write"

    return run


@case("cache-disk-full-mid-stage-then-rerun", "handled", "paid twice: 0", "billed = provider's bill")
def _(tmp):
    """ENOSPC on the 11th write (cache or ledger alike, as a full disk does): the stage stops at once; the rerun pays
    again only the replies in flight at the failure, and the ledger's total is what the provider billed over both
    runs, less the in-flight replies whose ledger line the full disk refused (the error counts them)."""

    def run() -> str:
        cache = tmp / "r1.jsonl"
        with StandIn(noise=False) as api:
            with pytest.MonkeyPatch.context() as mp, pytest.raises(chat.CacheWriteError) as err:
                mp.setattr(chat, "_append_line", disk_full_after(10))
                client(api, cache).complete_many(msgs(60), PARAMS)
            first_paid = sum(api.paid.values())
            stored = len(cache.read_text().splitlines())
            recorded = len(ledger_path(cache).read_text().splitlines())
            assert stored + recorded == 10  # the writes before the disk filled
            unstored, unrecorded = first_paid - stored, first_paid - recorded
            assert unstored <= 4, f"{first_paid} paid: sending went on after the first failed write"
            assert f"{unstored} paid repl(ies) of this run could not be stored" in str(err.value)
            second = client(api, cache)
            res = second.complete_many(msgs(60), PARAMS)
            s = second.summary()
        assert all(r.ok for r in res) and s["cache_hits"] == stored
        twice = sum(n > 1 for n in api.paid.values())
        assert twice == unstored, (twice, unstored)
        billed = sum(api.paid.values())
        assert s["cost_usd_billed"] == pytest.approx((billed - unrecorded) * ONE)
        return f"paid twice: {twice - unstored}; billed = provider's bill less the {unrecorded} the full disk lost"

    return run


@case("failed-run-spend-on-record", "handled", "cost_usd_billed covers the failed run")
def _(tmp):
    """A run whose replies are all unusable (finish_reason length) fails, yet its bill is on record; the next run
    of the same cache reports it in cost_usd_billed."""

    def run() -> str:
        cache = tmp / "r1.jsonl"
        with StandIn(noise=False) as api:
            lengthy = [[{"role": "user", "content": f"LENGTHSTOP question {i}"}] for i in range(3)]
            with pytest.raises(chat.ApiFailedError):
                client(api, cache).complete_many(lengthy, PARAMS)
            failed_bill = sum(api.paid.values())
            c = client(api, cache)
            c.complete_many(msgs(2), PARAMS)
        s = c.summary()
        assert failed_bill == 3 * 3  # three attempts each (max_retries 2), each billed
        assert s["cost_usd_this_run"] == pytest.approx(2 * ONE)
        assert s["cost_usd_billed"] == pytest.approx((failed_bill + 2) * ONE)
        return "cost_usd_billed covers the failed run"

    return run


# ---- keys: refused keys stop the stage; no key reaches a file ---------------------------------------------------------
def hard_rows(n: int) -> pl.DataFrame:
    opts = ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"]
    return pool_frame(
        [
            {
                "id": f"MedMCQA-train-{i}",
                "source": "MedMCQA",
                "question": f"Which nerve supplies muscle {i}?",
                "options": opts,
                "answer_letter": "A",
                "answer_string": opts[0],
                "prompt": f"Which nerve supplies muscle {i}?\n"
                + "\n".join(f"{'ABCD'[k]}. {o}" for k, o in enumerate(opts)),
                "metadata": "{}",
            }
            for i in range(n)
        ]
    )


def rule_job(rule: str, log: Path, inputs: dict[str, Any], outputs: dict[str, Any], **params: Any) -> Any:
    """What Snakemake hands a rule script (named input/output/params/log), for :func:`m1repro.smk.run`."""
    from types import SimpleNamespace

    from snakemake.iocontainers import Namedlist

    return SimpleNamespace(
        rule=rule,
        input=Namedlist(fromdict=inputs),
        output=Namedlist(fromdict=outputs),
        params=Namedlist(fromdict=params),
        log=Namedlist(fromdict={"log": str(log)}),
        wildcards=Namedlist(),
        resources=Namedlist(),
        threads=1,
    )


def traces_stage(tmp: Path, status: int | None = None, n: int = 12) -> Thunk:
    """The R1 traces rule as Snakemake runs it (its script's seam, its log file) against a provider answering
    ``status`` to every request."""
    from m1repro.curate.rules import curate_traces
    from m1repro.smk import run as run_rule

    inp = tmp / "in"
    inp.mkdir()
    write_table(hard_rows(n), inp / "hard.parquet")
    write_table(pool_frame([]), inp / "random.parquet")
    out = tmp / "out"

    def run() -> Any:
        with StandIn(noise=False, status=status) as api:
            cfg = {
                "api": {
                    "base_url": api.base_url,
                    "api_key_env": KEY_VAR,
                    "cache": str(tmp / "cache" / "r1.jsonl"),
                    "concurrency": 2,
                    "max_retries": 1,
                    "timeout_s": 5,
                    "pricing": PRICE,
                },
                "request": "faithful",
            }
            smk = rule_job(
                "curate_traces",
                tmp / "logs" / "curate_traces.log",
                {"hard": str(inp / "hard.parquet"), "random": str(inp / "random.parquet"), "replay": []},
                {"traces": str(out / "traces.parquet"), "stats": str(out / "traces_api.json")},
                cfg=cfg,
            )
            try:
                return run_rule(smk, curate_traces)
            finally:
                assert "rule curate_traces failed" in (tmp / "logs" / "curate_traces.log").read_text()
                assert sum(api.calls.values()) <= 2 or status not in (401, 403), "sending went on after a refused key"

    return run


@case("provider-401-echoes-key", "error", "refused the key (HTTP 401)", KEY_VAR)
def _(tmp):
    return traces_stage(tmp, 401)


@case("provider-403-echoes-key", "error", "refused the key (HTTP 403)", KEY_VAR)
def _(tmp):
    return traces_stage(tmp, 403)


@case("provider-404-every-request", "error", "all 12 API request(s)", "HTTP 404", "model_not_found")
def _(tmp):
    return traces_stage(tmp, 404)


@case("provider-500-every-request", "error", "all 12 API request(s)", "HTTP 500")
def _(tmp):
    return traces_stage(tmp, 500)


@case("provider-429-every-request", "error", "all 12 API request(s)", "HTTP 429")
def _(tmp):
    return traces_stage(tmp, 429)


@case("api-key-env-holds-a-key", "error", "curate.traces.api.api_key_env", "looks like an API key", "not shown")
def _(tmp):
    from m1repro.config import resolve_config

    overlay = {"base": "config/tiny.yaml", "curate": {"traces": {"api": {"api_key_env": KEY}}}}
    return lambda: resolve_config(overlay, workdir=REPO)


@case("api-key-env-key-in-client", "error", "looks like an API key", "not shown")
def _(tmp):
    return lambda: ChatClient(model=MODEL, cache_path=tmp / "c.jsonl", base_url="http://127.0.0.1:9", api_key_env=KEY)


# ---- provenance: no foreign record is scored, no foreign score file is tabled -----------------------------------------
DATASETS = ["MedQA_USLME_test", "PubMedQA_test"]


def items_file(tmp: Path) -> Path:
    """Prepared items of a small, good evaluation file (``results/eval/items.jsonl`` as eval_prepare writes it)."""
    from m1repro.evaldata import prepare_items

    data = {
        d: [
            {
                "question": f"Q{i}?",
                "options": {"A": f"yes {i}", "B": f"no {i}"},
                "answer_idx": "A",
                "answer": f"yes {i}",
            }
            for i in range(3)
        ]
        for d in DATASETS
    }
    (tmp / "eval.json").write_text(json.dumps(data))
    prepare_items(tmp / "eval.json", DATASETS, tmp / "items.jsonl", tmp / "validation.json")
    return tmp / "items.jsonl"


def predictions(
    tmp: Path, model: str, prompt_mode: str, variant: str, budget_mode: str = "faithful", **kw: Any
) -> Path:
    """What eval_predict writes for ``model``: every item at ``variant``, answering A."""
    from m1repro.variants import Variant

    v = Variant.parse(variant)
    recs = [
        {
            "model": model,
            "prompt_mode": prompt_mode,
            **json.loads(line),
            "variant": v.name,
            "budget": v.budget,
            "rounds": v.rounds,
            "budget_mode": budget_mode if v.budget is not None else None,
            "prompt": "p",
            "thinking_text": "",
            "thinking_finish_reason": None,
            "response_text": "The answer is A.",
            "finish_reason": "stop",
            "num_thinking_tokens": 0,
            "num_gen_tokens": 5,
            "num_wait": 0,
            **kw,
        }
        for line in (tmp / "items.jsonl").read_text().splitlines()
    ]
    path = tmp / "predictions" / budget_mode / f"{model}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def score_as(
    tmp: Path, preds: Path, model: str, prompt_mode: str, variant: str, budget_mode: str = "faithful"
) -> Thunk:
    """eval_score for ``model`` (its prompt mode and budget mode) over the file ``preds``."""
    from m1repro.scores import score_model

    out = tmp / "out"
    return lambda: score_model(
        [str(preds)],
        str(tmp / "items.jsonl"),
        DATASETS,
        [variant],
        model,
        budget_mode,
        "m1",
        str(out / "scores" / budget_mode / f"{model}.csv"),
        str(out / "scored" / budget_mode / f"{model}.jsonl"),
        prompt_mode,
    )


@case("pred-other-models-copied-over", "error", "tiny-base.jsonl", "line 1", "field 'model'", "'tiny-base'")
def _(tmp):
    """tiny-base's predictions copied over tiny-base-CoT's (the +CoT row of Table 1)."""
    items_file(tmp)
    return score_as(tmp, predictions(tmp, "tiny-base", "baseline", "baseline"), "tiny-base-CoT", "cot", "baseline")


@case("pred-other-prompt-rendering", "error", "line 1", "field 'prompt_mode'", "'cot'")
def _(tmp):
    """The right model name, but rendered with another prompt (a model's mode changed after it predicted)."""
    items_file(tmp)
    return score_as(tmp, predictions(tmp, "m", "cot", "baseline"), "m", "baseline", "baseline")


@case("pred-exact-copied-into-faithful", "error", "line 1", "field 'budget_mode'", "'exact'", "'faithful'")
def _(tmp):
    items_file(tmp)
    preds = predictions(tmp, "tiny-m1", "thinking", "budget16", budget_mode="exact")
    return score_as(tmp, preds, "tiny-m1", "thinking", "budget16", budget_mode="faithful")


@case("pred-budget-differs-from-variant", "error", "line 1", "field 'budget'", "32")
def _(tmp):
    items_file(tmp)
    return score_as(tmp, predictions(tmp, "m", "thinking", "budget16", budget=32), "m", "thinking", "budget16")


@case("pred-written-before-provenance", "error", "line 1", "field 'model'", "missing field")
def _(tmp):
    items_file(tmp)
    preds = predictions(tmp, "m", "baseline", "baseline")
    recs = [json.loads(x) for x in preds.read_text().splitlines()]
    preds.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "model"}) + "\n" for r in recs))
    return score_as(tmp, preds, "m", "baseline", "baseline")


def scored(tmp: Path, model: str = "m", budget_mode: str = "faithful") -> Path:
    """A real scores CSV (and sidecar) of ``model``, moved out of ``out`` so that it is an input here."""
    items_file(tmp)
    score_as(
        tmp, predictions(tmp, model, "baseline", "baseline", budget_mode), model, "baseline", "baseline", budget_mode
    )()
    src = tmp / "out" / "scores"
    dst = tmp / "scores"
    src.rename(dst)

    shutil.rmtree(tmp / "out")
    return dst / budget_mode / f"{model}.csv"


def table1_of(tmp: Path, csv: Path, name: str) -> Thunk:
    from m1repro.report.tables import write_table1

    out = tmp / "out"
    rows = [{"name": name, "label": f"L-{name}", "variant": "baseline"}]
    return lambda: write_table1([str(csv)], rows, str(out / "t1.csv"), str(out / "t1.md"))


@case("scores-hand-edited", "error", "m.csv", "changed since the scoring rule wrote it", "m.meta.json")
def _(tmp):
    csv = scored(tmp)
    lines = csv.read_text().splitlines()
    cells = lines[1].split(",")
    cells[9] = "99.9"  # accuracy
    csv.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    return table1_of(tmp, csv, "m")


@case("scores-without-sidecar", "error", "m.csv", "no sidecar m.meta.json", "not written by the scoring rule")
def _(tmp):
    csv = scored(tmp)
    csv.with_name("m.meta.json").unlink()
    return table1_of(tmp, csv, "m")


@case("scores-copied-to-other-model", "error", "tiny-base-CoT.csv", "field 'model'", "'tiny-base'")
def _(tmp):

    csv = scored(tmp, "tiny-base")
    shutil.copy(csv, csv.with_name("tiny-base-CoT.csv"))
    shutil.copy(csv.with_name("tiny-base.meta.json"), csv.with_name("tiny-base-CoT.meta.json"))
    return table1_of(tmp, csv.with_name("tiny-base-CoT.csv"), "tiny-base-CoT")


@case("scores-exact-copied-into-faithful", "error", "faithful/m.csv", "field 'budget_mode'", "'exact'")
def _(tmp):

    csv = scored(tmp, "m", "exact")
    (tmp / "scores" / "faithful").mkdir()
    shutil.copy(csv, tmp / "scores" / "faithful" / "m.csv")
    shutil.copy(csv.with_name("m.meta.json"), tmp / "scores" / "faithful" / "m.meta.json")
    return table1_of(tmp, tmp / "scores" / "faithful" / "m.csv", "m")


@case("scores-as-written-are-tabled", "handled", "| L-m |  | 100.00 | 100.00 |")
def _(tmp):
    """The control: an untouched score file goes into Table 1."""
    csv = scored(tmp)

    def run() -> str:
        table1_of(tmp, csv, "m")()
        return (tmp / "out" / "t1.md").read_text()

    return run


# ---- the evaluation file means one thing ----------------------------------------------------------------------------
ITEM = '{"question": "Q%d?", "options": {"A": "yes", "B": "no"}, "answer_idx": "A", "answer": "yes"}'


def prepare_raw(tmp: Path, text: str, on_invalid: str = "error") -> Thunk:
    """eval_prepare over an evaluation file written as ``text`` (JSON as a user's editor saved it)."""
    from m1repro.evaldata import prepare_items

    (tmp / "eval.json").write_text(text)
    out = tmp / "out"
    return lambda: prepare_items(tmp / "eval.json", DATASETS, out / "items.jsonl", out / "validation.json", on_invalid)


def _file(medqa: list[str], pubmedqa: list[str] | None = None, extra: str = "") -> str:
    pub = pubmedqa if pubmedqa is not None else [ITEM % i for i in range(2)]
    return f'{{"MedQA_USLME_test": [{", ".join(medqa)}], "PubMedQA_test": [{", ".join(pub)}]{extra}}}'


@case("eval-dataset-key-twice", "error", "eval.json", "record (top level)", "field 'PubMedQA_test'", "given twice")
def _(tmp):
    return prepare_raw(tmp, _file([ITEM % 0], extra=', "PubMedQA_test": [%s]' % (ITEM % 9)))


@case("eval-answer-idx-twice", "error", "record MedQA_USLME_test[1]", "field 'answer_idx'", "given twice")
def _(tmp):
    twice = (
        '{"question": "Q1?", "options": {"A": "yes", "B": "no"}, "answer_idx": "A", "answer_idx": "B", "answer": "yes"}'
    )
    return prepare_raw(tmp, _file([ITEM % 0, twice]))


@case("eval-answer-idx-twice-not-excluded", "error", "record MedQA_USLME_test[1]", "given twice")
def _(tmp):
    """A duplicate key is an error even where bad items are excluded: the file itself is ambiguous."""
    twice = (
        '{"question": "Q1?", "options": {"A": "yes", "B": "no"}, "answer_idx": "A", "answer_idx": "B", "answer": "yes"}'
    )
    return prepare_raw(tmp, _file([ITEM % 0, twice]), on_invalid="exclude")


@case("eval-option-key-twice", "error", "record MedQA_USLME_test[0]", "field 'options.A'", "given twice")
def _(tmp):
    return prepare_raw(
        tmp, _file(['{"question": "Q?", "options": {"A": "yes", "A": "no"}, "answer_idx": "A", "answer": "no"}'])
    )


@case(
    "eval-option-keys-digits", "error", "record MedQA_USLME_test[0]", "field 'options'", "['1', '2']", "capital letters"
)
def _(tmp):
    return prepare_raw(
        tmp, _file(['{"question": "Q?", "options": {"1": "yes", "2": "no"}, "answer_idx": "1", "answer": "yes"}'])
    )


@case("eval-option-keys-lowercase", "error", "record MedQA_USLME_test[0]", "field 'options'", "['a', 'b']")
def _(tmp):
    return prepare_raw(
        tmp, _file(['{"question": "Q?", "options": {"a": "yes", "b": "no"}, "answer_idx": "b", "answer": "no"}'])
    )


@case(
    "eval-answer-key-beyond-option-count",
    "error",
    "record MedQA_USLME_test[0]",
    "field 'answer_idx'",
    "first 2 letters",
)
def _(tmp):
    return prepare_raw(
        tmp, _file(['{"question": "Q?", "options": {"A": "yes", "D": "no"}, "answer_idx": "D", "answer": "no"}'])
    )


@case("eval-bad-option-keys-excluded", "excluded", "excluded: 1 (field options)")
def _(tmp):
    bad = '{"question": "Q?", "options": {"a": "yes", "b": "no"}, "answer_idx": "a", "answer": "yes"}'
    run = prepare_raw(tmp, _file([ITEM % 0, bad, ITEM % 2]), on_invalid="exclude")

    def check() -> str:
        counts = run()
        summary = json.loads((tmp / "out" / "validation.json").read_text())
        assert counts == {"MedQA_USLME_test": 2, "PubMedQA_test": 2}
        return f"excluded: {len(summary['excluded'])} (field {summary['excluded'][0]['field']})"

    return check


# ---- outputs escaped where they are rendered ---------------------------------------------------------------------------
def table1_with_label(tmp: Path, label: str) -> Thunk:
    """Table 1 (CSV, Markdown, LaTeX as report_table1 writes them) of one real score file, its row labelled ``label``."""
    from m1repro.report.tables import to_latex, write_table1

    csv = scored(tmp)
    out = tmp / "out"

    def run() -> str:
        rows = [{"name": "m", "label": label, "variant": "baseline"}]
        df = write_table1([str(csv)], rows, str(out / "t1.csv"), str(out / "t1.md"))
        md = (out / "t1.md").read_text()
        header, _, row = (ln for ln in md.splitlines() if ln.startswith("|"))
        cells = lambda line: [c for c in re.split(r"(?<!\\)\|", line)[1:-1]]  # noqa: E731
        assert len(cells(row)) == len(cells(header)), f"the row has {len(cells(row))} cells:\n{md}"
        assert pl.read_csv(out / "t1.csv")["model"][0] == label  # the CSV keeps the label as it is
        return md + to_latex(df.select("model"))

    return run


@case("label-with-pipe", "handled", "| a\\|b |")
def _(tmp):
    return table1_with_label(tmp, "a|b")


@case("label-with-script", "handled", "&lt;script&gt;alert(1)&lt;/script&gt;")
def _(tmp):
    run = table1_with_label(tmp, "<script>alert(1)</script>")

    def check() -> str:
        out = run()
        assert "<script>" not in out.split("\\begin{table}")[0]  # the Markdown (LaTeX renders no HTML)
        return out

    return check


@case("label-with-latex-specials", "handled", r"50\% \& \$1 \_v\#2")
def _(tmp):
    return table1_with_label(tmp, "50% & $1 _v#2")


@case("label-with-newline", "handled", "| two lines |")
def _(tmp):
    return table1_with_label(tmp, "two\nlines")


@case("label-with-dollars-in-figure", "handled", "figure written")
def _(tmp):
    r"""A label that matplotlib would parse as math (``$\frac{$``: a parse error) is plain text in the legend."""
    from m1repro.report.figures import plot_figure3

    points = pl.DataFrame(
        {
            "dataset": ["MedQA_USLME_test"] * 2,
            "label": [r"cost $\frac{$ 5"] * 2,
            "budget": [2048, 2048],
            "rounds": [0, 1],
            "accuracy": [50.0, 55.0],
        }
    )

    def run() -> str:
        plot_figure3(points, str(tmp / "out" / "f3.png"), str(tmp / "out" / "f3.pdf"))
        assert (tmp / "out" / "f3.png").stat().st_size > 0
        return "figure written"

    return run


@case("label-with-script-in-html-report", "handled", "report escaped")
def _(tmp):
    """A real Snakemake run and --report of a reported job whose params carry the label, as rules/report.smk passes
    them (html_safe): the job gets the label as it is; the report holds no live script element."""
    from workflow_helpers import run_snakemake

    label = "</script><script>alert(1)</script>"
    wf = tmp / "wf"
    wf.mkdir()
    (wf / "Snakefile").write_text(
        "from m1repro.report.escape import html_safe\n\n"
        "rule t1:\n"
        '    output: report("t1.txt", category="Tables")\n'
        f"    params: models=html_safe([{{'label': {label!r}}}]), config=html_safe({{'run_name': {label!r}}})\n"
        "    run:\n"
        "        open(output[0], 'w').write(params.models[0]['label'] + params.config['run_name'])\n"
    )

    def run() -> str:
        run_snakemake(["--cores", "1", "t1.txt"], wf, timeout=120)
        assert (wf / "t1.txt").read_text() == label * 2
        run_snakemake(["--cores", "1", "t1.txt", "--report", "r.html"], wf, timeout=120)
        html = (wf / "r.html").read_text()
        assert "alert(1)" in html and "<script>alert(1)" not in html
        return "report escaped"

    return run


@case("run-name-rst-injection", "error", "run_name", "does not match")
def _(tmp):
    """The run name goes into the report's reStructuredText caption: a newline and a raw directive would be HTML."""
    from m1repro.config import resolve_config

    name = "x``\n\n.. raw:: html\n\n   <script>alert(1)</script>"
    return lambda: resolve_config({"base": "config/tiny.yaml", "run_name": name}, workdir=REPO)


# ---- cleanup and checkpoints stay apart from outputs and paid caches ---------------------------------------------------
@case("checkpoint-root-holds-api-cache", "error", "train.checkpoint_root", "'cache/api'", "overlaps")
def _(tmp):
    """``checkpoint_root: cache`` and a run named ``api``: its checkpoints would be ``cache/api/``, the paid caches."""
    from m1repro.config import resolve_config

    run = {"base": "resources/tiny/models/tiny-qwen", "data": "m1k"}
    overlay = {"base": "config/tiny.yaml", "train": {"checkpoint_root": "cache", "runs": {"api": run}}}
    return lambda: resolve_config(overlay, workdir=REPO)


@case("checkpoint-root-in-results", "error", "train.checkpoint_root", "'results'", "overlaps")
def _(tmp):
    from m1repro.config import resolve_config

    return lambda: resolve_config(
        {"base": "config/tiny.yaml", "train": {"checkpoint_root": "results/ck"}}, workdir=REPO
    )


# ---- config: messages, not tracebacks ------------------------------------------------------------------------------
_CHECKOUT: list[Path] = []  # one copy of the checkout for the cases that run Snakemake, made when first needed
_FACTORY: list[Any] = []


def checkout_dir() -> Path:
    from workflow_helpers import copy_checkout

    if not _CHECKOUT:
        _CHECKOUT.append(copy_checkout(_FACTORY[0].mktemp("bad-inputs-2") / "checkout"))
    return _CHECKOUT[0]


def snakemake_in_checkout(tmp: Path, overlay: str, *args: str) -> Thunk:
    """Snakemake in a copy of the checkout with the tiny config and an overlay file; raises with its output if it
    stops."""
    from workflow_helpers import run_snakemake

    (tmp / "overlay.yaml").write_text(overlay)

    def run() -> str:
        proc = run_snakemake(
            ["--profile", "profiles/tiny", "--configfile", "config/tiny.yaml", str(tmp / "overlay.yaml"), *args],
            checkout_dir(),
            check=False,
            timeout=180,
        )
        if proc.returncode:
            raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
        return proc.stdout + proc.stderr

    return run


def resolve(overlay: dict[str, Any]) -> Thunk:
    from m1repro.config import resolve_config

    return lambda: resolve_config({"base": "config/tiny.yaml", **overlay}, workdir=REPO)


@case("yaml-merge-keys", "handled", "tiny-base-8: 'L-8', mode baseline")
def _(tmp):
    """``<<: *anchor`` is valid YAML: read, merged, and an explicit key overrides the merged one."""
    from m1repro.config import resolve_config
    from m1repro.io import read_yaml

    (tmp / "m.yaml").write_text(
        "models:\n"
        "  tiny-base-7: &tiny {path: resources/tiny/models/tiny-qwen, mode: baseline, label: L-7, table1: false}\n"
        "  tiny-base-8:\n    <<: *tiny\n    label: L-8\n"
    )

    def run() -> str:
        cfg = resolve_config({"base": "config/tiny.yaml", **read_yaml(tmp / "m.yaml")}, workdir=REPO)
        m = cfg["models"]["tiny-base-8"]
        return f"tiny-base-8: {m['label']!r}, mode {m['mode']}"

    return run


@case("yaml-merge-keys-in-a-run", "handled", "eval_predict")
def _(tmp):
    return snakemake_in_checkout(
        tmp,
        "models:\n  tiny-base: &tiny {path: resources/tiny/models/tiny-qwen, mode: baseline, label: B}\n"
        "  tiny-base-2:\n    <<: *tiny\n    label: B2\n",
        "-n",
        "results/scores/faithful/tiny-base-2.csv",
    )


@case("yaml-key-twice-beside-merge", "error", "m.yaml", "'label' is given twice")
def _(tmp):
    from m1repro.io import read_yaml

    (tmp / "m.yaml").write_text("a: &a {x: 1}\nb:\n  <<: *a\n  label: one\n  label: two\n")
    return lambda: read_yaml(tmp / "m.yaml")


@case("base-inside-a-base", "handled", "run_name chained, models from tiny")
def _(tmp):
    (tmp / "middle.yaml").write_text("base: config/tiny.yaml\nrun_name: chained\n")

    def run() -> str:
        cfg = resolve({"base": str(tmp / "middle.yaml")})()
        assert "tiny-base" in cfg["models"] and cfg["run_name"] == "chained"
        return f"run_name {cfg['run_name']}, models from tiny"

    return run


@case("base-cycle", "error", "the bases form a cycle", "a.yaml", "b.yaml")
def _(tmp):
    (tmp / "a.yaml").write_text(f"base: {tmp / 'b.yaml'}\n")
    (tmp / "b.yaml").write_text(f"base: {tmp / 'a.yaml'}\n")
    return resolve({"base": str(tmp / "a.yaml")})


@case("budget-written-as-decimal", "error", "eval.budgets.0", "16.0 is written as a decimal; write 16")
def _(tmp):
    return resolve({"eval": {"budgets": [16.0, 32]}})


@case("table1-budget-written-as-decimal", "error", "eval.table1_budget", "write 64")
def _(tmp):
    return snakemake_in_checkout(tmp, "eval: {table1_budget: 64.0}\n", "-n")


@case("strings-in-a-config-file-stay-strings", "handled", "This was a dry-run")
def _(tmp):
    """A revision tag "1.0" in a file stays a string when --config values (which arrive as strings) are typed."""
    return snakemake_in_checkout(
        tmp, 'hub: {revisions: {"Qwen/Qwen2.5-7B-Instruct": "1.0"}}\n', "-n", "--config", "eval={table1_budget: 64}"
    )


@case("model-path-not-a-model", "error", "models.m.path", "'/etc' is not a model folder")
def _(tmp):
    return resolve({"models": {"m": {"path": "/etc", "mode": "baseline", "label": "M"}}})


@case("train-base-is-a-file", "error", "train.runs.tiny-m1-1K.base", "not a model folder")
def _(tmp):
    return resolve({"train": {"runs": {"tiny-m1-1K": {"base": "config/tiny.yaml"}}}})


@case("cuda-engine-without-cuda", "error", "eval_predict", "no CUDA", "no output was deleted")
def _(tmp):
    """``engine_defaults.device: cuda`` here: found before the run starts, so the old predictions survive."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    old = checkout_dir() / "results" / "predictions" / "faithful" / "tiny-base" / "all.jsonl"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text('{"old": "predictions"}\n')
    target = str(old.relative_to(checkout_dir()))
    run = snakemake_in_checkout(tmp, "engine_defaults: {device: cuda}\n", "--forcerun", "eval_predict", target)

    def check() -> None:
        try:
            run()
        finally:
            assert old.read_text() == '{"old": "predictions"}\n', "the old predictions were deleted"
            old.unlink()

    return check


# ---- the suite --------------------------------------------------------------------------------------------------------
def _snapshot(root: Path) -> dict[Path, bytes]:
    return {
        p: p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and not {"out", "cache", "logs"} & set(p.relative_to(root).parts)
    }


def _files_with_key(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and KEY.encode() in p.read_bytes()]


@pytest.mark.parametrize(("make", "outcome", "expect"), CASES)
def test_bad_input(make, outcome, expect, tmp_path, tmp_path_factory):
    _FACTORY[:] = [tmp_path_factory]
    message = check_bad_input(make(tmp_path), outcome, expect, tmp_path, _snapshot)
    assert KEY not in message, "the key is in the message"
    assert not _files_with_key(tmp_path), f"the key reached {_files_with_key(tmp_path)}"
