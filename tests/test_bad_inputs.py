"""Bad inputs, as a careless or unlucky user makes them: each gets a clear error that names the culprit (file,
record or line, field, key or model), or a counted exclusion / a flag that shows in the report. Never a silently
wrong number, never lost data.

Every case is one ``@case`` below; its test id is ``NNN-<outcome>-<name>``, the outcome one of ``error`` (a clear
error naming what ``expect`` lists), ``excluded`` (counted, and the count is checked), ``flagged`` (accepted because
the config allows it, and flagged in the report) or ``ignored`` (the bad value is never read: the number is the
honest one). Each case sets up its inputs under ``tmp_path`` and returns the call to make; the test also checks that
no input file lost a byte (append-only caches may grow) and that a failed call left no output behind.

Plan-time config checks are real Snakemake dry runs of the tiny configuration (one per case, in a copy of the
checkout); everything else drives the package's functions directly.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_standin import StandIn
from bad_input_helpers import check_bad_input
from workflow_helpers import copy_checkout, run_snakemake

from m1repro.api.chat import ChatClient, cache_key
from m1repro.config import resolve_config
from m1repro.curate import collect as col
from m1repro.curate.stages import check_set_sizes, released_to_set
from m1repro.evaldata import download_eval_file, prepare_items
from m1repro.io import read_yaml
from m1repro.report.tables import short_set_notes, table3_frame, write_table1, write_table3
from m1repro.scores import score_model

REPO = Path(__file__).resolve().parent.parent
CASES: list[Any] = []
Thunk = Callable[[], Any]


def case(name: str, outcome: str, *expect: str):
    """Register a case: ``fn(tmp_path) -> thunk``; ``expect``: substrings of the error (or of the thunk's result)."""

    def deco(fn: Callable[[Path], Thunk]) -> Callable[[Path], Thunk]:
        CASES.append(pytest.param(fn, outcome, expect, id=f"{len(CASES) + 1:03d}-{outcome}-{name}"))
        return fn

    return deco


class PlanError(Exception):
    """A dry run that stopped: its output."""


# ---- config, at plan time: real dry runs of the tiny configuration -------------------------------------------------
@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("bad-inputs") / "checkout")


_CHECKOUT: list[Path] = []  # set by the test before a dry-run case runs


def dry_run(tmp: Path, overlay: str | None = None, *extra: str) -> Thunk:
    """A dry run of the tiny config with an overlay file (YAML text) and more arguments; raises PlanError if it
    stops."""
    args = ["-n", "--profile", "profiles/tiny"]
    if overlay is not None:
        (tmp / "overlay.yaml").write_text(overlay)
        args += ["--configfile", "config/tiny.yaml", str(tmp / "overlay.yaml")]

    def run() -> str:
        proc = run_snakemake([*args, *extra], _CHECKOUT[0], check=False, timeout=120)
        out = proc.stdout + proc.stderr
        if proc.returncode:
            raise PlanError(out)
        return out

    return run


def _model(name: str, path: str = "resources/tiny/models/tiny-qwen", **kw: Any) -> str:
    return yaml.safe_dump({"models": {name: {"path": path, "mode": "baseline", "label": f"L-{name}", **kw}}})


@case("name-dotdot-escape", "error", "'../../../tmp/escape' does not match", "models")
def _(tmp):
    return dry_run(tmp, _model("../../../tmp/escape"))


@case("name-slash", "error", "'org/model' does not match", "models")
def _(tmp):
    return dry_run(tmp, _model("org/model"))


@case("name-shell-substitution", "error", "'$(touch pwned)' does not match", "models")
def _(tmp):
    return dry_run(tmp, _model("$(touch pwned)"))


@case("name-backticks", "error", "'`id`' does not match", "models")
def _(tmp):
    return dry_run(tmp, _model("`id`"))


@case("name-empty", "error", "'' does not match", "models")
def _(tmp):
    return dry_run(tmp, _model(""))


@case("model-path-absolute-missing", "error", "models.ghost.path", "'/nonexistent/model'", "does not exist")
def _(tmp):
    return dry_run(tmp, _model("ghost", "/nonexistent/model"))


@case(
    "model-path-unknown-tiny-model",
    "error",
    "models.ghost.path",
    "'resources/tiny/models/nope'",
    "tiny_models: ['tiny-qwen']",
)
def _(tmp):
    return dry_run(tmp, _model("ghost", "resources/tiny/models/nope"))


@case("yaml-duplicate-key", "error", "overlay.yaml", "'tiny-base' is given twice", "line")
def _(tmp):
    return dry_run(
        tmp,
        "models:\n  tiny-base: {path: resources/tiny/models/tiny-qwen, mode: baseline}\n"
        "  tiny-base: {path: resources/tiny/models/tiny-qwen, mode: cot}\n",
    )


@case("shared-table1-label", "error", "Table 1 labels", "'+CoT'", "tiny-base", "tiny-base-CoT")
def _(tmp):
    return dry_run(tmp, "models:\n  tiny-base: {label: '+CoT'}\n")


@case("eval-md5-local-mismatch", "error", "eval.data.md5", "m1_eval_fixture.json", "0123456789abcdef" * 2)
def _(tmp):
    return dry_run(tmp, yaml.safe_dump({"eval": {"data": {"md5": "0123456789abcdef" * 2}}}))


@case("cli-config-wrong-type", "error", "'many' is not of type 'integer'", "table1_budget")
def _(tmp):
    return dry_run(tmp, None, "--config", "eval={table1_budget: many}")


@case("cli-config-unknown-key", "error", "'tabel1_budget' was unexpected", "eval")
def _(tmp):
    return dry_run(tmp, None, "--config", "eval={tabel1_budget: 64}")


# ---- config, resolved in process (the same function the Snakefile calls) ---------------------------------------------
def resolve(overlay: dict[str, Any]) -> Thunk:
    return lambda: resolve_config({"base": "config/tiny.yaml", **overlay}, workdir=REPO)


def _models(**models: dict[str, Any]) -> dict[str, Any]:
    return {"models": {n: {"mode": "baseline", "label": f"L-{n}", **m} for n, m in models.items()}}


@case("name-double-dot-inside", "error", "'a..b' does not match", "models")
def _(tmp):
    return resolve(_models(**{"a..b": {"path": "Qwen/Qwen2.5-7B-Instruct"}}))


@case("train-run-name-escape", "error", "'../run' does not match", "runs")
def _(tmp):
    return resolve({"train": {"runs": {"../run": {"base": "resources/tiny/models/tiny-qwen", "data": "m1k"}}}})


@case("tiny-model-name-space", "error", "'tiny qwen' does not match", "tiny_models")
def _(tmp):
    return resolve({"tiny_models": {"tiny qwen": {}}})


@case("difficulty-model-name-slash", "error", "'Qwen/7b' does not match", "models")
def _(tmp):
    return resolve({"curate": {"difficulty": {"models": {"Qwen/7b": {"path": "Qwen/Qwen2.5-7B-Instruct"}}}}})


@case("model-path-relative-missing", "error", "models.m.path", "'./weights/missing'", "does not exist")
def _(tmp):
    return resolve(_models(m={"path": "./weights/missing"}))


@case("model-path-empty", "error", "models.m.path", "empty path")
def _(tmp):
    return resolve(_models(m={"path": ""}))


@case("model-path-under-existing-dir", "error", "models.m.path", "'config/not-a-model'", "does not exist")
def _(tmp):
    return resolve(_models(m={"path": "config/not-a-model"}))


@case(
    "all-bad-paths-at-once",
    "error",
    "problems found",
    "models.a.path",
    "models.b.tokenizer",
    "train.runs.r.base",
    "curate.difficulty.models.tiny-qwen.path",
)
def _(tmp):
    cfg = _models(a={"path": "/nonexistent/a"}, b={"path": "Qwen/Qwen2.5-7B-Instruct", "tokenizer": "../tok"})
    cfg["train"] = {"runs": {"r": {"base": "/nonexistent/base", "data": "m1k"}}}
    cfg["curate"] = {"difficulty": {"models": {"tiny-qwen": {"path": "resources/tiny/models/gone"}}}}
    return resolve(cfg)


@case("model-trains-unknown-run", "error", "models.m.train", "'no-such-run'", "tiny-m1-1K")
def _(tmp):
    return resolve(_models(m={"train": "no-such-run", "mode": "thinking"}))


@case("eval-path-missing", "error", "eval.data.path", "'resources/fixtures/eval/nope.json'", "does not exist")
def _(tmp):
    return resolve({"eval": {"data": {"path": "resources/fixtures/eval/nope.json"}}})


@case("unknown-top-level-key", "error", "'modles' was unexpected")
def _(tmp):
    return resolve({"modles": {}})


@case("unknown-model-key", "error", "'figure' was unexpected", "models")
def _(tmp):
    return resolve(_models(m={"path": "Qwen/Qwen2.5-7B-Instruct", "figure": True}))


@case("model-mode-not-allowed", "error", "'reasoning' is not one of", "mode")
def _(tmp):
    return resolve(_models(m={"path": "Qwen/Qwen2.5-7B-Instruct", "mode": "reasoning"}))


@case("model-path-and-train", "error", "is valid under each of", "models")
def _(tmp):
    return resolve(_models(m={"path": "Qwen/Qwen2.5-7B-Instruct", "train": "tiny-m1-1K"}))


@case("unknown-dataset", "error", "'MedQA' is not one of", "datasets")
def _(tmp):
    return resolve({"eval": {"datasets": ["MedQA"]}})


@case("budget-zero", "error", "0 is less than the minimum of 1", "table1_budget")
def _(tmp):
    return resolve({"eval": {"table1_budget": 0}})


@case("set-size-zero", "error", "0 is less than the minimum of 1", "m1k")
def _(tmp):
    return resolve({"curate": {"sets": {"m1k": 0}}})


@case("base-file-missing", "error", "no-such-base.yaml")
def _(tmp):
    return lambda: resolve_config({"base": str(tmp / "no-such-base.yaml")}, workdir=REPO)


@case("yaml-syntax", "error", "broken.yaml", "line 2", "'\\t'")
def _(tmp):
    (tmp / "broken.yaml").write_text("models:\n\tm: {path: x}\n")
    return lambda: read_yaml(tmp / "broken.yaml")


@case("yaml-not-utf8", "error", "latin1.yaml", "not UTF-8")
def _(tmp):
    (tmp / "latin1.yaml").write_bytes("models:\n  caf\u00e9: {}\n".encode("latin-1"))
    return lambda: read_yaml(tmp / "latin1.yaml")


# ---- evaluation data: the file eval_prepare validates ------------------------------------------------------------------
DATASETS = ["MedQA_USLME_test", "PubMedQA_test"]


def _item(i: int, **kw: Any) -> dict[str, Any]:
    return {
        "question": f"Question {i}?",
        "options": {"A": f"yes {i}", "B": f"no {i}"},
        "answer_idx": "A",
        "answer": f"yes {i}",
        **kw,
    }


def eval_file(tmp: Path, data: Any = None, raw: bytes | None = None) -> Path:
    path = tmp / "eval.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        data = data if data is not None else {d: [_item(i) for i in range(3)] for d in DATASETS}
        path.write_text(json.dumps(data))
    return path


def prepare(tmp: Path, path: Path, on_invalid: str = "error", allow_empty: bool = False, answers="faithful") -> Thunk:
    out = tmp / "out"
    return lambda: prepare_items(
        path, DATASETS, out / "items.jsonl", out / "validation.json", on_invalid, None, allow_empty, answers
    )


def _with(source: str, items: list[Any]) -> dict[str, Any]:
    data = {d: [_item(i) for i in range(3)] for d in DATASETS}
    data[source] = items
    return data


@case("eval-not-utf8", "error", "eval.json", "not UTF-8", "line 2")
def _(tmp):
    return prepare(tmp, eval_file(tmp, raw='{"MedQA_USLME_test":\n ["caf\u00e9"]}'.encode("latin-1")))


@case("eval-invalid-json", "error", "eval.json", "invalid JSON at line 1")
def _(tmp):
    return prepare(tmp, eval_file(tmp, raw=b'{"MedQA_USLME_test": [}'))


@case("eval-top-level-list", "error", "eval.json", "top level must be an object")
def _(tmp):
    return prepare(tmp, eval_file(tmp, [_item(0)]))


@case("eval-source-missing", "error", "eval.json", "'PubMedQA_test' not in file")
def _(tmp):
    return prepare(tmp, eval_file(tmp, {"MedQA_USLME_test": [_item(0)]}))


@case("eval-source-not-list", "error", "eval.json", "record PubMedQA_test", "must be a list")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("PubMedQA_test", {"0": _item(0)})))  # type: ignore[arg-type]


@case("eval-item-not-object", "error", "eval.json", "record PubMedQA_test[1]", "expected an object")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("PubMedQA_test", [_item(0), "question?"])))


@case("eval-missing-question", "error", "record MedQA_USLME_test[0]", "field 'question'", "missing field")
def _(tmp):
    item = _item(0)
    del item["question"]
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [item])))


@case("eval-empty-question", "error", "record MedQA_USLME_test[0]", "field 'question'", "non-empty")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, question="  ")])))


@case("eval-options-empty", "error", "record MedQA_USLME_test[0]", "field 'options'")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, options={})])))


@case("eval-option-not-text", "error", "record MedQA_USLME_test[0]", "field 'options'", "option 'B'")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, options={"A": "yes 0", "B": 7})])))


@case("eval-answer-idx-unknown", "error", "record MedQA_USLME_test[0]", "field 'answer_idx'", "'E'")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, answer_idx="E")])))


@case("eval-answer-text-differs", "error", "record MedQA_USLME_test[0]", "field 'answer'", "differs")
def _(tmp):
    # eval.answer_check: strict (the faithful default scores through the answer field, as the original)
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, answer="no 0")])), answers="strict")


@case("eval-duplicate-id", "error", "record MedQA_USLME_test[1]", "field 'id'", "duplicate id")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("MedQA_USLME_test", [_item(0, id=7), _item(1, id=7)])))


@case(
    "eval-empty-source",
    "error",
    "eval.json",
    "record PubMedQA_test",
    "['PubMedQA_test'] have no valid items",
    "eval.allow_empty_datasets",
)
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("PubMedQA_test", [])))


@case("eval-every-item-excluded", "error", "record PubMedQA_test", "no valid items", "'PubMedQA_test': 2")
def _(tmp):
    return prepare(tmp, eval_file(tmp, _with("PubMedQA_test", [_item(0, answer_idx="Z"), {}])), on_invalid="exclude")


@case("eval-bad-item-excluded", "excluded", "excluded: 1")
def _(tmp):
    run = prepare(
        tmp,
        eval_file(tmp, _with("MedQA_USLME_test", [_item(0), _item(1, answer_idx="Z"), _item(2)])),
        on_invalid="exclude",
    )

    def check() -> str:
        counts = run()
        summary = json.loads((tmp / "out" / "validation.json").read_text())
        assert counts == {"MedQA_USLME_test": 2, "PubMedQA_test": 3}
        assert summary["excluded_per_source"]["MedQA_USLME_test"] == 1 and "answer_idx" in str(summary["excluded"])
        return f"excluded: {len(summary['excluded'])}"

    return check


@case("eval-empty-source-allowed", "flagged", "FLAGGED: PubMedQA is empty for L-m")
def _(tmp):
    """Allowed empty source: prepared, predicted, scored; Table 1 leaves the cell empty and says why."""
    run = prepare(tmp, eval_file(tmp, _with("PubMedQA_test", [])), allow_empty=True)

    def check() -> str:
        run()
        out = tmp / "out"
        assert json.loads((out / "validation.json").read_text())["empty_datasets"] == ["PubMedQA_test"]
        preds = tmp / "preds.jsonl"
        preds.write_text("".join(json.dumps(prediction(it)) + "\n" for it in _read_items(out / "items.jsonl")))
        score_model(
            [str(preds)],
            str(out / "items.jsonl"),
            DATASETS,
            ["baseline"],
            "m",
            "faithful",
            "m1",
            str(out / "m.csv"),
            str(out / "m.jsonl"),
            "baseline",
        )
        row = [{"name": "m", "label": "L-m", "variant": "baseline"}]
        df = write_table1([str(out / "m.csv")], row, str(out / "t1.csv"), str(out / "t1.md"))
        assert df["PubMedQA"][0] is None and df["Avg"][0] is None and df["MedQA"][0] == 100.0
        assert "nan" not in (out / "t1.csv").read_text().lower()
        return (out / "t1.md").read_text()

    return check


class _NotFound(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass


def _http_404() -> tuple[str, Callable[[], None]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/no/such/m1_eval_data.json", stop


@case("download-404", "error", "/no/such/m1_eval_data.json", "HTTP 404", "eval.data.url")
def _(tmp):
    def run() -> None:
        url, stop = _http_404()
        try:
            download_eval_file(url, tmp / "out" / "eval.json", None, timeout=5)
        finally:
            stop()

    return run


@case("download-unreachable", "error", "http://127.0.0.1:9/m1.json", "cannot download", "eval.data.path")
def _(tmp):
    return lambda: download_eval_file("http://127.0.0.1:9/m1.json", tmp / "out" / "eval.json", None, timeout=5)


@case("download-md5-mismatch", "error", "eval-src.json", "differs from the expected", "eval.data.md5")
def _(tmp):
    (tmp / "eval-src.json").write_text("{}")
    return lambda: download_eval_file((tmp / "eval-src.json").as_uri(), tmp / "out" / "eval.json", "0" * 32)


@case("download-no-url", "error", "eval.data.url is empty")
def _(tmp):
    return lambda: download_eval_file("", tmp / "out" / "eval.json", None)


# ---- prediction files: what eval_score reads -------------------------------------------------------------------------
def _read_items(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prediction(item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A raw baseline prediction record for an item, answering A (correct for these items)."""
    rec = {
        **item,
        "model": "m",
        "prompt_mode": "baseline",
        "variant": "baseline",
        "budget": None,
        "rounds": 0,
        "budget_mode": None,
        "prompt": "p",
        "thinking_text": "",
        "thinking_finish_reason": None,
        "response_text": "The answer is A.",
        "finish_reason": "stop",
        "num_thinking_tokens": 0,
        "num_gen_tokens": 5,
        "num_wait": 0,
    }
    rec.update(kw)
    return rec


def scoring(
    tmp: Path,
    edit: Callable[[list[dict[str, Any]]], list[Any]],
    raw: bytes | None = None,
    variants: tuple[str, ...] = ("baseline",),
) -> Thunk:
    """Items of the good evaluation file, their predictions edited by ``edit`` (or raw bytes), then eval_score."""
    prepare(tmp, eval_file(tmp))()
    items_path = tmp / "items.jsonl"
    (tmp / "out" / "items.jsonl").rename(items_path)
    (tmp / "out" / "validation.json").rename(tmp / "validation.json")
    recs = edit([prediction(it) for it in _read_items(items_path)])
    preds = tmp / "predictions.jsonl"
    if raw is not None:
        preds.write_bytes(raw)
    else:
        preds.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))
    out = tmp / "out"
    return lambda: score_model(
        [str(preds)],
        str(items_path),
        DATASETS,
        list(variants),
        "m",
        "faithful",
        "m1",
        str(out / "m.csv"),
        str(out / "m.jsonl"),
        "baseline",
    )


def _set(i: int, **kw: Any) -> Callable[[list[dict[str, Any]]], list[Any]]:
    def edit(recs: list[dict[str, Any]]) -> list[Any]:
        recs[i] = {**recs[i], **kw}
        return recs

    return edit


@case(
    "pred-deleted-line",
    "error",
    "predictions.jsonl",
    "1 (variant, item) predictions are missing",
    "baseline/PubMedQA_test/00001",
)
def _(tmp):
    return scoring(tmp, lambda r: r[:4] + r[5:])


@case("pred-duplicated-line", "error", "predictions.jsonl", "line 3", "field 'id'", "appears twice")
def _(tmp):
    return scoring(tmp, lambda r: r[:2] + [r[1]] + r[2:])


@case("pred-foreign-id", "error", "predictions.jsonl", "line 2", "'MedQA_USLME_test/99999' is not an item")
def _(tmp):
    return scoring(tmp, _set(1, id="MedQA_USLME_test/99999"))


@case("pred-tampered-options", "error", "line 1", "field 'options'", "differs from the prepared item")
def _(tmp):
    return scoring(tmp, _set(0, options={"A": "no 0", "B": "yes 0"}))


@case("pred-tampered-answer", "error", "line 3", "field 'answer'", "differs from the prepared item")
def _(tmp):
    return scoring(tmp, _set(2, answer="no 2"))


@case("pred-tampered-answer-idx", "error", "line 3", "field 'answer_idx'", "differs from the prepared item")
def _(tmp):
    return scoring(tmp, _set(2, answer_idx="B"))


@case("pred-tampered-question", "error", "line 4", "field 'question'", "differs from the prepared item")
def _(tmp):
    return scoring(tmp, _set(3, question="Another question?"))


@case("pred-wrong-source", "error", "line 1", "field 'source'", "differs from the prepared item")
def _(tmp):
    return scoring(tmp, _set(0, source="PubMedQA_test"))


@case("pred-unknown-variant", "error", "line 2", "field 'variant'", "'budget32' is not one this model predicts")
def _(tmp):
    return scoring(tmp, _set(1, variant="budget32"))


@case("pred-malformed-variant", "error", "line 2", "field 'variant'", "not a prediction variant: 'b32'")
def _(tmp):
    return scoring(tmp, _set(1, variant="b32"))


@case("pred-missing-variant", "error", "line 6", "field 'variant'", "missing field")
def _(tmp):
    def edit(recs: list[dict[str, Any]]) -> list[Any]:
        del recs[5]["variant"]
        return recs

    return scoring(tmp, edit)


@case("pred-gen-tokens-null", "error", "line 1", "field 'num_gen_tokens'", "expected int, got None")
def _(tmp):
    return scoring(tmp, _set(0, num_gen_tokens=None))


@case("pred-gen-tokens-string", "error", "line 1", "field 'num_gen_tokens'", "expected int, got '5'")
def _(tmp):
    return scoring(tmp, _set(0, num_gen_tokens="5"))


@case("pred-tokens-bool", "error", "line 2", "field 'num_thinking_tokens'", "expected int, got True")
def _(tmp):
    return scoring(tmp, _set(1, num_thinking_tokens=True))


@case("pred-negative-wait", "error", "line 2", "field 'num_wait'", "cannot be negative")
def _(tmp):
    return scoring(tmp, _set(1, num_wait=-1))


@case("pred-response-null", "error", "line 5", "field 'response_text'", "expected str, got None")
def _(tmp):
    return scoring(tmp, _set(4, response_text=None))


@case("pred-finish-reason-unknown", "error", "line 5", "field 'finish_reason'", "'eos'")
def _(tmp):
    return scoring(tmp, _set(4, finish_reason="eos"))


@case("pred-record-not-object", "error", "line 3", "expected an object, got list")
def _(tmp):
    return scoring(tmp, lambda r: r[:2] + ["[1, 2]"] + r[3:])


@case("pred-torn-last-line", "error", "predictions.jsonl", "line 6", "invalid JSON")
def _(tmp):
    return scoring(tmp, lambda r: r[:5] + [json.dumps(r[5])[:40]])


@case("pred-not-utf8", "error", "predictions.jsonl", "line 1", "not UTF-8")
def _(tmp):
    return scoring(tmp, lambda r: r, raw=b'{"id": "caf\xe9"}\n')


@case("pred-missing-variant-of-model", "error", "6 (variant, item) predictions are missing", "budget16")
def _(tmp):
    return scoring(tmp, lambda r: r, variants=("baseline", "budget16"))


@case("pred-correct-as-string", "ignored", "accuracy 100.0 from the responses")
def _(tmp):
    """A stored verdict (here the string "false") is never read: the scorer judges the raw response."""
    run = scoring(tmp, lambda recs: [{**r, "correct": "false"} for r in recs])

    def check() -> str:
        df = run()
        scored = _read_items(tmp / "out" / "m.jsonl")
        assert all(r["correct"] is True for r in scored) and len(scored) == 6
        assert set(df["accuracy"].to_list()) == {100.0}
        return "accuracy 100.0 from the responses"

    return check


# ---- API caches: the chat client of the paid curation stages ----------------------------------------------------------
MODEL = "Pro/deepseek-ai/DeepSeek-R1"
PARAMS = {"temp": 0.0, "max_tokens": 8000}
MSGS = [[{"role": "user", "content": f"Question {i}: which nerve supplies the deltoid?"}] for i in range(3)]
IDS = ["MedQA-train-0", "MedQA-train-1", "MedQA-train-2"]


def cache_line(i: int, **response: Any) -> dict[str, Any]:
    resp = {"content": f"answer {i} \\boxed{{A}}", "reasoning_content": f"thinking {i}", "finish_reason": "stop"}
    resp.update(response)
    return {
        "key": cache_key(MODEL, MSGS[i], PARAMS),
        "model": MODEL,
        "response": resp,
        "usage": {"prompt_tokens": 10, "completion_tokens": 20},
    }


def cache_file(tmp: Path, lines: list[Any]) -> Path:
    path = tmp / "r1_cache.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def replay(tmp: Path, lines: list[Any]) -> Thunk:
    path = cache_file(tmp, lines)
    return lambda: ChatClient(
        model=MODEL, cache_path=path, mode="replay", require_reasoning=True, progress=False
    ).complete_many(MSGS, PARAMS, ids=IDS)


@case("replay-torn-line", "error", "r1_cache.jsonl", "item MedQA-train-1", "line 2: unreadable line")
def _(tmp):
    return replay(tmp, [cache_line(0), json.dumps(cache_line(1))[:90], cache_line(2)])  # the key survives


@case("replay-torn-line-key-lost", "error", "item MedQA-train-1", "missing", "unreadable lines whose key is lost: [2]")
def _(tmp):
    return replay(tmp, [cache_line(0), json.dumps(cache_line(1))[:40], cache_line(2)])


@case("replay-content-null", "error", "r1_cache.jsonl", "item MedQA-train-2", "content is null")
def _(tmp):
    return replay(tmp, [cache_line(0), cache_line(1), cache_line(2, content=None)])


@case("replay-content-empty", "error", "item MedQA-train-0", "empty content")
def _(tmp):
    return replay(tmp, [cache_line(0, content=" "), cache_line(1), cache_line(2)])


@case("replay-missing-reasoning", "error", "item MedQA-train-1", "missing reasoning_content")
def _(tmp):
    return replay(tmp, [cache_line(0), cache_line(1, reasoning_content=None), cache_line(2)])


@case("replay-truncated-reply", "error", "item MedQA-train-1", "finish_reason length")
def _(tmp):
    return replay(tmp, [cache_line(0), cache_line(1, finish_reason="length"), cache_line(2)])


@case("replay-missing-entry", "error", "cannot answer 1 of 3 requests", "item MedQA-train-2", "missing")
def _(tmp):
    return replay(tmp, [cache_line(0), cache_line(1)])


@case("replay-conflicting-duplicates", "error", "item MedQA-train-0", "lines 1, 4 hold different responses")
def _(tmp):
    return replay(tmp, [cache_line(0), cache_line(1), cache_line(2), cache_line(0, content="other \\boxed{B}")])


@case("replay-cache-missing", "error", "no_cache.jsonl", "replay cache does not exist")
def _(tmp):
    return lambda: ChatClient(model=MODEL, cache_path=tmp / "no_cache.jsonl", mode="replay", progress=False)


def live(tmp: Path, lines: list[Any], want: dict[str, int]) -> Thunk:
    """Live mode over a cache with broken entries: every request answered, the broken ones asked again, counted."""
    path = cache_file(tmp, lines)

    def run() -> str:
        with StandIn(noise=False) as api:
            c = ChatClient(
                model=MODEL,
                cache_path=path,
                base_url=api.base_url,
                mode="live",
                require_reasoning=True,
                progress=False,
                backoff_base=0.001,
                timeout=5,
            )
            res = c.complete_many(MSGS, PARAMS, ids=IDS)
        s = c.summary()
        assert all(r.ok and r.content and r.content.strip() for r in res)
        assert {k: s[k] for k in want} == want, s
        return ", ".join(f"{k}: {v}" for k, v in want.items())

    return run


@case("live-torn-line", "excluded", "re_requested: 1", "unreadable_cache_lines: 1")
def _(tmp):
    return live(
        tmp,
        [cache_line(0), json.dumps(cache_line(1))[:90], cache_line(2)],
        {"re_requested": 1, "unreadable_cache_lines": 1, "answered": 3, "failed": 0},
    )


@case("live-content-null", "excluded", "re_requested: 1", "cache_hits: 2")
def _(tmp):
    return live(
        tmp,
        [cache_line(0), cache_line(1, content=None), cache_line(2)],
        {"re_requested": 1, "cache_hits": 2, "answered": 3},
    )


@case("live-conflicting-duplicates", "excluded", "conflicting_duplicates: 1")
def _(tmp):
    return live(
        tmp,
        [cache_line(0), cache_line(1), cache_line(2), cache_line(0, content="other \\boxed{B}")],
        {"conflicting_duplicates": 1, "cache_hits": 3, "http_calls": 0},
    )


# ---- curation inputs: source rows, set sizes, released sets ----------------------------------------------------------
def collect_rows(tmp: Path, source: str, rows: list[Any], on_invalid: str = "error") -> Thunk:
    path = tmp / f"{source.lower()}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return lambda: col.map_source(source, col.load_fixture_rows(source, path), str(path), 42, on_invalid)


def _mcqa(i: int, **kw: Any) -> dict[str, Any]:
    return {"id": f"q{i}", "question": f"Q{i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1, **kw}


@case("medmcqa-cop-out-of-range", "error", "medmcqa.jsonl", "record 1", "field 'cop'", "got 4")
def _(tmp):
    return collect_rows(tmp, "MedMCQA", [_mcqa(0), _mcqa(1, cop=4)])


@case("medmcqa-correct-option-null", "error", "medmcqa.jsonl", "record 0", "field 'opb'", "null")
def _(tmp):
    return collect_rows(tmp, "MedMCQA", [_mcqa(0, opb=None)])


@case("medmcqa-question-not-text", "error", "record 0", "field 'question'", "expected a string")
def _(tmp):
    return collect_rows(tmp, "MedMCQA", [_mcqa(0, question=["Q?"])])


@case("medmcqa-row-not-object", "error", "record 1", "expected an object")
def _(tmp):
    return collect_rows(tmp, "MedMCQA", [_mcqa(0), "Q1?"])


@case("medqa-answer-idx-unknown", "error", "medqa.jsonl", "record 0", "field 'answer_idx'", "'E'")
def _(tmp):
    return collect_rows(tmp, "MedQA", [{"question": "Q?", "options": {"A": "a", "B": "b"}, "answer_idx": "E"}])


@case("headqa-answer-differs", "error", "headqa.jsonl", "record 0", "field 'Correct Answer'")
def _(tmp):
    data = {"Question": "Q?", "Options": {"A": "a", "B": "b"}, "Correct Option": "A", "Correct Answer": "b"}
    return collect_rows(tmp, "HeadQA", [{"data": data}])


@case("headqa-data-not-object", "error", "record 0", "field 'data'", "expected an object")
def _(tmp):
    return collect_rows(tmp, "HeadQA", [{"data": "Q?"}])


@case("pubmedqa-decision-unknown", "error", "pubmedqa.jsonl", "record 0", "field 'final_decision'", "'perhaps'")
def _(tmp):
    return collect_rows(
        tmp, "PubMedQA", [{"question": "Q?", "context": {"contexts": ["c"]}, "final_decision": "perhaps"}]
    )


@case("pubmedqa-contexts-not-list", "error", "record 0", "field 'context.contexts'")
def _(tmp):
    return collect_rows(tmp, "PubMedQA", [{"question": "Q?", "context": {"contexts": "c"}, "final_decision": "yes"}])


@case("source-row-excluded", "excluded", "excluded: 1 (record 1, field cop)")
def _(tmp):
    run = collect_rows(tmp, "MedMCQA", [_mcqa(0), _mcqa(1, cop=-1), _mcqa(2)], on_invalid="exclude")

    def check() -> str:
        rows, excluded = run()
        assert [r["id"] for r in rows] == ["MedMCQA-train-0", "MedMCQA-train-2"]
        return f"excluded: {len(excluded)} (record {excluded[0]['record']}, field {excluded[0]['field']})"

    return check


@case("source-not-utf8", "error", "medmcqa.jsonl", "line 2", "not UTF-8")
def _(tmp):
    path = tmp / "medmcqa.jsonl"
    path.write_bytes(json.dumps(_mcqa(0)).encode() + b"\n" + '{"question": "caf\u00e9"}\n'.encode("latin-1"))
    return lambda: col.load_fixture_rows("MedMCQA", path)


@case("source-torn-line", "error", "medmcqa.jsonl", "line 2", "invalid JSON")
def _(tmp):
    path = tmp / "medmcqa.jsonl"
    path.write_text(json.dumps(_mcqa(0)) + "\n" + json.dumps(_mcqa(1))[:30] + "\n")
    return lambda: col.load_fixture_rows("MedMCQA", path)


@case("set-larger-than-pool", "error", "m1k: 145 rows of 100000 requested", "curate.allow_short_sets")
def _(tmp):
    return lambda: check_set_sizes({"m1k": 145, "random_1k": 30}, {"m1k": 100000, "random_1k": 30}, 145, False)


@case("set-larger-than-pool-allowed", "flagged", "FLAGGED: set m1k has 145 rows, fewer than the 100000 requested")
def _(tmp):
    def check() -> str:
        short = check_set_sizes({"m1k": 145, "random_1k": 30}, {"m1k": 100000, "random_1k": 30}, 145, True)
        counts = {"sets": {"m1k": {"MedQA": 145, "total": 145}}, "short_sets": short}
        out = tmp / "out"
        write_table3(
            table3_frame(counts),
            str(out / "t3.csv"),
            str(out / "t3.md"),
            str(out / "t3.tex"),
            "counts",
            short_set_notes(counts),
        )
        return (out / "t3.md").read_text()

    return check


@case("released-row-without-reasoning", "error", "UCSC-VLAA/m1k-tokenized", "record 1", "field 'reasoning'")
def _(tmp):
    rows = [
        {"prompt": "p", "reasoning": "r", "distilled_answer_string": "a"},
        {"prompt": "p", "distilled_answer_string": "a"},
    ]
    return lambda: released_to_set(rows, "UCSC-VLAA/m1k-tokenized")


# ---- the suite --------------------------------------------------------------------------------------------------------
def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and "out" not in p.relative_to(root).parts}


@pytest.mark.parametrize(("make", "outcome", "expect"), CASES)
def test_bad_input(make, outcome, expect, tmp_path, checkout):
    _CHECKOUT[:] = [checkout]
    check_bad_input(make(tmp_path), outcome, expect, tmp_path, _snapshot)


def test_nested_cli_config_arrives_typed():
    """`--config 'eval={table1_budget: 48}'` reaches the workflow as the number 48 (Snakemake's command line reads
    nested values as strings), so Table 1's budget, outside the tiny sweep, becomes a variant of the thinking model."""
    from workflow_helpers import cli_config

    from m1repro.cfgview import model_variants
    from m1repro.variants import Variant

    cfg = cli_config("config/tiny.yaml", "eval={table1_budget: 48, scorer: improved}")
    assert cfg["eval"]["table1_budget"] == 48 and type(cfg["eval"]["table1_budget"]) is int
    assert cfg["eval"]["scorer"] == "improved"
    assert Variant(48, 0) in model_variants(cfg, "tiny-think")


def test_scoring_code_is_an_input_of_scoring_not_of_predictions():
    """A scorer fix reruns eval_score (its code is an input: Snakemake's mtime trigger) and never the predictions."""
    from workflow_helpers import load_rules

    inputs = {r.name: [str(f) for f in r.input if isinstance(f, str)] for r in load_rules("config/tiny.yaml")}
    code = {f.rsplit("/", 2)[-2] + "/" + f.rsplit("/", 1)[-1] for f in inputs["eval_score"] if f.endswith(".py")}
    assert code == {"m1repro/scoring.py", "m1repro/scores.py"}
    assert not [f for f in inputs["eval_predict"] if f.endswith(".py")]
